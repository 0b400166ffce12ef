import Foundation
import Glibc

/// Docker's `insecure-registries`: host[:port] entries match exactly; CIDR entries
/// (`10.0.0.0/8`) match any registry whose host is, or resolves to, an address inside.
/// Loopback registries count as insecure unless configured otherwise (Docker: always).
public struct InsecureRegistries: Sendable {
    let hosts: Set<String>
    let networks: [(base: UInt32, mask: UInt32)]
    let loopback: Bool
    /// Resolution of host names, replaceable in tests; each name is resolved once.
    let resolve: @Sendable (String) -> [UInt32]
    private let cache = ResolvedNames()

    public init(_ entries: [String], loopbackIsInsecure: Bool = true, resolve: @escaping @Sendable (String) -> [UInt32] = InsecureRegistries.resolveIPv4) {
        var hosts = Set<String>(), nets: [(UInt32, UInt32)] = []
        for e in entries {
            if let net = InsecureRegistries.cidr(e) { nets.append(net) } else { hosts.insert(e) }
        }
        self.hosts = hosts; networks = nets; loopback = loopbackIsInsecure; self.resolve = resolve
    }

    public func contains(_ host: String) -> Bool {
        let name = host.split(separator: ":").first.map(String.init) ?? host
        if hosts.contains(host) { return true }
        if loopback && (name == "localhost" || name.hasPrefix("127.") || name == "[::1]") { return true }
        guard !networks.isEmpty else { return false }
        let addrs = InsecureRegistries.ipv4(name).map { [$0] } ?? cache.get(name, resolve)
        return addrs.contains { a in networks.contains { a & $0.mask == $0.base } }
    }

    static func cidr(_ s: String) -> (UInt32, UInt32)? {
        let parts = s.split(separator: "/")
        guard parts.count == 2, let ip = ipv4(String(parts[0])), let bits = Int(parts[1]), (0...32).contains(bits) else { return nil }
        let mask: UInt32 = bits == 0 ? 0 : ~UInt32(0) << UInt32(32 - bits)
        return (ip & mask, mask)
    }

    static func ipv4(_ s: String) -> UInt32? {
        let p = s.split(separator: ".", omittingEmptySubsequences: false)
        guard p.count == 4 else { return nil }
        var v: UInt32 = 0
        for x in p {
            guard let n = UInt8(x) else { return nil }
            v = v << 8 | UInt32(n)
        }
        return v
    }

    /// The host's IPv4 addresses (getaddrinfo), host byte order.
    public static let resolveIPv4: @Sendable (String) -> [UInt32] = { name in
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var res: UnsafeMutablePointer<addrinfo>? = nil
        guard getaddrinfo(name, nil, &hints, &res) == 0 else { return [] }
        defer { freeaddrinfo(res) }
        var out: [UInt32] = []
        var p = res
        while let a = p {
            if let sa = a.pointee.ai_addr {
                sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { out.append(UInt32(bigEndian: $0.pointee.sin_addr.s_addr)) }
            }
            p = a.pointee.ai_next
        }
        return out
    }
}

private final class ResolvedNames: @unchecked Sendable {
    private let lock = NSLock()
    private var names: [String: [UInt32]] = [:]
    func get(_ name: String, _ resolve: (String) -> [UInt32]) -> [UInt32] {
        lock.lock(); defer { lock.unlock() }
        if let a = names[name] { return a }
        let a = resolve(name)
        names[name] = a
        return a
    }
}
