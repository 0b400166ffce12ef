import JSON

/// A small subset of Go's text/template for `--format`: field paths (`{{.State.Status}}`),
/// `{{json .X}}`, `{{upper|lower .X}}`, and text around them. The full language is issue 5.
enum Template {
    static func render(_ format: String, _ data: JSON) throws -> String {
        var out = ""
        var rest = Substring(format)
        while let open = rest.firstRange(of: "{{") {
            out += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].firstRange(of: "}}") else { throw CLIError("template: unclosed action") }
            var action = String(rest[open.upperBound..<close.lowerBound])
            if action.hasPrefix("-") { action.removeFirst() }
            if action.hasSuffix("-") { action.removeLast() }
            out += try evaluate(action.trimmingSpaces(), data)
            rest = rest[close.upperBound...]
        }
        out += rest
        return out.replacing("\\n", with: "\n").replacing("\\t", with: "\t")
    }

    static func evaluate(_ action: String, _ data: JSON) throws -> String {
        let words = action.split(separator: " ").map(String.init)
        guard let last = words.last else { return "" }
        let value = try lookup(last, data)
        switch words.count == 1 ? "" : words[0] {
        case "": return text(value)
        case "json": return value.serialized()
        case "upper": return text(value).uppercased()
        case "lower": return text(value).lowercased()
        default: throw CLIError("template: function \"\(words[0])\" not defined")
        }
    }

    static func lookup(_ path: String, _ data: JSON) throws -> JSON {
        guard path.hasPrefix(".") else { throw CLIError("template: unsupported action \(path)") }
        var v = data
        for key in path.split(separator: ".") {
            guard case .object(let o) = v else { throw CLIError("template: can't evaluate field \(key)") }
            v = o[String(key)] ?? .null
        }
        return v
    }

    /// Go's default formatting of a value.
    static func text(_ v: JSON) -> String {
        switch v {
        case .null: return "<no value>"
        case .string(let s): return s
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d): return String(d)
        case .array(let a): return "[" + a.map(text).joined(separator: " ") + "]"
        case .object(let o): return "map[" + o.keys.sorted().map { "\($0):\(text(o[$0]!))" }.joined(separator: " ") + "]"
        }
    }
}
