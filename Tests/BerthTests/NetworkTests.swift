import BerthNet
import CSys
import DockerAPI
import Engine
import Glibc
import JSON
import Sys
import Testing

@testable import CLI

/// The pure parts of networking: addresses, IPAM, subnet picking, the firewall document, the
/// DNS wire format, and the `-p` syntax.
@Suite struct NetworkTests {
    @Test func addressesAndSubnets() throws {
        let s = try #require(Subnet("10.1.2.3/16"))
        #expect(s.description == "10.1.0.0/16" && s.last.description == "10.1.255.255")
        #expect(s.contains(IPv4("10.1.200.1")!) && !s.contains(IPv4("10.2.0.1")!))
        #expect(Subnet("10.1.128.0/17")!.overlaps(s) && !Subnet("10.2.0.0/16")!.overlaps(s))
        #expect(IPv4("256.1.1.1") == nil && IPv4("1.2.3") == nil && Subnet("1.2.3.4/33") == nil)
        #expect(IPv4("172.17.0.2")!.mac == "02:42:ac:11:00:02")
    }

    @Test func ipamHandsOutFreeAddressesOnly() throws {
        var ipam = IPAM(subnet: Subnet("10.5.0.0/29")!, gateway: IPv4("10.5.0.1")!)
        #expect(try ipam.allocate().description == "10.5.0.2")
        try ipam.reserve(IPv4("10.5.0.4")!)
        #expect(try ipam.allocate().description == "10.5.0.3")
        #expect(try ipam.allocate().description == "10.5.0.5")
        #expect(try ipam.allocate().description == "10.5.0.6")
        #expect(throws: IPAM.Failure.self) { try ipam.allocate() }  // .7 is broadcast
        ipam.release(IPv4("10.5.0.3")!)
        #expect(try ipam.allocate().description == "10.5.0.3")
        #expect(throws: IPAM.Failure.self) { try ipam.reserve(IPv4("10.5.0.1")!) }  // the gateway
        var ranged = IPAM(subnet: Subnet("10.6.0.0/24")!, gateway: IPv4("10.6.0.1")!, range: Subnet("10.6.0.128/25"))
        #expect(try ranged.allocate().description == "10.6.0.128")
    }

    @Test func subnetsAvoidHostRoutesAndOtherNetworks() {
        let route = """
            Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
            eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
            eth0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
            """
        let routes = SubnetPicker.hostRoutes(route)
        #expect(routes.map(\.description) == ["172.17.0.0/16"])
        #expect(SubnetPicker.pick(taken: routes)?.description == "172.18.0.0/16")
        #expect(SubnetPicker.pick(taken: routes + [Subnet("172.16.0.0/12")!])?.description == "192.168.0.0/20")
    }

    @Test func firewallDocumentSpreadsSharedPorts() {
        let chains = Firewall.Chains(tag: "t1")
        let net = Firewall.Net(bridge: "br0", subnet: Subnet("10.9.0.0/16")!, internalOnly: false)
        let ports = [
            Firewall.Port(proto: "tcp", hostIP: "", hostPort: 4000, containerIP: IPv4("10.9.0.2")!, containerPort: 80, bridge: "br0"),
            Firewall.Port(proto: "tcp", hostIP: "", hostPort: 4000, containerIP: IPv4("10.9.0.3")!, containerPort: 80, bridge: "br0"),
            Firewall.Port(proto: "udp", hostIP: "127.0.0.1", hostPort: 53, containerIP: IPv4("10.9.0.2")!, containerPort: 5353, bridge: "br0"),
        ]
        let doc = Firewall.document(chains, networks: [net], ports: ports).split(separator: "\n").map(String.init)
        #expect(
            doc.contains("-A BERTH-t1 ! -i br0 -p tcp -m tcp --dport 4000 -m statistic --mode nth --every 2 --packet 0 -j DNAT --to-destination 10.9.0.2:80"))
        #expect(doc.contains("-A BERTH-t1 ! -i br0 -p tcp -m tcp --dport 4000 -j DNAT --to-destination 10.9.0.3:80"))
        #expect(doc.contains("-A BERTH-t1 -d 127.0.0.1/32 ! -i br0 -p udp -m udp --dport 53 -j DNAT --to-destination 10.9.0.2:5353"))
        #expect(doc.contains("-A BERTH-POST-t1 -s 10.9.0.0/16 ! -o br0 -j MASQUERADE"))
        #expect(doc.filter { $0 == "COMMIT" }.count == 3 && doc.first == "*nat")
        // no martian loopback from a bridge (route_localnet is on for the host's own 127.0.0.1)
        #expect(doc.contains("-A BERTH-RAW-t1 -i br0 -d 127.0.0.0/8 -j DROP"))
        let closed = Firewall.document(chains, networks: [Firewall.Net(bridge: "br1", subnet: Subnet("10.8.0.0/16")!, internalOnly: true)], ports: [])
        #expect(closed.contains("-A BERTH-ISO-t1 -i br1 ! -o br1 -j DROP") && !closed.contains("MASQUERADE\n-A BERTH-POST-t1 -s 10.8"))
    }

    @Test func dnsQueriesAndAnswers() throws {
        // id 0x1234, RD, one question: web.example A IN
        var q: [UInt8] = [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
        q += [3] + Array("Web".utf8) + [7] + Array("example".utf8) + [0, 0, 1, 0, 1]
        let query = try #require(DNSQuery.parse(q))
        #expect(query.name == "web.example" && query.type == 1 && query.id == 0x1234)
        let a = query.answer([IPv4("10.0.0.7")!, IPv4("10.0.0.8")!])
        #expect(a[0] == 0x12 && a[1] == 0x34 && a[2] & 0x80 != 0 && a[7] == 2)  // response with two answers
        #expect(Array(a.suffix(4)) == [10, 0, 0, 8])
        let nx = query.answer([], rcode: 3)
        #expect(nx[3] & 0x0F == 3 && nx[7] == 0)
        #expect(DNSQuery.parse([1, 2, 3]) == nil)
    }

    @Test func publishSyntaxAsTheDockerCLI() throws {
        func keys(_ s: String) throws -> [String] {
            try RunOptions.parsePublish(s).map { "\($0.0)=\($0.1["HostIp"].string ?? ""):\($0.1["HostPort"].string ?? "")" }
        }
        #expect(try keys("4000:80") == ["80/tcp=:4000"])
        #expect(try keys("127.0.0.1:4000:80/udp") == ["80/udp=127.0.0.1:4000"])
        #expect(try keys("80") == ["80/tcp=:"])
        #expect(try keys("8000-8001:80-81") == ["80/tcp=:8000", "81/tcp=:8001"])
        #expect(try keys("127.0.0.1::80") == ["80/tcp=127.0.0.1:"])
        #expect(throws: CLIError.self) { try RunOptions.parsePublish("8000-8002:80-81") }
        #expect(throws: CLIError.self) { try RunOptions.parsePublish("x:80") }
        let reqs = try PortPlan.requests(
            bindings: ["81/tcp": [PortBinding()], "80/tcp": [PortBinding(hostPort: "4000"), PortBinding()]],
            exposed: ["80/tcp", "443/tcp"], publishAll: true)
        #expect(reqs.map { "\($0.containerPort):\($0.hostPort)" } == ["80:4000", "80:0", "81:0", "443:0"])
    }
}

/// The embedded DNS forwards at most 256 queries at a time: a container flooding it with names
/// the table does not know gets SERVFAIL for the rest, right away (needs root: a network
/// namespace is made for the "container").
@Suite struct DNSForwardCapTests {
    @Test func queriesBeyondTheCapAreRefusedNotQueued() throws {
        guard getuid() == 0 else { return }
        let ns = "berth-dnscap-\(getpid())"
        _ = try Proc.run(["ip", "netns", "add", ns])
        defer { _ = try? Proc.run(["ip", "netns", "del", ns]) }
        _ = try Proc.run(["ip", "-n", ns, "link", "set", "lo", "up"])
        // An upstream that never answers (a socket nobody reads): every forward stays in flight.
        let silent = berth_udp_socket(0x7F00_0063, 53)  // 127.0.0.99:53
        #expect(silent >= 0)
        defer { close(silent) }
        let server = DNSServer(table: NameTable(), upstreams: [IPv4(0x7F00_0063)])
        try server.add(container: "c", namespacePath: "/run/netns/" + ns)
        let script = """
            import socket, struct
            import time
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
            for i in range(300):
                if i % 20 == 0: time.sleep(0.02)   # paced: none lost to a full socket buffer
                name = b"".join(bytes([len(p)]) + p for p in [b"n%d" % i, b"example", b"invalid"]) + b"\\0"
                s.sendto(struct.pack(">HHHHHH", i, 0x0100, 1, 0, 0, 0) + name + struct.pack(">HH", 1, 1), ("127.0.0.11", 53))
            fails = 0
            try:
                while True:
                    data, _ = s.recvfrom(4096)
                    if data[3] & 0x0f == 2: fails += 1
            except socket.timeout:
                pass
            print(fails)
            """
        let out = try Proc.run(["ip", "netns", "exec", ns, "python3", "-c", script])
        #expect(out.stdout.elementsEqual("44\n".utf8), "\(out.stdoutText) \(out.stderrText)")
        server.remove(container: "c")
    }
}
