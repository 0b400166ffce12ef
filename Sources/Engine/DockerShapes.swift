import DockerAPI
import JSON
import OCI
import Runtime
import Store
import Sys

/// The Docker-compatible JSON shapes, in one place, in Docker's key order.
public enum DockerShapes {
    // MARK: container config

    /// Merges the create body with the image's defaults, as dockerd does.
    static func containerConfig(body: ContainerConfig, image: ImageConfig, id: String) -> ContainerConfig {
        let img = ContainerConfig(json: image.config)
        var out = body
        var env = img.env ?? []
        for e in body.env ?? [] {
            let key = e.split(separator: "=", maxSplits: 1).first.map(String.init) ?? e
            // `NAME` without a value (the client had none) stays in Config.Env as in dockerd;
            // the process never sees it (CreateValidation.processEnvironment).
            if let i = env.firstIndex(where: { $0.split(separator: "=", maxSplits: 1).first.map(String.init) == key }) { env[i] = e } else { env.append(e) }
        }
        out.env = env
        out.entrypoint = img.entrypoint
        out.cmd = img.cmd
        if let entrypoint = body.entrypoint {
            out.entrypoint = entrypoint.isEmpty ? nil : entrypoint
            out.cmd = nil  // a new entrypoint discards the image's command
        }
        if let c = body.cmd, !c.isEmpty { out.cmd = c }
        out.labels = (img.labels ?? [:]).merging(body.labels ?? [:]) { _, new in new }
        if out.hostname.isEmpty { out.hostname = String(id.prefix(12)) }
        if out.user.isEmpty { out.user = img.user }
        if out.workingDir.isEmpty { out.workingDir = img.workingDir }
        let exposed = Set((img.exposedPorts ?? []) + (body.exposedPorts ?? []))
        out.exposedPorts = exposed.isEmpty ? nil : exposed.sorted()
        if out.healthcheck == nil { out.healthcheck = img.healthcheck }
        // The image's volumes and the request's together (the docker CLI always sends `{}`).
        if img.volumes != nil || body.volumes != nil { out.volumes = Set((img.volumes ?? []) + (body.volumes ?? [])).sorted() }
        out.onBuild = img.onBuild
        if out.stopSignal.isEmpty { out.stopSignal = img.stopSignal }
        return out
    }

    /// HostConfig with the daemon's defaults filled in, as dockerd 20.10 reports it.
    static func hostConfig(_ body: HostConfig) -> HostConfig {
        var h = body
        if h.logConfig.type.isEmpty { h.logConfig.type = "json-file" }
        if h.networkMode.isEmpty { h.networkMode = "default" }
        if h.portBindings == nil { h.portBindings = [:] }
        if h.restartPolicy.name.isEmpty { h.restartPolicy = RestartPolicyConfig(name: "no") }
        if h.cgroupnsMode.isEmpty { h.cgroupnsMode = "host" }
        if h.dns == nil { h.dns = [] }
        if h.dnsOptions == nil { h.dnsOptions = [] }
        if h.dnsSearch == nil { h.dnsSearch = [] }
        if h.ipcMode.isEmpty { h.ipcMode = "private" }
        if h.shmSize <= 0 { h.shmSize = 67_108_864 }
        if h.runtime.isEmpty { h.runtime = "runc" }
        var r = h.resources
        if r.blkioWeightDevice == nil { r.blkioWeightDevice = [] }
        if r.blkioDeviceReadBps == nil { r.blkioDeviceReadBps = [] }
        if r.blkioDeviceWriteBps == nil { r.blkioDeviceWriteBps = [] }
        if r.blkioDeviceReadIOps == nil { r.blkioDeviceReadIOps = [] }
        if r.blkioDeviceWriteIOps == nil { r.blkioDeviceWriteIOps = [] }
        if r.devices == nil { r.devices = [] }
        if r.ulimits == nil { r.ulimits = [] }
        if r.oomKillDisable == nil { r.oomKillDisable = false }
        if let p = r.pidsLimit, p <= 0 { r.pidsLimit = nil }
        if r.memory > 0 && r.memorySwap == 0 { r.memorySwap = 2 * r.memory }
        h.resources = r
        // MaskedPaths/ReadonlyPaths the client sent replace Docker's lists (Kubernetes sends them).
        if h.maskedPaths == nil { h.maskedPaths = OCISpecBuilder.maskedPaths }
        if h.readonlyPaths == nil { h.readonlyPaths = OCISpecBuilder.readonlyPaths }
        return h
    }

    static func hostsFile(hostname: String, extra: [String]) -> String {
        var s =
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
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

    /// `label=key` or `label=key=value` filters.
    public static func matchLabels(_ labels: [String: String], _ filters: [String]) -> Bool {
        for f in filters {
            let kv = f.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard let v = labels[kv[0]] else { return false }
            if kv.count == 2 && v != kv[1] { return false }
        }
        return true
    }

    // MARK: container views

    static func state(_ s: ContainerState, health: HealthState? = nil) -> ContainerStateResponse {
        var r = ContainerStateResponse()
        r.status = s.displayStatus
        r.running = s.running || s.restarting  // dockerd counts a restarting container as running
        r.paused = s.paused
        r.restarting = s.restarting
        r.oomKilled = s.oomKilled
        r.dead = s.status == "dead"
        r.pid = Int64(s.pid)
        r.exitCode = Int64(s.exitCode)
        r.error = s.error
        r.startedAt = s.startedAt.goRFC3339Nano
        r.finishedAt = s.finishedAt.goRFC3339Nano
        r.health = health?.response
        return r
    }

    static func inspect(_ c: Container, dir: String, logPath: String, lower: String, health: HealthState? = nil) -> ContainerInspectResponse {
        var r = ContainerInspectResponse()
        r.id = c.id
        r.created = c.created.goRFC3339Nano
        r.path = c.path
        r.args = c.args
        r.state = state(c.state, health: health)
        r.image = c.image.description
        r.resolvConfPath = dir + "/resolv.conf"
        r.hostnamePath = dir + "/hostname"
        r.hostsPath = dir + "/hosts"
        r.logPath = logPath
        r.name = "/" + c.name
        r.restartCount = c.restartCount
        r.hostConfig = c.hostConfig
        r.graphDriver = ["LowerDir": lower, "MergedDir": dir + "/rootfs", "UpperDir": dir + "/upper", "WorkDir": dir + "/work"]
        r.mounts = c.mounts.filter { !$0.hidden }.map(\.response)
        r.config = c.config
        return r
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

    public static func summary(_ c: Container, size: (rw: Int64, root: Int64)?, health: String? = nil) -> ContainerSummaryResponse {
        // dockerd wraps an argument holding a space in single quotes (nothing else is escaped).
        var cmd = c.path
        if !c.args.isEmpty { cmd += " " + c.args.map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " ") }
        var r = ContainerSummaryResponse()
        r.id = c.id
        r.names = ["/" + c.name]
        r.image = c.imageRef
        r.imageID = c.image.description
        r.command = cmd
        r.created = c.created.seconds
        r.sizeRw = size?.rw
        r.sizeRootFs = size?.root
        r.labels = c.labels
        r.state = c.state.displayStatus
        r.status = statusText(c.state, health: health)
        r.networkMode = c.hostConfig.networkMode
        r.mounts = c.mounts.filter { !$0.hidden }.map(\.response)
        return r
    }

    // MARK: image views

    static func imageSummary(_ img: ImageRecord, containers: Int64, digests: [String] = []) -> ImageSummaryResponse {
        let tags = img.tags.filter { $0.tag != nil }.map(\.familiar).sorted()
        var r = ImageSummaryResponse()
        r.containers = containers
        r.created = Timestamp.parse(img.config.created)?.seconds ?? 0
        r.id = img.id.description
        r.labels = img.config.labels.isEmpty ? nil : img.config.labels
        r.repoDigests = !digests.isEmpty ? digests : tags.isEmpty ? ["<none>@<none>"] : []
        r.repoTags = tags.isEmpty ? ["<none>:<none>"] : tags
        r.size = img.size
        return r
    }

    static func imageInspect(_ img: ImageRecord, lowerDirs: [String], digests: [String] = []) -> ImageInspectResponse {
        let cfg = img.config.json
        var r = ImageInspectResponse()
        r.id = img.id.description
        r.repoTags = img.tags.filter { $0.tag != nil }.map(\.familiar).sorted()
        r.repoDigests = digests
        r.parent = cfg["parent"].string ?? ""
        r.comment = cfg["comment"].string ?? ""
        r.created = img.config.created
        r.container = cfg["container"].string ?? ""
        // dockerd decodes both into container.Config: every field shows, whatever the image had.
        r.containerConfig = ContainerConfig(json: cfg["container_config"])
        r.dockerVersion = cfg["docker_version"].string ?? ""
        r.author = cfg["author"].string ?? ""
        r.config = ContainerConfig(json: cfg["config"])
        r.architecture = img.config.architecture
        r.variant = img.config.json["variant"].string ?? ""
        r.os = img.config.os
        r.size = img.size
        r.graphDriver =
            lowerDirs.count > 1
            ? ["LowerDir": lowerDirs.dropFirst().joined(separator: ":"), "MergedDir": "", "UpperDir": lowerDirs[0], "WorkDir": ""]
            : ["MergedDir": "", "UpperDir": lowerDirs.first ?? "", "WorkDir": ""]
        r.layers = img.config.diffIDs.map(\.description)
        return r
    }

    /// An image config's `config` with nothing set: Go's zero container.Config.
    static var emptyContainerConfig: JSON { ContainerConfig().json }
}

extension StringProtocol {
    func trimming(_ set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }
}
