import JSON

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Go's fmt rules for the values templates print: `%v` of maps, slices, floats and nil, and the
/// printf verbs templates use.
public enum GoFormat {
    /// `fmt.Sprint(v)` for a value decoded from JSON into Go's `interface{}`.
    static func value(_ v: Value) -> String {
        switch v {
        case .missing: return "<nil>"
        case .json(let j): return value(j)
        }
    }

    static func value(_ j: JSON) -> String {
        switch j {
        case .null: return "<nil>"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d): return float(d)
        case .string(let s): return s
        case .array(let a): return "[" + a.map { value($0) }.joined(separator: " ") + "]"
        case .object(let o): return "map[" + o.keys.sorted().map { "\($0):\(value(o[$0]!))" }.joined(separator: " ") + "]"
        }
    }

    static func typeName(_ j: JSON) -> String {
        switch j {
        case .null: return "<nil>"
        case .bool: return "bool"
        case .int: return "int"
        case .double: return "float64"
        case .string: return "string"
        case .array: return "[]interface {}"
        case .object: return "map[string]interface {}"
        }
    }

    /// `%v` of a float64: shortest representation, exponent only below 1e-4 or from 1e21.
    static func float(_ d: Double) -> String {
        if d.isNaN { return "NaN" }
        if d.isInfinite { return d < 0 ? "-Inf" : "+Inf" }
        if d == d.rounded(), abs(d) < 1e21 {
            if abs(d) < 9e18 { return String(Int64(d)) }
            return c("%.0f", d)
        }
        let s = d.description
        // Swift writes 1e-05 and 1.5e+20 like Go, but uses exponents from 2^53 where Go waits for 1e21.
        return s
    }

    /// A number literal in a template: Go's integer forms first, then floats.
    static func number(_ text: String) throws(TemplateError) -> JSON {
        var t = Substring(text)
        var negative = false
        if t.first == "-" || t.first == "+" { negative = t.first == "-"; t = t.dropFirst() }
        let clean = t.filter { $0 != "_" }
        var magnitude: Int64? = nil
        if clean.hasPrefix("0x") || clean.hasPrefix("0X") {
            magnitude = Int64(clean.dropFirst(2), radix: 16)
        } else if clean.hasPrefix("0b") || clean.hasPrefix("0B") {
            magnitude = Int64(clean.dropFirst(2), radix: 2)
        } else if clean.hasPrefix("0o") || clean.hasPrefix("0O") {
            magnitude = Int64(clean.dropFirst(2), radix: 8)
        } else if clean.count > 1, clean.hasPrefix("0"), clean.allSatisfy({ $0.isNumber }) {
            magnitude = Int64(clean.dropFirst(), radix: 8)
        } else {
            magnitude = Int64(clean)
        }
        if let magnitude { return .int(negative ? -magnitude : magnitude) }
        if let d = Double(String(clean)) { return .double(negative ? -d : d) }
        throw TemplateError("template: bad number syntax: \"\(text)\"")
    }

    static func c(_ format: String, _ d: Double) -> String {
        var buf = [CChar](repeating: 0, count: 512)
        _ = withVaList([d]) { vsnprintf(&buf, buf.count, format, $0) }
        let bytes = buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// strconv.Quote: Go-escaped and double-quoted.
    public static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case "\u{07}": out += "\\a"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case "\u{0B}": out += "\\v"
            default:
                if u.value < 0x20 || u.value == 0x7f { out += "\\x" + String(u.value, radix: 16).leftPadded(2) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }

    /// fmt.Sprintf for the verbs and flags templates use.
    static func printf(_ format: String, _ args: [Value]) -> String {
        var out = ""
        let f = Array(format.unicodeScalars)
        var i = 0
        var argi = 0
        while i < f.count {
            let ch = f[i]
            guard ch == "%" else { out.unicodeScalars.append(ch); i += 1; continue }
            i += 1
            var minus = false, plus = false, zero = false, space = false, sharp = false
            flags: while i < f.count {
                switch f[i] {
                case "-": minus = true
                case "+": plus = true
                case "0": zero = true
                case " ": space = true
                case "#": sharp = true
                default: break flags
                }
                i += 1
            }
            var width: Int? = nil
            var precision: Int? = nil
            func digits() -> Int? {
                var n: Int? = nil
                while i < f.count, let d = Int(String(f[i])), f[i].isASCII { n = (n ?? 0) * 10 + d; i += 1 }
                return n
            }
            if i < f.count && f[i] == "*" {
                i += 1
                if argi < args.count, case .json(.int(let w)) = args[argi] { width = Int(w); argi += 1 }
            } else {
                width = digits()
            }
            if i < f.count && f[i] == "." {
                i += 1
                if i < f.count && f[i] == "*" {
                    i += 1
                    if argi < args.count, case .json(.int(let p)) = args[argi] { precision = Int(p); argi += 1 }
                } else {
                    precision = digits() ?? 0
                }
            }
            guard i < f.count else { out += "%!(NOVERB)"; break }
            let verb = f[i]
            i += 1
            if verb == "%" { out += "%"; continue }
            guard argi < args.count else { out += "%!\(verb)(MISSING)"; continue }
            let arg = args[argi].json
            argi += 1
            var s: String
            var numeric = false
            switch (verb, arg) {
            case ("v", _):
                s = value(arg)
                if case .double(let d) = arg, let precision { s = c("%.\(precision)g", d) }
                if case .string(let str) = arg, sharp { s = quote(str) }
                numeric = arg.double != nil
            case ("s", .string(let str)): s = precision.map { String(str.prefix($0)) } ?? str
            case ("s", .array), ("s", .object): s = value(arg)
            case ("q", .string(let str)): s = quote(str)
            case ("q", .int(let n)): s = "'" + (Unicode.Scalar(UInt32(truncatingIfNeeded: n)).map { String(Character($0)) } ?? "") + "'"
            case ("t", .bool(let b)): s = b ? "true" : "false"
            case ("d", .int(let n)):
                s = String(n); numeric = true
                if plus && n >= 0 { s = "+" + s } else if space && n >= 0 { s = " " + s }
            case ("c", .int(let n)): s = Unicode.Scalar(UInt32(truncatingIfNeeded: n)).map { String(Character($0)) } ?? "\u{FFFD}"
            case ("x", .int(let n)), ("X", .int(let n)), ("o", .int(let n)), ("b", .int(let n)):
                let radix = verb == "o" ? 8 : verb == "b" ? 2 : 16
                s = String(n.magnitude, radix: radix, uppercase: verb == "X")
                if sharp && radix == 16 { s = (verb == "X" ? "0X" : "0x") + s }
                if n < 0 { s = "-" + s }
                numeric = true
            case ("x", .string(let str)), ("X", .string(let str)):
                s = str.utf8.map { String($0, radix: 16, uppercase: verb == "X").leftPadded(2) }.joined()
            case ("f", _), ("F", _), ("e", _), ("E", _), ("g", _), ("G", _):
                guard case .double(let d) = arg else { s = bad(verb, arg); break }
                let v = verb == "F" ? "f" : String(verb)
                if verb == "g" || verb == "G", precision == nil {
                    s = float(d)
                } else {
                    s = c("%\(plus ? "+" : "")\(sharp ? "#" : "").\(precision ?? 6)\(v)", d)
                }
                numeric = true
            default:
                s = bad(verb, arg)
            }
            if let width, s.count < width {
                let pad = width - s.count
                if minus {
                    s += String(repeating: " ", count: pad)
                } else if zero && numeric {
                    let sign = s.first == "-" || s.first == "+" ? String(s.removeFirst()) : ""
                    s = sign + String(repeating: "0", count: pad) + s
                } else {
                    s = String(repeating: " ", count: pad) + s
                }
            }
            out += s
        }
        if argi < args.count {
            out += "%!(EXTRA " + args[argi...].map { "\(typeName($0.json))=\(value($0))" }.joined(separator: ", ") + ")"
        }
        return out
    }

    static func bad(_ verb: Unicode.Scalar, _ arg: JSON) -> String {
        if case .null = arg { return "%!\(verb)(<nil>)" }
        return "%!\(verb)(\(typeName(arg))=\(value(arg)))"
    }

    /// fmt.Sprint: a space between operands when neither side is a string.
    static func sprint(_ args: [Value]) -> String {
        var out = ""
        for (i, a) in args.enumerated() {
            if i > 0, args[i - 1].json.string == nil, a.json.string == nil { out += " " }
            out += value(a)
        }
        return out
    }
}
