import Client
import Glibc
import JSON
import Sys

extension Berth {
    /// `stats`: Docker's table; `--no-stream` prints once, otherwise redraws each second.
    func stats(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(args, [FlagSpec("-a", "--all"), FlagSpec("--no-stream"), FlagSpec("--no-trunc"), FlagSpec("--format", value: true)])
        var names = f.positionals
        if names.isEmpty {
            let list = try client.request("GET", "/containers/json" + (f.bool("all") ? "?all=1" : "")).json.array ?? []
            names = list.compactMap { $0["Id"].string }
        }
        var previous: [String: JSON] = [:]
        let format = f.string("format").map { $0 == "table" ? Rows.statsFormat : $0 } ?? Rows.statsFormat
        let formatter = Formatter(format: format, header: Rows.statsHeader)
        while true {
            var rows: [JSON] = []
            for n in names {
                let s: JSON
                if let prev = previous[n] {
                    var cur = try client.request("GET", "/containers/\(n)/stats?stream=0&one-shot=1").json
                    cur["precpu_stats"] = prev["cpu_stats"]
                    s = cur
                } else {
                    s = try client.request("GET", "/containers/\(n)/stats?stream=0").json
                }
                previous[n] = s
                rows.append(StatsRow(s).row(container: n, trunc: !f.bool("no-trunc")))
            }
            let text = try formatter.render(rows)
            if f.bool("no-stream") { Out.raw(1, Array(text.utf8)); return 0 }
            if isatty(1) != 0 { Out.raw(1, Array("\u{1B}[2J\u{1B}[H".utf8)) }
            Out.raw(1, Array(text.utf8))
            sleep(1)
        }
    }
}

/// One `stats` line, computed as the docker CLI does.
struct StatsRow {
    let s: JSON
    init(_ s: JSON) { self.s = s }

    var cpuPercent: Double {
        let cpuDelta = Double((s["cpu_stats"]["cpu_usage"]["total_usage"].int ?? 0) - (s["precpu_stats"]["cpu_usage"]["total_usage"].int ?? 0))
        let sysDelta = Double((s["cpu_stats"]["system_cpu_usage"].int ?? 0) - (s["precpu_stats"]["system_cpu_usage"].int ?? 0))
        let cpus = Double(s["cpu_stats"]["online_cpus"].int ?? 1)
        return sysDelta > 0 && cpuDelta > 0 ? cpuDelta / sysDelta * cpus * 100 : 0
    }

    /// Usage minus the page cache Docker leaves out (inactive_file).
    var memUsage: Int64 {
        let m = s["memory_stats"]
        let cache = m["stats"]["total_inactive_file"].int ?? m["stats"]["inactive_file"].int ?? 0
        let u = m["usage"].int ?? 0
        return cache < u ? u - cache : u
    }

    /// The CLI's statsContext fields.
    func row(container: String, trunc: Bool) -> JSON {
        let id = s["id"].string ?? ""
        let limit = s["memory_stats"]["limit"].int ?? 0
        var rx: Int64 = 0, tx: Int64 = 0
        for (_, n) in s["networks"].object ?? JSONObject() { rx += n["rx_bytes"].int ?? 0; tx += n["tx_bytes"].int ?? 0 }
        var rd: Int64 = 0, wr: Int64 = 0
        for e in s["blkio_stats"]["io_service_bytes_recursive"].array ?? [] {
            if e["op"].string?.lowercased() == "read" { rd += e["value"].int ?? 0 }
            if e["op"].string?.lowercased() == "write" { wr += e["value"].int ?? 0 }
        }
        var name = s["name"].string ?? ""
        if name.hasPrefix("/") { name.removeFirst() }
        return Rows.sorted([
            ("Container", .string(container)), ("Name", .string(name.isEmpty ? "--" : name)),
            ("ID", .string(trunc ? Rows.truncateID(id) : id)), ("CPUPerc", .string(Out.fixed(cpuPercent, 2) + "%")),
            ("MemUsage", .string(StatsRow.binary(memUsage) + " / " + StatsRow.binary(limit))),
            ("MemPerc", .string(Out.fixed(limit > 0 ? Double(memUsage) / Double(limit) * 100 : 0, 2) + "%")),
            ("NetIO", .string(Out.humanSize(rx) + " / " + Out.humanSize(tx))),
            ("BlockIO", .string(Out.humanSize(rd) + " / " + Out.humanSize(wr))),
            ("PIDs", .string(String(s["pids_stats"]["current"].int ?? 0))),
        ])
    }

    /// go-units BytesSize: binary units, 3 significant digits.
    static func binary(_ n: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(n), i = 0
        while v >= 1024 && i < units.count - 1 { v /= 1024; i += 1 }
        return Out.formatG3(v) + units[i]
    }
}
