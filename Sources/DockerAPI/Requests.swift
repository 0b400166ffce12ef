import JSON

/// network.EndpointSettings as a client sends it (create's NetworkingConfig, connect's
/// EndpointConfig): what it asks for; the operational fields are the daemon's to fill.
public struct EndpointSettings: GoJSONValue {
    public var ipv4Address = ""
    public var ipv6Address = ""
    public var linkLocalIPs: [String]? = nil
    public var links: [String]? = nil
    public var aliases: [String]? = nil
    public var macAddress = ""
    public var driverOpts: [String: String]? = nil

    public init() {}
    public init(json j: JSON) {
        ipv4Address = j["IPAMConfig"]["IPv4Address"].string ?? ""
        ipv6Address = j["IPAMConfig"]["IPv6Address"].string ?? ""
        linkLocalIPs = j["IPAMConfig"]["LinkLocalIPs"].stringArray
        links = j["Links"].stringArray
        aliases = j["Aliases"].stringArray
        macAddress = j["MacAddress"].string ?? ""
        driverOpts = j["DriverOpts"].stringMap
    }
    public var json: JSON {
        var ipam = GoObjectWriter()
        ipam.omitEmpty("IPv4Address", .string(ipv4Address))
        ipam.omitEmpty("IPv6Address", .string(ipv6Address))
        ipam.omitEmpty("LinkLocalIPs", GoEncode.strings(linkLocalIPs))
        var w = GoObjectWriter()
        w.put("IPAMConfig", ipam.object.isEmpty ? .null : ipam.json)
        w.put("Links", GoEncode.strings(links))
        w.put("Aliases", GoEncode.strings(aliases))
        w.put("MacAddress", .string(macAddress))
        w.put("DriverOpts", GoEncode.stringMap(driverOpts))
        return w.json
    }
}

/// network.NetworkingConfig: the endpoints a container is created on, in the body's order
/// (the first is not special: the network mode names the primary one).
public struct NetworkingConfig: GoJSONValue {
    public var endpoints: [(name: String, settings: EndpointSettings)] = []

    public init() {}
    public init(json j: JSON) {
        for (name, s) in j["EndpointsConfig"].object ?? JSONObject() { endpoints.append((name, EndpointSettings(json: s))) }
    }
    public var json: JSON {
        var o = JSONObject()
        for e in endpoints { o[e.name] = e.settings.json }
        return ["EndpointsConfig": .object(o)]
    }
    public static func == (a: NetworkingConfig, b: NetworkingConfig) -> Bool {
        a.endpoints.count == b.endpoints.count && zip(a.endpoints, b.endpoints).allSatisfy { $0.name == $1.name && $0.settings == $1.settings }
    }
}

/// `POST /containers/create`'s body: Config with HostConfig and NetworkingConfig beside it.
public struct ContainerCreateBody: Sendable, Equatable {
    public var config: ContainerConfig
    public var hostConfig: HostConfig
    public var networking: NetworkingConfig

    public init(config: ContainerConfig, hostConfig: HostConfig = HostConfig(), networking: NetworkingConfig = NetworkingConfig()) {
        self.config = config
        self.hostConfig = hostConfig
        self.networking = networking
    }

    /// Checks the body as Go's decoder would (its words on a mismatch), then reads it.
    /// `body` has its keys spelled canonically already.
    public init(checking body: JSON) throws(GoDecodeError) {
        try CreateRequest.check(body)
        self.init(json: body)
    }

    public init(json body: JSON) {
        config = ContainerConfig(json: body)
        hostConfig = HostConfig(json: body["HostConfig"])
        networking = NetworkingConfig(json: body["NetworkingConfig"])
        // docker-py's `create_container(runtime=…)` sends `Runtime` beside Config's fields, where
        // dockerd never looks (its runc default then happens to match). Honoured rather than
        // dropped: the client asked for that runtime, and HostConfig's own setting still wins.
        if hostConfig.runtime.isEmpty, let r = body["Runtime"].string { hostConfig.runtime = r }
    }
}

/// types.ExecConfig (`POST /containers/{id}/exec`).
public struct ExecConfig: GoJSONValue {
    public var user = ""
    public var privileged = false
    public var tty = false
    /// Height and width, when the client gave them.
    public var consoleSize: [UInt]? = nil
    public var attachStdin = false
    /// nil when the body left them out: Berth then attaches the output (clients that omit
    /// them expect it); inspect reports false, as dockerd does.
    public var attachStderr: Bool? = nil
    public var attachStdout: Bool? = nil
    public var detach = false
    public var detachKeys = ""
    public var env: [String]? = nil
    public var workingDir = ""
    public var cmd: [String]? = nil

    public init() {}
    public init(json j: JSON) {
        user = j["User"].string ?? ""
        privileged = j["Privileged"].bool ?? false
        tty = j["Tty"].bool ?? false
        consoleSize = j["ConsoleSize"].array.flatMap { $0.count == 2 ? $0.map { UInt(clamping: $0.int ?? 0) } : nil }
        attachStdin = j["AttachStdin"].bool ?? false
        attachStderr = j["AttachStderr"].bool
        attachStdout = j["AttachStdout"].bool
        detach = j["Detach"].bool ?? false
        detachKeys = j["DetachKeys"].string ?? ""
        env = j["Env"].stringArray
        workingDir = j["WorkingDir"].string ?? ""
        cmd = j["Cmd"].strSlice
    }
    public var json: JSON {
        var w = GoObjectWriter()
        w.put("User", .string(user))
        w.put("Privileged", .bool(privileged))
        w.put("Tty", .bool(tty))
        w.put("ConsoleSize", consoleSize.map { .array($0.map { .int(Int64(clamping: $0)) }) } ?? .null)
        w.put("AttachStdin", .bool(attachStdin))
        w.put("AttachStderr", .bool(attachStderr ?? false))
        w.put("AttachStdout", .bool(attachStdout ?? false))
        w.put("Detach", .bool(detach))
        w.put("DetachKeys", .string(detachKeys))
        w.put("Env", GoEncode.strings(env))
        w.put("WorkingDir", .string(workingDir))
        w.put("Cmd", GoEncode.strings(cmd))
        return w.json
    }

    public init(checking body: JSON) throws(GoDecodeError) {
        try RequestBodies.check(body, as: RequestBodies.exec)
        self.init(json: body)
    }
}

/// container.UpdateConfig (`POST /containers/{id}/update`): Resources and a restart policy.
public struct UpdateConfig: GoJSONValue {
    public var resources = Resources()
    /// Which resource fields the body carried (a zero there means "unchanged", as in dockerd,
    /// but the caller may refuse fields it cannot change).
    public var fieldsGiven: [String] = []
    public var restartPolicy = RestartPolicyConfig()

    public init() {}
    public init(json j: JSON) {
        resources = Resources(json: j)
        fieldsGiven = (j.object?.keys ?? []).filter { !j[$0].isNull }
        restartPolicy = RestartPolicyConfig(json: j["RestartPolicy"])
    }
    public var json: JSON {
        guard case .object(var o) = resources.json else { return .null }
        o["RestartPolicy"] = restartPolicy.json
        return .object(o)
    }

    public init(checking body: JSON) throws(GoDecodeError) {
        try RequestBodies.check(body, as: RequestBodies.update)
        self.init(json: body)
    }
}

/// network.IPAMConfig: one pool.
public struct IPAMPool: GoJSONValue {
    public var subnet = ""
    public var ipRange = ""
    public var gateway = ""
    public var auxiliaryAddresses: [String: String]? = nil
    public init(subnet: String, ipRange: String = "", gateway: String = "", auxiliaryAddresses: [String: String]? = nil) {
        self.subnet = subnet; self.ipRange = ipRange; self.gateway = gateway; self.auxiliaryAddresses = auxiliaryAddresses
    }
    public init(json j: JSON) {
        subnet = j["Subnet"].string ?? ""
        ipRange = j["IPRange"].string ?? ""
        gateway = j["Gateway"].string ?? ""
        auxiliaryAddresses = j["AuxiliaryAddresses"].stringMap
    }
    public var json: JSON {
        var w = GoObjectWriter()
        w.omitEmpty("Subnet", .string(subnet))
        w.omitEmpty("IPRange", .string(ipRange))
        w.omitEmpty("Gateway", .string(gateway))
        w.omitEmpty("AuxiliaryAddresses", GoEncode.stringMap(auxiliaryAddresses))
        return w.json
    }
}

/// types.NetworkCreateRequest (`POST /networks/create`).
public struct NetworkCreateRequest: GoJSONValue {
    public var name = ""
    public var checkDuplicate = false
    public var driver = ""
    public var scope = ""
    public var enableIPv6 = false
    public var ipamDriver = ""
    public var ipamOptions: [String: String]? = nil
    public var ipamConfig: [IPAMPool]? = nil
    public var `internal` = false
    public var attachable = false
    public var ingress = false
    public var configOnly = false
    public var configFrom = ""
    public var options: [String: String]? = nil
    public var labels: [String: String]? = nil

    public init(name: String = "") { self.name = name }
    public init(json j: JSON) {
        name = j["Name"].string ?? ""
        checkDuplicate = j["CheckDuplicate"].bool ?? false
        driver = j["Driver"].string ?? ""
        scope = j["Scope"].string ?? ""
        enableIPv6 = j["EnableIPv6"].bool ?? false
        ipamDriver = j["IPAM"]["Driver"].string ?? ""
        ipamOptions = j["IPAM"]["Options"].stringMap
        ipamConfig = j["IPAM"]["Config"].list(IPAMPool.init(json:))
        `internal` = j["Internal"].bool ?? false
        attachable = j["Attachable"].bool ?? false
        ingress = j["Ingress"].bool ?? false
        configOnly = j["ConfigOnly"].bool ?? false
        configFrom = j["ConfigFrom"]["Network"].string ?? ""
        options = j["Options"].stringMap
        labels = j["Labels"].stringMap
    }
    public var json: JSON {
        var w = GoObjectWriter()
        w.put("Name", .string(name))
        w.put("CheckDuplicate", .bool(checkDuplicate))
        w.put("Driver", .string(driver))
        w.put("Scope", .string(scope))
        w.put("EnableIPv6", .bool(enableIPv6))
        w.put("IPAM", ["Driver": .string(ipamDriver), "Options": GoEncode.stringMap(ipamOptions), "Config": GoEncode.list(ipamConfig)])
        w.put("Internal", .bool(`internal`))
        w.put("Attachable", .bool(attachable))
        w.put("Ingress", .bool(ingress))
        w.put("ConfigOnly", .bool(configOnly))
        w.put("ConfigFrom", configFrom.isEmpty ? .null : ["Network": .string(configFrom)])
        w.put("Options", GoEncode.stringMap(options))
        w.put("Labels", GoEncode.stringMap(labels))
        return w.json
    }
}
