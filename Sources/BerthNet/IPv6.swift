import Foundation

/// IPv6 addresses and subnets as 128-bit numbers (two halves), for IPv6-enabled networks.
/// Pure; unit-tested. Text forms follow RFC 5952 (lower case, longest zero run as `::`).
public struct IPv6Address: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64
    public init(high: UInt64, low: UInt64) { self.high = high; self.low = low }

    public init?(_ text: String) {
        guard !text.isEmpty, text.count <= 45, !text.contains("."), text.allSatisfy({ $0.isHexDigit || $0 == ":" }) else { return nil }
        let halves = text.components(separatedByDoubleColon: ())
        guard halves.count <= 2 else { return nil }
        func groups(_ s: Substring) -> [UInt16]? {
            if s.isEmpty { return [] }
            var out: [UInt16] = []
            for g in s.split(separator: ":", omittingEmptySubsequences: false) {
                guard !g.isEmpty, g.count <= 4, let v = UInt16(g, radix: 16) else { return nil }
                out.append(v)
            }
            return out
        }
        var all: [UInt16]
        if halves.count == 2 {
            guard let a = groups(halves[0]), let b = groups(halves[1]), a.count + b.count <= 7 else { return nil }
            all = a + Array(repeating: 0, count: 8 - a.count - b.count) + b
        } else {
            guard let a = groups(halves[0]), a.count == 8 else { return nil }
            all = a
        }
        high = all[0..<4].reduce(0) { $0 << 16 | UInt64($1) }
        low = all[4..<8].reduce(0) { $0 << 16 | UInt64($1) }
    }

    var groups: [UInt16] {
        (0..<4).map { UInt16(truncatingIfNeeded: high >> (48 - 16 * UInt64($0))) } + (0..<4).map { UInt16(truncatingIfNeeded: low >> (48 - 16 * UInt64($0))) }
    }

    public var description: String {
        let g = groups
        // The longest run of two or more zero groups becomes "::" (the first such run on a tie).
        var best = (start: -1, length: 0)
        var i = 0
        while i < 8 {
            if g[i] == 0 {
                var j = i
                while j < 8 && g[j] == 0 { j += 1 }
                if j - i > best.length && j - i >= 2 { best = (i, j - i) }
                i = j
            } else {
                i += 1
            }
        }
        func hex(_ r: ArraySlice<UInt16>) -> String { r.map { String($0, radix: 16) }.joined(separator: ":") }
        if best.start < 0 { return hex(g[...]) }
        return hex(g[..<best.start]) + "::" + hex(g[(best.start + best.length)...])
    }

    public static func < (a: IPv6Address, b: IPv6Address) -> Bool { (a.high, a.low) < (b.high, b.low) }
    public static func + (a: IPv6Address, n: UInt64) -> IPv6Address {
        let (low, carry) = a.low.addingReportingOverflow(n)
        return IPv6Address(high: a.high &+ (carry ? 1 : 0), low: low)
    }
    /// fe80::/10: addresses the kernel gives every interface; dockerd reports them apart.
    public var isLinkLocal: Bool { high >> 54 == 0x3fa }
}

public struct IPv6Subnet: Hashable, Sendable, CustomStringConvertible {
    public var base: IPv6Address
    public var prefix: Int

    public init(_ base: IPv6Address, _ prefix: Int) {
        self.prefix = prefix
        let (mh, ml) = IPv6Subnet.mask(prefix)
        self.base = IPv6Address(high: base.high & mh, low: base.low & ml)
    }

    /// `2001:db8::/64`; the address part is normalised to the network address.
    public init?(_ text: String) {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let a = IPv6Address(String(parts[0])), let p = Int(parts[1]), (0...128).contains(p) else { return nil }
        self.init(a, p)
    }

    static func mask(_ p: Int) -> (UInt64, UInt64) {
        let h: UInt64 = p >= 64 ? ~0 : p == 0 ? 0 : ~UInt64(0) << UInt64(64 - p)
        let l: UInt64 = p <= 64 ? 0 : p == 128 ? ~0 : ~UInt64(0) << UInt64(128 - p)
        return (h, l)
    }

    public var description: String { "\(base)/\(prefix)" }
    public func contains(_ a: IPv6Address) -> Bool {
        let (mh, ml) = IPv6Subnet.mask(prefix)
        return a.high & mh == base.high && a.low & ml == base.low
    }
    public func overlaps(_ o: IPv6Subnet) -> Bool { contains(o.base) || o.contains(base) }
}

/// An IPv6-enabled network's addresses: the gateway (first address unless given) is never
/// handed out; `--ip-range` narrows the pool; `--ip6` asks for one address.
public struct IPAM6: AddressPool, Sendable {
    public var subnet: IPv6Subnet
    public var gateway: IPv6Address
    public var range: IPv6Subnet?
    public private(set) var used: Set<IPv6Address> = []

    public init(subnet: IPv6Subnet, gateway: IPv6Address, range: IPv6Subnet? = nil) {
        self.subnet = subnet; self.gateway = gateway; self.range = range
    }

    func usable(_ a: IPv6Address) -> Bool { subnet.contains(a) && a != subnet.base && a != gateway }

    public mutating func reserve(_ a: IPv6Address) throws(IPAM.Failure) {
        guard usable(a) else { throw IPAM.Failure(message: "no configured subnet or ip-range contain the IP address \(a)") }
        guard !used.contains(a) else { throw IPAM.Failure(message: "Address already in use") }
        used.insert(a)
    }

    /// The lowest free address of the pool (pools are far larger than any host's containers;
    /// the search is bounded all the same).
    public mutating func allocate() throws(IPAM.Failure) -> IPv6Address {
        let pool = range ?? subnet
        var a = pool.base
        for _ in 0..<65_536 {
            if !pool.contains(a) { break }
            if usable(a) && !used.contains(a) { used.insert(a); return a }
            a = a + 1
        }
        throw IPAM.Failure(message: "no available IPv6 addresses on this network's address pools: \(subnet)")
    }

    public mutating func release(_ a: IPv6Address) { used.remove(a) }
}

/// A 48-bit MAC address in its colon form, as `--mac-address` takes it.
public struct MACAddress: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]
    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 6 else { return nil }
        var b: [UInt8] = []
        for p in parts {
            guard p.count == 2, let v = UInt8(p, radix: 16) else { return nil }
            b.append(v)
        }
        bytes = b
    }
    public var description: String { bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: ":") }
}

extension String {
    /// Splits at the first "::" (an IPv6 zero run); more than one gives three or more parts.
    fileprivate func components(separatedByDoubleColon _: Void) -> [Substring] {
        var parts: [Substring] = []
        var rest = self[...]
        while let r = rest.range(of: "::") {
            parts.append(rest[..<r.lowerBound])
            rest = rest[r.upperBound...]
        }
        parts.append(rest)
        return parts
    }
}
