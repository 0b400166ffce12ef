import CSys
import Glibc
import Sys

/// The host operations networking needs — bridges, network namespaces, veth pairs, addresses,
/// routes, sysctls and packet filter rules — behind one protocol so the engine's logic can be
/// tested with a recording fake. The real one speaks rtnetlink itself for what every container
/// start and stop needs (namespaces, veth pairs, addresses, routes) and drives iproute2 and
/// iptables for the rarer steps (bridges, firewall rules).
public protocol HostNetworking: Sendable {
    func ensureBridge(_ name: String, gateway: IPv4, subnet: Subnet, v6: (gateway: IPv6Address, prefix: Int)?) throws(NetworkError)
    func deleteLink(_ name: String)
    /// A named network namespace; `ownedBy` a user namespace's nsfs path (userns-remap: the
    /// container may then mount its own sysfs), else the host's.
    func createNamespace(_ name: String, ownedBy userNamespace: String?) throws(NetworkError)
    func deleteNamespace(_ name: String)
    /// A namespace with only its loopback (up), held by the returned descriptor (`--network none`).
    func loopbackOnlyNamespace() throws(NetworkError) -> Int32
    /// A veth pair: `hostSide` on `bridge`, the peer as `eth0`-like `ifname` in the namespace.
    func attach(namespace: String, bridge: String, hostSide: String, ifname: String, addresses: VethAddresses) throws(NetworkError)
    func detach(namespace: String, ifname: String)
    func loopbackUp(namespace: String) throws(NetworkError)
    func applyFirewall(_ document: String) throws(NetworkError)
    func ensureHooks(_ chains: Firewall.Chains) throws(NetworkError)
    func removeHooks(_ chains: Firewall.Chains)
    func linkExists(_ name: String) -> Bool
}

/// What a container's interface on one network gets: its IPv4 address (and the default route
/// through the gateway on its first network), its MAC, an IPv6 address on IPv6-enabled
/// networks, and any link-local addresses the client asked for.
public struct VethAddresses: Sendable {
    public struct V6: Sendable {
        public var address: IPv6Address
        public var prefix: Int
        public var gateway: IPv6Address?
        public init(address: IPv6Address, prefix: Int, gateway: IPv6Address?) { self.address = address; self.prefix = prefix; self.gateway = gateway }
    }
    public var address: IPv4
    public var subnet: Subnet
    public var gateway: IPv4?
    public var mac: String
    public var v6: V6?
    public var linkLocal: [String]
    public init(address: IPv4, subnet: Subnet, gateway: IPv4?, mac: String, v6: V6? = nil, linkLocal: [String] = []) {
        self.address = address; self.subnet = subnet; self.gateway = gateway; self.mac = mac; self.v6 = v6; self.linkLocal = linkLocal
    }

    /// The requests that configure the interface inside the namespace once its index is known
    /// (after `lo` is up; the MAC is set when the pair is made), each with what it does in
    /// `ip`'s words, for errors and unit tests. Pure.
    public func insideRequests(ifname: String, index: Int32) -> [(request: NetlinkRequest, what: String)] {
        var out: [(NetlinkRequest, String)] = [
            (Netlink.addAddress(Netlink.bytes(address), prefix: subnet.prefix, index: index), "addr add \(address)/\(subnet.prefix) dev \(ifname)")
        ]
        if let v6 {
            out.append(
                (Netlink.addAddress(Netlink.bytes(v6.address), prefix: v6.prefix, index: index), "addr add \(v6.address)/\(v6.prefix) dev \(ifname) nodad"))
        }
        for a in linkLocal {
            if let v4 = IPv4(a) {
                out.append(
                    (Netlink.addAddress(Netlink.bytes(v4), prefix: 16, index: index, scope: Netlink.scopeLink), "addr add \(a)/16 dev \(ifname) scope link"))
            } else if let v6 = IPv6Address(a) {
                out.append((Netlink.addAddress(Netlink.bytes(v6), prefix: 64, index: index), "addr add \(a)/64 dev \(ifname) nodad"))
            }
        }
        out.append((Netlink.setUp(ifname), "link set \(ifname) up"))
        if let gateway { out.append((Netlink.addDefaultRoute(gateway: Netlink.bytes(gateway), index: nil), "route add default via \(gateway)")) }
        if let g = v6?.gateway { out.append((Netlink.addDefaultRoute(gateway: Netlink.bytes(g), index: index), "route add default via \(g) dev \(ifname)")) }
        return out
    }
}

public struct NetworkError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ m: String) { message = m }
    public var description: String { message }
}

public struct LinuxHostNetworking: HostNetworking {
    public init() {}
    /// Where named network namespaces live (iproute2's place, so `ip netns` sees them).
    public static let namespaceDirectory = "/run/netns"

    static func run(_ argv: [String], input: String? = nil) throws(NetworkError) {
        let out: Proc.Output
        do { out = try Proc.run(argv, input: input.map { Array($0.utf8) }) } catch { throw NetworkError("\(argv[0]): \(error)") }
        if out.status != 0 { throw NetworkError("\(argv.joined(separator: " ")): \(out.stderrText.trimmingSpaces())") }
    }

    public func linkExists(_ name: String) -> Bool { FS.exists("/sys/class/net/" + name) }

    public func ensureBridge(_ name: String, gateway: IPv4, subnet: Subnet, v6: (gateway: IPv6Address, prefix: Int)?) throws(NetworkError) {
        if !linkExists(name) {
            var batch = "link add \(name) type bridge\naddr add \(gateway)/\(subnet.prefix) dev \(name)\n"
            if let v6 {
                try? FS.writeExisting("/proc/sys/net/ipv6/conf/\(name)/disable_ipv6", "0")
                batch += "addr add \(v6.gateway)/\(v6.prefix) dev \(name) nodad\n"
            }
            try LinuxHostNetworking.run(["ip", "-batch", "-"], input: batch + "link set \(name) up\n")
        }
        // No route_localnet (a bridge made by an earlier Berth may have it): loopback reaches
        // published ports through LoopbackProxy, and a container cannot reach the host's
        // 127.0.0.1-only services.
        try? FS.writeExisting("/proc/sys/net/ipv4/conf/\(name)/route_localnet", "0")
        // As dockerd: when Berth is the one turning forwarding on, the FORWARD policy becomes
        // DROP, so the host does not start routing between its other interfaces; Berth's own
        // chains accept its bridges' traffic explicitly.
        if (try? FS.readString("/proc/sys/net/ipv4/ip_forward"))?.hasPrefix("0") == true {
            try? FS.writeExisting("/proc/sys/net/ipv4/ip_forward", "1")
            _ = try? Proc.run(["iptables", "-w", "-P", "FORWARD", "DROP"])
        }
    }

    public func deleteLink(_ name: String) {
        guard let host = try? NetlinkSocket() else { return }
        _ = try? host.perform(Netlink.deleteLink(name), "ip link del \(name)")
    }

    public func createNamespace(_ name: String, ownedBy userNamespace: String?) throws(NetworkError) {
        guard let userNamespace else {
            do { try FS.mkdirAll(Self.namespaceDirectory) } catch { throw NetworkError("\(error)") }
            if let ready = NamespacePool.shared.take() {
                defer { close(ready) }
                if berth_netns_bind(ready, Self.namespaceDirectory, Self.namespaceDirectory + "/" + name) == 0 { return }
            }
            guard berth_netns_create(Self.namespaceDirectory, Self.namespaceDirectory + "/" + name) == 0 else {
                throw NetworkError("creating network namespace \(name): \(SysError("unshare"))")
            }
            return
        }
        // A helper enters the user namespace and makes a network namespace there; the host
        // keeps it at /run/netns/<name> (where `ip netns` looks) with a bind mount.
        let pid: pid_t
        do { pid = try Proc.spawn(["nsenter", "--user=" + userNamespace, "--", "unshare", "--net", "--", "sleep", "60"]) } catch {
            throw NetworkError("creating network namespace \(name): \(error)")
        }
        defer {
            kill(pid, SIGKILL)
            _ = Proc.wait(pid)
        }
        var own = stat(), theirs = stat()
        stat("/proc/self/ns/net", &own)
        for _ in 0..<400 {
            if stat("/proc/\(pid)/ns/net", &theirs) == 0, theirs.st_ino != own.st_ino { break }
            usleep(2000)
        }
        guard theirs.st_ino != own.st_ino else { throw NetworkError("creating network namespace \(name): the helper did not start") }
        let path = "/run/netns/" + name
        do { try FS.mkdirAll("/run/netns") } catch { throw NetworkError("\(error)") }
        let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o444)
        guard fd >= 0 else { throw NetworkError("create \(path): \(SysError("open"))") }
        close(fd)
        guard mount("/proc/\(pid)/ns/net", path, nil, UInt(MS_BIND), nil) == 0 else {
            unlink(path)
            throw NetworkError("bind \(path): \(SysError("mount"))")
        }
    }

    /// A network namespace with only its loopback (up), held by the returned descriptor: a ready
    /// one from the pool, else one made now; the kernel's error when none can be made.
    public func loopbackOnlyNamespace() throws(NetworkError) -> Int32 {
        if let ready = NamespacePool.shared.take() { return ready }
        let fd = berth_netns_new()
        guard fd >= 0 else { throw NetworkError("creating network namespace: \(SysError("unshare"))") }
        return fd
    }

    /// As `ip netns del`: the bind mount goes (the kernel frees the namespace, and the veths in
    /// it, once nothing else holds it), then the file.
    public func deleteNamespace(_ name: String) {
        let path = Self.namespaceDirectory + "/" + name
        umount2(path, Int32(MNT_DETACH))
        unlink(path)
    }

    public func loopbackUp(namespace: String) throws(NetworkError) {
        let inside = try NetlinkSocket(namespacePath: Self.namespaceDirectory + "/" + namespace)
        try inside.perform(Netlink.setUp("lo"), "ip link set lo up")
    }

    public func attach(namespace: String, bridge: String, hostSide: String, ifname: String, addresses: VethAddresses) throws(NetworkError) {
        let path = Self.namespaceDirectory + "/" + namespace
        guard let mac = MACAddress(addresses.mac) else { throw NetworkError("invalid MAC address: \(addresses.mac)") }
        let bridgeIndex = Int32(bitPattern: if_nametoindex(bridge))
        guard bridgeIndex > 0 else { throw NetworkError("bridge \(bridge): \(SysError("if_nametoindex"))") }
        let namespaceFD = open(path, O_RDONLY | O_CLOEXEC)
        guard namespaceFD >= 0 else { throw NetworkError("open \(path): \(SysError("open"))") }
        defer { close(namespaceFD) }
        let host = try NetlinkSocket()
        // One request: the host side on the bridge and up, its peer born in the namespace with its MAC.
        try host.perform(
            Netlink.createVeth(host: hostSide, bridgeIndex: bridgeIndex, peer: ifname, peerMAC: mac.bytes, peerNamespaceFD: namespaceFD),
            "ip link add \(hostSide) type veth peer name \(ifname)")
        do {
            let wantsV6 = addresses.v6 != nil || addresses.linkLocal.contains { IPv6Address($0) != nil }
            let inside = try NetlinkSocket(namespacePath: path, enableIPv6: wantsV6)
            try inside.perform(Netlink.setUp("lo"), "ip link set lo up")
            let index = try inside.index(of: ifname)
            for (request, what) in addresses.insideRequests(ifname: ifname, index: index) { try inside.perform(request, "ip " + what) }
        } catch {
            _ = try? host.perform(Netlink.deleteLink(hostSide), "ip link del \(hostSide)")
            throw error
        }
    }

    public func detach(namespace: String, ifname: String) {
        guard let inside = try? NetlinkSocket(namespacePath: Self.namespaceDirectory + "/" + namespace) else { return }
        _ = try? inside.perform(Netlink.deleteLink(ifname), "ip link del \(ifname)")
    }

    public func applyFirewall(_ document: String) throws(NetworkError) {
        try LinuxHostNetworking.run(["iptables-restore", "--noflush", "-w"], input: document)
    }

    public func ensureHooks(_ chains: Firewall.Chains) throws(NetworkError) {
        // The chains must exist before anything jumps to them.
        try applyFirewall(Firewall.teardown(chains))
        for (table, chain, rule) in Firewall.legacyHooks(chains) {
            while (try? Proc.run(["iptables", "-w", "-t", table, "-D", chain] + rule))?.status == 0 {}
        }
        for (table, chain, rule) in Firewall.hooks(chains) {
            if (try? Proc.run(["iptables", "-w", "-t", table, "-C", chain] + rule))?.status == 0 { continue }
            try LinuxHostNetworking.run(["iptables", "-w", "-t", table, "-I", chain, "1"] + rule)
        }
    }

    public func removeHooks(_ chains: Firewall.Chains) {
        for (table, chain, rule) in Firewall.hooks(chains) {
            while (try? Proc.run(["iptables", "-w", "-t", table, "-D", chain] + rule))?.status == 0 {}
        }
        for ch in chains.nat { _ = try? Proc.run(["iptables", "-w", "-t", "nat", "-F", ch]); _ = try? Proc.run(["iptables", "-w", "-t", "nat", "-X", ch]) }
        for ch in chains.filter {
            _ = try? Proc.run(["iptables", "-w", "-t", "filter", "-F", ch]); _ = try? Proc.run(["iptables", "-w", "-t", "filter", "-X", ch])
        }
        _ = try? Proc.run(["iptables", "-w", "-t", "raw", "-F", chains.raw])
        _ = try? Proc.run(["iptables", "-w", "-t", "raw", "-X", chains.raw])
    }
}
