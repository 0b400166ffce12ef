import CSys
import Foundation
import Sys

/// Who is called what on each network, for the embedded resolver. The engine updates it; the
/// resolver thread reads it. Names are lower-case.
public final class NameTable: @unchecked Sendable {
    private let lock = NSLock()
    /// network ID → name → addresses (several for a shared alias: round robin).
    private var names: [String: [String: [IPv4]]] = [:]
    /// container ID → the user networks it is on.
    private var membership: [String: [String]] = [:]
    /// container ID → names only it resolves (network-scoped links: alias → the target).
    private var own: [String: [String: [IPv4]]] = [:]
    /// Containers on `--internal` networks only: their queries for other names are not
    /// forwarded (they have no way out, and DNS must not become one).
    private var noForward: Set<String> = []
    private var turn = 0

    public init() {}

    /// nil when no network of the container knows the name (the caller forwards the query).
    /// `rotate`: the next answer starts one further on (round robin over a shared alias); only
    /// A queries turn it, so a client's A+AAAA pair sees one step.
    public func lookup(container: String, name: String, rotate: Bool = true) -> [IPv4]? {
        lock.lock(); defer { lock.unlock() }
        var found: [IPv4] = own[container]?[name] ?? []
        for net in membership[container] ?? [] where found.isEmpty {
            if let a = names[net]?[name] { found += a }
        }
        guard !found.isEmpty else { return nil }
        if rotate { turn &+= 1 }
        let k = turn % found.count
        return Array(found[k...] + found[..<k])
    }

    public func mayForward(container: String) -> Bool {
        lock.lock(); defer { lock.unlock() }
        return !noForward.contains(container)
    }

    /// Replaces the whole table (the engine rebuilds it from its state after any change).
    public func replace(
        names newNames: [String: [String: [IPv4]]], membership newMembership: [String: [String]],
        own newOwn: [String: [String: [IPv4]]] = [:], noForward newNoForward: Set<String> = []
    ) {
        lock.lock(); defer { lock.unlock() }
        names = newNames
        membership = newMembership
        own = newOwn
        noForward = newNoForward
    }
}

/// The embedded DNS server at 127.0.0.11 inside each container on a user network: one UDP
/// socket per container, made inside its network namespace, all served by one thread. Names it
/// knows are answered from the NameTable; anything else goes to the host's upstream resolvers.
public final class DNSServer: @unchecked Sendable {
    public static let address = IPv4(0x7F00_000B)  // 127.0.0.11
    private let lock = NSLock()
    private var sockets: [Int32: String] = [:]  // fd → container ID
    private var byContainer: [String: Int32] = [:]
    private var forwards: [Int32: (client: Int32, addr: UInt32, port: UInt16, deadline: Double)] = [:]
    private let table: NameTable
    private let upstreams: [IPv4]
    private var wake: [Int32] = [-1, -1]
    private var thread: Thread?

    public init(table: NameTable, upstreams: [IPv4]) {
        self.table = table
        self.upstreams = upstreams
        _ = berth_pipe(&wake)
        _ = fcntl(wake[0], F_SETFL, O_NONBLOCK)
    }

    /// The host's resolvers: /etc/resolv.conf, or systemd-resolved's real list when that file
    /// only names the local stub.
    public static func hostUpstreams() -> [IPv4] {
        func servers(_ path: String) -> [IPv4] {
            ((try? FS.readString(path)) ?? "").split(separator: "\n").compactMap { line -> IPv4? in
                let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
                return f.count >= 2 && f[0] == "nameserver" ? IPv4(String(f[1])) : nil
            }
        }
        var list = servers("/etc/resolv.conf")
        if list.allSatisfy({ $0.value >> 24 == 127 }) {
            let real = servers("/run/systemd/resolve/resolv.conf")
            if !real.isEmpty { list = real }
        }
        let usable = list.filter { $0.value >> 24 != 127 }
        return usable.isEmpty ? [IPv4("8.8.8.8")!, IPv4("8.8.4.4")!] : usable
    }

    public func add(container: String, namespacePath: String) throws(NetworkError) {
        let fd = berth_udp_socket_in_netns(namespacePath, DNSServer.address.value, 53)
        guard fd >= 0 else { throw NetworkError("embedded DNS for \(container.prefix(12)): \(SysError("bind 127.0.0.11:53"))") }
        lock.lock()
        if let old = byContainer[container] { sockets[old] = nil; close(old) }
        sockets[fd] = container
        byContainer[container] = fd
        let start = thread == nil
        lock.unlock()
        if start {
            let t = Thread { [weak self] in self?.loop() }
            t.name = "berth-dns"
            thread = t
            t.start()
        }
        poke()
    }

    public func remove(container: String) {
        lock.lock()
        if let fd = byContainer.removeValue(forKey: container) { sockets[fd] = nil; close(fd) }
        lock.unlock()
        poke()
    }

    /// Forwarded queries awaiting an upstream answer, at most.
    static let maxForwards = 256

    private func poke() { var b: UInt8 = 1; _ = write(wake[1], &b, 1) }

    private func loop() {
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            lock.lock()
            var fds = [pollfd(fd: wake[0], events: Int16(POLLIN), revents: 0)]
            for fd in sockets.keys { fds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
            for fd in forwards.keys { fds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
            lock.unlock()
            let rc = poll(&fds, nfds_t(fds.count), forwards.isEmpty ? -1 : 500)
            if rc < 0 { if errno == EINTR { continue }; return }
            let now = Date().timeIntervalSince1970
            for p in fds where p.revents != 0 {
                if p.fd == wake[0] { while read(wake[0], &buf, 64) > 0 {}; continue }
                var addr: UInt32 = 0, port: UInt16 = 0
                let n = buf.withUnsafeMutableBytes { berth_udp_recvfrom(p.fd, $0.baseAddress, 4096, &addr, &port) }
                lock.lock()
                let container = sockets[p.fd]
                let fwd = forwards[p.fd]
                lock.unlock()
                if let container, n > 0 {
                    handle(Array(buf[0..<Int(n)]), from: p.fd, addr: addr, port: port, container: container)
                } else if let fwd {
                    if n > 0 { _ = buf.withUnsafeBytes { berth_udp_sendto(fwd.client, $0.baseAddress, n, fwd.addr, fwd.port) } }
                    lock.lock(); forwards[p.fd] = nil; lock.unlock()
                    close(p.fd)
                }
            }
            lock.lock()
            for (fd, f) in forwards where f.deadline < now { forwards[fd] = nil; close(fd) }
            lock.unlock()
        }
    }

    private func handle(_ packet: [UInt8], from fd: Int32, addr: UInt32, port: UInt16, container: String) {
        guard let q = DNSQuery.parse(packet) else { return }
        if let ips = table.lookup(container: container, name: q.name, rotate: q.type == 1) {
            let reply = q.answer(ips)
            _ = reply.withUnsafeBytes { berth_udp_sendto(fd, $0.baseAddress, Int32(reply.count), addr, port) }
            return
        }
        // Not ours: ask the host's resolver from the host's namespace, relay its answer — unless
        // the container may not reach outside (REFUSED), or too many queries are already out
        // (SERVFAIL: a container flooding names cannot exhaust the daemon's descriptors).
        func reply(_ rcode: UInt8) {
            let r = q.answer([], rcode: rcode)
            _ = r.withUnsafeBytes { berth_udp_sendto(fd, $0.baseAddress, Int32(r.count), addr, port) }
        }
        guard table.mayForward(container: container) else { return reply(5) }
        lock.lock()
        let inFlight = forwards.count
        lock.unlock()
        guard inFlight < DNSServer.maxForwards else { return reply(2) }
        guard let upstream = upstreams.first else { return }
        let out = berth_udp_socket(0, 0)
        guard out >= 0 else { return }
        _ = packet.withUnsafeBytes { berth_udp_sendto(out, $0.baseAddress, Int32(packet.count), upstream.value, 53) }
        lock.lock()
        forwards[out] = (fd, addr, port, Date().timeIntervalSince1970 + 5)
        lock.unlock()
    }
}
