import BerthNet
import DockerAPI
import JSON
import OCI
import Sys

/// A container's state, as `State` in inspect.
public struct ContainerState: Sendable {
    public var status = "created"  // created|running|paused|restarting|removing|exited|dead
    public var pid: Int32 = 0
    public var exitCode: Int32 = 0
    public var error = ""
    public var startedAt = Timestamp.zero
    public var finishedAt = Timestamp.zero
    public var oomKilled = false
    /// Frozen by `pause`: still running, as in Docker (`Running` and `Paused` both true).
    public var paused = false
    /// Between an exit and the restart its policy asks for.
    public var restarting = false
    /// Set by `stop`, cleared by `start`: restart policies leave such a container alone.
    public var manuallyStopped = false
    public var running: Bool { status == "running" }
    /// `paused` when frozen, else the lifecycle status.
    public var displayStatus: String { restarting ? "restarting" : running && paused ? "paused" : status }
}

/// One container: the client's Config and HostConfig (typed, with the image's and the daemon's
/// defaults merged in at create) plus what the engine decided.
public struct Container: Sendable {
    public var id: String
    public var name: String  // without the leading "/"
    public var created: Timestamp
    public var path: String
    public var args: [String]
    public var config: ContainerConfig
    public var hostConfig: HostConfig
    public var image: Digest
    public var state = ContainerState()
    public var restartCount = 0
    /// Binds, volumes and tmpfs mounts, decided at create.
    public var mounts: [MountPoint] = []
    /// Networks it belongs to (bridge-like modes), the first one primary.
    public var endpoints: [Endpoint] = []
    /// The network namespace (`ip netns` name) while running; "" otherwise.
    public var sandbox = ""
    public var publishedPorts: [PublishedPort] = []
    /// `bridge`, `host`, `none`, `container:<id>` or a network name, from HostConfig.NetworkMode.
    public var networkMode: String {
        let m = hostConfig.networkMode
        return m.isEmpty || m == "default" ? "bridge" : m
    }

    public var shortID: String { String(id.prefix(12)) }
    public var autoRemove: Bool { hostConfig.autoRemove }
    public var labels: [String: String] { config.labels ?? [:] }
    public var imageRef: String { config.image }
    public var openStdin: Bool { config.openStdin }
    public var stdinOnce: Bool { config.stdinOnce }

    var document: JSON {
        [
            "Id": .string(id), "Name": .string(name), "Created": .int(created.nanos), "Path": .string(path),
            "Args": JSON.strings(args), "Config": config.json, "HostConfig": hostConfig.json, "Image": .string(image.description),
            "RestartCount": .int(Int64(restartCount)), "MountPoints": .array(mounts.map(\.document)),
            "Endpoints": .array(endpoints.map(\.document)), "Sandbox": .string(sandbox),
            "PublishedPorts": .array(publishedPorts.map(\.document)),
            "State": [
                "Status": .string(state.status), "Pid": .int(Int64(state.pid)), "ExitCode": .int(Int64(state.exitCode)),
                "Error": .string(state.error), "StartedAt": .int(state.startedAt.nanos), "FinishedAt": .int(state.finishedAt.nanos),
                "Paused": .bool(state.paused), "ManuallyStopped": .bool(state.manuallyStopped), "OOMKilled": .bool(state.oomKilled),
            ],
        ]
    }

    init?(document d: JSON) {
        guard let id = d["Id"].string, let name = d["Name"].string, let img = d["Image"].string.flatMap(Digest.init(parsing:)) else { return nil }
        self.id = id
        self.name = name
        created = Timestamp(nanos: d["Created"].int ?? 0)
        path = d["Path"].string ?? ""
        args = d["Args"].stringArray ?? []
        config = ContainerConfig(json: d["Config"])
        hostConfig = HostConfig(json: d["HostConfig"])
        image = img
        restartCount = Int(d["RestartCount"].int ?? 0)
        mounts = (d["MountPoints"].array ?? []).compactMap(MountPoint.init(document:))
        endpoints = (d["Endpoints"].array ?? []).compactMap(Endpoint.init(document:))
        sandbox = d["Sandbox"].string ?? ""
        publishedPorts = (d["PublishedPorts"].array ?? []).compactMap(PublishedPort.init(document:))
        let s = d["State"]
        state.status = s["Status"].string ?? "created"
        state.pid = Int32(s["Pid"].int ?? 0)
        state.exitCode = Int32(s["ExitCode"].int ?? 0)
        state.error = s["Error"].string ?? ""
        state.startedAt = Timestamp(nanos: s["StartedAt"].int ?? 0)
        state.finishedAt = Timestamp(nanos: s["FinishedAt"].int ?? 0)
        state.paused = s["Paused"].bool ?? false
        state.manuallyStopped = s["ManuallyStopped"].bool ?? false
        state.oomKilled = s["OOMKilled"].bool ?? false
    }

    init(id: String, name: String, path: String, args: [String], config: ContainerConfig, hostConfig: HostConfig, image: Digest) {
        self.id = id; self.name = name; self.created = .now(); self.path = path; self.args = args
        self.config = config; self.hostConfig = hostConfig; self.image = image
    }
}
