import BerthNet
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

    /// dockerd's checks of the Config and HostConfig fields below, at create and in its words:
    /// each was taken and then ignored, or failed only at the start.
    static func fields(_ config: ContainerConfig, _ host: HostConfig) throws(EngineError) {
        if !config.workingDir.isEmpty && !config.workingDir.hasPrefix("/") {
            throw .badRequest("the working directory '\(config.workingDir)' is invalid, it needs to be an absolute path")
        }
        for e in config.env ?? [] where e.hasPrefix("=") { throw .badRequest("invalid environment variable: \(e)") }
        if !config.stopSignal.isEmpty, Signals.parse(config.stopSignal) == nil { throw .badRequest("Invalid signal: \(config.stopSignal)") }
        if let hc = config.healthcheck {
            for (name, value) in [("Interval", hc.interval), ("Timeout", hc.timeout), ("StartPeriod", hc.startPeriod), ("StartInterval", hc.startInterval)]
            where value != 0 && value < 1_000_000 {
                throw .badRequest("\(name) in Healthcheck cannot be less than 1ms")
            }
            if hc.retries < 0 { throw .badRequest("Retries in Healthcheck cannot be negative") }
        }
        if !(-1000...1000).contains(host.oomScoreAdj) {
            throw .badRequest("Invalid value \(host.oomScoreAdj), range for oom score adj is [-1000, 1000]")
        }
        for entry in host.extraHosts ?? [] where !validExtraHost(entry) {
            throw .badRequest("bad format for add-host: \(JSON.string(entry).serialized())")
        }
        for (port, bindings) in (host.portBindings ?? [:]).sorted(by: { $0.key < $1.key }) {
            let number = String(port.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)[0])
            guard validPortRange(number) else { throw .badRequest("invalid port specification: \(JSON.string(number).serialized())") }
            for b in bindings {
                let hostPort = String(b.hostPort.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)[0])
                guard hostPort.isEmpty || validPortRange(hostPort) else {
                    throw .badRequest("invalid port specification: \(JSON.string(b.hostPort).serialized())")
                }
            }
        }
    }

    /// `name:ip` or `name=ip` (the IP may be IPv6 in brackets or `host-gateway`).
    static func validExtraHost(_ entry: String) -> Bool {
        let sep = entry.firstIndex(of: "=") ?? entry.firstIndex(of: ":")
        guard let sep, sep != entry.startIndex else { return false }
        var ip = String(entry[entry.index(after: sep)...])
        if ip.hasPrefix("[") && ip.hasSuffix("]") { ip = String(ip.dropFirst().dropLast()) }
        return ip == "host-gateway" || IPv4(ip) != nil || IPv6Address(ip) != nil
    }

    /// nat.ParsePort: `N` or `N-M`, 0…65535, N ≤ M.
    static func validPortRange(_ text: String) -> Bool {
        let parts = text.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard let low = UInt16(parts[0]) else { return false }
        if parts.count == 1 { return true }
        guard let high = UInt16(parts[1]) else { return false }
        return low <= high
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
