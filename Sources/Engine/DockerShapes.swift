import JSON
import OCI
import Runtime
import Store
import Sys

/// The Docker-compatible JSON shapes, in one place, in Docker's key order.
public enum DockerShapes {
    // MARK: container config

    /// Merges the create body with the image's defaults, as dockerd does.
    static func containerConfig(body: JSON, image: ImageConfig, id: String) -> JSON {
        let img = image.config
        var env = img["Env"].stringArray ?? []
        for e in body["Env"].stringArray ?? [] {
            let key = e.split(separator: "=", maxSplits: 1).first.map(String.init) ?? e
            // `NAME` without a value (the client had none) stays in Config.Env as in dockerd;
            // the process never sees it (CreateValidation.processEnvironment).
            if let i = env.firstIndex(where: { $0.split(separator: "=", maxSplits: 1).first.map(String.init) == key }) { env[i] = e } else { env.append(e) }
        }
        var entrypoint = img["Entrypoint"]
        var cmd = img["Cmd"]
        if case .array = body["Entrypoint"] {
            entrypoint = body["Entrypoint"]
            if entrypoint.array?.isEmpty == true { entrypoint = .null }
            cmd = .null  // a new entrypoint discards the image's command
        }
        if let c = body["Cmd"].array, !c.isEmpty { cmd = body["Cmd"] }
        var labels = img["Labels"].object ?? JSONObject()
        for (k, v) in body["Labels"].object ?? JSONObject() { labels[k] = v }
        func str(_ k: String, _ fallback: String = "") -> JSON {
            if let s = body[k].string, !s.isEmpty { return .string(s) }
            return .string(img[k].string ?? fallback)
        }
        var out: JSON = [
            "Hostname": .string(body["Hostname"].string.flatMap { $0.isEmpty ? nil : $0 } ?? String(id.prefix(12))),
            "Domainname": .string(body["Domainname"].string ?? ""),
            "User": str("User"),
            "AttachStdin": .bool(body["AttachStdin"].bool ?? false),
            "AttachStdout": .bool(body["AttachStdout"].bool ?? false),
            "AttachStderr": .bool(body["AttachStderr"].bool ?? false),
        ]
        var exposed = img["ExposedPorts"].object ?? JSONObject()
        for (k, v) in body["ExposedPorts"].object ?? JSONObject() { exposed[k] = v }
        if !exposed.isEmpty { out["ExposedPorts"] = .object(exposed) }
        out["Tty"] = .bool(body["Tty"].bool ?? false)
        out["OpenStdin"] = .bool(body["OpenStdin"].bool ?? false)
        out["StdinOnce"] = .bool(body["StdinOnce"].bool ?? false)
        out["Env"] = JSON.strings(env)
        out["Cmd"] = cmd
        if !img["Healthcheck"].isNull || !body["Healthcheck"].isNull { out["Healthcheck"] = body["Healthcheck"].isNull ? img["Healthcheck"] : body["Healthcheck"] }
        out["Image"] = body["Image"]
        // The image's volumes and the request's together (the docker CLI always sends `{}`).
        var volumes = img["Volumes"].object ?? JSONObject()
        for (k, v) in body["Volumes"].object ?? JSONObject() { volumes[k] = v }
        out["Volumes"] = volumes.isEmpty && img["Volumes"].isNull && body["Volumes"].isNull ? .null : .object(volumes)
        out["WorkingDir"] = str("WorkingDir")
        out["Entrypoint"] = entrypoint
        out["OnBuild"] = img["OnBuild"]
        // Go maps marshal with sorted keys; clients compare and template over that order.
        out["Labels"] = JSON.object(labels).sortingKeys()
        if let ports = out["ExposedPorts"].object { out["ExposedPorts"] = JSON.object(ports).sortingKeys() }
        if let v = out["Volumes"].object { out["Volumes"] = JSON.object(v).sortingKeys() }
        if let s = body["StopSignal"].string ?? img["StopSignal"].string { out["StopSignal"] = .string(s) }
        if let t = body["StopTimeout"].int { out["StopTimeout"] = .int(t) }
        return out
    }

    /// HostConfig with Docker's defaults, in the order dockerd 20.10 reports it.
    static func hostConfig(_ body: JSON) -> JSON {
        var h: JSON = [
            "Binds": .null, "ContainerIDFile": "", "LogConfig": ["Type": "json-file", "Config": [:]], "NetworkMode": "default",
            "PortBindings": [:], "RestartPolicy": ["Name": "no", "MaximumRetryCount": 0], "AutoRemove": false, "VolumeDriver": "",
            "VolumesFrom": .null, "CapAdd": .null, "CapDrop": .null, "CgroupnsMode": "host", "Dns": [], "DnsOptions": [],
            "DnsSearch": [], "ExtraHosts": .null, "GroupAdd": .null, "IpcMode": "private", "Cgroup": "", "Links": .null,
            "OomScoreAdj": 0, "PidMode": "", "Privileged": false, "PublishAllPorts": false, "ReadonlyRootfs": false,
            "SecurityOpt": .null, "UTSMode": "", "UsernsMode": "", "ShmSize": 67_108_864, "Runtime": "runc", "ConsoleSize": [0, 0],
            "Isolation": "", "CpuShares": 0, "Memory": 0, "NanoCpus": 0, "CgroupParent": "", "BlkioWeight": 0,
            "BlkioWeightDevice": [], "BlkioDeviceReadBps": [], "BlkioDeviceWriteBps": [], "BlkioDeviceReadIOps": [],
            "BlkioDeviceWriteIOps": [], "CpuPeriod": 0, "CpuQuota": 0, "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0,
            "CpusetCpus": "", "CpusetMems": "", "Devices": [], "DeviceCgroupRules": .null, "DeviceRequests": .null,
            "KernelMemory": 0, "KernelMemoryTCP": 0, "MemoryReservation": 0, "MemorySwap": 0, "MemorySwappiness": .null,
            "OomKillDisable": false, "PidsLimit": .null, "Ulimits": [], "CpuCount": 0, "CpuPercent": 0, "IOMaximumIOps": 0,
            "IOMaximumBandwidth": 0, "MaskedPaths": JSON.strings(OCISpecBuilder.maskedPaths),
            "ReadonlyPaths": JSON.strings(OCISpecBuilder.readonlyPaths),
        ]
        for (k, v) in body.object ?? JSONObject() where !v.isNull {
            if k == "LogConfig" {
                if let t = v["Type"].string, !t.isEmpty { h["LogConfig"]["Type"] = .string(t) }
                if v["Config"].object != nil { h["LogConfig"]["Config"] = v["Config"] }
                continue
            }
            if k == "RestartPolicy", (v["Name"].string ?? "").isEmpty { continue }
            if k == "NetworkMode", (v.string ?? "").isEmpty { continue }
            if k == "ShmSize", (v.int ?? 0) == 0 { continue }
            if k == "PidsLimit", (v.int ?? 0) <= 0 { continue }
            // MaskedPaths/ReadonlyPaths the client sent replace Docker's lists (Kubernetes sends them).
            h[k] = v
        }
        if (h["Memory"].int ?? 0) > 0 && (h["MemorySwap"].int ?? 0) == 0 { h["MemorySwap"] = .int(2 * h["Memory"].int!) }
        return h
    }

    static func hostsFile(hostname: String, extra: [String]) -> String {
        var s = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
        for e in extra {
            let parts = e.split(separator: ":", maxSplits: 1)
            if parts.count == 2 { s += "\(parts[1])\t\(parts[0])\n" }
        }
        return s
    }

    /// A container's resolv.conf: on user networks the embedded DNS (127.0.0.11, which forwards
    /// to the host's resolvers); otherwise the host's file without loopback resolvers
    /// (unreachable from the container's namespace), Google's public ones when nothing remains.
    /// `--dns`, `--dns-search` and `--dns-option` replace the corresponding lines.
    static func resolvConf(host: String, embeddedDNS: Bool = false, dns: [String] = [], search: [String] = [], options: [String] = []) -> String {
        var servers: [String] = [], searches: [String] = [], opts: [String] = [], other: [String] = []
        for line in host.split(separator: "\n") {
            let t = line.trimming(" \t")
            let f = t.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard let key = f.first else { continue }
            switch key {
            case "nameserver":
                if f.count > 1, !(f[1].hasPrefix("127.") || f[1] == "::1") { servers.append(f[1]) }
            case "search", "domain": searches = Array(f.dropFirst())
            case "options": opts += f.dropFirst()
            default: if !t.hasPrefix("#") { other.append(String(line)) }
            }
        }
        if !dns.isEmpty { servers = dns }
        if !search.isEmpty { searches = search }
        if !options.isEmpty { opts = options }
        if embeddedDNS {
            // The embedded server forwards to the real upstreams; the container only sees it.
            servers = ["127.0.0.11"]
            if !opts.contains(where: { $0.hasPrefix("ndots:") }) { opts.append("ndots:0") }
        } else if servers.isEmpty {
            servers = ["8.8.8.8", "8.8.4.4"]
        }
        var lines = other
        if !searches.isEmpty { lines.append("search " + searches.joined(separator: " ")) }
        lines += servers.map { "nameserver " + $0 }
        if !opts.isEmpty { lines.append("options " + opts.joined(separator: " ")) }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `10m`, `512k`, `1g`, `100` (bytes).
    public static func parseBytes(_ s: String) -> Int64? {
        let t = s.lowercased().trimming(" ")
        var num = t
        var mult: Int64 = 1
        for (suffix, m) in [("kb", Int64(1) << 10), ("mb", 1 << 20), ("gb", 1 << 30), ("k", 1 << 10), ("m", 1 << 20), ("g", 1 << 30), ("b", 1)] where t.hasSuffix(suffix) {
            num = String(t.dropLast(suffix.count)); mult = m; break
        }
        guard let v = Double(num), v >= 0 else { return nil }
        return Int64(v * Double(mult))
    }

    /// `label=key` or `label=key=value` filters.
    public static func matchLabels(_ labels: [String: String], _ filters: [String]) -> Bool {
        for f in filters {
            let kv = f.split(separator: "=", maxSplits: 1).map(String.init)
            guard let v = labels[kv[0]] else { return false }
            if kv.count == 2 && v != kv[1] { return false }
        }
        return true
    }

    // MARK: container views

    static func stateJSON(_ s: ContainerState, health: HealthState? = nil) -> JSON {
        var j: JSON = [
            "Status": .string(s.displayStatus), "Running": .bool(s.running), "Paused": .bool(s.paused),
            "Restarting": .bool(s.restarting), "OOMKilled": .bool(s.oomKilled), "Dead": .bool(s.status == "dead"),
            "Pid": .int(Int64(s.pid)), "ExitCode": .int(Int64(s.exitCode)), "Error": .string(s.error),
            "StartedAt": .string(s.startedAt.goRFC3339Nano), "FinishedAt": .string(s.finishedAt.goRFC3339Nano),
        ]
        if let health { j["Health"] = health.json }
        return j
    }

    static func inspect(_ c: Container, dir: String, logPath: String, lower: String, health: HealthState? = nil) -> JSON {
        [
            "Id": .string(c.id), "Created": .string(c.created.goRFC3339Nano), "Path": .string(c.path), "Args": JSON.strings(c.args),
            "State": stateJSON(c.state, health: health), "Image": .string(c.image.description),
            "ResolvConfPath": .string(dir + "/resolv.conf"), "HostnamePath": .string(dir + "/hostname"),
            "HostsPath": .string(dir + "/hosts"), "LogPath": .string(logPath), "Name": .string("/" + c.name),
            "RestartCount": .int(Int64(c.restartCount)), "Driver": "overlay2", "Platform": "linux", "MountLabel": "",
            "ProcessLabel": "", "AppArmorProfile": "", "ExecIDs": .null, "HostConfig": c.hostConfig,
            "GraphDriver": [
                "Data": ["LowerDir": .string(lower), "MergedDir": .string(dir + "/rootfs"), "UpperDir": .string(dir + "/upper"),
                         "WorkDir": .string(dir + "/work")],
                "Name": "overlay2",
            ],
            "Mounts": .array(c.mounts.filter { !$0.hidden }.map(\.inspectJSON)), "Config": c.config,
            "NetworkSettings": [
                "Bridge": "", "SandboxID": "", "HairpinMode": false, "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
                "Ports": [:], "SandboxKey": "", "SecondaryIPAddresses": .null, "SecondaryIPv6Addresses": .null, "EndpointID": "",
                "Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "IPAddress": "", "IPPrefixLen": 0,
                "IPv6Gateway": "", "MacAddress": "", "Networks": [:],
            ],
        ]
    }

    /// The server-made `Status` text of `ps`.
    public static func statusText(_ s: ContainerState, now: Timestamp = .now(), health: String? = nil) -> String {
        switch s.displayStatus {
        case "running":
            let up = "Up " + humanDuration(seconds: (now.nanos - s.startedAt.nanos) / 1_000_000_000)
            guard let health else { return up }
            return up + (health == "starting" ? " (health: starting)" : " (\(health))")
        case "paused": return "Up " + humanDuration(seconds: (now.nanos - s.startedAt.nanos) / 1_000_000_000) + " (Paused)"
        case "exited":
            if s.finishedAt.isZero { return "Exited (\(s.exitCode))" }
            return "Exited (\(s.exitCode)) " + humanDuration(seconds: (now.nanos - s.finishedAt.nanos) / 1_000_000_000) + " ago"
        case "restarting": return "Restarting (\(s.exitCode)) " + humanDuration(seconds: (now.nanos - s.finishedAt.nanos) / 1_000_000_000) + " ago"
        case "dead": return "Dead"
        case "removing": return "Removal In Progress"
        default: return "Created"
        }
    }

    public static func summary(_ c: Container, size: (rw: Int64, root: Int64)?, health: String? = nil) -> JSON {
        // dockerd wraps an argument holding a space in single quotes (nothing else is escaped).
        var cmd = c.path
        if !c.args.isEmpty { cmd += " " + c.args.map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " ") }
        var o: JSON = [
            "Id": .string(c.id), "Names": .array([.string("/" + c.name)]), "Image": .string(c.imageRef),
            "ImageID": .string(c.image.description), "Command": .string(cmd), "Created": .int(c.created.seconds),
            "Ports": [], "Labels": JSON.stringMap(c.labels), "State": .string(c.state.displayStatus), "Status": .string(statusText(c.state, health: health)),
            "HostConfig": ["NetworkMode": c.hostConfig["NetworkMode"]], "NetworkSettings": ["Networks": [:]], "Mounts": .array(c.mounts.filter { !$0.hidden }.map(\.inspectJSON)),
        ]
        if let size { o["SizeRw"] = .int(size.rw); o["SizeRootFs"] = .int(size.root) }
        return o
    }

    // MARK: image views

    static func imageSummary(_ img: ImageRecord, containers: Int64, digests: [String] = []) -> JSON {
        let tags = img.tags.filter { $0.tag != nil }.map(\.familiar).sorted()
        return [
            "Containers": .int(containers), "Created": .int(Timestamp.parse(img.config.created)?.seconds ?? 0),
            "Id": .string(img.id.description), "Labels": JSON.stringMap(img.config.labels.isEmpty ? nil : img.config.labels),
            "ParentId": "", "RepoDigests": !digests.isEmpty ? JSON.strings(digests) : tags.isEmpty ? ["<none>@<none>"] : [],
            "RepoTags": tags.isEmpty ? ["<none>:<none>"] : JSON.strings(tags),
            "SharedSize": -1, "Size": .int(img.size), "VirtualSize": .int(img.size),
        ]
    }

    static func imageInspect(_ img: ImageRecord, lowerDirs: [String], digests: [String] = []) -> JSON {
        let cfg = img.config.json
        let tags = img.tags.filter { $0.tag != nil }.map(\.familiar).sorted()
        var containerConfig = cfg["container_config"]
        if containerConfig.isNull { containerConfig = emptyContainerConfig }
        var config = cfg["config"]
        if config.isNull { config = emptyContainerConfig }
        return [
            "Id": .string(img.id.description), "RepoTags": JSON.strings(tags), "RepoDigests": JSON.strings(digests),
            "Parent": .string(cfg["parent"].string ?? ""), "Comment": .string(cfg["comment"].string ?? ""),
            "Created": .string(img.config.created), "Container": .string(cfg["container"].string ?? ""),
            "ContainerConfig": containerConfig, "DockerVersion": .string(cfg["docker_version"].string ?? ""),
            "Author": .string(cfg["author"].string ?? ""), "Config": config, "Architecture": .string(img.config.architecture),
            "Os": .string(img.config.os), "Size": .int(img.size), "VirtualSize": .int(img.size),
            "GraphDriver": [
                "Data": lowerDirs.count > 1
                    ? ["LowerDir": .string(lowerDirs.dropFirst().joined(separator: ":")), "MergedDir": "", "UpperDir": .string(lowerDirs[0]), "WorkDir": ""]
                    : ["MergedDir": "", "UpperDir": .string(lowerDirs.first ?? ""), "WorkDir": ""],
                "Name": "overlay2",
            ],
            "RootFS": ["Type": "layers", "Layers": JSON.strings(img.config.diffIDs.map(\.description))],
            "Metadata": ["LastTagTime": "0001-01-01T00:00:00Z"],
        ]
    }

    static let emptyContainerConfig: JSON = [
        "Hostname": "", "Domainname": "", "User": "", "AttachStdin": false, "AttachStdout": false, "AttachStderr": false,
        "Tty": false, "OpenStdin": false, "StdinOnce": false, "Env": .null, "Cmd": .null, "Image": "", "Volumes": .null,
        "WorkingDir": "", "Entrypoint": .null, "OnBuild": .null, "Labels": .null,
    ]
}

extension StringProtocol {
    func trimming(_ set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }
}
