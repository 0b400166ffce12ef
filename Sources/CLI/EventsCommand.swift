import Client
import JSON
import Sys

extension Berth {
    /// `events`: Docker's line format (`<time> <type> <action> <id> (k=v, ...)`) or `--format`.
    func events(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(
            args,
            [
                FlagSpec("--since", value: true), FlagSpec("--until", value: true),
                FlagSpec("-f", "--filter", value: true), FlagSpec("--format", value: true),
            ])
        var q: [(String, String)] = []
        if let s = f.string("since") { q.append(("since", try TimeArg.parse(s))) }
        if let u = f.string("until") { q.append(("until", try TimeArg.parse(u))) }
        if let j = try filterJSON(f.list("filter")) { q.append(("filters", j)) }
        var split = JSONStreamSplitter()
        var failure: CLIError? = nil
        try client.stream("GET", "/events" + DaemonClient.query(q)) { bytes in
            for e in split.feed(bytes) {
                if let format = f.string("format") {
                    do { Out.raw(1, Array(try Formatter(format: format, aliases: Rows.eventAliases).render([e]).utf8)) } catch {
                        failure = error as? CLIError; return false
                    }
                    continue
                }
                let nanos = e["timeNano"].int ?? 0
                let attrs = (e["Actor"]["Attributes"].object ?? JSONObject()).keys.sorted().map { "\($0)=\(e["Actor"]["Attributes"][$0].string ?? "")" }
                var line = "\(Timestamp(nanos: nanos).rfc3339Nano) \(e["Type"].string ?? "") \(e["Action"].string ?? "") \(e["Actor"]["ID"].string ?? "")"
                if !attrs.isEmpty { line += " (" + attrs.joined(separator: ", ") + ")" }
                Out.print(line)
            }
            return true
        }
        if let failure { throw failure }
        return 0
    }
}
