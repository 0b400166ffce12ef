import DockerAPI
import JSON
import Testing

@testable import BerthNet
@testable import Engine
@testable import Runtime

/// The pure pieces behind the client-conformance work: IPv6 addresses and pools, interface
/// set-up commands, Go-style key matching, API versions, link variables, create validation,
/// seccomp profile resolution.
@Suite struct ClientConformanceTests {
    @Test func ipv6AddressesRoundTripInRFC5952Form() throws {
        for (text, canonical) in [
            ("2001:389::f00d", "2001:389::f00d"), ("2001:0389:0000:0000:0000:0000:0000:ffff", "2001:389::ffff"),
            ("::1", "::1"), ("::", "::"), ("fe80::1:0:0:1", "fe80::1:0:0:1"), ("1:0:0:2:0:0:0:3", "1:0:0:2::3"),
        ] {
            let a = try #require(IPv6Address(text))
            #expect(a.description == canonical)
        }
        for bad in ["", "1::2::3", "12345::", "1.2.3.4", "g::1", "1:2:3:4:5:6:7:8:9"] { #expect(IPv6Address(bad) == nil) }
        let s = IPv6Subnet("2001:389::1/64")!
        #expect(s.description == "2001:389::/64")
        let inside = IPv6Address("2001:389::ffff")!, outside = IPv6Address("2001:38a::1")!
        #expect(s.contains(inside) && !s.contains(outside))
        #expect(IPv6Address("fe80::1")?.isLinkLocal == true)
    }

    @Test func ipv6PoolSkipsTheGatewayAndHonoursRequests() throws {
        var pool = IPAM6(subnet: IPv6Subnet("2001:db8::/64")!, gateway: IPv6Address("2001:db8::1")!)
        #expect(try pool.allocate().description == "2001:db8::2")
        try pool.reserve(IPv6Address("2001:db8::3")!)
        #expect(try pool.allocate().description == "2001:db8::4")
        #expect(throws: IPAM.Failure.self) { try pool.reserve(IPv6Address("2001:db8::3")!) }
        #expect(throws: IPAM.Failure.self) { try pool.reserve(IPv6Address("2001:db9::3")!) }
    }

    @Test func interfaceRequestsCarryV6LinkLocalAndRoutes() throws {
        let v6 = VethAddresses.V6(address: IPv6Address("2001:db8::5")!, prefix: 64, gateway: IPv6Address("2001:db8::1")!)
        let a = VethAddresses(
            address: IPv4("172.20.0.2")!, subnet: Subnet("172.20.0.0/16")!,
            gateway: IPv4("172.20.0.1")!, mac: "02:42:ac:11:00:0a", v6: v6, linkLocal: ["169.254.8.8"])
        let requests = a.insideRequests(ifname: "eth0", index: 7)
        #expect(
            requests.map(\.what) == [
                "addr add 172.20.0.2/16 dev eth0",
                "addr add 2001:db8::5/64 dev eth0 nodad",
                "addr add 169.254.8.8/16 dev eth0 scope link",
                "link set eth0 up",
                "route add default via 172.20.0.1",
                "route add default via 2001:db8::1 dev eth0",
            ])
        // ifaddrmsg: family, prefix, flags (nodad for IPv6), scope, index 7; then IFA_LOCAL.
        #expect(Array(requests[0].request.body.prefix(8)) == [2, 16, 0, 0, 7, 0, 0, 0])
        #expect(Array(requests[0].request.body[8..<16]) == [8, 0, 2, 0, 172, 20, 0, 2])
        #expect(Array(requests[1].request.body.prefix(4)) == [10, 64, 2, 0])
        #expect(requests[2].request.body[3] == 253)
        // The IPv6 default route names its device (RTA_OIF 7) after the gateway.
        #expect(Array(requests[5].request.body.suffix(8)) == [8, 0, 4, 0, 7, 0, 0, 0])
        #expect(MACAddress("02:42:AC:11:00:0A")?.description == "02:42:ac:11:00:0a")
        #expect(MACAddress("02:42:ac:11:00") == nil && MACAddress("zz:42:ac:11:00:00") == nil)
    }

    @Test func keysMatchCaseInsensitivelyExactSpellingWinning() throws {
        let body = try JSON.parse(#"{"detachKeys":"ctrl-p","cpurealtimeperiod":5,"CpuRealtimePeriod":7,"Other":1}"#)
        let c = body.canonicalizingKeys(["DetachKeys", "CpuRealtimePeriod"])
        #expect(c["DetachKeys"].string == "ctrl-p" && c["detachKeys"].isNull)
        #expect(c["CpuRealtimePeriod"].int == 7 && c["Other"].int == 1)
    }

    @Test func apiVersionsParseAndOrder() {
        #expect(APIVersion("1.41")! < .v1_44 && APIVersion("1.44") == .v1_44)
        for bad in ["", "1", "1.", "a.b", "1.41.2", "99999.1", "-1.2"] { #expect(APIVersion(bad) == nil) }
        #expect(APIVersion.current.description == "1.44")
    }

    @Test func linkVariablesAsDockerdSetsThem() {
        let env = LegacyLink.environment(
            alias: "my-db", linkName: "/web/my-db", ip: "172.17.0.2", exposed: [(5432, "tcp"), (80, "tcp")],
            targetEnv: ["FOO=1", "PATH=/bin", "HOME=/root", "BARE"])
        #expect(
            env == [
                "MY_DB_NAME=/web/my-db", "MY_DB_PORT=tcp://172.17.0.2:80",
                "MY_DB_PORT_80_TCP=tcp://172.17.0.2:80", "MY_DB_PORT_80_TCP_ADDR=172.17.0.2", "MY_DB_PORT_80_TCP_PORT=80",
                "MY_DB_PORT_80_TCP_PROTO=tcp",
                "MY_DB_PORT_5432_TCP=tcp://172.17.0.2:5432", "MY_DB_PORT_5432_TCP_ADDR=172.17.0.2", "MY_DB_PORT_5432_TCP_PORT=5432",
                "MY_DB_PORT_5432_TCP_PROTO=tcp", "MY_DB_ENV_FOO=1",
            ])
        #expect(LegacyLink("db:alias") == LegacyLink(target: "db", alias: "alias"))
        #expect(LegacyLink("/db:/web/alias") == LegacyLink(target: "db", alias: "alias"))
        #expect(LegacyLink("db") == LegacyLink(target: "db", alias: "db"))
    }

    @Test func createValidationInDockerdsWords() throws {
        #expect(throws: EngineError.self) { try CreateValidation.restartPolicy(RestartPolicyConfig(name: "sometimes")) }
        #expect(throws: EngineError.self) { try CreateValidation.restartPolicy(RestartPolicyConfig(name: "always", maximumRetryCount: 2)) }
        try CreateValidation.restartPolicy(RestartPolicyConfig(name: "on-failure", maximumRetryCount: 2))
        try CreateValidation.logConfig(LogConfig(type: "json-file", config: ["max-size": "1m"]))
        #expect(throws: EngineError.self) { try CreateValidation.logConfig(LogConfig(type: "syslog")) }
        let two = NetworkingConfig(json: ["EndpointsConfig": ["a": [:], "b": [:]]])
        #expect(throws: EngineError.self) { try CreateValidation.endpoints(two, apiVersion: .v1_41) }
        try CreateValidation.endpoints(two, apiVersion: .v1_44)
        #expect(CreateValidation.processEnvironment(["A=1", "BARE", "B="]) == ["A=1", "B="])
        #expect(throws: EngineError.self) { try NamespaceModes.validateSysctls(["kernel.hostname": "x"], ipcHost: false, netHost: false) }
        #expect(throws: EngineError.self) { try NamespaceModes.validateSysctls(["net.ipv4.ip_forward": "1"], ipcHost: false, netHost: true) }
        try NamespaceModes.validateSysctls(
            ["net.ipv4.ip_forward": "1", "kernel.shm_rmid_forced": "1", "fs.mqueue.msg_max": "10"],
            ipcHost: false, netHost: false)
        #expect(throws: EngineError.self) { try SecurityOptions.deviceRule("c 1 rwm") }
        #expect(try SecurityOptions.deviceRule("c 1:* rw") == ["allow": true, "type": "c", "access": "rw", "major": 1])
    }

    @Test func seccompProfilesResolveForCapabilitiesAndArchitecture() throws {
        let docker = try JSON.parse(
            #"""
            {"defaultAction":"SCMP_ACT_ERRNO","archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":["SCMP_ARCH_X86"]},
             {"architecture":"SCMP_ARCH_AARCH64","subArchitectures":["SCMP_ARCH_ARM"]}],
             "syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"},
                         {"names":["sethostname"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_ADMIN"]}},
                         {"names":["arm_only"],"action":"SCMP_ACT_ALLOW","includes":{"arches":["arm64"]}},
                         {"names":["new_call"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"99.0"}},
                         {"names":["clone"],"action":"SCMP_ACT_ALLOW","excludes":{"caps":["CAP_SYS_ADMIN"]}}]}
            """#)
        let plain = try SeccompProfile.resolve(docker, capabilities: ["CAP_CHOWN"], kernel: "6.1.0")
        #expect(plain["architectures"].stringArray == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"])
        #expect(plain["syscalls"].array?.compactMap { $0["names"].stringArray?.first } == ["read", "clone"])
        let admin = try SeccompProfile.resolve(docker, capabilities: ["CAP_SYS_ADMIN"], kernel: "6.1.0")
        #expect(admin["syscalls"].array?.compactMap { $0["names"].stringArray?.first } == ["read", "sethostname"])
        #expect(throws: SeccompProfile.Invalid.self) { try SeccompProfile.resolve(["syscalls": []], capabilities: []) }
        let byDefault = SeccompProfile.defaultProfile(capabilities: OCISpecBuilder.defaultCapabilities + ["CAP_SYS_ADMIN"])
        #expect(byDefault["syscalls"].array?.contains { $0["names"].stringArray?.contains("sethostname") == true } == true)
        let without = SeccompProfile.defaultProfile(capabilities: OCISpecBuilder.defaultCapabilities)
        #expect(without["syscalls"].array?.contains { $0["names"].stringArray?.contains("sethostname") == true } == false)
    }

    @Test func createBodiesCheckedAsGoDecodesThem() throws {
        func message(_ text: String) -> String? {
            do { try CreateRequest.check(try JSON.parse(text)); return nil } catch let e as GoDecodeError { return e.description } catch { return "\(error)" }
        }
        #expect(message(#"{"Image":"busybox","Cmd":"echo hi","Entrypoint":["a"],"HostConfig":{"Memory":1024,"MemorySwappiness":null}}"#) == nil)
        #expect(message(#"{"image":"busybox","hostconfig":{"blkioweight":65535}}"#) == nil)
        #expect(
            message(#"{"Image":"busybox","HostConfig":{"BlkioWeight":-1}}"#)
                == "json: cannot unmarshal number -1 into Go struct field HostConfig.HostConfig.BlkioWeight of type uint16")
        #expect(message(#"{"Image":"busybox","HostConfig":{"Memory":1e30}}"#)?.hasPrefix("json: cannot unmarshal number") == true)
        #expect(
            message(#"{"Image":"busybox","NetworkingConfig":{"EndpointsConfig":{"n":{"Aliases":"a"}}}}"#)
                == "json: cannot unmarshal string into Go struct field EndpointSettings.NetworkingConfig.EndpointsConfig.Aliases of type []string")
        #expect(
            message(#"{"Image":"busybox","Healthcheck":{"Retries":"3"}}"#)
                == "json: cannot unmarshal string into Go struct field HealthConfig.Healthcheck.Retries of type int")
    }
}
