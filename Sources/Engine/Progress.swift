import JSON

/// Docker's JSON progress messages (`pkg/jsonmessage`): what the docker CLI draws bars from.
public typealias ProgressSink = @Sendable (JSON) async -> Void

enum Progress {
    static func status(_ s: String, id: String? = nil) -> JSON {
        var j: JSON = ["status": .string(s)]
        if let id { j["progressDetail"] = [:]; j["id"] = .string(id) }
        return j
    }

    static func bar(_ s: String, id: String, current: Int64, total: Int64) -> JSON {
        [
            "status": .string(s), "progressDetail": ["current": .int(current), "total": .int(total)],
            "progress": .string(render(current: current, total: total)), "id": .string(id),
        ]
    }

    /// `[=====>      ]  1.2MB/3.4MB`, 50 columns wide like Docker's.
    static func render(current: Int64, total: Int64) -> String {
        guard total > 0 else { return human(current) }
        let width = 50
        let filled = Int(Double(width) * Double(min(current, total)) / Double(total))
        var bar = String(repeating: "=", count: filled)
        if filled < width { bar += ">" + String(repeating: " ", count: width - filled - 1) }
        return "[\(bar)] " + human(current) + "/" + human(total)
    }

    static func human(_ n: Int64) -> String {
        let units = ["B", "kB", "MB", "GB", "TB"]
        var v = Double(n), i = 0
        while v >= 1000 && i < units.count - 1 { v /= 1000; i += 1 }
        if i == 0 { return "\(n)B" }
        let r = (v * 100).rounded() / 100
        var s = String(r)
        if s.hasSuffix(".0") { s.removeLast(2) }
        return s + units[i]
    }
}
