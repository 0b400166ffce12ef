import CSys
import Foundation
import Glibc
import Sys

/// A published port reached through the host's loopback (`curl 127.0.0.1:8080`). The kernel
/// does not route a loopback-addressed packet out to a bridge unless the bridge has
/// `route_localnet=1`, and that setting would also let a container send to services the host
/// binds to 127.0.0.1 only. So, as dockerd's docker-proxy: the port's reserved socket listens,
/// and each connection (or each client's datagram flow) is relayed to the container by the
/// daemon. Traffic to the host's other addresses is still DNAT'd by the kernel and never
/// reaches this socket.
///
/// Every relay is bounded: one 64 KiB buffer per direction (a slow side blocks the other, it
/// does not grow memory), at most `maxConnections` TCP connections or UDP flows at once, UDP
/// flows forgotten after 90 s of silence (docker-proxy's timeout).
public final class LoopbackProxy: @unchecked Sendable {
    public let proto: String
    let listenFD: Int32
    /// The containers behind the port (replicas of one service share it): new connections and
    /// flows take them in turn.
    private var targets: [(address: UInt32, port: UInt16)]
    private var nextTarget = 0
    /// A pipe whose read end becomes readable, for good, when the proxy stops: every relay
    /// thread polls it and leaves.
    private let stopPipe: [Int32]
    private let lock = NSLock()
    private var connections = 0
    static let maxConnections = 1024
    static let bufferSize = 65536
    static let udpIdleSeconds: Double = 90

    /// `fd` is a duplicate of the port's held socket (bound, TCP not yet listening), the proxy's
    /// own: closed when the relay ends, so the port stays bound while any replica still serves it.
    public init(fd: Int32, proto: String, targets: [(IPv4, Int)]) throws(SysError) {
        self.listenFD = fd
        self.proto = proto
        self.targets = targets.map { ($0.0.value, UInt16(clamping: $0.1)) }
        var fds: [Int32] = [0, 0]
        guard berth_pipe(&fds) == 0 else { throw SysError("pipe") }
        stopPipe = fds
        if proto == "tcp" {
            // Accepted connections inherit the flag, and so do their TIME_WAIT remains: without
            // it they would keep the port from being published again for a minute. A listening
            // socket cannot be bound over, flag or not.
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            if listen(fd, 128) != 0 { throw SysError("listen") }
        }
        let t = Thread { [self] in proto == "tcp" ? acceptLoop() : udpLoop() }
        t.name = "loopback-proxy"
        t.start()
    }

    /// The containers behind the port now.
    public func setTargets(_ list: [(IPv4, Int)]) {
        lock.withLock { targets = list.map { ($0.0.value, UInt16(clamping: $0.1)) } }
    }

    private func pickTarget() -> (address: UInt32, port: UInt16)? {
        lock.withLock {
            guard !targets.isEmpty else { return nil }
            nextTarget = (nextTarget + 1) % targets.count
            return targets[nextTarget]
        }
    }

    /// Ends the relays; the listening descriptor is closed by its thread as it leaves.
    public func stop() {
        var b: UInt8 = 1
        _ = write(stopPipe[1], &b, 1)
    }

    deinit {
        close(stopPipe[0])
        close(stopPipe[1])
    }

    /// Waits for `fd` (and the stop pipe); false once the proxy stops.
    private func wait(_ fds: [Int32], timeoutMS: Int32 = -1) -> [Int16]? {
        var p = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) } + [pollfd(fd: stopPipe[0], events: Int16(POLLIN), revents: 0)]
        while true {
            let n = poll(&p, nfds_t(p.count), timeoutMS)
            if n < 0 && errno == EINTR { continue }
            if n < 0 || p.last!.revents != 0 { return nil }
            return p.dropLast().map(\.revents)
        }
    }

    // MARK: TCP

    private func acceptLoop() {
        defer { close(listenFD) }
        while let ready = wait([listenFD]) {
            guard ready[0] != 0 else { continue }
            let client = berth_accept(listenFD)
            guard client >= 0 else { continue }
            let admitted = lock.withLock {
                guard connections < LoopbackProxy.maxConnections else { return false }
                connections += 1
                return true
            }
            guard admitted else {
                close(client)
                continue
            }
            let t = Thread { [self] in
                relay(client)
                lock.withLock { connections -= 1 }
            }
            t.start()
        }
    }

    private func connectUpstream(_ type: Int32) -> Int32 {
        guard let target = pickTarget() else { return -1 }
        let fd = socket(AF_INET, type | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return -1 }
        // A container that drops the SYN must not hold the thread for minutes.
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = target.port.bigEndian
        sa.sin_addr.s_addr = target.address.bigEndian
        let ok = withUnsafePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        if !ok {
            close(fd)
            return -1
        }
        return fd
    }

    /// Copies both ways until both sides have finished (half-closes passed on).
    private func relay(_ client: Int32) {
        defer { close(client) }
        let upstream = connectUpstream(Int32(SOCK_STREAM.rawValue))
        guard upstream >= 0 else { return }
        defer { close(upstream) }
        var open = [client: true, upstream: true]
        var buf = [UInt8](repeating: 0, count: LoopbackProxy.bufferSize)
        while open.values.contains(true) {
            let sides = [client, upstream].filter { open[$0]! }
            guard let ready = wait(sides) else { return }
            for (i, from) in sides.enumerated() where ready[i] != 0 {
                let to = from == client ? upstream : client
                let n = buf.withUnsafeMutableBytes { read(from, $0.baseAddress, LoopbackProxy.bufferSize) }
                if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
                if n <= 0 {
                    // This side is done sending: tell the other, keep the reverse direction.
                    open[from] = false
                    if n < 0 { return }
                    shutdown(to, Int32(SHUT_WR))
                    continue
                }
                do { try buf.withUnsafeBytes { try FS.writeAll(fd: to, UnsafeRawBufferPointer(rebasing: $0[0..<n])) } } catch { return }
            }
        }
    }

    // MARK: UDP

    private struct Flow {
        var fd: Int32
        var lastSeen: Double
    }

    private func udpLoop() {
        var flows: [UInt64: Flow] = [:]
        defer {
            for f in flows.values { close(f.fd) }
            close(listenFD)
        }
        var buf = [UInt8](repeating: 0, count: LoopbackProxy.bufferSize)
        while true {
            let keys = Array(flows.keys)
            guard let ready = wait([listenFD] + keys.map { flows[$0]!.fd }, timeoutMS: 5000) else { return }
            let now = Date().timeIntervalSince1970
            if ready[0] != 0 {
                var addr: UInt32 = 0, port: UInt16 = 0
                let n = buf.withUnsafeMutableBytes { berth_udp_recvfrom(listenFD, $0.baseAddress, Int32(LoopbackProxy.bufferSize), &addr, &port) }
                if n >= 0 {
                    let key = UInt64(addr) << 16 | UInt64(port)
                    if flows[key] == nil && flows.count < LoopbackProxy.maxConnections {
                        let fd = connectUpstream(Int32(SOCK_DGRAM.rawValue))
                        if fd >= 0 { flows[key] = Flow(fd: fd, lastSeen: now) }
                    }
                    if var f = flows[key] {
                        _ = buf.withUnsafeBytes { send(f.fd, $0.baseAddress, Int(n), 0) }
                        f.lastSeen = now
                        flows[key] = f
                    }
                }
            }
            for (i, key) in keys.enumerated() where ready[i + 1] != 0 {
                guard var f = flows[key] else { continue }
                let n = buf.withUnsafeMutableBytes { recv(f.fd, $0.baseAddress, LoopbackProxy.bufferSize, Int32(MSG_DONTWAIT)) }
                if n > 0 {
                    _ = buf.withUnsafeBytes { berth_udp_sendto(listenFD, $0.baseAddress, Int32(n), UInt32(key >> 16), UInt16(key & 0xffff)) }
                    f.lastSeen = now
                    flows[key] = f
                }
            }
            for (key, f) in flows where now - f.lastSeen > LoopbackProxy.udpIdleSeconds {
                close(f.fd)
                flows[key] = nil
            }
        }
    }
}
