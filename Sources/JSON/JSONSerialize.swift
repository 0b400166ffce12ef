extension JSON {
    /// Compact encoding, as Go's encoding/json writes it (no spaces).
    /// `escapeHTML: false` is Go's `SetEscapeHTML(false)`, as the docker CLI's `json` template function.
    public func serialized(escapeHTML: Bool = true) -> String {
        var out = ""
        out.reserveCapacity(256)
        write(to: &out, indent: nil, level: 0, html: escapeHTML)
        return out
    }

    /// Indented encoding (`docker inspect` style: four spaces by default).
    public func pretty(indent: String = "    ") -> String {
        var out = ""
        write(to: &out, indent: indent, level: 0, html: true)
        return out
    }

    public var bytes: [UInt8] { Array(serialized().utf8) }

    private func write(to out: inout String, indent: String?, level: Int, html: Bool) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d):
            if d.isFinite && d == d.rounded() && abs(d) < 1e15 { out += String(Int64(d)) } else { out += "\(d)" }
        case .string(let s): JSON.escape(s, into: &out, html: html)
        case .array(let a):
            if a.isEmpty { out += "[]"; return }
            out += "["
            for (i, v) in a.enumerated() {
                if i > 0 { out += "," }
                if let indent { out += "\n" + String(repeating: indent, count: level + 1) }
                v.write(to: &out, indent: indent, level: level + 1, html: html)
            }
            if let indent { out += "\n" + String(repeating: indent, count: level) }
            out += "]"
        case .object(let o):
            if o.isEmpty { out += "{}"; return }
            out += "{"
            var first = true
            for (k, v) in o {
                if !first { out += "," }
                first = false
                if let indent { out += "\n" + String(repeating: indent, count: level + 1) }
                JSON.escape(k, into: &out, html: html)
                out += indent == nil ? ":" : ": "
                v.write(to: &out, indent: indent, level: level + 1, html: html)
            }
            if let indent { out += "\n" + String(repeating: indent, count: level) }
            out += "}"
        }
    }

    public static func escape(_ s: String, into out: inout String, html: Bool = true) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "<" where html: out += "\\u003c"
            case ">" where html: out += "\\u003e"
            case "&" where html: out += "\\u0026"
            default:
                if u.value < 0x20 || u.value == 0x2028 || u.value == 0x2029 {
                    let hex = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        out += "\""
    }
}
