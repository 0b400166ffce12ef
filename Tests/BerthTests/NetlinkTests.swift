import Testing

@testable import BerthNet

/// rtnetlink messages as bytes (what `ip` sends for the same commands) and the parsing of the
/// kernel's answers, hostile lengths included.
@Suite struct NetlinkTests {
    @Test func vethRequestNestsThePeerWithItsNamespaceAndMAC() throws {
        let r = Netlink.createVeth(host: "vethabc", bridgeIndex: 4, peer: "eth0", peerMAC: [2, 0x42, 0xac, 0x11, 0, 2], peerNamespaceFD: 9)
        let m = r.encoded(sequence: 5)
        #expect(m.count == 16 + r.body.count && m.count % 4 == 0)
        // Header: length, RTM_NEWLINK, REQUEST|ACK|EXCL|CREATE, sequence 5.
        #expect(Array(m[0..<4]) == [UInt8(m.count), 0, 0, 0])
        #expect(Array(m[4..<12]) == [16, 0, 0x05, 0x06, 5, 0, 0, 0])
        // ifinfomsg with IFF_UP set and changed: the host side comes up in the same request.
        #expect(Array(m[24..<32]) == [1, 0, 0, 0, 1, 0, 0, 0])
        let text = String(decoding: m.map { $0 == 0 ? UInt8(ascii: ".") : $0 }, as: UTF8.self)
        #expect(text.contains("vethabc.") && text.contains("veth.") && text.contains("eth0."))
        // IFLA_NET_NS_FD (28) = 9 and IFLA_ADDRESS (1) = the MAC, inside the peer.
        #expect(m.indices.contains { i in i + 8 <= m.count && Array(m[i..<i + 8]) == [8, 0, 28, 0, 9, 0, 0, 0] })
        #expect(m.indices.contains { i in i + 10 <= m.count && Array(m[i..<i + 10]) == [10, 0, 1, 0, 2, 0x42, 0xac, 0x11, 0, 2] })
        // IFLA_MASTER (10) = bridge index 4.
        #expect(m.indices.contains { i in i + 8 <= m.count && Array(m[i..<i + 8]) == [8, 0, 10, 0, 4, 0, 0, 0] })
    }

    @Test func repliesAreMatchedBySequenceAndBounded() throws {
        func message(type: UInt16, seq: UInt32, payload: [UInt8]) -> [UInt8] {
            var m: [UInt8] = []
            Netlink.append32(&m, UInt32(16 + payload.count))
            Netlink.append16(&m, type)
            Netlink.append16(&m, 0)
            Netlink.append32(&m, seq)
            Netlink.append32(&m, 0)
            return m + payload
        }
        let ack = message(type: 2, seq: 3, payload: [0, 0, 0, 0] + [UInt8](repeating: 0, count: 16))
        let eexist = message(type: 2, seq: 3, payload: [0xef, 0xff, 0xff, 0xff] + [UInt8](repeating: 0, count: 16))
        let link = message(type: 16, seq: 3, payload: [0, 0, 1, 0, 42, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
        #expect(Netlink.parse(ack[...], sequence: 3) == .acknowledged)
        #expect(Netlink.parse(eexist[...], sequence: 3) == .failed(17))
        #expect(Netlink.parse(link[...], sequence: 3) == .link(index: 42))
        #expect(Netlink.parse((link + ack)[...], sequence: 3) == .link(index: 42))
        // An answer to an earlier request (a late ack) is not this one's.
        #expect(Netlink.parse(eexist[...], sequence: 4) == .pending)
        // A length that overruns the datagram, or is shorter than a header, ends the parse.
        var lying = ack
        lying[0] = 200
        #expect(Netlink.parse(lying[...], sequence: 3) == .pending)
        var short = ack
        short[0] = 4
        #expect(Netlink.parse(short[...], sequence: 3) == .pending)
        #expect(Netlink.parse(Array(ack.prefix(10))[...], sequence: 3) == .pending)
    }
}
