import JSON

/// A typed Engine API response: written in the Go struct's field order (dockerd 20.10's where
/// later versions moved fields), with its `omitempty` rules.
public protocol GoJSONResponse: Sendable {
    var json: JSON { get }
}

/// types.HealthcheckResult.
public struct HealthcheckResult: GoJSONResponse, Equatable {
    public var start: String
    public var end: String
    public var exitCode: Int
    public var output: String
    public init(start: String, end: String, exitCode: Int, output: String) {
        self.start = start; self.end = end; self.exitCode = exitCode; self.output = output
    }
    public var json: JSON { ["Start": .string(start), "End": .string(end), "ExitCode": .int(Int64(exitCode)), "Output": .string(output)] }
}

/// types.Health.
public struct HealthResponse: GoJSONResponse, Equatable {
    public var status: String
    public var failingStreak: Int
    public var log: [HealthcheckResult]
    public init(status: String, failingStreak: Int, log: [HealthcheckResult]) { self.status = status; self.failingStreak = failingStreak; self.log = log }
    public var json: JSON { ["Status": .string(status), "FailingStreak": .int(Int64(failingStreak)), "Log": .array(log.map(\.json))] }
}

/// types.ContainerState.
public struct ContainerStateResponse: GoJSONResponse {
    public var status = ""
    public var running = false
    public var paused = false
    public var restarting = false
    public var oomKilled = false
    public var dead = false
    public var pid: Int64 = 0
    public var exitCode: Int64 = 0
    public var error = ""
    public var startedAt = ""
    public var finishedAt = ""
    public var health: HealthResponse? = nil
    public init() {}
    public var json: JSON {
        var w = GoObjectWriter()
        w.put("Status", .string(status))
        w.put("Running", .bool(running))
        w.put("Paused", .bool(paused))
        w.put("Restarting", .bool(restarting))
        w.put("OOMKilled", .bool(oomKilled))
        w.put("Dead", .bool(dead))
        w.put("Pid", .int(pid))
        w.put("ExitCode", .int(exitCode))
        w.put("Error", .string(error))
        w.put("StartedAt", .string(startedAt))
        w.put("FinishedAt", .string(finishedAt))
        if let health { w.put("Health", health.json) }
        return w.json
    }
}

/// types.MountPoint (inspect's and ps's `Mounts`; dockerd 20.10 leaves Name and Driver out of binds).
public struct MountPointResponse: GoJSONResponse, Equatable {
    public var type = ""
    public var name = ""
    public var source = ""
    public var destination = ""
    public var driver = ""
    public var mode = ""
    public var rw = true
    public var propagation = ""
    public init() {}
    public var json: JSON {
        var w = GoObjectWriter()
        w.put("Type", .string(type))
        w.omitEmpty("Name", .string(name))
        w.put("Source", .string(source))
        w.put("Destination", .string(destination))
        w.omitEmpty("Driver", .string(driver))
        w.put("Mode", .string(mode))
        w.put("RW", .bool(rw))
        w.put("Propagation", .string(propagation))
        return w.json
    }
}

/// network.EndpointSettings as inspect reports it (dockerd 20.10's order).
public struct EndpointResponse: GoJSONResponse, Equatable {
    public var ipamConfig: EndpointSettings? = nil
    public var links: [String]? = nil
    public var aliases: [String]? = nil
    public var networkID = ""
    public var endpointID = ""
    public var gateway = ""
    public var ipAddress = ""
    public var ipPrefixLen = 0
    public var ipv6Gateway = ""
    public var globalIPv6Address = ""
    public var globalIPv6PrefixLen = 0
    public var macAddress = ""
    public var driverOpts: [String: String]? = nil
    public init() {}
    public var json: JSON {
        var w = GoObjectWriter()
        w.put("IPAMConfig", ipamConfig?.json["IPAMConfig"] ?? .null)
        w.put("Links", GoEncode.strings(links))
        w.put("Aliases", GoEncode.strings(aliases))
        w.put("NetworkID", .string(networkID))
        w.put("EndpointID", .string(endpointID))
        w.put("Gateway", .string(gateway))
        w.put("IPAddress", .string(ipAddress))
        w.put("IPPrefixLen", .int(Int64(ipPrefixLen)))
        w.put("IPv6Gateway", .string(ipv6Gateway))
        w.put("GlobalIPv6Address", .string(globalIPv6Address))
        w.put("GlobalIPv6PrefixLen", .int(Int64(globalIPv6PrefixLen)))
        w.put("MacAddress", .string(macAddress))
        w.put("DriverOpts", GoEncode.stringMap(driverOpts))
        return w.json
    }
}

/// A published port in NetworkSettings.Ports (nat.PortBinding; `HostIp`, `HostPort`).
public typealias PortMap = [String: [PortBinding]?]

/// types.NetworkSettings (inspect): the default-bridge fields at the top level, then Networks
/// in the order the container joined them.
public struct NetworkSettingsResponse: GoJSONResponse {
    public var sandboxID = ""
    public var ports: PortMap = [:]
    public var sandboxKey = ""
    public var endpointID = ""
    public var gateway = ""
    public var globalIPv6Address = ""
    public var globalIPv6PrefixLen = 0
    public var ipAddress = ""
    public var ipPrefixLen = 0
    public var ipv6Gateway = ""
    public var macAddress = ""
    public var networks: [(name: String, endpoint: EndpointResponse)] = []
    public init() {}
    public var json: JSON {
        var w = GoObjectWriter()
        w.put("Bridge", "")
        w.put("SandboxID", .string(sandboxID))
        w.put("HairpinMode", false)
        w.put("LinkLocalIPv6Address", "")
        w.put("LinkLocalIPv6PrefixLen", 0)
        w.put("Ports", GoEncode.map(ports) { $0.map { .array($0.map(\.json)) } ?? .null })
        w.put("SandboxKey", .string(sandboxKey))
        w.put("SecondaryIPAddresses", .null)
        w.put("SecondaryIPv6Addresses", .null)
        w.put("EndpointID", .string(endpointID))
        w.put("Gateway", .string(gateway))
        w.put("GlobalIPv6Address", .string(globalIPv6Address))
        w.put("GlobalIPv6PrefixLen", .int(Int64(globalIPv6PrefixLen)))
        w.put("IPAddress", .string(ipAddress))
        w.put("IPPrefixLen", .int(Int64(ipPrefixLen)))
        w.put("IPv6Gateway", .string(ipv6Gateway))
        w.put("MacAddress", .string(macAddress))
        w.put("Networks", networksJSON)
        return w.json
    }
    public var networksJSON: JSON {
        var o = JSONObject()
        for n in networks { o[n.name] = n.endpoint.json }
        return .object(o)
    }
}

/// types.ContainerJSON (`GET /containers/{id}/json`).
public struct ContainerInspectResponse: GoJSONResponse {
    public var id = ""
    public var created = ""
    public var path = ""
    public var args: [String] = []
    public var state = ContainerStateResponse()
    public var image = ""
    public var resolvConfPath = ""
    public var hostnamePath = ""
    public var hostsPath = ""
    public var logPath = ""
    public var name = ""
    public var restartCount = 0
    public var graphDriver: [String: String] = [:]
    public var sizeRw: Int64? = nil
    public var sizeRootFs: Int64? = nil
    public var hostConfig = HostConfig()
    public var mounts: [MountPointResponse] = []
    public var config = ContainerConfig()
    public var networkSettings = NetworkSettingsResponse()
    public init() {}
    public var json: JSON {
        var w = GoObjectWriter()
        w.put("Id", .string(id))
        w.put("Created", .string(created))
        w.put("Path", .string(path))
        w.put("Args", GoEncode.strings(args))
        w.put("State", state.json)
        w.put("Image", .string(image))
        w.put("ResolvConfPath", .string(resolvConfPath))
        w.put("HostnamePath", .string(hostnamePath))
        w.put("HostsPath", .string(hostsPath))
        w.put("LogPath", .string(logPath))
        w.put("Name", .string(name))
        w.put("RestartCount", .int(Int64(restartCount)))
        w.put("Driver", "overlay2")
        w.put("Platform", "linux")
        w.put("MountLabel", "")
        w.put("ProcessLabel", "")
        w.put("AppArmorProfile", "")
        w.put("ExecIDs", .null)
        w.put("HostConfig", hostConfig.json)
        w.put("GraphDriver", ["Data": GoEncode.stringMap(graphDriver), "Name": "overlay2"])
        if let sizeRw { w.put("SizeRw", .int(sizeRw)) }
        if let sizeRootFs { w.put("SizeRootFs", .int(sizeRootFs)) }
        w.put("Mounts", .array(mounts.map(\.json)))
        w.put("Config", config.json)
        w.put("NetworkSettings", networkSettings.json)
        return w.json
    }
}

/// types.Port (ps's `Ports`).
public struct PortResponse: GoJSONResponse, Equatable {
    public var ip = ""
    public var privatePort: Int
    public var publicPort = 0
    public var type: String
    public init(ip: String = "", privatePort: Int, publicPort: Int = 0, type: String) {
        self.ip = ip; self.privatePort = privatePort; self.publicPort = publicPort; self.type = type
    }
    public var json: JSON {
        var w = GoObjectWriter()
        w.omitEmpty("IP", .string(ip))
        w.put("PrivatePort", .int(Int64(privatePort)))
        w.omitEmpty("PublicPort", .int(Int64(publicPort)))
        w.put("Type", .string(type))
        return w.json
    }
}

/// types.Container (`GET /containers/json`).
public struct ContainerSummaryResponse: GoJSONResponse {
    public var id = ""
    public var names: [String] = []
    public var image = ""
    public var imageID = ""
    public var command = ""
    public var created: Int64 = 0
    public var ports: [PortResponse] = []
    public var sizeRw: Int64? = nil
    public var sizeRootFs: Int64? = nil
    public var labels: [String: String] = [:]
    public var state = ""
    public var status = ""
    public var networkMode = ""
    public var networks: JSON = [:]
    public var mounts: [MountPointResponse] = []
    public init() {}
    public var json: JSON {
        var w = GoObjectWriter()
        w.put("Id", .string(id))
        w.put("Names", GoEncode.strings(names))
        w.put("Image", .string(image))
        w.put("ImageID", .string(imageID))
        w.put("Command", .string(command))
        w.put("Created", .int(created))
        w.put("Ports", .array(ports.map(\.json)))
        if let sizeRw { w.put("SizeRw", .int(sizeRw)) }
        if let sizeRootFs { w.put("SizeRootFs", .int(sizeRootFs)) }
        w.put("Labels", GoEncode.stringMap(labels))
        w.put("State", .string(state))
        w.put("Status", .string(status))
        w.put("HostConfig", ["NetworkMode": .string(networkMode)])
        w.put("NetworkSettings", ["Networks": networks])
        w.put("Mounts", .array(mounts.map(\.json)))
        return w.json
    }
}

/// types.Volume (`GET /volumes/{name}`, list entries).
public struct VolumeResponse: GoJSONResponse {
    public var createdAt = ""
    public var driver = "local"
    public var labels: [String: String]? = nil
    public var mountpoint = ""
    public var name = ""
    public var options: [String: String]? = nil
    public var usage: (refCount: Int64, size: Int64)? = nil
    public init() {}
    public var json: JSON {
        var w = GoObjectWriter()
        w.omitEmpty("CreatedAt", .string(createdAt))
        w.put("Driver", .string(driver))
        w.put("Labels", GoEncode.stringMap(labels))
        w.put("Mountpoint", .string(mountpoint))
        w.put("Name", .string(name))
        w.put("Options", GoEncode.stringMap(options))
        w.put("Scope", "local")
        if let usage { w.put("UsageData", ["RefCount": .int(usage.refCount), "Size": .int(usage.size)]) }
        return w.json
    }
}

/// types.ContainerExecInspect (`GET /exec/{id}/json`).
public struct ExecInspectResponse: GoJSONResponse {
    public var id = ""
    public var running = false
    public var exitCode: Int64? = nil
    public var config = ExecConfig()
    public var containerID = ""
    public var pid: Int64 = 0
    public init() {}
    public var json: JSON {
        let cmd = config.cmd ?? []
        var w = GoObjectWriter()
        w.put("CanRemove", false)
        w.put("ContainerID", .string(containerID))
        w.put("DetachKeys", .string(config.detachKeys))
        w.put("ExitCode", exitCode.map { .int($0) } ?? .null)
        w.put("ID", .string(id))
        w.put("OpenStderr", .bool(config.attachStderr ?? false))
        w.put("OpenStdin", .bool(config.attachStdin))
        w.put("OpenStdout", .bool(config.attachStdout ?? false))
        w.put(
            "ProcessConfig",
            [
                "arguments": GoEncode.strings(Array(cmd.dropFirst())), "entrypoint": .string(cmd.first ?? ""),
                "privileged": .bool(config.privileged), "tty": .bool(config.tty), "user": .string(config.user),
            ])
        w.put("Running", .bool(running))
        w.put("Pid", .int(pid))
        return w.json
    }
}

/// types.ImageSummary (`GET /images/json`).
public struct ImageSummaryResponse: GoJSONResponse {
    public var containers: Int64 = 0
    public var created: Int64 = 0
    public var id = ""
    public var labels: [String: String]? = nil
    public var parentID = ""
    public var repoDigests: [String] = []
    public var repoTags: [String] = []
    public var sharedSize: Int64 = -1
    public var size: Int64 = 0
    public init() {}
    public var json: JSON {
        var w = GoObjectWriter()
        w.put("Containers", .int(containers))
        w.put("Created", .int(created))
        w.put("Id", .string(id))
        w.put("Labels", GoEncode.stringMap(labels))
        w.put("ParentId", .string(parentID))
        w.put("RepoDigests", GoEncode.strings(repoDigests))
        w.put("RepoTags", GoEncode.strings(repoTags))
        w.put("SharedSize", .int(sharedSize))
        w.put("Size", .int(size))
        w.put("VirtualSize", .int(size))
        return w.json
    }
}

/// types.ImageInspect (`GET /images/{name}/json`). Config and ContainerConfig are Go's
/// container.Config, every field present, as dockerd decodes an image's config into it.
public struct ImageInspectResponse: GoJSONResponse {
    public var id = ""
    public var repoTags: [String] = []
    public var repoDigests: [String] = []
    public var parent = ""
    public var comment = ""
    public var created = ""
    public var container = ""
    public var containerConfig = ContainerConfig()
    public var dockerVersion = ""
    public var author = ""
    public var config = ContainerConfig()
    public var architecture = ""
    public var variant = ""
    public var os = ""
    public var size: Int64 = 0
    public var graphDriver: [String: String] = [:]
    public var layers: [String] = []
    public var lastTagTime = "0001-01-01T00:00:00Z"
    public init() {}
    public var json: JSON {
        var w = GoObjectWriter()
        w.put("Id", .string(id))
        w.put("RepoTags", GoEncode.strings(repoTags))
        w.put("RepoDigests", GoEncode.strings(repoDigests))
        w.put("Parent", .string(parent))
        w.put("Comment", .string(comment))
        w.put("Created", .string(created))
        w.put("Container", .string(container))
        w.put("ContainerConfig", containerConfig.json)
        w.put("DockerVersion", .string(dockerVersion))
        w.put("Author", .string(author))
        w.put("Config", config.json)
        w.put("Architecture", .string(architecture))
        if !variant.isEmpty { w.put("Variant", .string(variant)) }  // omitempty, as dockerd
        w.put("Os", .string(os))
        w.put("Size", .int(size))
        w.put("VirtualSize", .int(size))
        w.put("GraphDriver", ["Data": GoEncode.stringMap(graphDriver), "Name": "overlay2"])
        w.put("RootFS", ["Type": "layers", "Layers": GoEncode.strings(layers)])
        w.put("Metadata", ["LastTagTime": .string(lastTagTime)])
        return w.json
    }
}

/// One container on a network (types.EndpointResource).
public struct NetworkContainerResponse: GoJSONResponse, Equatable {
    public var name = ""
    public var endpointID = ""
    public var macAddress = ""
    public var ipv4Address = ""
    public var ipv6Address = ""
    public init() {}
    public var json: JSON {
        [
            "Name": .string(name), "EndpointID": .string(endpointID), "MacAddress": .string(macAddress),
            "IPv4Address": .string(ipv4Address), "IPv6Address": .string(ipv6Address),
        ]
    }
}

/// types.NetworkResource (`GET /networks`, `GET /networks/{id}`).
public struct NetworkResponse: GoJSONResponse {
    public var name = ""
    public var id = ""
    public var created = ""
    public var driver = ""
    public var enableIPv6 = false
    public var ipamOptions: [String: String]? = nil
    public var ipamConfig: [IPAMPool] = []
    public var `internal` = false
    public var attachable = false
    public var containers: [(id: String, container: NetworkContainerResponse)] = []
    public var options: [String: String] = [:]
    public var labels: [String: String] = [:]
    public init() {}
    public var json: JSON {
        var w = GoObjectWriter()
        w.put("Name", .string(name))
        w.put("Id", .string(id))
        w.put("Created", .string(created))
        w.put("Scope", "local")
        w.put("Driver", .string(driver))
        w.put("EnableIPv6", .bool(enableIPv6))
        w.put("IPAM", ["Driver": "default", "Options": GoEncode.stringMap(ipamOptions), "Config": .array(ipamConfig.map(\.json))])
        w.put("Internal", .bool(`internal`))
        w.put("Attachable", .bool(attachable))
        w.put("Ingress", false)
        w.put("ConfigFrom", ["Network": ""])
        w.put("ConfigOnly", false)
        var cs = JSONObject()
        for c in containers { cs[c.id] = c.container.json }
        w.put("Containers", .object(cs))
        w.put("Options", GoEncode.stringMap(options))
        w.put("Labels", GoEncode.stringMap(labels))
        return w.json
    }
}

/// `{"Id": …, "Warnings": […]}` (container create) and `{"Id": …}` (exec create, commit).
public struct IDResponse: GoJSONResponse {
    public var id: String
    public var warnings: [String]?
    public init(id: String, warnings: [String]? = nil) { self.id = id; self.warnings = warnings }
    public var json: JSON {
        guard let warnings else { return ["Id": .string(id)] }
        return ["Id": .string(id), "Warnings": GoEncode.strings(warnings)]
    }
}

/// The prune reports: `{"<Kind>Deleted": [...] | null, "SpaceReclaimed": n}`.
public struct PruneReport: GoJSONResponse {
    public var key: String  // ContainersDeleted, ImagesDeleted, VolumesDeleted, NetworksDeleted, CachesDeleted
    public var deleted: [JSON]
    public var spaceReclaimed: Int64?  // networks have none
    public init(key: String, deleted: [JSON], spaceReclaimed: Int64?) { self.key = key; self.deleted = deleted; self.spaceReclaimed = spaceReclaimed }
    public init(key: String, names: [String], spaceReclaimed: Int64?) {
        self.init(key: key, deleted: names.map { .string($0) }, spaceReclaimed: spaceReclaimed)
    }
    public var json: JSON {
        var w = GoObjectWriter()
        w.put(key, deleted.isEmpty ? .null : .array(deleted))
        if let spaceReclaimed { w.put("SpaceReclaimed", .int(spaceReclaimed)) }
        return w.json
    }
}

/// image.HistoryResponseItem.
public struct ImageHistoryItem: GoJSONResponse, Equatable {
    public var id = "<missing>"
    public var created: Int64 = 0
    public var createdBy = ""
    public var tags: [String]? = nil
    public var size: Int64 = 0
    public var comment = ""
    public init() {}
    public var json: JSON {
        [
            "Id": .string(id), "Created": .int(created), "CreatedBy": .string(createdBy), "Tags": GoEncode.strings(tags), "Size": .int(size),
            "Comment": .string(comment),
        ]
    }
}

/// container.ContainerChangeResponseItem (`GET /containers/{id}/changes`).
public struct ChangeItem: GoJSONResponse, Equatable {
    public var path: String
    public var kind: Int  // 0 modified, 1 added, 2 deleted
    public init(path: String, kind: Int) { self.path = path; self.kind = kind }
    public var json: JSON { ["Path": .string(path), "Kind": .int(Int64(kind))] }
}

/// container.ContainerTopOKBody.
public struct TopResponse: GoJSONResponse, Equatable {
    public var titles: [String]
    public var processes: [[String]]
    public init(titles: [String], processes: [[String]]) { self.titles = titles; self.processes = processes }
    public var json: JSON { ["Processes": .array(processes.map { GoEncode.strings($0) }), "Titles": GoEncode.strings(titles)] }
}

/// `GET /volumes`.
public struct VolumeListResponse: GoJSONResponse {
    public var volumes: [VolumeResponse]
    public init(volumes: [VolumeResponse]) { self.volumes = volumes }
    public var json: JSON { ["Volumes": .array(volumes.map(\.json)), "Warnings": .null] }
}

/// The error body of every non-2xx answer.
public struct ErrorResponse: GoJSONResponse {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var json: JSON { ["message": .string(message)] }
}
