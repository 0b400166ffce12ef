import DockerAPI
import JSON

/// Checks dockerd makes on a container's HostConfig before anything is created (create, and
/// update for the restart policy), with its words: clients rely on the 400 to learn a typo.
enum CreateValidation {
    /// Logging drivers Berth has (the shim writes json-file; `none` keeps nothing).
    static let logDrivers: Set<String> = ["json-file", "none"]
    /// Docker's own drivers that Berth does not have: refused rather than silently replaced.
    static let dockerOnlyLogDrivers: Set<String> = ["local", "syslog", "journald", "gelf", "fluentd", "awslogs", "splunk", "etwlogs", "gcplogs", "logentries"]
    /// json-file's options as dockerd's driver validates them.
    static let jsonFileOptions: Set<String> = ["max-size", "max-file", "compress", "labels", "labels-regex", "env", "env-regex", "tag"]

    static func restartPolicy(_ policy: RestartPolicyConfig) throws(EngineError) {
        let name = policy.name
        let retries = policy.maximumRetryCount
        switch name {
        case "", "no", "always", "unless-stopped":
            if retries != 0 { throw .badRequest("maximum retry count cannot be used with restart policy '\(name)'") }
        case "on-failure":
            if retries < 0 { throw .badRequest("maximum retry count cannot be negative") }
        default:
            throw .badRequest("invalid restart policy '\(name)'")
        }
    }

    static func logConfig(_ config: LogConfig) throws(EngineError) {
        let type = config.type
        if type.isEmpty { return }
        if dockerOnlyLogDrivers.contains(type) {
            throw .badRequest("logging driver \"\(type)\" is not supported by Berth (json-file, none)")
        }
        guard logDrivers.contains(type) else { throw .badRequest("error looking up logging plugin \(type): plugin \"\(type)\" not found") }
        for key in config.config.keys.sorted() {
            if type == "json-file" && jsonFileOptions.contains(key) { continue }
            throw .badRequest("unknown log opt '\(key)' for \(type) log driver")
        }
    }

    /// Before API 1.44 a container is created on one network at most (more come by connect).
    static func endpoints(_ networking: NetworkingConfig, apiVersion: APIVersion) throws(EngineError) {
        let names = networking.endpoints.map(\.name)
        if names.count > 1 && apiVersion < .v1_44 {
            throw .badRequest("Container cannot be connected to network endpoints: \(names.joined(separator: ", "))")
        }
    }

    /// The create body's fields (Config plus HostConfig and NetworkingConfig), for Go's
    /// case-insensitive decoding (docker-py sends `CPURealtimePeriod`).
    static let configFields = [
        "Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr", "ExposedPorts", "Tty",
        "OpenStdin", "StdinOnce", "Env", "Cmd", "Healthcheck", "ArgsEscaped", "Image", "Volumes", "WorkingDir",
        "Entrypoint", "NetworkDisabled", "MacAddress", "OnBuild", "Labels", "StopSignal", "StopTimeout", "Shell",
        "HostConfig", "NetworkingConfig",
    ]
    static let hostConfigFields: [String] = {
        let defaults = DockerShapes.hostConfig(HostConfig()).json.object?.keys ?? []
        return defaults + ["Mounts", "Init", "StorageOpt", "Sysctls", "Tmpfs", "Annotations", "CpusetCpus", "DeviceRequests"]
    }()

    /// The body with its keys spelled as Go's structs spell them.
    static func canonical(_ body: JSON) -> JSON {
        var b = body.canonicalizingKeys(configFields)
        if case .object = b["HostConfig"] {
            b["HostConfig"] = b["HostConfig"].canonicalizingKeys(hostConfigFields)
            if case .object = b["HostConfig"]["RestartPolicy"] {
                b["HostConfig"]["RestartPolicy"] = b["HostConfig"]["RestartPolicy"].canonicalizingKeys(["Name", "MaximumRetryCount"])
            }
            if case .object = b["HostConfig"]["LogConfig"] {
                b["HostConfig"]["LogConfig"] = b["HostConfig"]["LogConfig"].canonicalizingKeys(["Type", "Config"])
            }
        }
        return b
    }

    /// `Config.Env` keeps a bare `NAME` (the client had no value for it) as dockerd does; the
    /// process never sees it.
    static func processEnvironment(_ env: [String]) -> [String] { env.filter { $0.contains("=") } }
}
