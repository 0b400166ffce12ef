/// IPv4 addresses and subnets as numbers, for IPAM and rule making. Pure; unit-tested.
public struct IPv4: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var value: UInt32
    public init(_ value: UInt32) { self.value = value }

    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var v: UInt32 = 0
        for p in parts {
            guard !p.isEmpty, p.count <= 3, p.allSatisfy(\.isNumber), let n = UInt32(p), n <= 255 else { return nil }
            v = v << 8 | n
        }
        value = v
    }

    public var description: String { "\(value >> 24).\(value >> 16 & 255).\(value >> 8 & 255).\(value & 255)" }
    public static func < (a: IPv4, b: IPv4) -> Bool { a.value < b.value }
    public static func + (a: IPv4, n: UInt32) -> IPv4 { IPv4(a.value &+ n) }
    /// Docker's MAC for an address: 02:42 then the four octets.
    public var mac: String {
        let o = [value >> 24, value >> 16 & 255, value >> 8 & 255, value & 255].map {
            String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16)
        }
        return "02:42:" + o.joined(separator: ":")
    }
}

public struct Subnet: Hashable, Sendable, CustomStringConvertible {
    public var base: IPv4
    public var prefix: Int

    public init(_ base: IPv4, _ prefix: Int) {
        self.prefix = prefix
        self.base = IPv4(base.value & Subnet.mask(prefix))
    }

    /// `10.1.0.0/16`; the address part is normalised to the network address.
    public init?(_ text: String) {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let a = IPv4(String(parts[0])), let p = Int(parts[1]), (0...32).contains(p) else { return nil }
        self.init(a, p)
    }

    static func mask(_ p: Int) -> UInt32 { p == 0 ? 0 : ~UInt32(0) << UInt32(32 - p) }
    public var mask: UInt32 { Subnet.mask(prefix) }
    public var size: UInt64 { UInt64(1) << UInt64(32 - prefix) }
    public var last: IPv4 { IPv4(base.value | ~mask) }
    public var description: String { "\(base)/\(prefix)" }
    public func contains(_ a: IPv4) -> Bool { a.value & mask == base.value }
    public func overlaps(_ o: Subnet) -> Bool { contains(o.base) || o.contains(base) }
}
