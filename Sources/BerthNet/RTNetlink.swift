import CSys
import Glibc
import Sys

/// rtnetlink requests: the few a container's interface needs (a veth pair with its peer born in
/// the container's namespace, addresses, links up, default routes, deleting links), built as
/// bytes by pure functions (unit-tested) and sent on a `NetlinkSocket`. This replaces 3–5 `ip`
/// processes per container start and stop (about 2 ms each) with a few system calls.
public struct NetlinkRequest: Sendable, Equatable {
    public var type: UInt16
    public var flags: UInt16
    /// The family header (ifinfomsg, ifaddrmsg, rtmsg) followed by attributes.
    public var body: [UInt8]

    /// The whole message with its 16-byte header, as sent.
    public func encoded(sequence: UInt32) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(16 + body.count)
        Netlink.append32(&out, UInt32(16 + body.count))
        Netlink.append16(&out, type)
        Netlink.append16(&out, flags | Netlink.request | Netlink.ack)
        Netlink.append32(&out, sequence)
        Netlink.append32(&out, 0)
        out += body
        return out
    }
}

public enum Netlink {
    static let request: UInt16 = 0x1, ack: UInt16 = 0x4, excl: UInt16 = 0x200, create: UInt16 = 0x400
    static let newLink: UInt16 = 16, delLink: UInt16 = 17, getLink: UInt16 = 18, newAddr: UInt16 = 20, newRoute: UInt16 = 24
    static let error: UInt16 = 2, done: UInt16 = 3
    static let ifUp: UInt32 = 0x1
    static let ifaAddress: UInt16 = 1, ifaLocal: UInt16 = 2
    static let iflaAddress: UInt16 = 1, iflaName: UInt16 = 3, iflaMaster: UInt16 = 10, iflaLinkInfo: UInt16 = 18, iflaNetNSFD: UInt16 = 28
    static let infoKind: UInt16 = 1, infoData: UInt16 = 2, vethPeer: UInt16 = 1
    static let rtaOIF: UInt16 = 4, rtaGateway: UInt16 = 5
    static let nodad: UInt8 = 0x02
    public static let scopeUniverse: UInt8 = 0, scopeLink: UInt8 = 253

    static func append16(_ b: inout [UInt8], _ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
    static func append32(_ b: inout [UInt8], _ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
    static func pad(_ b: inout [UInt8]) { while b.count % 4 != 0 { b.append(0) } }

    /// One attribute (rtattr): length, type, payload, padded to 4 bytes.
    static func attribute(_ type: UInt16, _ payload: [UInt8]) -> [UInt8] {
        var a: [UInt8] = []
        append16(&a, UInt16(4 + payload.count))
        append16(&a, type)
        a += payload
        pad(&a)
        return a
    }
    static func attribute(_ type: UInt16, string: String) -> [UInt8] { attribute(type, Array(string.utf8) + [0]) }
    static func attribute(_ type: UInt16, u32: UInt32) -> [UInt8] {
        var p: [UInt8] = []
        append32(&p, u32)
        return attribute(type, p)
    }

    /// ifinfomsg: family, index, flags and the flags to change.
    static func linkHeader(index: Int32 = 0, up: Bool = false) -> [UInt8] {
        var h: [UInt8] = [0, 0]
        append16(&h, 0)
        append32(&h, UInt32(bitPattern: index))
        append32(&h, up ? ifUp : 0)
        append32(&h, up ? ifUp : 0)
        return h
    }

    public static func bytes(_ a: IPv4) -> [UInt8] { [UInt8(a.value >> 24), UInt8(a.value >> 16 & 255), UInt8(a.value >> 8 & 255), UInt8(a.value & 255)] }
    public static func bytes(_ a: IPv6Address) -> [UInt8] {
        (0..<8).map { UInt8(a.high >> UInt64(56 - 8 * $0) & 255) } + (0..<8).map { UInt8(a.low >> UInt64(56 - 8 * $0) & 255) }
    }

    // MARK: requests

    /// `ip link add <host> master <bridge> up type veth peer name <peer> address <mac> netns <fd>`.
    public static func createVeth(host: String, bridgeIndex: Int32, peer: String, peerMAC: [UInt8]?, peerNamespaceFD: Int32) -> NetlinkRequest {
        var peerBody = linkHeader()
        peerBody += attribute(iflaName, string: peer)
        peerBody += attribute(iflaNetNSFD, u32: UInt32(bitPattern: peerNamespaceFD))
        if let peerMAC { peerBody += attribute(iflaAddress, peerMAC) }
        let data = attribute(vethPeer, peerBody)
        let info = attribute(infoKind, string: "veth") + attribute(infoData, data)
        var body = linkHeader(up: true)
        body += attribute(iflaName, string: host)
        body += attribute(iflaMaster, u32: UInt32(bitPattern: bridgeIndex))
        body += attribute(iflaLinkInfo, info)
        return NetlinkRequest(type: newLink, flags: create | excl, body: body)
    }

    /// `ip link set <name> up`, the link named rather than numbered.
    public static func setUp(_ name: String) -> NetlinkRequest {
        NetlinkRequest(type: newLink, flags: 0, body: linkHeader(up: true) + attribute(iflaName, string: name))
    }

    /// `ip link del <name>`.
    public static func deleteLink(_ name: String) -> NetlinkRequest {
        NetlinkRequest(type: delLink, flags: 0, body: linkHeader() + attribute(iflaName, string: name))
    }

    /// `ip link show <name>`: the reply carries its index.
    public static func getLink(_ name: String) -> NetlinkRequest {
        NetlinkRequest(type: getLink, flags: 0, body: linkHeader() + attribute(iflaName, string: name))
    }

    /// `ip addr add <address>/<prefix> dev <index>` (IPv4 or IPv6; `nodad` for IPv6 as Docker sets it).
    public static func addAddress(_ address: [UInt8], prefix: Int, index: Int32, scope: UInt8 = scopeUniverse) -> NetlinkRequest {
        let v6 = address.count == 16
        var body: [UInt8] = [v6 ? UInt8(AF_INET6) : UInt8(AF_INET), UInt8(clamping: prefix), v6 ? nodad : 0, scope]
        append32(&body, UInt32(bitPattern: index))
        body += attribute(ifaLocal, address)
        body += attribute(ifaAddress, address)
        return NetlinkRequest(type: newAddr, flags: create | excl, body: body)
    }

    /// `ip route add default via <gateway> [dev <index>]` in the main table.
    public static func addDefaultRoute(gateway: [UInt8], index: Int32?) -> NetlinkRequest {
        let v6 = gateway.count == 16
        // rtmsg: family, dst_len, src_len, tos, table (main), protocol (boot), scope (universe), type (unicast), flags.
        var body: [UInt8] = [v6 ? UInt8(AF_INET6) : UInt8(AF_INET), 0, 0, 0, 254, 3, scopeUniverse, 1]
        append32(&body, 0)
        body += attribute(rtaGateway, gateway)
        if let index { body += attribute(rtaOIF, u32: UInt32(bitPattern: index)) }
        return NetlinkRequest(type: newRoute, flags: create | excl, body: body)
    }

    // MARK: replies

    /// What one reply datagram says about request `sequence`: done (0), an errno, a link index
    /// (from RTM_NEWLINK), or nothing yet. Lengths are checked: a short or overrunning message
    /// ends the parse.
    public enum Reply: Equatable, Sendable { case acknowledged, failed(Int32), link(index: Int32), pending }

    public static func parse(_ datagram: ArraySlice<UInt8>, sequence: UInt32) -> Reply {
        var at = datagram.startIndex
        var result = Reply.pending
        func u32(_ i: Int) -> UInt32 {
            UInt32(datagram[i]) | UInt32(datagram[i + 1]) << 8 | UInt32(datagram[i + 2]) << 16 | UInt32(datagram[i + 3]) << 24
        }
        while datagram.endIndex - at >= 16 {
            let length = Int(u32(at))
            guard length >= 16, length <= datagram.endIndex - at else { break }
            let type = UInt16(datagram[at + 4]) | UInt16(datagram[at + 5]) << 8
            let seq = u32(at + 8)
            if seq == sequence {
                if type == error, length >= 20 {
                    let code = Int32(bitPattern: u32(at + 16))
                    return code == 0 ? (result == .pending ? .acknowledged : result) : .failed(-code)
                } else if type == newLink, length >= 24 {
                    result = .link(index: Int32(bitPattern: u32(at + 20)))
                } else if type == done {
                    return result == .pending ? .acknowledged : result
                }
            }
            at += (length + 3) & ~3
        }
        return result
    }
}

/// A NETLINK_ROUTE socket, in the daemon's network namespace or a container's.
public final class NetlinkSocket {
    private let fd: Int32
    private var sequence: UInt32 = 0

    /// The host's (the daemon's own network namespace).
    public init() throws(NetworkError) {
        fd = berth_netlink_socket()
        guard fd >= 0 else { throw NetworkError("netlink socket: \(SysError("socket"))") }
    }

    /// One in the namespace kept at `namespacePath`; `enableIPv6` switches its IPv6 on first.
    public init(namespacePath: String, enableIPv6: Bool = false) throws(NetworkError) {
        fd = berth_netlink_socket_in_netns(namespacePath, enableIPv6 ? 1 : 0)
        guard fd >= 0 else { throw NetworkError("netlink socket in \(namespacePath): \(SysError("setns"))") }
    }

    deinit { close(fd) }

    /// Sends `request` and waits for the kernel's answer: the link index for RTM_GETLINK, else 0.
    @discardableResult
    public func perform(_ request: NetlinkRequest, _ what: @autoclosure () -> String) throws(NetworkError) -> Int32 {
        sequence &+= 1
        let bytes = request.encoded(sequence: sequence)
        let sent = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        guard sent == bytes.count else { throw NetworkError("\(what()): netlink send: \(SysError("send"))") }
        var buffer = [UInt8](repeating: 0, count: 32 << 10)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw NetworkError("\(what()): netlink receive: \(SysError("recv"))") }
            switch Netlink.parse(buffer[0..<n], sequence: sequence) {
            case .acknowledged: return 0
            case .link(let index): return index
            case .failed(let code): throw NetworkError("\(what()): RTNETLINK answers: \(String(cString: strerror(code)))")
            case .pending: continue
            }
        }
    }

    /// The index of the link called `name` here.
    public func index(of name: String) throws(NetworkError) -> Int32 {
        let i = try perform(Netlink.getLink(name), "finding link \(name)")
        guard i > 0 else { throw NetworkError("finding link \(name): no index in the kernel's answer") }
        return i
    }
}
