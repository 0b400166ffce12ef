import BerthNet
import CSys
import DockerAPI
import Foundation
import JSON
import Sys

/// Networks and container connectivity: the predefined networks, user bridge networks, a
/// network namespace per container with a veth on each of its networks, published ports as
/// DNAT rules (the kernel carries the traffic, client addresses intact), and the embedded DNS.
extension Engine {
    nonisolated var networksDir: String { config.dataRoot + "/networks" }
    nonisolated var chains: Firewall.Chains { Firewall.Chains(tag: config.firewallTag) }
    nonisolated func namespacePath(_ name: String) -> String { "/run/netns/" + name }

    func saveNetwork(_ n: NetworkRecord) throws {
        try FS.mkdirAll(networksDir)
        try FS.writeAtomic(networksDir + "/\(n.id).json", n.document.serialized())
        networks[n.id] = n
    }

    /// Loads networks, makes the predefined ones, and brings the host back in line with the
    /// containers that are still running: bridges, IPAM, port holds, rules and DNS.
    func setupNetworking() {
        for name in (try? FS.list(networksDir)) ?? [] where name.hasSuffix(".json") {
            if let b = try? FS.read(networksDir + "/" + name), let j = try? JSON.parse(b), let n = NetworkRecord(document: j) { networks[n.id] = n }
        }
        for (name, driver) in [("none", "null"), ("host", "host")] where !networks.values.contains(where: { $0.name == name }) {
            try? saveNetwork(NetworkRecord(id: Names.newID(), name: name, driver: driver, created: .now()))
        }
        if !networks.values.contains(where: { $0.isDefaultBridge }) {
            var n = NetworkRecord(id: Names.newID(), name: "bridge", driver: "bridge", created: .now())
            if let cidr = config.defaultBridgeCIDR, let s = Subnet(cidr), let g = IPv4(String(cidr.split(separator: "/")[0])) {
                n.subnet = s; n.gateway = g
            } else if let s = freeSubnet() {
                n.subnet = s; n.gateway = s.base + 1
            }
            n.bridge = config.bridgeName
            n.options = [
                "com.docker.network.bridge.default_bridge": "true", "com.docker.network.bridge.enable_icc": "true",
                "com.docker.network.bridge.enable_ip_masquerade": "true", "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
                "com.docker.network.bridge.name": config.bridgeName, "com.docker.network.driver.mtu": "1500",
            ]
            try? saveNetwork(n)
        }
        for n in networks.values where n.driver == "bridge" {
            if let s = n.subnet, let g = n.gateway {
                var ipam = IPAM(subnet: s, gateway: g, range: n.ipRange)
                for a in n.auxAddresses.values.compactMap(IPv4.init) where s.contains(a) { try? ipam.reserve(a) }
                ipams[n.id] = ipam
            }
            if let s6 = n.subnet6, let g6 = n.gateway6 { ipam6s[n.id] = IPAM6(subnet: s6, gateway: g6, range: n.ipRange6) }
        }
        do { try hostNet.ensureHooks(chains) } catch { log("firewall: \(error)") }
        for n in networks.values where n.driver == "bridge" { ensureBridge(n) }
        dns = DNSServer(table: names, upstreams: DNSServer.hostUpstreams())
        // Running containers keep their namespaces across a daemon restart: re-adopt them.
        for c in containers.values where c.state.running && !c.sandbox.isEmpty {
            for e in c.endpoints {
                if let ip = e.ip { try? ipams[e.networkID]?.reserve(ip) }
                if let a = e.ip6 { try? ipam6s[e.networkID]?.reserve(a) }
            }
            portHolds[c.id] = c.publishedPorts.compactMap { p in holdPort(p).fd.map { (p, $0) } }
            if c.endpoints.contains(where: { networks[$0.networkID]?.resolvesNames == true }) {
                try? dns?.add(container: c.id, namespacePath: namespacePath(c.sandbox))
            }
        }
        refreshFirewall()
        refreshNames()
    }

    nonisolated func log(_ s: String) { FileHandle.standardError.write("berthd: \(s)\n".data(using: .utf8)!) }

    func freeSubnet() -> Subnet? {
        let routes = SubnetPicker.hostRoutes((try? FS.readString("/proc/net/route")) ?? "")
        return SubnetPicker.pick(taken: routes + networks.values.compactMap(\.subnet))
    }

    func ensureBridge(_ n: NetworkRecord) {
        guard let s = n.subnet, let g = n.gateway else { return }
        let v6 = n.enableIPv6 ? n.gateway6.flatMap { g6 in n.subnet6.map { (gateway: g6, prefix: $0.prefix) } } : nil
        do { try hostNet.ensureBridge(n.bridge, gateway: g, subnet: s, v6: v6) } catch { log("bridge \(n.bridge): \(error)") }
    }

    /// Rebuilds Berth's chains from the networks and the running containers' ports.
    func refreshFirewall() {
        var nets: [Firewall.Net] = []
        for n in networks.values.sorted(by: { $0.created < $1.created }) where n.driver == "bridge" {
            if let s = n.subnet {
                let o = BridgeOptions(n.options)
                nets.append(Firewall.Net(bridge: n.bridge, subnet: s, internalOnly: n.internalOnly, masquerade: o.masquerade, icc: o.icc))
            }
        }
        var ports: [Firewall.Port] = []
        for c in containers.values where c.state.running || starting.contains(c.id) {
            guard let e = c.endpoints.first, let ip = e.ip, let n = networks[e.networkID] else { continue }
            for p in c.publishedPorts {
                ports.append(
                    Firewall.Port(proto: p.proto, hostIP: p.hostIP, hostPort: p.hostPort, containerIP: ip, containerPort: p.containerPort, bridge: n.bridge))
            }
        }
        do { try hostNet.applyFirewall(Firewall.document(chains, networks: nets, ports: ports)) } catch { log("firewall: \(error)") }
        refreshLoopbackProxies(ports)
    }

    /// The embedded DNS's view: on each user network, container names, aliases and short IDs.
    func refreshNames() {
        var table: [String: [String: [IPv4]]] = [:]
        var membership: [String: [String]] = [:]
        for c in containers.values where c.state.running || starting.contains(c.id) {
            for e in c.endpoints {
                guard let ip = e.ip, networks[e.networkID]?.resolvesNames == true else { continue }
                membership[c.id, default: []].append(e.networkID)
                for n in Set([c.name, c.shortID] + e.aliases).map({ $0.lowercased() }) {
                    table[e.networkID, default: [:]][n, default: []].append(ip)
                }
            }
        }
        // Network-scoped links: the alias resolves, for the linking container only, to the
        // target's address on that network (found by name once the target runs).
        var own: [String: [String: [IPv4]]] = [:]
        for c in containers.values where c.state.running || starting.contains(c.id) {
            for e in c.endpoints where networks[e.networkID]?.resolvesNames == true {
                for link in e.links.compactMap(LegacyLink.init) + (e.networkID == c.endpoints.first?.networkID ? legacyLinks(c) : []) {
                    if let ips = table[e.networkID]?[link.target.lowercased()] { own[c.id, default: [:]][link.alias.lowercased()] = ips }
                }
            }
        }
        // Only on internal networks: nothing to forward to.
        var noForward = Set<String>()
        for id in membership.keys {
            guard let c = containers[id] else { continue }
            if c.endpoints.allSatisfy({ networks[$0.networkID]?.internalOnly == true }) { noForward.insert(id) }
        }
        names.replace(names: table, membership: membership, own: own, noForward: noForward)
    }

    // MARK: lookup

    public func network(_ ref: String) throws(EngineError) -> NetworkRecord {
        if let n = networks[ref] { return n }
        if let n = networks.values.first(where: { $0.name == ref }) { return n }
        let m = networks.values.filter { $0.id.hasPrefix(ref) }
        if m.count == 1, !ref.isEmpty { return m[0] }
        throw .notFound("network \(ref) not found")
    }

    public func allNetworks() -> [NetworkRecord] { networks.values.sorted { $0.created < $1.created } }

    // MARK: create / remove

    public func createNetwork(_ body: NetworkCreateRequest) throws(EngineError) -> NetworkRecord {
        let name = body.name
        guard !name.isEmpty else { throw .badRequest("network name must not be empty") }
        if networks.values.contains(where: { $0.name == name }) { throw .conflict("network with name \(name) already exists") }
        let driver = body.driver.isEmpty ? "bridge" : body.driver
        guard driver == "bridge" else {
            if driver == "host" || driver == "null" { throw .forbidden("only one instance of \"\(driver)\" network is allowed") }
            throw .notFound("plugin \"\(driver)\" not found")
        }
        var n = NetworkRecord(id: Names.newID(), name: name, driver: "bridge", created: .now())
        // What only swarm (or another IPAM driver) gives is refused, not ignored.
        if body.ingress || body.configOnly || !body.configFrom.isEmpty || body.scope == "swarm" || body.scope == "global" {
            throw .unavailable(
                "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.")
        }
        if !body.ipamDriver.isEmpty && body.ipamDriver != "default" { throw .notFound("plugin \"\(body.ipamDriver)\" not found") }
        n.internalOnly = body.internal
        n.attachable = body.attachable
        n.labels = body.labels ?? [:]
        n.options = body.options ?? [:]
        try BridgeOptions.check(n.options, bridgeFiltering: BridgeOptions.hostFiltersBridgedTraffic())
        n.bridge = n.options["com.docker.network.bridge.name"] ?? "br-" + String(n.id.prefix(12))
        let taken = networks.values.compactMap(\.subnet)
        n.enableIPv6 = body.enableIPv6
        n.ipamOptions = body.ipamOptions
        // One pool of each family: the IPv4 one, and an IPv6 one (used when IPv6 is enabled).
        var seenV4 = false, seenV6 = false
        for cfg in body.ipamConfig ?? [] {
            let s = cfg.subnet
            if s.contains(":") {
                guard let subnet6 = IPv6Subnet(s) else { throw .badRequest("invalid CIDR address: \(s)") }
                if seenV6 { throw .badRequest("bridge driver doesn't support multiple subnets") }
                seenV6 = true
                if let clash = networks.values.first(where: { $0.subnet6.map { $0.overlaps(subnet6) } ?? false }) {
                    throw .forbidden("Pool overlaps with other one on this address space (\(clash.name))")
                }
                n.subnet6 = subnet6
                if case let r = cfg.ipRange, !r.isEmpty {
                    guard let range = IPv6Subnet(r), subnet6.contains(range.base) else {
                        throw .badRequest("invalid pool request: ip-range \(r) is not within subnet \(s)")
                    }
                    n.ipRange6 = range
                }
                if case let g = cfg.gateway, !g.isEmpty {
                    guard let gw = IPv6Address(g) else { throw .badRequest("invalid gateway address \(g)") }
                    guard subnet6.contains(gw) else { throw .badRequest("gateway \(g) is not within subnet \(s)") }
                    n.gateway6 = gw
                }
                continue
            }
            if seenV4 { throw .badRequest("bridge driver doesn't support multiple subnets") }
            seenV4 = true
            if !s.isEmpty {
                guard let subnet = Subnet(s) else { throw .badRequest("invalid CIDR address: \(s)") }
                if let clash = networks.values.first(where: { $0.subnet.map { $0.overlaps(subnet) } ?? false }) {
                    throw .forbidden("Pool overlaps with other one on this address space (\(clash.name))")
                }
                n.subnet = subnet
            }
            if case let r = cfg.ipRange, !r.isEmpty {
                guard let range = Subnet(r) else { throw .badRequest("invalid CIDR address: \(r)") }
                n.ipRange = range
            }
            if case let g = cfg.gateway, !g.isEmpty {
                guard let gw = IPv4(g) else { throw .badRequest("invalid gateway address \(g)") }
                n.gateway = gw
            }
            for (name, a) in (cfg.auxiliaryAddresses ?? [:]).sorted(by: { $0.key < $1.key }) {
                guard IPv4(a) != nil else { throw .badRequest("invalid auxiliary address \(name)=\(a)") }
                n.auxAddresses[name] = a
            }
        }
        if n.subnet == nil {
            if n.ipRange != nil || n.gateway != nil { throw .badRequest("invalid pool request: subnet is required with ip-range or gateway") }
            guard let s = SubnetPicker.pick(taken: taken + SubnetPicker.hostRoutes((try? FS.readString("/proc/net/route")) ?? "")) else {
                throw .forbidden("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network")
            }
            n.subnet = s
        }
        let subnet = n.subnet!
        if let r = n.ipRange, !subnet.contains(r.base) { throw .badRequest("ip-range \(r) is not within subnet \(subnet)") }
        if let g = n.gateway, !subnet.contains(g) { throw .badRequest("gateway \(g) is not within subnet \(subnet)") }
        for (name, a) in n.auxAddresses.sorted(by: { $0.key < $1.key }) where IPv4(a).map({ !subnet.contains($0) }) ?? true {
            throw .forbidden("auxiliary address: (\(name):\(a)) must belong to the master pool: \(subnet)")
        }
        if n.gateway == nil { n.gateway = subnet.base + 1 }
        if n.enableIPv6 && n.subnet6 == nil { throw .badRequest("IPv6 is enabled (--ipv6) but no IPv6 subnet was given (--subnet)") }
        if let s6 = n.subnet6, n.gateway6 == nil { n.gateway6 = s6.base + 1 }
        ensureBridge(n)
        guard hostNet.linkExists(n.bridge) else { throw .internalError("could not create the bridge \(n.bridge)") }
        do { try saveNetwork(n) } catch { hostNet.deleteLink(n.bridge); throw .wrapping(error) }
        var ipam = IPAM(subnet: subnet, gateway: n.gateway!, range: n.ipRange)
        for a in n.auxAddresses.values.compactMap(IPv4.init) where subnet.contains(a) { try? ipam.reserve(a) }
        ipams[n.id] = ipam
        if let s6 = n.subnet6, let g6 = n.gateway6 { ipam6s[n.id] = IPAM6(subnet: s6, gateway: g6, range: n.ipRange6) }
        refreshFirewall()
        emitNetwork("create", n)
        return n
    }

    func emitNetwork(_ action: String, _ n: NetworkRecord, container: String? = nil) {
        var attrs = ["name": n.name, "type": n.driver]
        if let container { attrs["container"] = container }
        events.publish(Event(type: "network", action: action, actorID: n.id, attributes: attrs, from: nil, time: .now()))
    }

    public func removeNetwork(_ ref: String) throws(EngineError) {
        let n = try network(ref)
        if n.predefined { throw .forbidden("\(n.name) is a pre-defined network and cannot be removed") }
        let users = containers.values.filter { $0.endpoints.contains { $0.networkID == n.id } }
        if !users.isEmpty {
            throw .forbidden("error while removing network: network \(n.name) id \(n.id) has active endpoints")
        }
        hostNet.deleteLink(n.bridge)
        unlink(networksDir + "/\(n.id).json")
        networks[n.id] = nil
        ipams[n.id] = nil
        ipam6s[n.id] = nil
        refreshFirewall()
        emitNetwork("destroy", n)
    }

    public func pruneNetworks(labels: LabelFilter, until: Timestamp? = nil) -> [String] {
        var removed: [String] = []
        for n in allNetworks() where !n.predefined && labels.matches(n.labels) && until.map({ n.created < $0 }) ?? true {
            if (try? removeNetwork(n.id)) != nil { removed.append(n.name) }
        }
        return removed
    }

    // MARK: container membership

    /// At create: the networks a container joins, from its NetworkMode and NetworkingConfig.
    /// `legacyMAC`: `Config.MacAddress` (API < 1.44 put the primary endpoint's MAC there).
    func initialEndpoints(mode: String, networking: NetworkingConfig, legacyMAC: String? = nil) throws(EngineError) -> [Endpoint] {
        if mode == "host" || mode == "none" || mode.hasPrefix("container:") {
            // `container:<name>` is resolved at the start, as dockerd: a 404 from create sends the
            // docker CLI pulling the image.
            return []
        }
        let n = try network(mode == "default" ? "bridge" : mode)
        if n.driver == "host" || n.driver == "null" { return [] }
        // Clients key the primary endpoint by the mode as given ("default", a name or an ID).
        func resolve(_ key: String) -> NetworkRecord? { try? network(key == "default" ? "bridge" : key) }
        let cfg = networking.endpoints.first { resolve($0.name)?.id == n.id }?.settings ?? EndpointSettings()
        var e = Endpoint(networkID: n.id, settings: cfg)
        if e.requestedMAC.isEmpty, let mac = legacyMAC { e.requestedMAC = mac }
        try validate(e, on: n)
        var out = [e]
        // Further networks named in NetworkingConfig (API ≥ 1.44 sends several; compose may).
        for (name, cfg) in networking.endpoints where resolve(name)?.id != n.id {
            // A network that does not exist fails the start, as the primary one does (a 404
            // from create would read as a missing image): kept by name until then.
            guard let other = try? network(name) else {
                out.append(Endpoint(networkID: name, settings: cfg))
                continue
            }
            let oe = Endpoint(networkID: other.id, settings: cfg)
            try validate(oe, on: other)
            out.append(oe)
        }
        return out
    }

    /// What dockerd refuses in an endpoint's settings, in its words.
    func validate(_ e: Endpoint, on n: NetworkRecord) throws(EngineError) {
        if n.isDefaultBridge && !e.aliases.isEmpty {
            throw .badRequest("network-scoped alias is supported only for containers in user defined networks")
        }
        if n.isDefaultBridge && (!e.requestedIP.isEmpty || !e.requestedIPv6.isEmpty) {
            throw .badRequest("user specified IP address is supported on user defined networks only")
        }
        if n.isDefaultBridge && !e.links.isEmpty {
            throw .badRequest("network-scoped links are supported only for containers in user defined networks")
        }
        if !e.requestedMAC.isEmpty && MACAddress(e.requestedMAC) == nil {
            throw .badRequest("invalid MAC address: \(e.requestedMAC)")
        }
        for ip in e.linkLocalIPs where IPv4(ip) == nil && IPv6Address(ip) == nil {
            throw .badRequest("invalid link-local IP address: \(ip)")
        }
    }

    /// Before the runtime starts the container: namespace, interfaces, ports, rules, DNS and the
    /// container's resolv.conf and hosts. Returns the namespace path for the OCI spec (nil:
    /// leave the runtime's own choice, e.g. a fresh namespace for `none`).
    /// The container's network namespace path (nil: the host's, or a fresh one the runtime
    /// makes) and its veths, whose addresses are taken but which the caller makes: a start
    /// attaches them off the actor while the runtime creates the container.
    func connectSandbox(_ c: inout Container) throws(EngineError) -> (path: String?, veths: [VethAttachment]) {
        let mode = c.networkMode
        if mode == "host" { return (nil, []) }
        if mode.hasPrefix("container:") {
            let other = try container(String(mode.dropFirst("container:".count)))
            guard other.state.running, other.state.pid > 0 else { throw .conflict("cannot join network of a non running container: \(other.id)") }
            return (other.sandbox.isEmpty ? "/proc/\(other.state.pid)/ns/net" : namespacePath(other.sandbox), [])
        }
        if mode == "none" {
            // A namespace with only its loopback, up as in dockerd's sandboxes: a ready one from
            // the pool (the runtime's unshare of a new one was on every start's path, and left
            // lo down). Held by berthd's descriptor until the runtime has joined it (see
            // `start`), then by the container alone. Under userns-remap the runtime makes it in
            // the container's user namespace, which must own it.
            guard remap(c.id) == nil else { return (nil, []) }
            let fd: Int32
            do { fd = try hostNet.loopbackOnlyNamespace() } catch { throw .wrapping(error) }
            heldNamespaces[c.id] = fd
            return ("/proc/\(getpid())/fd/\(fd)", [])
        }
        if c.endpoints.isEmpty { c.endpoints = try initialEndpoints(mode: mode, networking: NetworkingConfig()) }
        if c.endpoints.isEmpty { return (nil, []) }
        // A name of its own for each run: the previous run's namespace is deleted off the actor
        // and may still be going when the container starts again (a restart, Compose re-running
        // a one-shot service); under the same name that late delete took the new run's
        // namespace ("Invalid netns value", found by test_concurrency under load). Leftovers
        // of this container's earlier runs (a daemon killed before deleting them) go now.
        let prefix = "berth-" + String(c.id.prefix(12))
        for old in ((try? FS.list("/run/netns")) ?? []) where old == prefix || old.hasPrefix(prefix + "-") { hostNet.deleteNamespace(old) }
        let sandbox = prefix + "-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        let owner = remap(c.id) != nil ? userNamespacePath(c.id) : nil
        do { try hostNet.createNamespace(sandbox, ownedBy: owner) } catch { throw .wrapping(error) }
        c.sandbox = sandbox
        var veths: [VethAttachment] = []
        do {
            for i in c.endpoints.indices {
                // An endpoint may name a network that did not exist at create: resolved now.
                guard let n = networks[c.endpoints[i].networkID] ?? (try? network(c.endpoints[i].networkID)) else {
                    throw EngineError.notFound("network \(c.endpoints[i].networkID) not found")
                }
                c.endpoints[i].networkID = n.id
                veths.append(try reserve(&c.endpoints[i], index: i, sandbox: sandbox, network: n))
                emitNetwork("connect", n, container: c.id)
            }
            try publishPorts(&c)
        } catch {
            releaseSandbox(&c)
            if let e = error as? EngineError { throw e }
            throw .wrapping(error)
        }
        writeNetworkFiles(c)
        containers[c.id] = c
        refreshNames()
        return (namespacePath(sandbox), veths)
    }

    /// The embedded DNS server's socket in the container's namespace, once its veths (and with
    /// them its loopback, where 127.0.0.11 lives) are up.
    func startNameServer(_ c: Container) {
        guard !c.sandbox.isEmpty, c.endpoints.contains(where: { networks[$0.networkID]?.resolvesNames == true }) else { return }
        do { try dns?.add(container: c.id, namespacePath: namespacePath(c.sandbox)) } catch { log("\(error)") }
    }

    /// The requested address (reserved), or the pool's next free one.
    static func take<P: AddressPool>(
        from pool: inout P, requested: String, family: String,
        parse: (String) -> P.Address?
    ) throws(EngineError) -> P.Address {
        if requested.isEmpty {
            do { return try pool.allocate() } catch { throw .forbidden(error.message) }
        }
        guard let want = parse(requested) else { throw .badRequest("invalid \(family) address: \(requested)") }
        do { try pool.reserve(want) } catch { throw .badRequest(error.message) }
        return want
    }

    /// Gives an endpoint its addresses (the requested ones or the next free ones; IPv6 on
    /// IPv6-enabled networks) and its veth into `sandbox`. On failure nothing stays reserved.
    func plug(_ e: inout Endpoint, index: Int, sandbox: String, network n: NetworkRecord) throws(EngineError) {
        let veth = try reserve(&e, index: index, sandbox: sandbox, network: n)
        do { try veth.attach(on: hostNet) } catch {
            ipams[n.id]?.release(veth.addresses.address)
            if let a = e.ip6 { ipam6s[n.id]?.release(a) }
            e.ip = nil
            e.ip6 = nil
            throw .wrapping(error)
        }
    }

    /// An endpoint's addresses and names, taken on the actor; the veth itself is made by
    /// `VethAttachment.attach`, which may run elsewhere (a start does it while the runtime creates).
    func reserve(_ e: inout Endpoint, index: Int, sandbox: String, network n: NetworkRecord) throws(EngineError) -> VethAttachment {
        guard var ipam = ipams[n.id], let subnet = n.subnet else { throw .internalError("network \(n.name) has no address pool") }
        let ip = try Engine.take(from: &ipam, requested: e.requestedIP, family: "IPv4", parse: IPv4.init)
        var v6: VethAddresses.V6? = nil
        if n.enableIPv6, var ipam6 = ipam6s[n.id], let subnet6 = n.subnet6 {
            let a = try Engine.take(from: &ipam6, requested: e.requestedIPv6, family: "IPv6", parse: IPv6Address.init)
            ipam6s[n.id] = ipam6
            v6 = .init(address: a, prefix: subnet6.prefix, gateway: index == 0 && !n.internalOnly ? n.gateway6 : nil)
            e.ip6 = a
        }
        ipams[n.id] = ipam
        e.ip = ip
        e.endpointID = Names.newID()
        e.ifname = "eth\(index)"
        e.hostSide = "veth" + String(e.endpointID.prefix(7))
        ensureBridge(n)
        let addresses = VethAddresses(
            address: ip, subnet: subnet, gateway: index == 0 && !n.internalOnly ? n.gateway : nil,
            mac: e.requestedMAC.isEmpty ? ip.mac : e.requestedMAC, v6: v6, linkLocal: e.linkLocalIPs)
        return VethAttachment(namespace: sandbox, bridge: n.bridge, hostSide: e.hostSide, ifname: e.ifname, addresses: addresses)
    }

    /// Host ports: explicit ones are held (a clash is refused as Docker words it), `-p 80` and
    /// `-P` get a free port from the kernel.
    func publishPorts(_ c: inout Container) throws {
        let requests = try PortPlan.requests(
            bindings: c.hostConfig.portBindings ?? [:], exposed: c.config.exposedPorts ?? [],
            publishAll: c.hostConfig.publishAllPorts)
        var held: [(port: PublishedPort, fd: Int32)] = []
        var published: [PublishedPort] = []
        for r in requests {
            let hostIP = r.hostIP.isEmpty ? "0.0.0.0" : r.hostIP
            var p = PublishedPort(proto: r.proto, hostIP: hostIP, hostPort: r.hostPort, containerPort: r.containerPort)
            if r.hostPort != 0, sharesPort(with: c, proto: r.proto, hostIP: hostIP, port: r.hostPort) {
                published.append(p)
                continue
            }
            let hold = holdPort(p)
            guard let fd = hold.fd else {
                for h in held { close(h.fd) }
                throw EngineError.internalError(
                    "driver failed programming external connectivity on endpoint \(c.name) (\(c.endpoints.first?.endpointID ?? "")): Bind for \(hostIP):\(r.hostPort) failed: port is already allocated"
                )
            }
            p.hostPort = hold.port
            held.append((p, fd))
            published.append(p)
        }
        if let rootless = config.rootless {
            // Rootless: the port above is held in the daemon's own network namespace; the
            // host's is opened by slirp4netns, as the user, on request.
            let slirp = SlirpPorts(socketPath: rootless.slirpSocket)
            var ids: [Int64] = []
            for (p, _) in held {
                do { ids.append(try slirp.add(proto: p.proto, hostIP: p.hostIP, port: p.hostPort)) } catch {
                    for id in ids { slirp.remove(id: id) }
                    for h in held { close(h.fd) }
                    throw EngineError.internalError(
                        "driver failed programming external connectivity on endpoint \(c.name) (\(c.endpoints.first?.endpointID ?? "")): \(error)")
                }
            }
            slirpForwards[c.id] = ids
        }
        c.publishedPorts = published
        portHolds[c.id] = held
        guard !published.isEmpty else { return }
        persist(c)
        refreshFirewall()
    }

    /// Replicas of one compose service may publish the same host port (the seeds' file asks for
    /// five behind port 4000); connections are spread over them. Anything else clashes.
    func sharesPort(with c: Container, proto: String, hostIP: String, port: Int) -> Bool {
        let project = c.labels["com.docker.compose.project"], service = c.labels["com.docker.compose.service"]
        guard let project, let service else { return false }
        return containers.values.contains { o in
            o.id != c.id && (o.state.running || starting.contains(o.id)) && o.labels["com.docker.compose.project"] == project
                && o.labels["com.docker.compose.service"] == service
                && o.publishedPorts.contains { $0.proto == proto && $0.hostIP == hostIP && $0.hostPort == port }
        }
    }

    /// Ports published on every address or on loopback answer `127.0.0.1:PORT` through a relay
    /// on the held socket (no route_localnet); ports on another address need none. One relay per
    /// host port, in front of every replica that publishes it, kept while any of them runs.
    func refreshLoopbackProxies(_ ports: [Firewall.Port]) {
        var wanted: [String: (proto: String, targets: [(IPv4, Int)])] = [:]
        for p in ports where p.hostIP == "0.0.0.0" || p.hostIP.hasPrefix("127.") {
            let key = "\(p.proto) \(p.hostIP) \(p.hostPort)"
            wanted[key, default: (p.proto, [])].targets.append((p.containerIP, p.containerPort))
        }
        for (key, proxy) in loopbackProxies where wanted[key] == nil {
            proxy.stop()
            loopbackProxies[key] = nil
        }
        for (key, want) in wanted {
            if let proxy = loopbackProxies[key] {
                proxy.setTargets(want.targets)
                continue
            }
            // The socket some replica holds for this port; the relay keeps its own duplicate.
            let hold = portHolds.values.lazy.flatMap { $0 }.first { "\($0.port.proto) \($0.port.hostIP) \($0.port.hostPort)" == key }
            guard let hold else { continue }
            let fd = fcntl(hold.fd, F_DUPFD_CLOEXEC, 0)
            guard fd >= 0 else { continue }
            do { loopbackProxies[key] = try LoopbackProxy(fd: fd, proto: want.proto, targets: want.targets) } catch {
                close(fd)
                log("loopback relay for \(key): \(error)")
            }
        }
    }

    /// The container's held ports closed (a relay still serving its replicas keeps its own).
    func releasePorts(_ id: String) {
        for h in portHolds.removeValue(forKey: id) ?? [] { close(h.fd) }
        if let rootless = config.rootless, let ids = slirpForwards.removeValue(forKey: id) {
            let slirp = SlirpPorts(socketPath: rootless.slirpSocket)
            for i in ids { slirp.remove(id: i) }
        }
    }

    nonisolated func holdPort(_ p: PublishedPort) -> (fd: Int32?, port: Int) {
        var out: UInt16 = 0
        let addr = IPv4(p.hostIP)?.value ?? 0
        let fd = berth_reserve_port(p.proto == "udp" ? 0 : 1, addr, UInt16(p.hostPort), &out)
        return fd >= 0 ? (fd, Int(out)) : (nil, 0)
    }

    /// The container's /etc/hosts and resolv.conf for its networks.
    func writeNetworkFiles(_ c: Container) {
        let hostname = c.config.hostname.isEmpty ? c.shortID : c.config.hostname
        var extra = c.hostConfig.extraHosts ?? []
        if c.networkMode == "bridge", let links = try? linkContext(c) { extra += links.hosts }
        // A line for each network's address, in the order they were joined (as dockerd writes
        // them at a start, and adds one at a `network connect`).
        for e in c.endpoints {
            guard let ip = e.ip else { continue }
            var names = [hostname]
            if networks[e.networkID]?.resolvesNames == true && c.name != hostname { names.append(c.name) }
            extra.append(names.joined(separator: " ") + ":" + ip.description)
        }
        // Rewritten in place, not synced: written again at every start, so a crash loses nothing
        // that matters, and a running container (a `network connect`) sees the new text.
        try? FS.rewrite(dir(c.id) + "/hosts", DockerShapes.hostsFile(hostname: hostname, extra: extra))
        let userNet = c.endpoints.contains { networks[$0.networkID]?.resolvesNames == true }
        try? FS.rewrite(
            dir(c.id) + "/resolv.conf",
            DockerShapes.resolvConf(
                host: (try? FS.readString("/etc/resolv.conf")) ?? "", embeddedDNS: userNet,
                dns: c.hostConfig.dns ?? [], search: c.hostConfig.dnsSearch ?? [], options: c.hostConfig.dnsOptions ?? []))
    }

    /// After the container stops: addresses back to the pools, ports released, namespace (and
    /// with it the container's ends of the veths) gone, rules rebuilt.
    func releaseSandbox(_ c: inout Container) {
        dns?.remove(container: c.id)
        releasePorts(c.id)
        let hadPorts = !c.publishedPorts.isEmpty
        let hadNames = c.endpoints.contains { $0.ip != nil && networks[$0.networkID]?.resolvesNames == true }
        for i in c.endpoints.indices {
            if let ip = c.endpoints[i].ip { ipams[c.endpoints[i].networkID]?.release(ip) }
            if let a = c.endpoints[i].ip6 { ipam6s[c.endpoints[i].networkID]?.release(a) }
            if let n = networks[c.endpoints[i].networkID], c.endpoints[i].ip != nil { emitNetwork("disconnect", n, container: c.id) }
            c.endpoints[i].ip = nil
            c.endpoints[i].ip6 = nil
            c.endpoints[i].endpointID = ""
            c.endpoints[i].hostSide = ""
        }
        let sandbox = c.sandbox
        c.sandbox = ""
        c.publishedPorts = []
        if containers[c.id] != nil { containers[c.id] = c }
        if hadPorts { refreshFirewall() }
        if hadNames { refreshNames() }
        // The namespace goes last and off the actor: unmounting it lets the kernel free it
        // (and the container's veth pairs with it) once nothing holds it, without anyone waiting.
        if !sandbox.isEmpty {
            let host = hostNet
            Task.detached { host.deleteNamespace(sandbox) }
        }
    }

    func releaseSandbox(id: String) {
        guard var c = containers[id] else { return }
        releaseSandbox(&c)
        persist(c)
    }

    // MARK: connect / disconnect

    public func connect(network ref: String, container cref: String, config: EndpointSettings) async throws(EngineError) {
        let n = try network(ref)
        var c = try await afterStart(cref)
        if n.driver != "bridge" { throw .forbidden("container cannot be disconnected from host network or connected to host network") }
        let mode = c.networkMode
        if mode == "host" || mode == "none" || mode.hasPrefix("container:") {
            throw .forbidden("container sharing network namespace with another container or host cannot be connected to any other network")
        }
        if c.endpoints.contains(where: { $0.networkID == n.id }) {
            throw .forbidden("endpoint with name \(c.name) already exists in network \(n.name)")
        }
        var e = Endpoint(networkID: n.id, settings: config)
        try validate(e, on: n)
        if c.state.running && !c.sandbox.isEmpty {
            do { try plug(&e, index: c.endpoints.count, sandbox: c.sandbox, network: n) } catch { throw .wrapping(error) }
            if n.resolvesNames { try? dns?.add(container: c.id, namespacePath: namespacePath(c.sandbox)) }
        }
        c.endpoints.append(e)
        persist(c)
        if c.state.running { writeNetworkFiles(c); refreshFirewall(); refreshNames() }
        emitNetwork("connect", n, container: c.id)
    }

    public func disconnect(network ref: String, container cref: String, force: Bool) async throws(EngineError) {
        let n = try network(ref)
        var c = try await afterStart(cref)
        guard let i = c.endpoints.firstIndex(where: { $0.networkID == n.id }) else {
            // dockerd refuses this with or without force (force only matters for endpoints
            // of containers that are gone), as a 500.
            throw .internalError("container \(c.id) is not connected to network \(n.name)")
        }
        let e = c.endpoints.remove(at: i)
        if let ip = e.ip { ipams[n.id]?.release(ip) }
        if let a = e.ip6 { ipam6s[n.id]?.release(a) }
        if !e.ifname.isEmpty && !c.sandbox.isEmpty { hostNet.detach(namespace: c.sandbox, ifname: e.ifname) }
        if !e.hostSide.isEmpty { hostNet.deleteLink(e.hostSide) }
        if !c.endpoints.contains(where: { networks[$0.networkID]?.resolvesNames == true }) { dns?.remove(container: c.id) }
        if i == 0 {
            c.publishedPorts = []
            releasePorts(c.id)
        }
        persist(c)
        if c.state.running { writeNetworkFiles(c) }
        refreshFirewall()
        refreshNames()
        emitNetwork("disconnect", n, container: c.id)
    }

    /// Daemon shutdown: with nothing left running, take down what Berth put on the host.
    /// A rootless daemon's containers live in namespaces that end with it (its /run, its network
    /// namespace), so its clean stop stops them first, as dockerd does without live-restore:
    /// all at once, each with its own stop timeout.
    public func stopAllForShutdown() async {
        guard config.rootless != nil else { return }
        let running = containers.values.filter { $0.state.running }.map(\.id)
        await withTaskGroup(of: Void.self) { group in
            for id in running { group.addTask { try? await self.stop(id, timeout: nil) } }
        }
    }

    public func shutdownNetworking() {
        guard !containers.values.contains(where: { $0.state.running }) else { return }
        for c in containers.values where !c.sandbox.isEmpty { hostNet.deleteNamespace(c.sandbox) }
        hostNet.removeHooks(chains)
        for n in networks.values where n.driver == "bridge" { hostNet.deleteLink(n.bridge) }
    }

    // MARK: shapes

    public func networkResponse(_ n: NetworkRecord, verbose: Bool = true) -> NetworkResponse {
        var r = NetworkResponse()
        if verbose {
            for c in containers.values.sorted(by: { $0.created < $1.created }) {
                guard let e = c.endpoints.first(where: { $0.networkID == n.id }), let ip = e.ip, let s = n.subnet else { continue }
                let v6 = e.ip6.flatMap { a in n.subnet6.map { "\(a)/\($0.prefix)" } } ?? ""
                var entry = NetworkContainerResponse()
                entry.name = c.name
                entry.endpointID = e.endpointID
                entry.macAddress = e.mac
                entry.ipv4Address = "\(ip)/\(s.prefix)"
                entry.ipv6Address = v6
                r.containers.append((c.id, entry))
            }
        }
        if let s = n.subnet {
            r.ipamConfig.append(
                IPAMPool(
                    subnet: s.description, ipRange: n.ipRange?.description ?? "", gateway: n.gateway?.description ?? "",
                    auxiliaryAddresses: n.auxAddresses.isEmpty ? nil : n.auxAddresses))
        }
        if let s6 = n.subnet6 {
            r.ipamConfig.append(IPAMPool(subnet: s6.description, ipRange: n.ipRange6?.description ?? "", gateway: n.gateway6?.description ?? ""))
        }
        r.name = n.name
        r.id = n.id
        r.created = n.created.goRFC3339Nano
        r.driver = n.driver
        r.enableIPv6 = n.enableIPv6
        r.ipamOptions = n.ipamOptions
        r.internal = n.internalOnly
        r.attachable = n.attachable
        r.options = n.options
        r.labels = n.labels
        return r
    }

    /// inspect's NetworkSettings.
    func networkSettings(_ c: Container) -> NetworkSettingsResponse {
        var nets: [(name: String, endpoint: EndpointResponse)] = []
        var primary: (Endpoint, NetworkRecord)? = nil
        let mode = c.networkMode
        if mode == "host" || mode == "none" {
            if let n = networks.values.first(where: { $0.name == mode }) {
                nets.append((n.name, endpointResponse(Endpoint(networkID: n.id), n, c)))
            }
        }
        for e in c.endpoints {
            guard let n = networks[e.networkID] else { continue }
            if primary == nil { primary = (e, n) }
            nets.removeAll { $0.name == n.name }
            nets.append((n.name, endpointResponse(e, n, c)))
        }
        var ports: PortMap = [:]
        for key in c.config.exposedPorts ?? [] { ports[key] = .some(nil) }
        for p in c.publishedPorts {
            let key = "\(p.containerPort)/\(p.proto)"
            let existing: [PortBinding] = (ports[key] ?? nil) ?? []
            ports[key] = .some(existing + [PortBinding(hostIP: p.hostIP, hostPort: String(p.hostPort))])
        }
        let running = c.state.running
        let e = primary?.0, n = primary?.1
        let isBridge = n?.isDefaultBridge == true && running
        var r = NetworkSettingsResponse()
        r.sandboxID = c.sandbox.isEmpty ? "" : c.id
        r.ports = running ? ports : [:]
        r.sandboxKey = c.sandbox.isEmpty ? "" : namespacePath(c.sandbox)
        if isBridge {
            r.endpointID = e?.endpointID ?? ""
            r.gateway = n?.gateway?.description ?? ""
            r.globalIPv6Address = e?.ip6?.description ?? ""
            r.globalIPv6PrefixLen = e?.ip6 != nil ? n?.subnet6?.prefix ?? 0 : 0
            r.ipAddress = e?.ip?.description ?? ""
            r.ipPrefixLen = n?.subnet?.prefix ?? 0
            r.ipv6Gateway = e?.ip6 != nil ? n?.gateway6?.description ?? "" : ""
            r.macAddress = e?.mac ?? ""
        }
        r.networks = nets
        return r
    }

    func endpointResponse(_ e: Endpoint, _ n: NetworkRecord, _ c: Container) -> EndpointResponse {
        var r = EndpointResponse()
        if !(e.requestedIP.isEmpty && e.requestedIPv6.isEmpty && e.linkLocalIPs.isEmpty) {
            var ipam = EndpointSettings()
            ipam.ipv4Address = e.requestedIP
            ipam.ipv6Address = e.requestedIPv6
            ipam.linkLocalIPs = e.linkLocalIPs.isEmpty ? nil : e.linkLocalIPs
            r.ipamConfig = ipam
        }
        r.links = e.links.isEmpty ? nil : e.links
        if n.resolvesNames { r.aliases = e.aliases + (e.aliases.contains(c.shortID) ? [] : [c.shortID]) }
        r.networkID = n.id
        r.endpointID = e.endpointID
        r.gateway = e.ip != nil ? n.gateway?.description ?? "" : ""
        r.ipAddress = e.ip?.description ?? ""
        r.ipPrefixLen = e.ip != nil ? n.subnet?.prefix ?? 0 : 0
        r.ipv6Gateway = e.ip6 != nil ? n.gateway6?.description ?? "" : ""
        r.globalIPv6Address = e.ip6?.description ?? ""
        r.globalIPv6PrefixLen = e.ip6 != nil ? n.subnet6?.prefix ?? 0 : 0
        r.macAddress = e.mac
        r.driverOpts = e.driverOpts.isEmpty ? nil : e.driverOpts
        return r
    }

    /// `GET /containers/json` entries, in one visit to the actor however many there are (and,
    /// with `size`, the writable layers walked off it).
    public func summaries(_ list: [Container], size: Bool = false) async -> [ContainerSummaryResponse] {
        let healths = healthStatuses()
        let extraNames = linkNames()
        var out = list.map { c in
            var r = summary(c, health: c.state.running ? healths[c.id] : nil)
            if let more = extraNames[c.id] { r.names = ["/" + c.name] + more }
            return r
        }
        guard size else { return out }
        let sizes = await containerSizes(list)
        for i in out.indices {
            guard let (rw, root) = sizes[list[i].id] else { continue }
            out[i].sizeRw = rw
            out[i].sizeRootFs = root
        }
        return out
    }

    /// A `GET /containers/json` entry with its ports and networks.
    public func summary(_ c: Container, health: String?) -> ContainerSummaryResponse {
        var r = DockerShapes.summary(c, size: nil, health: health)
        r.ports = portSummary(c)
        r.networks = networkSettings(c).networksJSON
        return r
    }

    /// ps's `Ports` list.
    func portSummary(_ c: Container) -> [PortResponse] {
        guard c.state.running else { return [] }
        var out: [PortResponse] = []
        var published = Set<String>()
        for p in c.publishedPorts {
            published.insert("\(p.containerPort)/\(p.proto)")
            out.append(PortResponse(ip: p.hostIP, privatePort: p.containerPort, publicPort: p.hostPort, type: p.proto))
        }
        for key in c.config.exposedPorts ?? [] where !published.contains(key) {
            if let (port, proto) = PortPlan.parseKey(key) { out.append(PortResponse(privatePort: port, type: proto)) }
        }
        return out
    }
}

/// One endpoint's veth pair, addresses and routes, to be made in a container's namespace.
struct VethAttachment: Sendable {
    let namespace: String
    let bridge: String
    let hostSide: String
    let ifname: String
    let addresses: VethAddresses

    func attach(on host: HostNetworking) throws(NetworkError) {
        try host.attach(namespace: namespace, bridge: bridge, hostSide: hostSide, ifname: ifname, addresses: addresses)
    }
}
