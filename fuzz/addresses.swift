/// DNS messages from containers and IP address text from clients (compiled together with
/// BerthNet's DNSMessage, IPv4, IPv6 and IPAM sources).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAddresses(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let q = DNSQuery.parse(bytes) { _ = q.answer([IPv4(0x0a00_0002)]) }
    let text = String(decoding: bytes, as: UTF8.self)
    _ = IPv4(text)
    _ = Subnet(text)
    if let a = IPv6Address(text) { precondition(IPv6Address(a.description) == a, "IPv6 text does not round-trip") }
    _ = IPv6Subnet(text)
    _ = MACAddress(text)
    return 0
}
