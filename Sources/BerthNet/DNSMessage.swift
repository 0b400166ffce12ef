/// The slice of the DNS wire format the embedded resolver needs: read a query's first question,
/// write an answer of A records (or an empty NOERROR / NXDOMAIN). Pure; unit-tested.
public struct DNSQuery: Sendable, Equatable {
    public var id: UInt16
    public var flags: UInt16
    public var name: String  // lower-cased, without the trailing dot
    public var type: UInt16  // 1 A, 28 AAAA, ...
    public var qclass: UInt16
    /// The question section's bytes, echoed in the answer.
    public var question: [UInt8]

    public static func parse(_ b: [UInt8]) -> DNSQuery? {
        guard b.count >= 12 else { return nil }
        let id = UInt16(b[0]) << 8 | UInt16(b[1])
        let flags = UInt16(b[2]) << 8 | UInt16(b[3])
        let qd = UInt16(b[4]) << 8 | UInt16(b[5])
        guard flags & 0x8000 == 0, qd >= 1 else { return nil }
        var i = 12
        var labels: [String] = []
        while true {
            guard i < b.count else { return nil }
            let len = Int(b[i])
            if len == 0 { i += 1; break }
            guard len < 64, i + 1 + len <= b.count else { return nil }
            labels.append(String(decoding: b[(i + 1)..<(i + 1 + len)], as: UTF8.self).lowercased())
            i += 1 + len
        }
        guard i + 4 <= b.count else { return nil }
        let type = UInt16(b[i]) << 8 | UInt16(b[i + 1])
        let qclass = UInt16(b[i + 2]) << 8 | UInt16(b[i + 3])
        return DNSQuery(id: id, flags: flags, name: labels.joined(separator: "."), type: type, qclass: qclass, question: Array(b[12..<(i + 4)]))
    }

    /// rcode 0 with `addresses` as A records (none for other types), or 3 (NXDOMAIN).
    public func answer(_ addresses: [IPv4], rcode: UInt8 = 0, ttl: UInt32 = 600) -> [UInt8] {
        let records = type == 1 || type == 255 ? addresses : []
        var out: [UInt8] = [UInt8(id >> 8), UInt8(id & 255)]
        // QR, opcode as asked, AA, RD copied, RA.
        let f: UInt16 = 0x8000 | (flags & 0x7800) | 0x0400 | (flags & 0x0100) | 0x0080 | UInt16(rcode)
        out += [UInt8(f >> 8), UInt8(f & 255), 0, 1, UInt8(records.count >> 8), UInt8(records.count & 255), 0, 0, 0, 0]
        out += question
        for a in records {
            out += [0xC0, 0x0C, 0, 1, 0, 1, UInt8(ttl >> 24), UInt8(ttl >> 16 & 255), UInt8(ttl >> 8 & 255), UInt8(ttl & 255), 0, 4]
            out += [UInt8(a.value >> 24), UInt8(a.value >> 16 & 255), UInt8(a.value >> 8 & 255), UInt8(a.value & 255)]
        }
        return out
    }
}
