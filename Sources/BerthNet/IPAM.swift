/// An address pool: IPv4 (`IPAM`) or IPv6 (`IPAM6`).
public protocol AddressPool {
    associatedtype Address
    mutating func reserve(_ a: Address) throws(IPAM.Failure)
    mutating func allocate() throws(IPAM.Failure) -> Address
}

/// Address allocation within one network: the gateway and the network/broadcast addresses are
/// never handed out; `--ip-range` narrows the pool; `--ip` asks for one address.
public struct IPAM: AddressPool, Sendable {
    public var subnet: Subnet
    public var gateway: IPv4
    public var range: Subnet?
    public private(set) var used: Set<IPv4> = []

    public struct Failure: Error, Sendable { public let message: String }

    public init(subnet: Subnet, gateway: IPv4, range: Subnet? = nil) {
        self.subnet = subnet; self.gateway = gateway; self.range = range
    }

    func usable(_ a: IPv4) -> Bool {
        subnet.contains(a) && a != subnet.base && a != subnet.last && a != gateway
    }

    public mutating func reserve(_ a: IPv4) throws(Failure) {
        guard usable(a) else { throw Failure(message: "no configured subnet or ip-range contain the IP address \(a)") }
        guard !used.contains(a) else { throw Failure(message: "Address already in use") }
        used.insert(a)
    }

    /// The lowest free address of the pool.
    public mutating func allocate() throws(Failure) -> IPv4 {
        let pool = range ?? subnet
        var a = pool.base
        while a <= pool.last {
            if usable(a) && !used.contains(a) { used.insert(a); return a }
            if a == pool.last { break }
            a = a + 1
        }
        throw Failure(message: "no available IPv4 addresses on this network's address pools: \(subnet)")
    }

    public mutating func release(_ a: IPv4) { used.remove(a) }
}

/// Picks subnets for networks created without `--subnet`, skipping what the host already
/// routes and what other networks use (Docker's default pools: 172.17-31/16, then 192.168/20s).
public enum SubnetPicker {
    public static let pools: [Subnet] =
        (17...31).map { Subnet(IPv4(UInt32(172) << 24 | UInt32($0) << 16), 16) }
        + (0..<16).map { Subnet(IPv4(UInt32(192) << 24 | UInt32(168) << 16 | UInt32($0 * 16) << 8), 20) }

    public static func pick(taken: [Subnet]) -> Subnet? {
        pools.first { p in !taken.contains { $0.overlaps(p) } }
    }

    /// Routes from `/proc/net/route` (hex, little-endian) as subnets.
    public static func hostRoutes(_ procNetRoute: String) -> [Subnet] {
        var out: [Subnet] = []
        for line in procNetRoute.split(separator: "\n").dropFirst() {
            let f = line.split(whereSeparator: { $0 == "\t" || $0 == " " })
            guard f.count > 7, let dest = UInt32(f[1], radix: 16), let mask = UInt32(f[7], radix: 16), mask != 0 else { continue }
            out.append(Subnet(IPv4(dest.byteSwapped), mask.byteSwapped.nonzeroBitCount))
        }
        return out
    }
}
