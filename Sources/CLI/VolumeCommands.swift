import Client
import Glibc
import GoTemplate
import JSON
import Sys

extension Berth {
    func volume(_ args: [String]) throws -> Int32 {
        let sub = args.first ?? ""
        let rest = Array(args.dropFirst())
        switch sub {
        case "create": return try volumeCreate(rest)
        case "ls", "list": return try volumeList(rest)
        case "inspect": return try volumeInspect(rest)
        case "rm", "remove": return try volumeRemove(rest)
        case "prune": return try volumePrune(rest)
        default:
            throw CLIError(
                sub.isEmpty ? "Usage:  berth volume COMMAND\n\nCommands: create, inspect, ls, prune, rm" : "berth: 'volume \(sub)' is not a berth command.")
        }
    }

    static func keyValues(_ list: [String]) -> JSON {
        var o = JSONObject()
        for l in list {
            let kv = l.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            o[kv[0]] = .string(kv.count > 1 ? kv[1] : "")
        }
        return .object(o)
    }

    func volumeCreate(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(
            args,
            [
                FlagSpec("-d", "--driver", value: true), FlagSpec("--label", value: true),
                FlagSpec("-o", "--opt", value: true), FlagSpec("--name", value: true),
            ])
        guard f.positionals.count <= 1 else { throw CLIError("\"volume create\" requires at most 1 argument.") }
        let name = f.positionals.first ?? f.string("name") ?? ""
        let body: JSON = [
            "Name": .string(name), "Driver": .string(f.string("driver") ?? "local"),
            "DriverOpts": Berth.keyValues(f.list("opt")), "Labels": Berth.keyValues(f.list("label")),
        ]
        let v = try client.request("POST", "/volumes/create", json: body).json
        Out.print(v["Name"].string ?? "")
        return 0
    }

    static let volumeFormat = "table {{.Driver}}\t{{.Name}}"
    static let volumeHeader: JSON = [
        "Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE", "Mountpoint": "MOUNTPOINT",
        "Labels": "LABELS", "Links": "LINKS", "Size": "SIZE", "Group": "GROUP", "Availability": "AVAILABILITY",
        "Status": "STATUS",
    ]

    func volumeList(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(
            args,
            [
                FlagSpec("-q", "--quiet"), FlagSpec("-f", "--filter", value: true), FlagSpec("--format", value: true),
                FlagSpec("--cluster"),
            ])
        var q: [(String, String)] = []
        if let j = try filterJSON(f.list("filter")) { q.append(("filters", j)) }
        let list = (try client.request("GET", "/volumes" + DaemonClient.query(q)).json["Volumes"].array ?? [])
            .sorted { ($0["Name"].string ?? "") < ($1["Name"].string ?? "") }
        if f.bool("quiet") { for v in list { Out.print(v["Name"].string ?? "") }; return 0 }
        let rows = list.map { v -> FormatRow in
            let labels = v["Labels"].stringMap ?? [:]
            let row = Rows.sorted([
                ("Name", v["Name"]), ("Driver", v["Driver"]), ("Scope", v["Scope"]), ("Mountpoint", v["Mountpoint"]),
                ("Labels", .string(labels.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: ","))),
                ("Links", .string("N/A")), ("Size", .string("N/A")), ("Group", ""), ("Availability", ""), ("Status", ""),
            ])
            return FormatRow(row, methods: ["Label": { args throws(TemplateError) in .string(labels[args.first?.string ?? ""] ?? "") }])
        }
        let format = f.string("format").map { $0 == "table" ? Berth.volumeFormat : $0 } ?? Berth.volumeFormat
        try Formatter(format: format, header: Berth.volumeHeader).print(rows)
        return 0
    }

    func volumeInspect(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(args, [FlagSpec("-f", "--format", value: true)])
        guard !f.positionals.isEmpty else { throw CLIError("\"volume inspect\" requires at least 1 argument.") }
        return try inspectObjects(f.positionals, kind: "volume", path: "/volumes/", format: f.string("format"))
    }

    /// `volume/network inspect`: each object's JSON, an error line for those that do not exist.
    func inspectObjects(_ names: [String], kind: String, path: String, format: String?) throws -> Int32 {
        var items: [JSON] = []
        var failed = false
        for n in names {
            do { items.append(try client.request("GET", path + n).json) } catch {
                Out.err("Error: No such \(kind): \(n)"); failed = true
            }
        }
        if let format { Out.raw(1, Array(try Formatter.inspect(format, items).utf8)) } else { Out.print(JSON.array(items).pretty(indent: "    ")) }
        return failed ? 1 : 0
    }

    /// `volume/network rm`: each name printed when removed, Docker's error line otherwise.
    func removeObjects(_ names: [String], path: String, query: String = "", ignoreMissing: Bool = false) -> Int32 {
        var failed = false
        for n in names {
            do { _ = try client.request("DELETE", path + n + query); Out.print(n) } catch {
                if ignoreMissing && error.message.contains("not found") { continue }
                Out.err("Error response from daemon: \(error.message)"); failed = true
            }
        }
        return failed ? 1 : 0
    }

    func volumeRemove(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(args, [FlagSpec("-f", "--force")])
        guard !f.positionals.isEmpty else { throw CLIError("\"volume rm\" requires at least 1 argument.") }
        return removeObjects(f.positionals, path: "/volumes/", query: f.bool("force") ? "?force=1" : "")
    }

    func volumePrune(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(args, [FlagSpec("-f", "--force"), FlagSpec("--filter", value: true), FlagSpec("-a", "--all")])
        if !f.bool("force") {
            let which = f.bool("all") ? "all" : "anonymous"
            Out.raw(
                1, Array("WARNING! This will remove \(which) local volumes not used by at least one container.\nAre you sure you want to continue? [y/N] ".utf8)
            )
            var b = [UInt8](repeating: 0, count: 16)
            guard read(0, &b, 16) > 0, b[0] == UInt8(ascii: "y") || b[0] == UInt8(ascii: "Y") else { return 0 }
        }
        var q: [(String, String)] = []
        // API 1.42+: named volumes go only with -a (the `all` filter), as with the docker CLI.
        if let j = try filterJSON(f.list("filter") + (f.bool("all") ? ["all=true"] : [])) { q.append(("filters", j)) }
        let r = try client.request("POST", "/volumes/prune" + DaemonClient.query(q)).json
        let deleted = r["VolumesDeleted"].stringArray ?? []
        if !deleted.isEmpty { Out.print("Deleted Volumes:\n" + deleted.joined(separator: "\n") + "\n") }
        Out.print("Total reclaimed space: \(Out.humanSize(r["SpaceReclaimed"].int ?? 0))")
        return 0
    }
}
