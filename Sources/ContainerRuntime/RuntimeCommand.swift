import CRuntime
import Glibc
import JSON
import Sys

/// berth-runtime's command line: runc's commands and flags, so Berth and anything else that
/// drives runc can drive it. Errors are printed as runc prints them (logrus text on stderr, or
/// JSON lines in --log with the plain message on stderr) and exit 1.
public struct RuntimeCommand {
    public var root = "/run/berth-runtime"
    public var logPath: String? = nil
    public var logJSON = false
    var args: [String]

    public init(arguments: [String]) { args = arguments }

    public static let usage = """
        usage: berth-runtime [--root DIR] [--log FILE] [--log-format text|json] COMMAND [OPTIONS] ID
        commands: create start state kill delete run exec list pause resume ps update events spec features
        """

    public mutating func main() -> Int32 {
        do throws(RuntimeFailure) {
            return try dispatch()
        } catch {
            report(error.message)
            return 1
        }
    }

    func report(_ message: String) {
        let now = Timestamp.now().rfc3339Nano
        if let log = logPath {
            let line: String
            if logJSON {
                line = (["level": "error", "msg": .string(message), "time": .string(now)] as JSON).serialized() + "\n"
            } else {
                line = "time=\"\(now)\" level=error msg=\"\(escape(message))\"\n"
            }
            let fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            if fd >= 0 { try? FS.writeAll(fd: fd, Array(line.utf8)); close(fd) }
            try? FS.writeAll(fd: 2, Array((message + "\n").utf8))
        } else {
            try? FS.writeAll(fd: 2, Array("time=\"\(now)\" level=error msg=\"\(escape(message))\"\n".utf8))
        }
    }

    func escape(_ s: String) -> String { s.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"") }

    mutating func dispatch() throws(RuntimeFailure) -> Int32 {
        var rest = args[...]
        // Global options before the command.
        while let a = rest.first, a.hasPrefix("-") {
            rest = rest.dropFirst()
            let (name, inline) = split(a)
            func value() throws(RuntimeFailure) -> String {
                if let v = inline { return v }
                guard let v = rest.first else { throw RuntimeFailure("flag needs an argument: \(name)") }
                rest = rest.dropFirst()
                return v
            }
            switch name {
            case "--root": root = try value()
            case "--log": logPath = try value()
            case "--log-format": logJSON = try value() == "json"
            case "--debug": continue
            case "--systemd-cgroup":
                if inline == nil || inline == "true" { throw RuntimeFailure("--systemd-cgroup is not supported by berth-runtime (cgroupfs only)") }
            case "--rootless": _ = try value()
            case "--criu": _ = try value()
            case "-v", "--version":
                print("berth-runtime version 1.0.0\nspec: \(ContainerRuntimeEngine.ociVersion)")
                return 0
            case "-h", "--help":
                print(Self.usage)
                return 0
            default: throw RuntimeFailure("flag provided but not defined: \(name)")
            }
        }
        guard let command = rest.first else {
            print(Self.usage)
            return 0
        }
        let engine = ContainerRuntimeEngine(root: root)
        var p = Flags(Array(rest.dropFirst()), valueFlags: Self.valueFlags[command] ?? [])
        switch command {
        case "create":
            var o = try createOptions(&p)
            o.id = try p.id()
            _ = try engine.create(o)
        case "start":
            try engine.start(try p.id())
        case "run":
            let detach = p.bool("-d", "--detach")
            var o = try createOptions(&p)
            o.id = try p.id()
            return try Runner(engine: engine).run(o, detach: detach)
        case "state":
            let id = try p.id()
            let s = try engine.store.load(id)
            print(engine.store.stateJSON(s, ociVersion: ContainerRuntimeEngine.ociVersion).pretty(indent: "  "))
        case "kill":
            let all = p.bool("-a", "--all")
            let id = try p.id()
            let sig = try Signals.parse(p.positional.first ?? "SIGTERM")
            try engine.kill(id, signal: sig, all: all)
        case "delete":
            let force = p.bool("-f", "--force")
            for id in try p.ids() { try engine.delete(id, force: force) }
        case "list", "ls":
            let quiet = p.bool("-q", "--quiet")
            let format = try p.value("-f", "--format") ?? "table"
            try list(engine, quiet: quiet, json: format == "json")
        case "pause":
            try engine.pause(try p.id(), true)
        case "resume":
            try engine.pause(try p.id(), false)
        case "ps":
            let format = try p.value("-f", "--format") ?? "table"
            let id = try p.id()
            let pids = try engine.pids(id)
            if format == "json" {
                print(JSON.array(pids.map { .int(Int64($0)) }).serialized())
            } else {
                try psTable(pids, options: p.positional)
            }
        case "update":
            let id: String
            let resources = try UpdateFlags.resources(&p)
            id = try p.id()
            try engine.update(id, resources: resources)
        case "events":
            let stats = p.bool("--stats")
            let interval = try p.value("--interval").flatMap { UpdateFlags.seconds($0) } ?? 5
            let id = try p.id()
            repeat {
                let data = try engine.stats(id)
                print((["type": "stats", "id": .string(id), "data": data] as JSON).serialized())
                if stats { break }
                sleep(UInt32(max(1, interval)))
            } while true
        case "exec":
            return try ExecCommand(engine: engine).run(&p)
        case "spec":
            let bundle = try p.value("-b", "--bundle") ?? "."
            let path = bundle + "/config.json"
            if FS.exists(path) { throw RuntimeFailure("File \(path) exists. Remove it first") }
            do { try FS.writeAtomic(path, DefaultSpec.json.pretty(indent: "\t"), mode: 0o666) } catch { throw RuntimeFailure("\(error)") }
        case "features":
            print(Features.json.pretty(indent: "    "))
        default:
            throw RuntimeFailure("No help topic for '\(command)'")
        }
        return 0
    }

    /// Each command's flags that take a value: the flags end at the first argument that is not
    /// one of them or a flag (urfave/cli's rule), so `exec ID sh -c …` keeps its `-c`.
    static let valueFlags: [String: Set<String>] = [
        "create": ["-b", "--bundle", "--pid-file", "--console-socket", "--preserve-fds"],
        "run": ["-b", "--bundle", "--pid-file", "--console-socket", "--preserve-fds"],
        "list": ["-f", "--format"], "ls": ["-f", "--format"], "ps": ["-f", "--format"],
        "events": ["--interval"], "spec": ["-b", "--bundle"],
        "exec": [
            "-p", "--process", "--console-socket", "--pid-file", "--cwd", "-e", "--env", "-u", "--user", "-c", "--cap", "-g", "--additional-gids",
            "--preserve-fds", "--apparmor", "--process-label", "--cgroup",
        ],
        "update": [
            "-r", "--resources", "--memory", "--memory-reservation", "--memory-swap", "--kernel-memory", "--kernel-memory-tcp", "--cpu-share",
            "--cpu-quota", "--cpu-period", "--cpu-rt-period", "--cpu-rt-runtime", "--cpuset-cpus", "--cpuset-mems", "--blkio-weight", "--pids-limit",
            "--l3-cache-schema", "--mem-bw-schema",
        ],
    ]

    func createOptions(_ p: inout Flags) throws(RuntimeFailure) -> CreateOptions {
        var o = CreateOptions(id: "", bundle: try p.value("-b", "--bundle") ?? ".")
        o.pidFile = try p.value("--pid-file")
        o.consoleSocket = try p.value("--console-socket")
        if let n = try p.value("--preserve-fds") {
            guard let v = Int(n), v >= 0, v < 65536 else { throw RuntimeFailure("invalid --preserve-fds \(n)") }
            o.preserveFds = v
        }
        o.noPivot = p.bool("--no-pivot")
        _ = p.bool("--no-new-keyring")
        _ = p.bool("--keep")
        _ = p.bool("--no-subreaper")
        return o
    }

    func list(_ engine: ContainerRuntimeEngine, quiet: Bool, json: Bool) throws(RuntimeFailure) {
        var rows: [JSON] = []
        for id in engine.store.ids() {
            guard let s = try? engine.store.load(id) else { continue }
            rows.append(engine.store.stateJSON(s, ociVersion: ContainerRuntimeEngine.ociVersion))
        }
        if quiet {
            for r in rows { print(r["id"].string ?? "") }
        } else if json {
            print(JSON.array(rows).serialized())
        } else {
            print("ID          PID         STATUS      BUNDLE      CREATED     OWNER")
            for r in rows {
                print(
                    "\(r["id"].string ?? "")    \(r["pid"].int ?? 0)    \(r["status"].string ?? "")    \(r["bundle"].string ?? "")    \(r["created"].string ?? "")    root"
                )
            }
        }
    }

    /// `ps` without --format json: the host's ps, filtered to the container's processes.
    func psTable(_ pids: [Int32], options: [String]) throws(RuntimeFailure) {
        let out: Proc.Output
        do { out = try Proc.run(["ps"] + (options.isEmpty ? ["-ef"] : options)) } catch { throw RuntimeFailure("ps: \(error)") }
        let lines = out.stdoutText.split(separator: "\n")
        guard let header = lines.first else { return }
        let cols = header.split(separator: " ")
        guard let pidIndex = cols.firstIndex(of: "PID") else { throw RuntimeFailure("couldn't find PID field in ps output") }
        print(header)
        let set = Set(pids)
        for l in lines.dropFirst() {
            let f = l.split(separator: " ")
            if f.count > pidIndex, let p = Int32(f[pidIndex]), set.contains(p) { print(l) }
        }
    }

    func split(_ a: String) -> (String, String?) {
        guard let eq = a.firstIndex(of: "=") else { return (a, nil) }
        return (String(a[..<eq]), String(a[a.index(after: eq)...]))
    }
}

/// A command's flags and positional arguments (Go's flag rules as urfave/cli applies them:
/// flags first, `--` ends them; `--flag=value` or `--flag value`).
struct Flags {
    /// The flags (and their values), up to the first positional argument.
    var items: [String]
    /// From the first positional argument on (the container id, then the command's words).
    var rest: [String]
    var positional: [String] = []
    init(_ all: [String], valueFlags: Set<String> = []) {
        var i = 0
        while i < all.count {
            let a = all[i]
            if a == "--" || !a.hasPrefix("-") || a == "-" { break }
            i += (valueFlags.contains(a) && !a.contains("=")) ? 2 : 1
        }
        items = Array(all[..<min(i, all.count)])
        rest = Array(all[min(i, all.count)...])
    }

    mutating func bool(_ names: String...) -> Bool {
        var found = false
        items.removeAll { a in
            let n = a.split(separator: "=", maxSplits: 1).first.map(String.init) ?? a
            if names.contains(n) { found = a.hasSuffix("=false") ? found : true; return true }
            return false
        }
        return found
    }

    mutating func value(_ names: String...) throws(RuntimeFailure) -> String? {
        var result: String? = nil
        var i = 0
        while i < items.count {
            let a = items[i]
            if a == "--" { break }
            if let eq = a.firstIndex(of: "="), names.contains(String(a[..<eq])) {
                result = String(a[a.index(after: eq)...])
                items.remove(at: i)
                continue
            }
            if names.contains(a) {
                guard i + 1 < items.count else { throw RuntimeFailure("flag needs an argument: \(a)") }
                result = items[i + 1]
                items.removeSubrange(i...(i + 1))
                continue
            }
            i += 1
        }
        return result
    }

    mutating func values(_ names: String...) throws(RuntimeFailure) -> [String] {
        var out: [String] = []
        var i = 0
        while i < items.count {
            let a = items[i]
            if a == "--" { break }
            if let eq = a.firstIndex(of: "="), names.contains(String(a[..<eq])) {
                out.append(String(a[a.index(after: eq)...])); items.remove(at: i); continue
            }
            if names.contains(a), i + 1 < items.count {
                out.append(items[i + 1]); items.removeSubrange(i...(i + 1)); continue
            }
            i += 1
        }
        return out
    }

    /// The container id: the first positional argument; an unknown flag before it is an error.
    mutating func id() throws(RuntimeFailure) -> String {
        if let a = items.first { throw RuntimeFailure("flag provided but not defined: \(a)") }
        var words = rest[...]
        if words.first == "--" { words = words.dropFirst() }
        guard let id = words.first else { throw RuntimeFailure("requires at least 1 argument(s), received 0: container id cannot be empty") }
        positional = Array(words.dropFirst())
        rest = []
        return id
    }

    mutating func ids() throws(RuntimeFailure) -> [String] {
        let first = try id()
        return [first] + positional
    }
}

enum Signals {
    static let names: [String: Int32] = [
        "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7, "FPE": 8, "KILL": 9, "USR1": 10, "SEGV": 11,
        "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15, "STKFLT": 16, "CHLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21,
        "TTOU": 22, "URG": 23, "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29, "POLL": 29, "PWR": 30, "SYS": 31,
    ]
    static func parse(_ s: String) throws(RuntimeFailure) -> Int32 {
        if let n = Int32(s) {
            guard n > 0 && n < 65 else { throw RuntimeFailure("unknown signal \"\(s)\"") }
            return n
        }
        var name = s.uppercased()
        if name.hasPrefix("SIG") { name = String(name.dropFirst(3)) }
        if name.hasPrefix("RTMIN+"), let k = Int32(name.dropFirst(6)), k >= 0, k <= 30 { return 34 + k }
        guard let n = names[name] else { throw RuntimeFailure("unknown signal \"\(s)\"") }
        return n
    }
}

/// `update`'s flags as a `linux.resources` object.
enum UpdateFlags {
    static func resources(_ p: inout Flags) throws(RuntimeFailure) -> JSON {
        var r: JSON = [:]
        if let file = try p.value("-r", "--resources") {
            let bytes: [UInt8]
            do { bytes = file == "-" ? try FS.readAll(fd: 0) : try FS.read(file) } catch { throw RuntimeFailure("\(error)") }
            do { r = try JSON.parse(bytes) } catch { throw RuntimeFailure("decoding the resources: \(error)") }
            guard r.object != nil else { throw RuntimeFailure("resources must be a JSON object") }
        }
        func set(_ group: String, _ key: String, _ flag: String, bytes: Bool = false) throws(RuntimeFailure) {
            guard let v = try p.value(flag) else { return }
            let n: Int64?
            if group == "cpu" && (key == "cpus" || key == "mems") {
                var g = r[group]
                g[key] = .string(v)
                r[group] = g
                return
            }
            n = bytes ? parseBytes(v) : Int64(v)
            guard let value = n else { throw RuntimeFailure("invalid value for \(flag): \(v)") }
            var g = r[group]
            if g.isNull { g = [:] }
            g[key] = .int(value)
            r[group] = g
        }
        try set("memory", "limit", "--memory", bytes: true)
        try set("memory", "reservation", "--memory-reservation", bytes: true)
        try set("memory", "swap", "--memory-swap", bytes: true)
        try set("memory", "kernel", "--kernel-memory", bytes: true)
        try set("cpu", "shares", "--cpu-share")
        try set("cpu", "quota", "--cpu-quota")
        try set("cpu", "period", "--cpu-period")
        try set("cpu", "realtimePeriod", "--cpu-rt-period")
        try set("cpu", "realtimeRuntime", "--cpu-rt-runtime")
        try set("cpu", "cpus", "--cpuset-cpus")
        try set("cpu", "mems", "--cpuset-mems")
        try set("blockIO", "weight", "--blkio-weight")
        try set("pids", "limit", "--pids-limit")
        return r
    }

    static func parseBytes(_ s: String) -> Int64? {
        if let n = Int64(s) { return n }
        let lower = s.lowercased()
        let units: [(String, Int64)] = [("kb", 1 << 10), ("k", 1 << 10), ("mb", 1 << 20), ("m", 1 << 20), ("gb", 1 << 30), ("g", 1 << 30), ("b", 1)]
        for (u, mult) in units where lower.hasSuffix(u) {
            guard let n = Int64(lower.dropLast(u.count)) else { return nil }
            let (v, o) = n.multipliedReportingOverflow(by: mult)
            return o ? nil : v
        }
        return nil
    }

    static func seconds(_ s: String) -> Int? {
        if let n = Int(s) { return n }
        if s.hasSuffix("ms") { return 1 }
        if s.hasSuffix("s"), let n = Int(s.dropLast()) { return n }
        if s.hasSuffix("m"), let n = Int(s.dropLast()) { return n * 60 }
        return nil
    }
}
