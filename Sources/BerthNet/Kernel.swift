import Sys

/// The host operations networking needs — bridges, network namespaces, veth pairs, addresses,
/// routes, sysctls and packet filter rules — behind one protocol so the engine's logic can be
/// tested with a recording fake. The real one drives iproute2 and iptables, batching each
/// step into as few processes as it can.
public protocol HostNetworking: Sendable {
    func ensureBridge(_ name: String, gateway: IPv4, subnet: Subnet) throws(NetworkError)
    func deleteLink(_ name: String)
    func createNamespace(_ name: String) throws(NetworkError)
    func deleteNamespace(_ name: String)
    /// A veth pair: `hostSide` on `bridge`, the peer as `eth0`-like `ifname` in the namespace.
    func attach(namespace: String, bridge: String, hostSide: String, ifname: String, address: IPv4, subnet: Subnet,
                gateway: IPv4?, mac: String) throws(NetworkError)
    func detach(namespace: String, ifname: String)
    func loopbackUp(namespace: String) throws(NetworkError)
    func applyFirewall(_ document: String) throws(NetworkError)
    func ensureHooks(_ chains: Firewall.Chains) throws(NetworkError)
    func removeHooks(_ chains: Firewall.Chains)
    func linkExists(_ name: String) -> Bool
}

public struct NetworkError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ m: String) { message = m }
    public var description: String { message }
}

public struct IPRoute2: HostNetworking {
    public init() {}

    static func run(_ argv: [String], input: String? = nil) throws(NetworkError) {
        let out: Proc.Output
        do { out = try Proc.run(argv, input: input.map { Array($0.utf8) }) } catch { throw NetworkError("\(argv[0]): \(error)") }
        if out.status != 0 { throw NetworkError("\(argv.joined(separator: " ")): \(out.stderrText.trimmingSpaces())") }
    }

    public func linkExists(_ name: String) -> Bool { FS.exists("/sys/class/net/" + name) }

    public func ensureBridge(_ name: String, gateway: IPv4, subnet: Subnet) throws(NetworkError) {
        if !linkExists(name) {
            try IPRoute2.run(["ip", "-batch", "-"], input: "link add \(name) type bridge\naddr add \(gateway)/\(subnet.prefix) dev \(name)\nlink set \(name) up\n")
        }
        // Published ports answer on 127.0.0.1 through DNAT to this bridge.
        try? FS.writeExisting("/proc/sys/net/ipv4/conf/\(name)/route_localnet", "1")
        try? FS.writeExisting("/proc/sys/net/ipv4/ip_forward", "1")
    }

    public func deleteLink(_ name: String) { _ = try? Proc.run(["ip", "link", "del", name]) }

    public func createNamespace(_ name: String) throws(NetworkError) { try IPRoute2.run(["ip", "netns", "add", name]) }

    public func deleteNamespace(_ name: String) { _ = try? Proc.run(["ip", "netns", "del", name]) }

    public func loopbackUp(namespace: String) throws(NetworkError) {
        try IPRoute2.run(["ip", "-n", namespace, "link", "set", "lo", "up"])
    }

    public func attach(namespace: String, bridge: String, hostSide: String, ifname: String, address: IPv4, subnet: Subnet,
                       gateway: IPv4?, mac: String) throws(NetworkError) {
        try IPRoute2.run(["ip", "-batch", "-"], input: """
            link add \(hostSide) type veth peer name \(ifname) netns \(namespace)
            link set \(hostSide) master \(bridge) up

            """)
        var inside = "link set lo up\nlink set \(ifname) address \(mac)\naddr add \(address)/\(subnet.prefix) dev \(ifname)\nlink set \(ifname) up\n"
        if let gateway { inside += "route add default via \(gateway)\n" }
        do { try IPRoute2.run(["ip", "-n", namespace, "-batch", "-"], input: inside) } catch {
            deleteLink(hostSide)
            throw error
        }
    }

    public func detach(namespace: String, ifname: String) {
        _ = try? Proc.run(["ip", "-n", namespace, "link", "del", ifname])
    }

    public func applyFirewall(_ document: String) throws(NetworkError) {
        try IPRoute2.run(["iptables-restore", "--noflush", "-w"], input: document)
    }

    public func ensureHooks(_ chains: Firewall.Chains) throws(NetworkError) {
        // The chains must exist before anything jumps to them.
        try applyFirewall(Firewall.teardown(chains))
        for (table, chain, rule) in Firewall.hooks(chains) {
            if (try? Proc.run(["iptables", "-w", "-t", table, "-C", chain] + rule))?.status == 0 { continue }
            try IPRoute2.run(["iptables", "-w", "-t", table, "-I", chain, "1"] + rule)
        }
    }

    public func removeHooks(_ chains: Firewall.Chains) {
        for (table, chain, rule) in Firewall.hooks(chains) {
            while (try? Proc.run(["iptables", "-w", "-t", table, "-D", chain] + rule))?.status == 0 {}
        }
        for ch in chains.nat { _ = try? Proc.run(["iptables", "-w", "-t", "nat", "-F", ch]); _ = try? Proc.run(["iptables", "-w", "-t", "nat", "-X", ch]) }
        for ch in chains.filter { _ = try? Proc.run(["iptables", "-w", "-t", "filter", "-F", ch]); _ = try? Proc.run(["iptables", "-w", "-t", "filter", "-X", ch]) }
    }
}
