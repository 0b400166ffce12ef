import Client
import Glibc
import GoTemplate
import JSON
import Sys

extension Berth {
    func network(_ args: [String]) throws -> Int32 {
        let sub = args.first ?? ""
        let rest = Array(args.dropFirst())
        switch sub {
        case "create": return try networkCreate(rest)
        case "ls", "list": return try networkList(rest)
        case "inspect": return try networkInspect(rest)
        case "rm", "remove": return try networkRemove(rest)
        case "prune": return try networkPrune(rest)
        case "connect": return try networkConnect(rest)
        case "disconnect": return try networkDisconnect(rest)
        default:
            throw CLIError(
                sub.isEmpty
                    ? "Usage:  berth network COMMAND\n\nCommands: connect, create, disconnect, inspect, ls, prune, rm"
                    : "berth: 'network \(sub)' is not a berth command.")
        }
    }

    func networkCreate(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(
            args,
            [
                FlagSpec("-d", "--driver", value: true), FlagSpec("--subnet", value: true), FlagSpec("--gateway", value: true),
                FlagSpec("--ip-range", value: true), FlagSpec("--internal"), FlagSpec("--label", value: true),
                FlagSpec("-o", "--opt", value: true), FlagSpec("--attachable"), FlagSpec("--ipv6"),
                FlagSpec("--ipam-driver", value: true), FlagSpec("--scope", value: true),
            ])
        guard f.positionals.count == 1 else { throw CLIError("\"network create\" requires exactly 1 argument.") }
        var cfg: JSON = [:]
        if let s = f.string("subnet") { cfg["Subnet"] = .string(s) }
        if let g = f.string("gateway") { cfg["Gateway"] = .string(g) }
        if let r = f.string("ip-range") { cfg["IPRange"] = .string(r) }
        if cfg["Subnet"].isNull && !cfg.isNull && !(cfg.object?.isEmpty ?? true) {
            throw CLIError("no matching subnet for " + (f.string("ip-range") != nil ? "range \(f.string("ip-range")!)" : "gateway \(f.string("gateway")!)"))
        }
        let body: JSON = [
            "Name": .string(f.positionals[0]), "CheckDuplicate": true, "Driver": .string(f.string("driver") ?? "bridge"),
            "Internal": .bool(f.bool("internal")), "Attachable": .bool(f.bool("attachable")), "EnableIPv6": .bool(f.bool("ipv6")),
            "IPAM": ["Driver": .string(f.string("ipam-driver") ?? "default"), "Config": (cfg.object?.isEmpty ?? true) ? [] : [cfg], "Options": [:]],
            "Options": Berth.keyValues(f.list("opt")), "Labels": Berth.keyValues(f.list("label")),
        ]
        var sent = body
        // Sent as the docker CLI sends it (it was dropped), so the daemon refuses `swarm`/`global`.
        if let scope = f.string("scope") { sent["Scope"] = .string(scope) }
        Out.print(try client.request("POST", "/networks/create", json: sent).json["Id"].string ?? "")
        return 0
    }

    static let networkFormat = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
    static let networkHeader: JSON = [
        "ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE", "IPv6": "IPV6",
        "Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED AT",
    ]

    func networkList(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(
            args,
            [
                FlagSpec("-q", "--quiet"), FlagSpec("-f", "--filter", value: true), FlagSpec("--format", value: true),
                FlagSpec("--no-trunc"),
            ])
        var q: [(String, String)] = []
        if let j = try filterJSON(f.list("filter")) { q.append(("filters", j)) }
        let list = (try client.request("GET", "/networks" + DaemonClient.query(q)).json.array ?? [])
            .sorted { Berth.naturalLess($0["Name"].string ?? "", $1["Name"].string ?? "") }
        let trunc = !f.bool("no-trunc")
        if f.bool("quiet") { for n in list { let id = n["Id"].string ?? ""; Out.print(trunc ? String(id.prefix(12)) : id) }; return 0 }
        let rows = list.map { n -> FormatRow in
            let labels = n["Labels"].stringMap ?? [:]
            let id = n["Id"].string ?? ""
            let created = Timestamp.parse(n["Created"].string ?? "") ?? .zero
            let row = Rows.sorted([
                ("ID", .string(trunc ? String(id.prefix(12)) : id)), ("Name", n["Name"]), ("Driver", n["Driver"]), ("Scope", n["Scope"]),
                ("IPv6", .string((n["EnableIPv6"].bool ?? false) ? "true" : "false")),
                ("Internal", .string((n["Internal"].bool ?? false) ? "true" : "false")),
                ("Labels", .string(labels.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: ","))),
                ("CreatedAt", .string(Timestamp(nanos: created.seconds * 1_000_000_000).goString)),
            ])
            return FormatRow(row, methods: ["Label": { args throws(TemplateError) in .string(labels[args.first?.string ?? ""] ?? "") }])
        }
        let format = f.string("format").map { $0 == "table" ? Berth.networkFormat : $0 } ?? Berth.networkFormat
        try Formatter(format: format, header: Berth.networkHeader).print(rows)
        return 0
    }

    /// sortorder.NaturalLess: digit runs compare as numbers.
    static func naturalLess(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var i = 0, j = 0
        func digit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }
        while i < x.count && j < y.count {
            if digit(x[i]) && digit(y[j]) {
                var ei = i, ej = j
                while ei < x.count && digit(x[ei]) { ei += 1 }
                while ej < y.count && digit(y[ej]) { ej += 1 }
                let nx = String(decoding: x[i..<ei], as: UTF8.self).drop { $0 == "0" }, ny = String(decoding: y[j..<ej], as: UTF8.self).drop { $0 == "0" }
                if nx.count != ny.count { return nx.count < ny.count }
                if nx != ny { return nx < ny }
                i = ei; j = ej
            } else {
                if x[i] != y[j] { return x[i] < y[j] }
                i += 1; j += 1
            }
        }
        return x.count - i < y.count - j
    }

    func networkInspect(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(args, [FlagSpec("-f", "--format", value: true), FlagSpec("-v", "--verbose")])
        guard !f.positionals.isEmpty else { throw CLIError("\"network inspect\" requires at least 1 argument.") }
        // `--verbose` adds a swarm network's services and tasks; a local network has none to add.
        return try inspectObjects(f.positionals, kind: "network", path: "/networks/", format: f.string("format"))
    }

    func networkRemove(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(args, [FlagSpec("-f", "--force")])
        guard !f.positionals.isEmpty else { throw CLIError("\"network rm\" requires at least 1 argument.") }
        return removeObjects(f.positionals, path: "/networks/", ignoreMissing: f.bool("force"))
    }

    func networkPrune(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(args, [FlagSpec("-f", "--force"), FlagSpec("--filter", value: true)])
        if !f.bool("force") {
            Out.raw(
                1, Array("WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] ".utf8))
            var b = [UInt8](repeating: 0, count: 16)
            guard read(0, &b, 16) > 0, b[0] == UInt8(ascii: "y") || b[0] == UInt8(ascii: "Y") else { return 0 }
        }
        var q: [(String, String)] = []
        if let j = try filterJSON(f.list("filter")) { q.append(("filters", j)) }
        let r = try client.request("POST", "/networks/prune" + DaemonClient.query(q)).json
        if let d = r["NetworksDeleted"].stringArray, !d.isEmpty { Out.print("Deleted Networks:\n" + d.joined(separator: "\n")) }
        return 0
    }

    func networkConnect(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(
            args,
            [
                FlagSpec("--alias", value: true), FlagSpec("--ip", value: true), FlagSpec("--ip6", value: true),
                FlagSpec("--link", value: true), FlagSpec("--driver-opt", value: true),
            ])
        guard f.positionals.count == 2 else { throw CLIError("\"network connect\" requires exactly 2 arguments.") }
        var ep: JSON = [:]
        if !f.list("alias").isEmpty { ep["Aliases"] = JSON.strings(f.list("alias")) }
        // --ip6, --link and --driver-opt were parsed and dropped.
        var ipam: JSON = [:]
        if let ip = f.string("ip") { ipam["IPv4Address"] = .string(ip) }
        if let ip6 = f.string("ip6") { ipam["IPv6Address"] = .string(ip6) }
        if !(ipam.object?.isEmpty ?? true) { ep["IPAMConfig"] = ipam }
        if !f.list("link").isEmpty { ep["Links"] = JSON.strings(f.list("link")) }
        if !f.list("driver-opt").isEmpty { ep["DriverOpts"] = Berth.keyValues(f.list("driver-opt")) }
        _ = try client.request("POST", "/networks/\(f.positionals[0])/connect", json: ["Container": .string(f.positionals[1]), "EndpointConfig": ep])
        return 0
    }

    func networkDisconnect(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(args, [FlagSpec("-f", "--force")])
        guard f.positionals.count == 2 else { throw CLIError("\"network disconnect\" requires exactly 2 arguments.") }
        _ = try client.request(
            "POST", "/networks/\(f.positionals[0])/disconnect",
            json: ["Container": .string(f.positionals[1]), "Force": .bool(f.bool("force"))])
        return 0
    }

    /// `port CONTAINER [PRIVATE_PORT[/PROTO]]`
    func port(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(args, [])
        guard !f.positionals.isEmpty, f.positionals.count <= 2 else { throw CLIError("\"port\" requires at least 1 and at most 2 arguments.") }
        let c = try client.request("GET", "/containers/\(f.positionals[0])/json").json
        let ports = c["NetworkSettings"]["Ports"].object ?? JSONObject()
        func host(_ b: JSON) -> String {
            let ip = b["HostIp"].string ?? "", port = b["HostPort"].string ?? ""
            return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
        }
        if f.positionals.count == 2 {
            var key = f.positionals[1]
            if !key.contains("/") { key += "/tcp" }
            guard let list = ports[key]?.array, !list.isEmpty else {
                throw CLIError("Error: No public port '\(key)' published for \(f.positionals[0])")
            }
            for b in list { Out.print(host(b)) }
            return 0
        }
        var out: [String] = []
        for (k, v) in ports { for b in v.array ?? [] { out.append("\(k) -> \(host(b))") } }
        for line in out.sorted(by: Berth.naturalLess) { Out.print(line) }
        return 0
    }
}
