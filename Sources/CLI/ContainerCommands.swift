import Client
import Glibc
import GoTemplate
import JSON
import Sys

/// Container commands. Each parses its flags, makes its API calls, prints Docker's output.
extension Berth {
    func create(_ args: [String]) throws -> Int32 {
        let o = try RunOptions(args)
        _ = try o.body()  // a flag's bad value: 125, as the docker CLI
        // What the daemon (or the cidfile) refuses: `docker create` exits 1 where `run` exits 125.
        do { Out.print(try createContainer(o)) } catch let e as CLIError { throw CLIError(e.description, code: 1) }
        return 0
    }

    /// Create; a missing image is pulled first (`--pull=missing`, Docker's default), then created again.
    func createContainer(_ o: RunOptions, pulled: Bool = false) throws -> String {
        // Before anything reaches the daemon, as the docker CLI resolves a trusted tag first.
        if !pulled { try ContentTrust.requireOff(o.flags, image: o.image, code: 125) }
        var q: [(String, String)] = []
        if let n = o.flags.string("name") { q.append(("name", n)) }
        if let p = o.flags.platform() { q.append(("platform", p)) }
        // `--cidfile`: refused when the file is there already, written once the ID is known (the docker CLI's rule).
        if let cidfile = o.flags.string("cidfile"), !pulled, FS.exists(cidfile) {
            throw CLIError("container ID file found, make sure the other container isn't running or delete \(cidfile)", code: 125)
        }
        if o.flags.string("pull") == "always" && !pulled {
            try pullImage(o.image, quiet: o.flags.bool("quiet"), platform: o.flags.platform(), fd: 2)
            return try createContainer(o, pulled: true)
        }
        do {
            let r = try client.request("POST", "/containers/create" + DaemonClient.query(q), json: try o.body())
            for w in r.json["Warnings"].stringArray ?? [] { Out.err("WARNING: " + w) }
            let id = r.json["Id"].string ?? ""
            if let cidfile = o.flags.string("cidfile") {
                do { try FS.writeAtomic(cidfile, Array(id.utf8), mode: 0o644) } catch {
                    throw CLIError("failed to write the container ID to the file: \(error)", code: 125)
                }
            }
            return id
        } catch let e as ClientError where e.status == 404 && e.message.contains("No such image") && !pulled {
            guard o.flags.string("pull") != "never" else { throw CLIError(e.message, code: 125) }
            Out.err("Unable to find image '\(o.image.contains(":") || o.image.contains("@") ? o.image : o.image + ":latest")' locally")
            do { try pullImage(o.image, quiet: o.flags.bool("quiet"), platform: o.flags.platform(), fd: 2) } catch let p as CLIError {
                throw CLIError(p.description, code: 125)
            }
            return try createContainer(o, pulled: true)
        } catch let e as ClientError {
            throw CLIError(e.message, code: 125)
        }
    }

    func run(_ args: [String]) throws -> Int32 {
        let o = try RunOptions(args)
        if o.flags.bool("detach") && o.flags.bool("rm") == false, !o.flags.list("attach").isEmpty {
            throw CLIError("Conflicting options: -a and -d", code: 125)
        }
        let id = try createContainer(o)
        if o.flags.bool("detach") {
            try startOrFail(id)
            Out.print(id)
            return 0
        }
        let tty = o.flags.bool("tty")
        let interactive = o.flags.bool("interactive")
        var q: [(String, String)] = [("stream", "1"), ("stdout", "1"), ("stderr", "1")]
        if interactive { q.append(("stdin", "1")) }
        if let k = o.flags.string("detach-keys") { q.append(("detachKeys", k)) }
        // Both requests on their way before either answer is read (one round trip, not two);
        // the start waits for both: the daemon answers each once it is in place.
        let attaching = try client.sendHijack("/containers/\(id)/attach" + DaemonClient.query(q))
        let waiting: Int32
        do { waiting = try client.sendOpen("POST", "/containers/\(id)/wait?condition=" + (o.flags.bool("rm") ? "removed" : "next-exit")) } catch {
            close(attaching)
            throw error
        }
        let attach: (fd: Int32, pending: [UInt8])
        do { attach = try client.readHijack(attaching) } catch {
            close(waiting)
            throw error
        }
        let wait: PendingResponse
        do { wait = try client.readOpen(waiting) } catch {
            close(attach.fd)
            throw error
        }
        do { try startOrFail(id) } catch { close(attach.fd); throw error }
        AttachLoop.relay(client, attach, tty: tty, interactive: interactive, resizePath: "/containers/\(id)/resize")
        let status = (try? JSON.parse(try wait.readBody())) ?? .null
        if let msg = status["Error"]["Message"].string, !msg.isEmpty { Out.err(msg) }
        return Int32(status["StatusCode"].int ?? 125)
    }

    /// Start; the CLI's exit codes for a command that cannot run: 127 not found, 126 not executable.
    func startOrFail(_ id: String) throws {
        let result: Result<Response, ClientError> = Result { () throws(ClientError) -> Response in try client.request("POST", "/containers/\(id)/start") }
        if case .failure(let e) = result {
            let m = e.message
            let code: Int32 =
                m.contains("executable file not found") || m.contains("no such file or directory") ? 127 : m.contains("permission denied") ? 126 : 125
            throw CLIError(m, code: code)
        }
    }

    func start(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(args, [FlagSpec("-a", "--attach"), FlagSpec("-i", "--interactive"), FlagSpec("--detach-keys", value: true)])
        guard !f.positionals.isEmpty else { throw CLIError("\"start\" requires at least 1 argument.") }
        if f.bool("attach") || f.bool("interactive") {
            let id = f.positionals[0]
            let info = try client.request("GET", "/containers/\(id)/json").json
            var q: [(String, String)] = [("stream", "1"), ("stdout", "1"), ("stderr", "1")]
            if f.bool("interactive") { q.append(("stdin", "1")) }
            if let k = f.string("detach-keys") { q.append(("detachKeys", k)) }  // it was dropped
            let attach = try client.hijack("/containers/\(id)/attach" + DaemonClient.query(q))
            let wait = try client.open("POST", "/containers/\(id)/wait?condition=next-exit")
            try startOrFail(id)
            AttachLoop.run(fd: attach.fd, pending: attach.pending, tty: info["Config"]["Tty"].bool ?? false, forwardStdin: f.bool("interactive"))
            let status = (try? JSON.parse(try wait.readBody())) ?? .null
            return Int32(status["StatusCode"].int ?? 0)
        }
        return eachContainer(f.positionals) { id in
            _ = try client.request("POST", "/containers/\(id)/start"); return id
        }
    }

    /// Runs `body` for each argument, printing what it returns; errors go to stderr, exit 1 at the end.
    func eachContainer(_ refs: [String], _ body: (String) throws -> String?) -> Int32 {
        var failed = false
        for r in refs {
            do { if let line = try body(r) { Out.print(line) } } catch {
                Out.err("\(error)")
                failed = true
            }
        }
        return failed ? 1 : 0
    }

    func stop(_ args: [String], restart: Bool = false) throws -> Int32 {
        let f = try Flags.parse(args, [FlagSpec("-t", "--timeout", "--time", value: true), FlagSpec("-s", "--signal", value: true)])
        guard !f.positionals.isEmpty else { throw CLIError("\"\(restart ? "restart" : "stop")\" requires at least 1 argument.") }
        var q: [(String, String)] = []
        if let t = try f.int("time") { q.append(("t", String(t))) }
        return eachContainer(f.positionals) { id in
            _ = try client.request("POST", "/containers/\(id)/\(restart ? "restart" : "stop")" + DaemonClient.query(q)); return id
        }
    }

    func kill(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(args, [FlagSpec("-s", "--signal", value: true)])
        guard !f.positionals.isEmpty else { throw CLIError("\"kill\" requires at least 1 argument.") }
        let q = f.string("signal").map { [("signal", $0)] } ?? []
        return eachContainer(f.positionals) { id in
            _ = try client.request("POST", "/containers/\(id)/kill" + DaemonClient.query(q)); return id
        }
    }

    func rm(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(args, [FlagSpec("-f", "--force"), FlagSpec("-v", "--volumes"), FlagSpec("-l", "--link")])
        guard !f.positionals.isEmpty else { throw CLIError("\"rm\" requires at least 1 argument.") }
        var q: [(String, String)] = []
        if f.bool("force") { q.append(("force", "1")) }
        if f.bool("volumes") { q.append(("v", "1")) }
        // `--link` removes the link named, never the container (it was dropped, and `rm --link
        // db` removed the container db).
        if f.bool("link") { q.append(("link", "1")) }
        return eachContainer(f.positionals) { id in
            _ = try client.request("DELETE", "/containers/\(id)" + DaemonClient.query(q)); return id
        }
    }

    func rename(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(args, [])
        guard f.positionals.count == 2 else { throw CLIError("\"rename\" requires exactly 2 arguments.") }
        _ = try client.request("POST", "/containers/\(f.positionals[0])/rename" + DaemonClient.query([("name", f.positionals[1])]))
        return 0
    }

    func wait(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(args, [])
        guard !f.positionals.isEmpty else { throw CLIError("\"wait\" requires at least 1 argument.") }
        return eachContainer(f.positionals) { id in
            let r = try client.request("POST", "/containers/\(id)/wait")
            return String(r.json["StatusCode"].int ?? 0)
        }
    }

    func logs(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(
            args,
            [
                FlagSpec("-f", "--follow"), FlagSpec("-n", "--tail", value: true), FlagSpec("--since", value: true),
                FlagSpec("--until", value: true), FlagSpec("-t", "--timestamps"), FlagSpec("--details"),
            ])
        guard f.positionals.count == 1 else { throw CLIError("\"logs\" requires exactly 1 argument.") }
        let id = f.positionals[0]
        let info = try client.request("GET", "/containers/\(id)/json").json
        var q: [(String, String)] = [("stdout", "1"), ("stderr", "1")]
        if f.bool("follow") { q.append(("follow", "1")) }
        if let t = f.string("tail") { q.append(("tail", t)) }
        if f.bool("timestamps") { q.append(("timestamps", "1")) }
        if f.bool("details") { q.append(("details", "1")) }
        if let s = f.string("since") { q.append(("since", try TimeArg.parse(s))) }
        if let u = f.string("until") { q.append(("until", try TimeArg.parse(u))) }
        var demux = Demux(tty: info["Config"]["Tty"].bool ?? false)
        try client.stream("GET", "/containers/\(id)/logs" + DaemonClient.query(q)) {
            demux.feed($0); return true
        }
        return 0
    }

    func inspect(_ args: [String], kind: String?) throws -> Int32 {
        let f = try Flags.parse(args, [FlagSpec("-f", "--format", value: true), FlagSpec("--type", value: true), FlagSpec("-s", "--size")])
        guard !f.positionals.isEmpty else { throw CLIError("\"inspect\" requires at least 1 argument.") }
        let type = kind ?? f.string("type")
        var results: [JSON] = []
        var failed = false
        for ref in f.positionals {
            var found: JSON? = nil
            if type == nil || type == "container" { found = try? client.request("GET", "/containers/\(ref)/json").json }
            if found == nil && (type == nil || type == "image") { found = try? client.request("GET", "/images/\(ref)/json").json }
            if let found {
                results.append(found)
            } else {
                Out.err("Error: No such \(type ?? "object"): \(ref)")
                failed = true
            }
        }
        if let format = f.string("format") {
            Out.raw(1, Array(try Formatter.inspect(format, results).utf8))
        } else {
            Out.print(JSON.array(results).pretty(indent: "    "))
        }
        return failed ? 1 : 0
    }

    func ps(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(
            args,
            [
                FlagSpec("-a", "--all"), FlagSpec("-q", "--quiet"), FlagSpec("-n", "--last", value: true),
                FlagSpec("-l", "--latest"), FlagSpec("--no-trunc"), FlagSpec("-f", "--filter", value: true),
                FlagSpec("-s", "--size"), FlagSpec("--format", value: true),
            ])
        var q: [(String, String)] = []
        if f.bool("all") { q.append(("all", "1")) }
        var limit = try f.int("last") ?? -1
        if f.bool("latest") { limit = 1 }
        if limit > 0 { q.append(("limit", String(limit))); q.removeAll { $0.0 == "all" }; q.append(("all", "1")) }
        let filters = try filterJSON(f.list("filter"))
        if let filters { q.append(("filters", filters)) }
        if f.bool("size") || (f.string("format") ?? "").contains(".Size") { q.append(("size", "1")) }
        let list = try client.request("GET", "/containers/json" + DaemonClient.query(q)).json.array ?? []
        let trunc = !f.bool("no-trunc")
        if f.bool("quiet") {
            for c in list { Out.print(trunc ? Rows.truncateID(c["Id"].string ?? "") : c["Id"].string ?? "") }
            return 0
        }
        let format = f.string("format").map { $0 == "table" ? Rows.psFormat : $0 } ?? Rows.psFormat
        let rows = list.map { c in
            FormatRow(Rows.container(c, trunc: trunc), methods: ["Label": { args throws(TemplateError) in Rows.labelMethod(c)(args) }])
        }
        let out = try Formatter(format: format, header: Rows.psHeader).render(rows)
        Out.raw(1, Array(out.utf8))
        return 0
    }

    func containerPrune(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(args, [FlagSpec("-f", "--force"), FlagSpec("--filter", value: true)])
        if !f.bool("force") {
            Out.raw(1, Array("WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] ".utf8))
            var b = [UInt8](repeating: 0, count: 16)
            let n = read(0, &b, 16)
            guard n > 0, b[0] == UInt8(ascii: "y") || b[0] == UInt8(ascii: "Y") else { return 0 }
        }
        var q: [(String, String)] = []
        if let filters = try filterJSON(f.list("filter")) { q.append(("filters", filters)) }
        let r = try client.request("POST", "/containers/prune" + DaemonClient.query(q)).json
        Berth.printPruned(containers: r)
        Out.print("Total reclaimed space: " + Out.humanSize(r["SpaceReclaimed"].int ?? 0))
        return 0
    }

    /// `-f key=value` flags → the API's filters JSON.
    func filterJSON(_ list: [String]) throws -> String? {
        if list.isEmpty { return nil }
        var o = JSONObject()
        for item in list {
            let kv = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard kv.count == 2 else { throw CLIError("bad format of filter (expected name=value)") }
            var m = o[kv[0]]?.object ?? JSONObject()
            m[kv[1]] = true
            o[kv[0]] = .object(m)
        }
        return JSON.object(o).serialized()
    }
}

/// One `ps` line, as the docker CLI's formatter computes it.
/// `--since 10m`, RFC 3339 dates or Unix seconds → the API's `secs[.nanos]`.
enum TimeArg {
    static func parse(_ s: String) throws -> String {
        if Timestamp.parseUnix(s) != nil { return s }
        if let t = Timestamp.parse(s) { return "\(t.seconds).\(String(format9(t.nanos % 1_000_000_000)))" }
        var total: Double = 0
        var num = ""
        for ch in s {
            if ch.isNumber || ch == "." { num.append(ch); continue }
            guard let v = Double(num) else { throw CLIError("invalid time \(s)") }
            switch ch {
            case "h": total += v * 3600
            case "m": total += v * 60
            case "s": total += v
            default: throw CLIError("invalid time \(s)")
            }
            num = ""
        }
        if !num.isEmpty { throw CLIError("invalid time \(s)") }
        let t = Timestamp.now().nanos - Int64(total * 1e9)
        return "\(t / 1_000_000_000).\(format9(t % 1_000_000_000))"
    }
    static func format9(_ n: Int64) -> String { let s = String(n); return String(repeating: "0", count: 9 - s.count) + s }
}

extension Berth {
    func pause(_ args: [String], _ pause: Bool) throws -> Int32 {
        let f = try Flags.parse(args, [])
        guard !f.positionals.isEmpty else { throw CLIError("\"\(pause ? "pause" : "unpause")\" requires at least 1 argument.") }
        return eachContainer(f.positionals) { id in
            _ = try client.request("POST", "/containers/\(id)/\(pause ? "pause" : "unpause")"); return id
        }
    }

    func top(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(Array(args.prefix(1)), [])
        guard let id = f.positionals.first else { throw CLIError("\"top\" requires at least 1 argument.") }
        let psArgs = args.dropFirst().joined(separator: " ")
        let r = try client.request("GET", "/containers/\(id)/top" + DaemonClient.query(psArgs.isEmpty ? [] : [("ps_args", psArgs)])).json
        Out.table([r["Titles"].stringArray ?? []] + (r["Processes"].array ?? []).map { $0.stringArray ?? [] })
        return 0
    }
}

extension Berth {
    func diff(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(args, [])
        guard f.positionals.count == 1 else { throw CLIError("\"diff\" requires exactly 1 argument.") }
        for c in try client.request("GET", "/containers/\(f.positionals[0])/changes").json.array ?? [] {
            let kind = ["C", "A", "D"][Int(c["Kind"].int ?? 0) % 3]
            Out.print("\(kind) \(c["Path"].string ?? "")")
        }
        return 0
    }

    func export(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(args, [FlagSpec("-o", "--output", value: true)])
        guard f.positionals.count == 1 else { throw CLIError("\"export\" requires exactly 1 argument.") }
        var fd: Int32 = 1
        if let out = f.string("output") {
            fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw CLIError("failed to export container: \(SysError("open \(out)"))") }
        } else if isatty(1) != 0 {
            throw CLIError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
        }
        defer { if fd != 1 { close(fd) } }
        try client.stream("GET", "/containers/\(f.positionals[0])/export") { b in (try? FS.writeAll(fd: fd, b)) != nil }
        return 0
    }

    func commit(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(
            args,
            [
                FlagSpec("-a", "--author", value: true), FlagSpec("-m", "--message", value: true),
                FlagSpec("-c", "--change", value: true), FlagSpec("-p", "--pause"),
            ])
        guard (1...2).contains(f.positionals.count) else { throw CLIError("\"commit\" requires at least 1 and at most 2 arguments.") }
        var q: [(String, String)] = [("container", f.positionals[0]), ("pause", f.string("pause") == "false" ? "0" : "1")]
        if f.positionals.count == 2 {
            var repo = f.positionals[1], tag = ""
            if let colon = repo.lastIndex(of: ":"), !repo[colon...].contains("/") {
                tag = String(repo[repo.index(after: colon)...]); repo = String(repo[..<colon])
            }
            q += [("repo", repo), ("tag", tag)]
        }
        if let a = f.string("author") { q.append(("author", a)) }
        if let m = f.string("message") { q.append(("comment", m)) }
        for c in f.list("change") { q.append(("changes", c)) }
        let r = try client.request("POST", "/commit" + DaemonClient.query(q), json: [:])
        Out.print(r.json["Id"].string ?? "")
        return 0
    }
}

extension Berth {
    func update(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(
            args,
            [
                FlagSpec("-c", "--cpu-shares", value: true), FlagSpec("--cpus", value: true),
                FlagSpec("-m", "--memory", value: true), FlagSpec("--memory-swap", value: true),
                FlagSpec("--pids-limit", value: true), FlagSpec("--restart", value: true),
                FlagSpec("--cpu-quota", value: true), FlagSpec("--cpu-period", value: true),
                FlagSpec("--blkio-weight", value: true), FlagSpec("--cpu-rt-period", value: true), FlagSpec("--cpu-rt-runtime", value: true),
                FlagSpec("--cpuset-cpus", value: true), FlagSpec("--cpuset-mems", value: true), FlagSpec("--memory-reservation", value: true),
            ])
        guard !f.positionals.isEmpty else { throw CLIError("\"update\" requires at least 1 argument.") }
        var body: JSON = [:]
        if let m = f.string("memory") {
            guard let v = RunOptions.parseBytes(m) else { throw CLIError("invalid argument \"\(m)\" for \"-m, --memory\" flag: invalid size: '\(m)'") }
            body["Memory"] = .int(v)
        }
        for (flag, key) in [("memory-swap", "MemorySwap"), ("memory-reservation", "MemoryReservation")] {
            guard let s = f.string(flag) else { continue }
            // A size that does not parse was sent as 0 (no limit); refused now, as the docker CLI refuses it.
            guard let v = s == "-1" ? -1 : RunOptions.parseBytes(s) else {
                throw CLIError("invalid argument \"\(s)\" for \"--\(flag)\" flag: invalid size: '\(s)'")
            }
            body[key] = .int(v)
        }
        if let w = try f.int("blkio-weight") { body["BlkioWeight"] = .int(Int64(w)) }
        if let p = try f.int("cpu-rt-period") { body["CPURealtimePeriod"] = .int(Int64(p)) }
        if let r = try f.int("cpu-rt-runtime") { body["CPURealtimeRuntime"] = .int(Int64(r)) }
        if let c = f.string("cpuset-cpus") { body["CpusetCpus"] = .string(c) }
        if let m = f.string("cpuset-mems") { body["CpusetMems"] = .string(m) }
        if let c = f.string("cpus") {
            guard let v = Double(c) else { throw CLIError("invalid argument \"\(c)\" for \"--cpus\" flag") }
            body["NanoCpus"] = .int(Int64((v * 1e9).rounded()))
        }
        if let s = try f.int("cpu-shares") { body["CpuShares"] = .int(Int64(s)) }
        if let q = try f.int("cpu-quota") { body["CpuQuota"] = .int(Int64(q)) }
        if let p = try f.int("cpu-period") { body["CpuPeriod"] = .int(Int64(p)) }
        if let p = try f.int("pids-limit") { body["PidsLimit"] = .int(Int64(p)) }
        if let r = f.string("restart") {
            let parts = r.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            body["RestartPolicy"] = ["Name": .string(parts[0]), "MaximumRetryCount": .int(Int64(parts.count > 1 ? Int(parts[1]) ?? 0 : 0))]
        }
        return eachContainer(f.positionals) { id in
            let r = try client.request("POST", "/containers/\(id)/update", json: body)
            for w in r.json["Warnings"].stringArray ?? [] { Out.err(w) }
            return id
        }
    }
}

extension Berth {
    /// `attach`: the running container's stdio; the detach keys leave it running.
    func attach(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(args, [FlagSpec("--no-stdin"), FlagSpec("--sig-proxy"), FlagSpec("--detach-keys", value: true)])
        guard f.positionals.count == 1 else { throw CLIError("\"attach\" requires exactly 1 argument.") }
        let id = f.positionals[0]
        let info = try client.request("GET", "/containers/\(id)/json").json
        guard info["State"]["Running"].bool == true else { throw CLIError("You cannot attach to a stopped container, start it first") }
        let tty = info["Config"]["Tty"].bool ?? false
        let stdin = !f.bool("no-stdin") && (info["Config"]["OpenStdin"].bool ?? false)
        var q: [(String, String)] = [("stream", "1"), ("stdout", "1"), ("stderr", "1")]
        if stdin { q.append(("stdin", "1")) }
        if let k = f.string("detach-keys") { q.append(("detachKeys", k)) }
        let conn = try client.hijack("/containers/\(id)/attach" + DaemonClient.query(q))
        let terminal = Terminal()
        if tty && stdin { terminal.makeRaw() }
        AttachLoop.run(fd: conn.fd, pending: conn.pending, tty: tty, forwardStdin: stdin)
        terminal.restore()
        var after = try client.request("GET", "/containers/\(id)/json").json
        // The stream ends either because the escape keys were typed or because the process
        // exited; the daemon may record the exit a moment after the stream closes (a busy host),
        // so a container still shown running is asked again for a short while before it counts
        // as a detach.
        for _ in 0..<20 where after["State"]["Running"].bool == true {
            usleep(25_000)
            after = try client.request("GET", "/containers/\(id)/json").json
        }
        if after["State"]["Running"].bool == true {
            // Detached with the escape keys: the docker CLI reports it this way, status 1.
            Out.err("read escape sequence")
            return 1
        }
        return Int32(after["State"]["ExitCode"].int ?? 0)
    }
}
