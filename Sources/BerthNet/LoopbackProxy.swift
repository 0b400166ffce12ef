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
/// Every relay is bounded: one pipe of at most 1 MiB per direction for TCP (a slow side blocks
/// the other, it does not grow memory), one 64 KiB buffer for UDP, at most `maxConnections` TCP
/// connections or UDP flows at once, UDP flows forgotten after 90 s of silence (docker-proxy's
/// timeout).
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
    /// A TCP direction's pipe: 1 MiB per splice moves 256 MiB at 1.7-1.9 GiB/s here against
    /// 1.4 with the default 64 KiB (Go's splice, docker-proxy's path, sizes its pipes the same). It
    /// holds references to the socket's pages, less than the socket buffers the kernel already allows.
    static let splicePipeSize = 1 << 20
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
        wait(events: fds.map { ($0, Int16(POLLIN)) }, timeoutMS: timeoutMS)
    }

    /// Waits for any of the descriptors' events (and the stop pipe): their revents, nil once the
    /// proxy stops.
    private func wait(events: [(fd: Int32, events: Int16)], timeoutMS: Int32 = -1) -> [Int16]? {
        var p = events.map { pollfd(fd: $0.fd, events: $0.events, revents: 0) } + [pollfd(fd: stopPipe[0], events: Int16(POLLIN), revents: 0)]
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

    /// Moves bytes both ways until both sides have finished (half-closes passed on). splice(2)
    /// carries them socket → pipe → socket inside the kernel, never through this process's
    /// memory (as docker-proxy's Go `io.Copy` does); each direction's pipe holds at most its
    /// capacity (`splicePipeSize`), so a slow side stalls the other rather than growing memory.
    private func relay(_ client: Int32) {
        defer { close(client) }
        let upstream = connectUpstream(Int32(SOCK_STREAM.rawValue))
        guard upstream >= 0 else { return }
        defer { close(upstream) }
        guard berth_set_nonblocking(client) == 0, berth_set_nonblocking(upstream) == 0 else { return }
        var pipes: [Int32] = [-1, -1, -1, -1]
        defer { for fd in pipes where fd >= 0 { close(fd) } }
        guard pipes.withUnsafeMutableBufferPointer({ berth_pipe($0.baseAddress!) == 0 && berth_pipe($0.baseAddress! + 2) == 0 }) else { return }
        // Larger pipes move more per call (fewer polls and splices); the default 64 KiB stays if refused.
        let pipeSize = max(Int(berth_set_pipe_size(pipes[1], Int32(LoopbackProxy.splicePipeSize))), LoopbackProxy.bufferSize)
        _ = berth_set_pipe_size(pipes[3], Int32(LoopbackProxy.splicePipeSize))
        var directions = [
            SplicedDirection(from: client, to: upstream, pipeRead: pipes[0], pipeWrite: pipes[1], chunk: pipeSize),
            SplicedDirection(from: upstream, to: client, pipeRead: pipes[2], pipeWrite: pipes[3], chunk: pipeSize),
        ]
        while !directions.allSatisfy(\.done) {
            let active = directions.indices.filter { directions[$0].waitFor != nil }
            guard let ready = wait(events: active.map { directions[$0].waitFor! }) else { return }
            for (k, i) in active.enumerated() where ready[k] != 0 {
                guard directions[i].step() else { return }
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

/// One direction of a relayed TCP connection: bytes spliced from one socket into a pipe, and from
/// the pipe on to the other socket (both sockets non-blocking).
struct SplicedDirection {
    let from: Int32
    let to: Int32
    let pipeRead: Int32
    let pipeWrite: Int32
    /// The most one splice asks to move: the pipe's capacity.
    let chunk: Int
    /// Bytes in the pipe, not yet taken by `to`.
    var buffered = 0
    /// `from` has not reached its end.
    var reading = true

    var done: Bool { !reading && buffered == 0 }

    /// What to wait for: room on `to` while bytes are in the pipe, else bytes on `from`.
    var waitFor: (fd: Int32, events: Int16)? {
        if buffered > 0 { return (to, Int16(POLLOUT)) }
        return reading ? (from, Int16(POLLIN)) : nil
    }

    /// Moves what it can now; false when the connection must end (an error on either side). A
    /// peer that went away is EPIPE: berthd ignores SIGPIPE (splice has no MSG_NOSIGNAL).
    mutating func step() -> Bool {
        if buffered == 0 && reading {
            let n = berth_splice(from, pipeWrite, chunk)
            if n < 0 { return errno == EAGAIN || errno == EINTR }
            if n == 0 {
                // This side is done sending: tell the other, keep the reverse direction.
                reading = false
                shutdown(to, Int32(SHUT_WR))
                return true
            }
            buffered = n
        }
        while buffered > 0 {
            let n = berth_splice(pipeRead, to, buffered)
            if n < 0 { return errno == EAGAIN || errno == EINTR }
            if n == 0 { return false }
            buffered -= n
        }
        return true
    }
}
