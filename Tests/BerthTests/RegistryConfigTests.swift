import Testing

@testable import Registry

/// `insecure-registries` as Docker reads it: exact hosts, CIDR ranges (literal or resolved
/// addresses), loopback by default.
@Suite struct RegistryConfigTests {
    @Test func hostsRangesAndLoopback() {
        let fakeDNS: @Sendable (String) -> [UInt32] = { $0 == "reg.lab" ? [0x0a01_0203] : $0 == "public.example" ? [0x5db8_d822] : [] }
        let r = InsecureRegistries(["myreg:5000", "10.0.0.0/8", "192.168.1.0/24", "not/a/cidr"], resolve: fakeDNS)
        #expect(r.contains("myreg:5000") && !r.contains("myreg:5001"))
        #expect(r.contains("10.20.30.40:5000") && r.contains("192.168.1.7") && !r.contains("192.168.2.7"))
        #expect(r.contains("reg.lab:443") && !r.contains("public.example"))  // by resolved address
        #expect(r.contains("localhost:5000") && r.contains("127.0.0.1:5000"))
        #expect(r.contains("not/a/cidr"))  // not a range: an exact name
        let strict = InsecureRegistries([], loopbackIsInsecure: false, resolve: fakeDNS)
        #expect(!strict.contains("localhost:5000") && !strict.contains("10.1.2.3"))
        #expect(InsecureRegistries(["0.0.0.0/0"], resolve: fakeDNS).contains("public.example"))
    }
}
