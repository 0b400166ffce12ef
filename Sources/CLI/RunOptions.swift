import JSON
import Sys

/// `run`/`create` flags → the create request body (Config + HostConfig), as the docker CLI builds it.
struct RunOptions {
    static let specs: [FlagSpec] = [
        FlagSpec("-d", "--detach"), FlagSpec("--rm"), FlagSpec("--name", value: true), FlagSpec("-e", "--env", value: true),
        FlagSpec("--env-file", value: true), FlagSpec("-w", "--workdir", value: true), FlagSpec("-u", "--user", value: true),
        FlagSpec("--entrypoint", value: true), FlagSpec("-h", "--hostname", value: true), FlagSpec("-l", "--label", value: true),
        FlagSpec("-m", "--memory", value: true), FlagSpec("--memory-swap", value: true), FlagSpec("--cpus", value: true),
        FlagSpec("-c", "--cpu-shares", value: true), FlagSpec("--pids-limit", value: true), FlagSpec("-i", "--interactive"),
        FlagSpec("-t", "--tty"), FlagSpec("-a", "--attach", value: true), FlagSpec("--cap-add", value: true),
        FlagSpec("--cap-drop", value: true), FlagSpec("--read-only"), FlagSpec("--stop-signal", value: true),
        FlagSpec("--stop-timeout", value: true), FlagSpec("--log-driver", value: true), FlagSpec("--log-opt", value: true),
        FlagSpec("--restart", value: true), FlagSpec("--add-host", value: true), FlagSpec("--shm-size", value: true),
        FlagSpec("--init"), FlagSpec("--privileged"), FlagSpec("--platform", value: true), FlagSpec("--pull", value: true),
        FlagSpec("--net", "--network", value: true), FlagSpec("-q", "--quiet"), FlagSpec("--sig-proxy"),
        FlagSpec("--health-cmd", value: true), FlagSpec("--health-interval", value: true), FlagSpec("--health-timeout", value: true),
        FlagSpec("--health-retries", value: true), FlagSpec("--health-start-period", value: true), FlagSpec("--no-healthcheck"),
        FlagSpec("-v", "--volume", value: true), FlagSpec("--mount", value: true), FlagSpec("--tmpfs", value: true),
        FlagSpec("--volumes-from", value: true), FlagSpec("-p", "--publish", value: true), FlagSpec("-P", "--publish-all"),
        FlagSpec("--expose", value: true), FlagSpec("--ip", value: true), FlagSpec("--network-alias", value: true),
        FlagSpec("--dns", value: true), FlagSpec("--dns-search", value: true), FlagSpec("--dns-option", value: true),
        FlagSpec("--mac-address", value: true), FlagSpec("--userns", value: true), FlagSpec("--runtime", value: true),
        FlagSpec("--link", value: true), FlagSpec("--security-opt", value: true), FlagSpec("--ulimit", value: true),
        FlagSpec("--device", value: true), FlagSpec("--device-cgroup-rule", value: true), FlagSpec("--group-add", value: true),
        FlagSpec("--ipc", value: true), FlagSpec("--pid", value: true), FlagSpec("--uts", value: true), FlagSpec("--cgroupns", value: true),
        FlagSpec("--sysctl", value: true), FlagSpec("--cpuset-cpus", value: true), FlagSpec("--cpuset-mems", value: true),
        FlagSpec("--cpu-period", value: true), FlagSpec("--cpu-quota", value: true), FlagSpec("--cpu-rt-period", value: true),
        FlagSpec("--cpu-rt-runtime", value: true), FlagSpec("--memory-reservation", value: true),
        FlagSpec("--memory-swappiness", value: true), FlagSpec("--oom-kill-disable"), FlagSpec("--oom-score-adj", value: true),
        FlagSpec("--kernel-memory", value: true), FlagSpec("--blkio-weight", value: true), FlagSpec("--cgroup-parent", value: true),
        FlagSpec("--cidfile", value: true), FlagSpec("--detach-keys", value: true), FlagSpec("--domainname", value: true),
        FlagSpec("--label-file", value: true), FlagSpec("--ip6", value: true), FlagSpec("--link-local-ip", value: true),
        FlagSpec("--volume-driver", value: true), FlagSpec("--isolation", value: true), FlagSpec("--storage-opt", value: true),
        FlagSpec("--annotation", value: true), FlagSpec("--health-start-interval", value: true), FlagSpec("--gpus", value: true),
        ContentTrust.flag,
    ]

    let flags: Flags
    var image: String { flags.positionals.first ?? "" }
    var command: [String] { Array(flags.positionals.dropFirst()) }

    init(_ args: [String]) throws {
        flags = try Flags.parse(args, RunOptions.specs, stopAtPositional: true)
        guard !image.isEmpty else { throw CLIError("\"run\" requires at least 1 argument.", code: 125) }
        _ = try ContentTrust.disabled(flags)  // a value that is no boolean: a usage error for create too
    }

    func body() throws -> JSON {
        var env: [String] = []
        for file in flags.list("env-file") {
            guard let text = try? FS.readString(file) else { throw CLIError("open \(file): no such file or directory", code: 125) }
            for line in text.split(separator: "\n") {
                let l = String(line).trimmingSpaces()
                if l.isEmpty || l.hasPrefix("#") { continue }
                env.append(resolveEnv(l))
            }
        }
        for e in flags.list("env") { env.append(resolveEnv(e)) }
        var labels = JSONObject()
        var labelLines: [String] = []
        for file in flags.list("label-file") {
            guard let text = try? FS.readString(file) else { throw CLIError("open \(file): no such file or directory", code: 125) }
            labelLines += text.split(separator: "\n").map { String($0).trimmingSpaces() }.filter { !$0.isEmpty && !$0.hasPrefix("#") }
        }
        for l in labelLines + flags.list("label") {
            let kv = l.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            labels[kv[0]] = .string(kv.count > 1 ? kv[1] : "")
        }
        let interactive = flags.bool("interactive")
        let attach = flags.list("attach")
        let detached = flags.bool("detach")
        var b: JSON = [
            "Hostname": .string(flags.string("hostname") ?? ""), "User": .string(flags.string("user") ?? ""),
            "AttachStdin": .bool(!detached && (interactive || attach.contains("stdin"))),
            "AttachStdout": .bool(!detached && (attach.isEmpty || attach.contains("stdout"))),
            "AttachStderr": .bool(!detached && (attach.isEmpty || attach.contains("stderr"))),
            "Tty": .bool(flags.bool("tty")), "OpenStdin": .bool(interactive), "StdinOnce": .bool(interactive && !detached),
            "Env": JSON.strings(env), "Cmd": command.isEmpty ? .null : JSON.strings(command), "Image": .string(image),
            "WorkingDir": .string(flags.string("workdir") ?? ""), "Labels": .object(labels),
        ]
        if let d = flags.string("domainname") { b["Domainname"] = .string(d) }
        if let ep = flags.string("entrypoint") { b["Entrypoint"] = ep.isEmpty ? [] : JSON.strings([ep]) }
        if let s = flags.string("stop-signal") { b["StopSignal"] = .string(s) }
        if flags.bool("no-healthcheck") {
            b["Healthcheck"] = ["Test": ["NONE"]]
        } else if let cmd = flags.string("health-cmd") {
            var hc: JSON = ["Test": ["CMD-SHELL", .string(cmd)]]
            for (flag, key) in [
                ("health-interval", "Interval"), ("health-timeout", "Timeout"), ("health-start-period", "StartPeriod"),
                ("health-start-interval", "StartInterval"),
            ] {
                if let d = flags.string(flag) {
                    guard let ns = RunOptions.goDuration(d) else {
                        throw CLIError("invalid argument \"\(d)\" for \"--\(flag)\" flag: time: invalid duration \"\(d)\"", code: 125)
                    }
                    hc[key] = .int(ns)
                }
            }
            if let r = try flags.int("health-retries") { hc["Retries"] = .int(Int64(r)) }
            b["Healthcheck"] = hc
        }
        if let t = try flags.int("stop-timeout") { b["StopTimeout"] = .int(Int64(t)) }
        var h: JSON = ["AutoRemove": .bool(flags.bool("rm"))]
        if let m = flags.string("memory") {
            guard let v = RunOptions.parseBytes(m) else {
                throw CLIError("invalid argument \"\(m)\" for \"-m, --memory\" flag: invalid size: '\(m)'", code: 125)
            }
            h["Memory"] = .int(v)
        }
        // A size that does not parse was sent as 0 (no limit at all); refused, as the docker CLI refuses it.
        if let m = flags.string("memory-swap") {
            guard let v = m == "-1" ? -1 : RunOptions.parseBytes(m) else {
                throw CLIError("invalid argument \"\(m)\" for \"--memory-swap\" flag: invalid size: '\(m)'", code: 125)
            }
            h["MemorySwap"] = .int(v)
        }
        if let c = flags.string("cpus") {
            guard let v = Double(c), v >= 0 else {
                throw CLIError("invalid argument \"\(c)\" for \"--cpus\" flag: failed to parse \(c) as a rational number", code: 125)
            }
            h["NanoCpus"] = .int(Int64((v * 1e9).rounded()))
        }
        if let s = try flags.int("cpu-shares") { h["CpuShares"] = .int(Int64(s)) }
        if let p = try flags.int("pids-limit") { h["PidsLimit"] = .int(Int64(p)) }
        if let s = flags.string("shm-size") {
            guard let v = RunOptions.parseBytes(s) else { throw CLIError("invalid argument \"\(s)\" for \"--shm-size\" flag: invalid size: '\(s)'", code: 125) }
            h["ShmSize"] = .int(v)
        }
        if !flags.list("cap-add").isEmpty { h["CapAdd"] = JSON.strings(flags.list("cap-add")) }
        if !flags.list("cap-drop").isEmpty { h["CapDrop"] = JSON.strings(flags.list("cap-drop")) }
        if flags.bool("read-only") { h["ReadonlyRootfs"] = true }
        if flags.bool("privileged") { h["Privileged"] = true }
        if let u = flags.string("userns") { h["UsernsMode"] = .string(u) }
        if flags.bool("init") { h["Init"] = true }
        if let r = flags.string("runtime") { h["Runtime"] = .string(r) }
        try addResourceAndNamespaceFlags(&h)
        if !flags.list("add-host").isEmpty { h["ExtraHosts"] = JSON.strings(flags.list("add-host")) }
        // `--link name[:alias]`, as the docker CLI sends it (`name:alias`, the alias defaulting to the name).
        if !flags.list("link").isEmpty {
            h["Links"] = JSON.strings(flags.list("link").map { $0.contains(":") ? $0 : $0 + ":" + $0 })
        }
        var logCfg = JSONObject()
        for o in flags.list("log-opt") {
            let kv = o.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            logCfg[kv[0]] = .string(kv.count > 1 ? kv[1] : "")
        }
        h["LogConfig"] = ["Type": .string(flags.string("log-driver") ?? ""), "Config": .object(logCfg)]
        if let r = flags.string("restart") {
            let parts = r.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            h["RestartPolicy"] = ["Name": .string(parts[0]), "MaximumRetryCount": .int(Int64(parts.count > 1 ? Int(parts[1]) ?? 0 : 0))]
        }
        if let n = flags.string("network") { h["NetworkMode"] = .string(n) }
        var exposed = JSONObject()
        var bindings = JSONObject()
        for spec in flags.list("publish") {
            for (key, binding) in try RunOptions.parsePublish(spec) {
                exposed[key] = [:]
                var list = bindings[key]?.array ?? []
                list.append(binding)
                bindings[key] = .array(list)
            }
        }
        for e in flags.list("expose") {
            let parts = e.split(separator: "/", maxSplits: 1).map(String.init)
            let proto = parts.count > 1 ? parts[1] : "tcp"
            guard let range = RunOptions.portRange(parts[0]) else {
                throw CLIError("invalid argument \"\(e)\" for \"--expose\" flag: invalid range format for --expose: \(e)", code: 125)
            }
            for port in range { exposed["\(port)/\(proto)"] = [:] }
        }
        if !exposed.isEmpty { b["ExposedPorts"] = .object(exposed) }
        if !bindings.isEmpty { h["PortBindings"] = .object(bindings) }
        if flags.bool("publish-all") { h["PublishAllPorts"] = true }
        if !flags.list("dns").isEmpty { h["Dns"] = JSON.strings(flags.list("dns")) }
        if !flags.list("dns-search").isEmpty { h["DnsSearch"] = JSON.strings(flags.list("dns-search")) }
        if !flags.list("dns-option").isEmpty { h["DnsOptions"] = JSON.strings(flags.list("dns-option")) }
        let aliases = flags.list("network-alias")
        let linkLocal = flags.list("link-local-ip")
        if !aliases.isEmpty || flags.string("ip") != nil || flags.string("ip6") != nil || !linkLocal.isEmpty {
            let net = flags.string("network") ?? "default"
            var ep: JSON = [:]
            if !aliases.isEmpty { ep["Aliases"] = JSON.strings(aliases) }
            var ipam: JSON = [:]
            if let ip = flags.string("ip") { ipam["IPv4Address"] = .string(ip) }
            if let ip6 = flags.string("ip6") { ipam["IPv6Address"] = .string(ip6) }
            if !linkLocal.isEmpty { ipam["LinkLocalIPs"] = JSON.strings(linkLocal) }
            if !(ipam.object?.isEmpty ?? true) { ep["IPAMConfig"] = ipam }
            var cfgs = JSONObject()
            cfgs[net] = ep
            b["NetworkingConfig"] = ["EndpointsConfig": .object(cfgs)]
        }
        // `-v /path` is an anonymous volume (Config.Volumes); with a source it is a bind.
        var binds: [String] = []
        var volumes = JSONObject()
        for v in flags.list("volume") {
            let parts = v.split(separator: ":", omittingEmptySubsequences: false)
            if parts.count == 1 {
                volumes[v] = [:]
            } else if parts.count == 2 && parts[0].hasPrefix("/") && !parts[1].hasPrefix("/") {
                volumes[String(parts[0])] = [:]  // `/data:ro` without a source: the CLI keeps only the target
            } else {
                binds.append(v)
            }
        }
        if !binds.isEmpty { h["Binds"] = JSON.strings(binds) }
        if !volumes.isEmpty { b["Volumes"] = .object(volumes) }
        if !flags.list("mount").isEmpty { h["Mounts"] = .array(try flags.list("mount").map(RunOptions.parseMount)) }
        var tmpfs = JSONObject()
        for t in flags.list("tmpfs") {
            let kv = t.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            tmpfs[kv[0]] = .string(kv.count > 1 ? kv[1] : "")
        }
        if !tmpfs.isEmpty { h["Tmpfs"] = .object(tmpfs) }
        if !flags.list("volumes-from").isEmpty { h["VolumesFrom"] = JSON.strings(flags.list("volumes-from")) }
        if flags.bool("tty"), let size = Terminal.size() { h["ConsoleSize"] = [.int(Int64(size.rows)), .int(Int64(size.cols))] }
        b["HostConfig"] = h
        return b
    }

    /// The docker CLI's flags for limits, devices, namespaces and security, mapped to HostConfig
    /// as it maps them (each was an unknown flag).
    func addResourceAndNamespaceFlags(_ h: inout JSON) throws {
        func bytes(_ flag: String) throws -> Int64? {
            guard let text = flags.string(flag) else { return nil }
            guard let v = RunOptions.parseBytes(text) else {
                throw CLIError("invalid argument \"\(text)\" for \"--\(flag)\" flag: invalid size: '\(text)'", code: 125)
            }
            return v
        }
        if let v = try bytes("memory-reservation") { h["MemoryReservation"] = .int(v) }
        if let v = try bytes("kernel-memory") { h["KernelMemory"] = .int(v) }
        for (flag, key) in [
            ("cpu-period", "CpuPeriod"), ("cpu-quota", "CpuQuota"), ("cpu-rt-period", "CPURealtimePeriod"),
            ("cpu-rt-runtime", "CPURealtimeRuntime"), ("memory-swappiness", "MemorySwappiness"),
            ("oom-score-adj", "OomScoreAdj"), ("blkio-weight", "BlkioWeight"),
        ] {
            if let v = try flags.int(flag) { h[key] = .int(Int64(v)) }
        }
        if flags.bool("oom-kill-disable") { h["OomKillDisable"] = true }
        for (flag, key) in [
            ("cpuset-cpus", "CpusetCpus"), ("cpuset-mems", "CpusetMems"), ("cgroup-parent", "CgroupParent"),
            ("ipc", "IpcMode"), ("pid", "PidMode"), ("uts", "UTSMode"), ("cgroupns", "CgroupnsMode"),
            ("volume-driver", "VolumeDriver"), ("isolation", "Isolation"),
        ] {
            if let v = flags.string(flag) { h[key] = .string(v) }
        }
        for (flag, key) in [("security-opt", "SecurityOpt"), ("group-add", "GroupAdd"), ("device-cgroup-rule", "DeviceCgroupRules")] {
            if !flags.list(flag).isEmpty { h[key] = JSON.strings(flags.list(flag)) }
        }
        if !flags.list("ulimit").isEmpty {
            h["Ulimits"] = .array(
                try flags.list("ulimit").map { spec in
                    let kv = spec.split(separator: "=", maxSplits: 1).map(String.init)
                    let limits = kv.count == 2 ? kv[1].split(separator: ":", maxSplits: 1).map { Int64($0) } : []
                    guard kv.count == 2, let soft = limits.first ?? nil, let hard = limits.count == 2 ? limits[1] : soft else {
                        throw CLIError("invalid argument \"\(spec)\" for \"--ulimit\" flag: invalid ulimit argument: \(spec)", code: 125)
                    }
                    return ["Name": .string(kv[0]), "Soft": .int(soft), "Hard": .int(hard)]
                })
        }
        if !flags.list("device").isEmpty {
            h["Devices"] = .array(
                flags.list("device").map { spec in
                    let p = spec.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
                    let permissions = p.count > 1 && p.last!.allSatisfy({ "rwm".contains($0) }) && !p.last!.isEmpty ? p.last! : "rwm"
                    let inside = p.count > 2 || (p.count == 2 && permissions != p[1]) ? p[1] : p[0]
                    return ["PathOnHost": .string(p[0]), "PathInContainer": .string(inside), "CgroupPermissions": .string(permissions)]
                })
        }
        var sysctls = JSONObject()
        for kv in flags.list("sysctl") {
            let parts = kv.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw CLIError("invalid argument \"\(kv)\" for \"--sysctl\" flag: sysctl '\(kv)' is not allowed", code: 125) }
            sysctls[parts[0]] = .string(parts[1])
        }
        if !sysctls.isEmpty { h["Sysctls"] = .object(sysctls) }
        var storage = JSONObject()
        for kv in flags.list("storage-opt") {
            let parts = kv.split(separator: "=", maxSplits: 1).map(String.init)
            storage[parts[0]] = .string(parts.count == 2 ? parts[1] : "")
        }
        if !storage.isEmpty { h["StorageOpt"] = .object(storage) }
        var annotations = JSONObject()
        for kv in flags.list("annotation") {
            let parts = kv.split(separator: "=", maxSplits: 1).map(String.init)
            annotations[parts[0]] = .string(parts.count == 2 ? parts[1] : "")
        }
        if !annotations.isEmpty { h["Annotations"] = .object(annotations) }
        // GPUs need a device driver Berth does not have: refused, never dropped.
        if flags.string("gpus") != nil { throw CLIError("could not select device driver \"\" with capabilities: [[gpu]]", code: 125) }
    }

    static func portRange(_ s: String) -> ClosedRange<Int>? {
        let p = s.split(separator: "-", omittingEmptySubsequences: false)
        guard let a = Int(p[0]), a > 0, a < 65536 else { return nil }
        if p.count == 1 { return a...a }
        guard p.count == 2, let b = Int(p[1]), b >= a, b < 65536 else { return nil }
        return a...b
    }

    /// `-p [ip:][hostPort:]containerPort[/proto]` with ranges → ("80/tcp", {"HostIp","HostPort"}) pairs,
    /// as the docker CLI (nat.ParsePortSpec) produces them.
    static func parsePublish(_ spec: String) throws -> [(String, JSON)] {
        func bad() -> CLIError { CLIError("invalid argument \"\(spec)\" for \"-p, --publish\" flag: Invalid containerPort: \(spec)", code: 125) }
        var rest = spec
        var proto = "tcp"
        if let slash = rest.lastIndex(of: "/") {
            proto = String(rest[rest.index(after: slash)...]).lowercased()
            rest = String(rest[..<slash])
            guard ["tcp", "udp", "sctp"].contains(proto) else {
                throw CLIError("invalid argument \"\(spec)\" for \"-p, --publish\" flag: invalid proto: \(proto)", code: 125)
            }
        }
        var ip = "", hostPart = "", containerPart = ""
        if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {
            ip = String(rest[rest.index(after: rest.startIndex)..<close])
            rest = String(rest[rest.index(after: close)...].dropFirst())
            let p = rest.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard p.count == 2 else { throw bad() }
            hostPart = p[0]; containerPart = p[1]
        } else {
            let p = rest.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            switch p.count {
            case 1: containerPart = p[0]
            case 2: hostPart = p[0]; containerPart = p[1]
            case 3: ip = p[0]; hostPart = p[1]; containerPart = p[2]
            default: throw bad()
            }
        }
        guard let cr = portRange(containerPart) else { throw bad() }
        var hostRange: ClosedRange<Int>? = nil
        if !hostPart.isEmpty {
            guard let hr = portRange(hostPart) else {
                throw CLIError("invalid argument \"\(spec)\" for \"-p, --publish\" flag: Invalid hostPort: \(hostPart)", code: 125)
            }
            hostRange = hr
        }
        if let hr = hostRange, hr.count != cr.count, cr.count != 1 {
            throw CLIError(
                "invalid argument \"\(spec)\" for \"-p, --publish\" flag: Invalid ranges specified for container and host Ports: \(containerPart) and \(hostPart)",
                code: 125)
        }
        var out: [(String, JSON)] = []
        for (i, port) in cr.enumerated() {
            var hostPort = ""
            if let hr = hostRange {
                hostPort = cr.count == 1 && hr.count > 1 ? "\(hr.lowerBound)-\(hr.upperBound)" : String(hr.lowerBound + i)
            }
            out.append(("\(port)/\(proto)", ["HostIp": .string(ip), "HostPort": .string(hostPort)]))
        }
        return out
    }

    /// `--mount type=bind,src=/a,dst=/b,readonly` → a HostConfig.Mounts object, as the docker CLI parses it.
    static func parseMount(_ spec: String) throws -> JSON {
        var m: JSON = ["Type": "volume"]
        var volumeOptions: JSON = .null, bindOptions: JSON = .null, tmpfsOptions: JSON = .null
        func bool(_ v: String?, _ key: String) throws -> Bool {
            guard let v else { return true }
            switch v.lowercased() {
            case "1", "true": return true
            case "0", "false": return false
            default: throw CLIError("invalid argument \"\(spec)\" for \"--mount\" flag: invalid value for \(key): \(v)", code: 125)
            }
        }
        for field in spec.split(separator: ",").map(String.init) {
            let kv = field.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            let key = kv[0].lowercased(), value = kv.count > 1 ? kv[1] : nil
            switch key {
            case "type": m["Type"] = .string(value ?? "")
            case "source", "src": m["Source"] = .string(value ?? "")
            case "target", "destination", "dst": m["Target"] = .string(value ?? "")
            case "readonly", "ro": m["ReadOnly"] = .bool(try bool(value, key))
            case "consistency": m["Consistency"] = .string(value ?? "")
            case "bind-propagation": bindOptions["Propagation"] = .string(value ?? "")
            case "bind-nonrecursive": bindOptions["NonRecursive"] = .bool(try bool(value, key))
            case "volume-nocopy": volumeOptions["NoCopy"] = .bool(try bool(value, key))
            case "volume-driver": volumeOptions["DriverConfig"]["Name"] = .string(value ?? "")
            case "volume-label":
                let l = (value ?? "").split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
                volumeOptions["Labels"][l[0]] = .string(l.count > 1 ? l[1] : "")
            case "volume-opt":
                let o = (value ?? "").split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
                volumeOptions["DriverConfig"]["Options"][o[0]] = .string(o.count > 1 ? o[1] : "")
            case "tmpfs-size":
                guard let v = value, let n = parseBytes(v) else {
                    throw CLIError("invalid argument \"\(spec)\" for \"--mount\" flag: invalid value for \(key): \(value ?? "")", code: 125)
                }
                tmpfsOptions["SizeBytes"] = .int(n)
            case "tmpfs-mode":
                guard let v = value, let n = Int64(v, radix: 8) else {
                    throw CLIError("invalid argument \"\(spec)\" for \"--mount\" flag: invalid value for \(key): \(value ?? "")", code: 125)
                }
                tmpfsOptions["Mode"] = .int(n)
            default:
                throw CLIError("invalid argument \"\(spec)\" for \"--mount\" flag: unexpected key '\(key)' in '\(field)'", code: 125)
            }
        }
        if !volumeOptions.isNull { m["VolumeOptions"] = volumeOptions }
        if !bindOptions.isNull { m["BindOptions"] = bindOptions }
        if !tmpfsOptions.isNull { m["TmpfsOptions"] = tmpfsOptions }
        return m
    }

    /// `-e NAME` takes NAME's value from the caller's environment, as Docker does.
    func resolveEnv(_ e: String) -> String {
        if e.contains("=") { return e }
        if let v = Proc.getenv(e) { return e + "=" + v }
        return e
    }

    /// Go's time.ParseDuration subset: `1h2m3s`, `500ms`, `1.5s` → nanoseconds.
    static func goDuration(_ s: String) -> Int64? {
        var total = 0.0, num = "", i = s.startIndex
        guard !s.isEmpty else { return nil }
        while i < s.endIndex {
            let ch = s[i]
            if ch.isNumber || ch == "." { num.append(ch); i = s.index(after: i); continue }
            var unit = String(ch)
            i = s.index(after: i)
            if unit == "m" || unit == "u" || unit == "n", i < s.endIndex, s[i] == "s" { unit += "s"; i = s.index(after: i) }
            guard let v = Double(num) else { return nil }
            let mult: Double
            switch unit {
            case "h": mult = 3600e9
            case "m": mult = 60e9
            case "s": mult = 1e9
            case "ms": mult = 1e6
            case "us": mult = 1e3
            case "ns": mult = 1
            default: return nil
            }
            total += v * mult
            num = ""
        }
        return num.isEmpty ? Int64(total) : nil
    }

    static func parseBytes(_ s: String) -> Int64? {
        let t = s.lowercased()
        var num = Substring(t)
        var mult: Int64 = 1
        if let last = num.last, "bkmg".contains(last) {
            num.removeLast()
            if last == "b", let l2 = num.last, "kmg".contains(l2) {
                num.removeLast(); mult = l2 == "k" ? 1 << 10 : l2 == "m" ? 1 << 20 : 1 << 30
            } else {
                mult = last == "k" ? 1 << 10 : last == "m" ? 1 << 20 : last == "g" ? 1 << 30 : 1
            }
        }
        guard let v = Double(num), v >= 0 else { return nil }
        // Beyond Int64 (or not a number at all: "inf", "nan") is refused, not a trap.
        let bytes = v * Double(mult)
        guard bytes.isFinite, bytes < 9.2e18 else { return nil }
        return Int64(bytes)
    }
}
