import JSON

/// `import -c` / `commit -c`: the Dockerfile instructions Docker allows there, applied to a
/// container config (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, USER, VOLUME, WORKDIR, STOPSIGNAL).
public enum ConfigChanges {
    public struct Invalid: Error, CustomStringConvertible { public let description: String }

    public static func apply(_ changes: [String], to base: JSON) throws(Invalid) -> JSON {
        var c = base
        for change in changes {
            let trimmed = change.trimming(" \t\n")
            guard !trimmed.isEmpty else { continue }
            let parts = trimmed.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
            let instr = parts[0].uppercased()
            let arg = parts.count > 1 ? String(parts[1]).trimming(" \t") : ""
            switch instr {
            case "CMD": c["Cmd"] = commandForm(arg)
            case "ENTRYPOINT": c["Entrypoint"] = commandForm(arg)
            case "ENV":
                var env = c["Env"].stringArray ?? []
                for (k, v) in keyValues(arg) {
                    env.removeAll { $0.hasPrefix(k + "=") }
                    env.append(k + "=" + v)
                }
                c["Env"] = JSON.strings(env)
            case "LABEL":
                var labels = c["Labels"].object ?? JSONObject()
                for (k, v) in keyValues(arg) { labels[k] = .string(v) }
                c["Labels"] = .object(labels)
            case "WORKDIR": c["WorkingDir"] = .string(arg)
            case "USER": c["User"] = .string(arg)
            case "STOPSIGNAL": c["StopSignal"] = .string(arg)
            case "EXPOSE":
                var ports = c["ExposedPorts"].object ?? JSONObject()
                for p in arg.split(separator: " ") { ports[p.contains("/") ? String(p) : p + "/tcp"] = [:] }
                c["ExposedPorts"] = .object(ports)
            case "VOLUME":
                var vols = c["Volumes"].object ?? JSONObject()
                let list = (try? JSON.parse(arg))?.stringArray ?? arg.split(separator: " ").map(String.init)
                for v in list { vols[v] = [:] }
                c["Volumes"] = .object(vols)
            case "ONBUILD":
                c["OnBuild"] = .array((c["OnBuild"].array ?? []) + [.string(arg)])
            default:
                throw Invalid(description: "\(instr) is not a valid change command")
            }
        }
        return c
    }

    /// JSON array (exec form) or a string run by `/bin/sh -c`.
    static func commandForm(_ arg: String) -> JSON {
        if arg.hasPrefix("["), let list = (try? JSON.parse(arg))?.stringArray { return JSON.strings(list) }
        return JSON.strings(["/bin/sh", "-c", arg])
    }

    /// `K=V K2="v 2"` or the legacy `K V` form.
    static func keyValues(_ arg: String) -> [(String, String)] {
        guard let eq = arg.firstIndex(of: "="), !arg[..<eq].contains(" ") else {
            let p = arg.split(separator: " ", maxSplits: 1)
            return p.isEmpty ? [] : [(String(p[0]), p.count > 1 ? String(p[1]) : "")]
        }
        var out: [(String, String)] = []
        var i = arg.startIndex
        while i < arg.endIndex {
            while i < arg.endIndex, arg[i] == " " { i = arg.index(after: i) }
            guard i < arg.endIndex else { break }
            var key = ""
            while i < arg.endIndex, arg[i] != "=" { key.append(arg[i]); i = arg.index(after: i) }
            if i < arg.endIndex { i = arg.index(after: i) }
            var val = ""
            var quote: Character? = nil
            while i < arg.endIndex {
                let ch = arg[i]
                if let q = quote {
                    if ch == q { quote = nil } else { val.append(ch) }
                } else if ch == "\"" || ch == "'" {
                    quote = ch
                } else if ch == "\\", arg.index(after: i) < arg.endIndex {
                    i = arg.index(after: i); val.append(arg[i])
                } else if ch == " " {
                    break
                } else {
                    val.append(ch)
                }
                i = arg.index(after: i)
            }
            out.append((key, val))
        }
        return out
    }
}
