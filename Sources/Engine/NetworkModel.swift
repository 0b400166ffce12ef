import BerthNet
import DockerAPI
import JSON
import Sys

/// A network: the predefined `bridge`, `host` and `none`, or a user-defined bridge network.
/// Stored as `<data-root>/networks/<id>.json`, written atomically.
public struct NetworkRecord: Sendable {
    public var id: String
    public var name: String
    public var driver: String  // bridge | host | null
    public var created: Timestamp
    public var subnet: Subnet?
    public var gateway: IPv4?
    public var ipRange: Subnet?
    /// `--aux-address name=ip`: addresses of the pool kept from containers.
    public var auxAddresses: [String: String] = [:]
    public var internalOnly = false
    /// `--ipv6`: containers get addresses from `subnet6` (dockerd keeps a v6 pool of a network
    /// without it in its IPAM config but gives nobody an address from it).
    public var enableIPv6 = false
    public var subnet6: IPv6Subnet?
    public var gateway6: IPv6Address?
    public var ipRange6: IPv6Subnet?
    public var attachable = false
    public var labels: [String: String] = [:]
    public var options: [String: String] = [:]
    /// IPAM driver options as the client sent them (nil: none sent; inspect shows null).
    public var ipamOptions: [String: String]? = nil
    /// The Linux bridge device (bridge driver only).
    public var bridge = ""

    public var isDefaultBridge: Bool { name == "bridge" && driver == "bridge" }
    public var predefined: Bool { ["bridge", "host", "none"].contains(name) }
    /// User networks get the embedded DNS server and name resolution; the default bridge not.
    public var resolvesNames: Bool { driver == "bridge" && !isDefaultBridge }

    public init(id: String, name: String, driver: String, created: Timestamp) {
        self.id = id; self.name = name; self.driver = driver; self.created = created
    }

    var document: JSON {
        [
            "Id": .string(id), "Name": .string(name), "Driver": .string(driver), "Created": .int(created.nanos),
            "Subnet": subnet.map { .string($0.description) } ?? .null, "Gateway": gateway.map { .string($0.description) } ?? .null,
            "IPRange": ipRange.map { .string($0.description) } ?? .null, "Internal": .bool(internalOnly),
            "AuxAddresses": JSON.stringMap(auxAddresses),
            "EnableIPv6": .bool(enableIPv6), "Subnet6": subnet6.map { .string($0.description) } ?? .null,
            "Gateway6": gateway6.map { .string($0.description) } ?? .null, "IPRange6": ipRange6.map { .string($0.description) } ?? .null,
            "Attachable": .bool(attachable), "Labels": JSON.stringMap(labels), "Options": JSON.stringMap(options), "Bridge": .string(bridge),
            "IPAMOptions": ipamOptions.map { JSON.stringMap($0) } ?? .null,
        ]
    }

    init?(document d: JSON) {
        guard let id = d["Id"].string, let name = d["Name"].string, let driver = d["Driver"].string else { return nil }
        self.id = id; self.name = name; self.driver = driver
        created = Timestamp(nanos: d["Created"].int ?? 0)
        subnet = d["Subnet"].string.flatMap(Subnet.init)
        gateway = d["Gateway"].string.flatMap(IPv4.init)
        ipRange = d["IPRange"].string.flatMap(Subnet.init)
        internalOnly = d["Internal"].bool ?? false
        auxAddresses = d["AuxAddresses"].stringMap ?? [:]
        enableIPv6 = d["EnableIPv6"].bool ?? false
        subnet6 = d["Subnet6"].string.flatMap(IPv6Subnet.init)
        gateway6 = d["Gateway6"].string.flatMap(IPv6Address.init)
        ipRange6 = d["IPRange6"].string.flatMap(IPv6Subnet.init)
        attachable = d["Attachable"].bool ?? false
        labels = d["Labels"].stringMap ?? [:]
        options = d["Options"].stringMap ?? [:]
        ipamOptions = d["IPAMOptions"].stringMap
        bridge = d["Bridge"].string ?? ""
    }
}

/// A container's membership of one network. The configuration (aliases, a requested address)
/// lasts as long as the container; the address and devices exist only while it runs.
public struct Endpoint: Sendable {
    public var networkID: String
    public var aliases: [String] = []
    public var requestedIP = ""
    public var requestedIPv6 = ""
    public var linkLocalIPs: [String] = []
    /// Network-scoped links, `container:alias` as the client sent them.
    public var links: [String] = []
    public var driverOpts: [String: String] = [:]
    /// A MAC address the client asked for ("" : derived from the IP, as dockerd does).
    public var requestedMAC = ""
    public var endpointID = ""
    public var ip: IPv4? = nil
    public var ip6: IPv6Address? = nil
    public var hostSide = ""
    public var ifname = ""

    public init(networkID: String) { self.networkID = networkID }

    /// The client's EndpointSettings (create's NetworkingConfig, or connect's EndpointConfig).
    init(networkID: String, settings cfg: EndpointSettings) {
        self.networkID = networkID
        aliases = cfg.aliases ?? []
        requestedIP = cfg.ipv4Address
        requestedIPv6 = cfg.ipv6Address
        linkLocalIPs = cfg.linkLocalIPs ?? []
        links = cfg.links ?? []
        driverOpts = cfg.driverOpts ?? [:]
        requestedMAC = cfg.macAddress
    }

    /// The interface's MAC while it has one: the requested one, else Docker's from the address.
    /// A requested MAC shows before the start too, as dockerd reports it.
    var mac: String { !requestedMAC.isEmpty ? requestedMAC : ip?.mac ?? "" }

    /// inspect's `IPAMConfig`: what the client asked for, null when nothing.
    var ipamConfigJSON: JSON {
        if requestedIP.isEmpty && requestedIPv6.isEmpty && linkLocalIPs.isEmpty { return .null }
        var j: JSON = [:]
        if !requestedIP.isEmpty { j["IPv4Address"] = .string(requestedIP) }
        if !requestedIPv6.isEmpty { j["IPv6Address"] = .string(requestedIPv6) }
        if !linkLocalIPs.isEmpty { j["LinkLocalIPs"] = JSON.strings(linkLocalIPs) }
        return j
    }

    var document: JSON {
        [
            "NetworkID": .string(networkID), "Aliases": JSON.strings(aliases), "RequestedIP": .string(requestedIP),
            "RequestedIPv6": .string(requestedIPv6), "LinkLocalIPs": JSON.strings(linkLocalIPs), "Links": JSON.strings(links),
            "DriverOpts": JSON.stringMap(driverOpts), "RequestedMAC": .string(requestedMAC),
            "EndpointID": .string(endpointID), "IP": ip.map { .string($0.description) } ?? .null,
            "IP6": ip6.map { .string($0.description) } ?? .null,
            "HostSide": .string(hostSide), "Ifname": .string(ifname),
        ]
    }

    init?(document d: JSON) {
        guard let n = d["NetworkID"].string else { return nil }
        networkID = n
        aliases = d["Aliases"].stringArray ?? []
        requestedIP = d["RequestedIP"].string ?? ""
        requestedIPv6 = d["RequestedIPv6"].string ?? ""
        linkLocalIPs = d["LinkLocalIPs"].stringArray ?? []
        links = d["Links"].stringArray ?? []
        driverOpts = d["DriverOpts"].stringMap ?? [:]
        requestedMAC = d["RequestedMAC"].string ?? ""
        endpointID = d["EndpointID"].string ?? ""
        ip = d["IP"].string.flatMap(IPv4.init)
        ip6 = d["IP6"].string.flatMap(IPv6Address.init)
        hostSide = d["HostSide"].string ?? ""
        ifname = d["Ifname"].string ?? ""
    }
}

/// One published port as bound on the host (a random host port is resolved at start).
public struct PublishedPort: Sendable, Equatable {
    public var proto: String
    public var hostIP: String
    public var hostPort: Int
    public var containerPort: Int

    var document: JSON { ["Proto": .string(proto), "HostIP": .string(hostIP), "HostPort": .int(Int64(hostPort)), "ContainerPort": .int(Int64(containerPort))] }
    init(proto: String, hostIP: String, hostPort: Int, containerPort: Int) {
        self.proto = proto; self.hostIP = hostIP; self.hostPort = hostPort; self.containerPort = containerPort
    }
    init?(document d: JSON) {
        guard let p = d["Proto"].string else { return nil }
        proto = p; hostIP = d["HostIP"].string ?? ""; hostPort = Int(d["HostPort"].int ?? 0); containerPort = Int(d["ContainerPort"].int ?? 0)
    }
}

/// `HostConfig.PortBindings` and exposed ports → what to publish. Ranges arrive already
/// expanded by clients (`8000-8001:80-81/tcp` is two keys).
public enum PortPlan {
    public struct Request: Sendable, Equatable {
        public var proto: String
        public var containerPort: Int
        public var hostIP: String
        public var hostPort: Int  // 0: any free port
    }

    public static func parseKey(_ key: String) -> (Int, String)? {
        let parts = key.split(separator: "/")
        guard let p = Int(parts.first ?? ""), p > 0, p < 65536 else { return nil }
        return (p, parts.count > 1 ? String(parts[1]).lowercased() : "tcp")
    }

    public static func requests(bindings: [String: [PortBinding]], exposed: [String], publishAll: Bool) throws(EngineError) -> [Request] {
        var out: [Request] = []
        for key in bindings.keys.sorted() {
            let entries = bindings[key] ?? []
            guard let (port, proto) = parseKey(key), ["tcp", "udp", "sctp"].contains(proto) else { throw .badRequest("invalid port specification: \"\(key)\"") }
            if entries.isEmpty { out.append(Request(proto: proto, containerPort: port, hostIP: "", hostPort: 0)) }
            for e in entries {
                let hp = e.hostPort
                var hostPort = 0
                if !hp.isEmpty {
                    guard let n = Int(hp.split(separator: "-").first ?? ""), n >= 0, n < 65536 else {
                        throw .badRequest("invalid port specification: \"\(hp)\"")
                    }
                    hostPort = n
                }
                out.append(Request(proto: proto, containerPort: port, hostIP: e.hostIP, hostPort: hostPort))
            }
        }
        if publishAll {
            for key in exposed {
                guard let (port, proto) = parseKey(key) else { continue }
                if !out.contains(where: { $0.containerPort == port && $0.proto == proto }) {
                    out.append(Request(proto: proto, containerPort: port, hostIP: "", hostPort: 0))
                }
            }
        }
        // By port, keeping the client's order of bindings for one port.
        return out.enumerated().sorted { ($0.element.containerPort, $0.element.proto, $0.offset) < ($1.element.containerPort, $1.element.proto, $1.offset) }
            .map(\.element)
    }
}
