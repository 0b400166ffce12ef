import JSON

/// The functions a template can call: Go's builtins and the docker CLI's additions.
enum Functions {
    static func call(_ name: String, _ args: [Value], header: Bool, typedMaps: Bool = false) throws(TemplateError) -> Value {
        func want(_ n: Int) throws(TemplateError) {
            if args.count != n { throw TemplateError("wrong number of args for \(name): want \(n) got \(args.count)") }
        }
        func str(_ i: Int) throws(TemplateError) -> String {
            switch args[i] {
            case .json(.string(let s)): return s
            case .missing, .json(.null): throw TemplateError("invalid value; expected string")
            case .json(let j): throw TemplateError("wrong type for value; expected string; got \(GoFormat.typeName(j))")
            }
        }
        func int(_ i: Int) throws(TemplateError) -> Int {
            guard case .json(.int(let n)) = args[i] else {
                throw TemplateError("wrong type for value; expected int; got \(GoFormat.typeName(args[i].json))")
            }
            return Int(n)
        }
        if header {
            switch name {
            case "json", "title", "lower", "upper": try want(1); return .json(.string(try str(0)))
            case "split", "join", "truncate": try want(2); return .json(.string(try str(0)))
            default: break
            }
        }
        switch name {
        case "json":
            try want(1)
            return .json(.string(args[0].json.serialized(escapeHTML: false)))
        case "upper": try want(1); return .json(.string(try str(0).uppercased()))
        case "lower": try want(1); return .json(.string(try str(0).lowercased()))
        case "title": try want(1); return .json(.string(title(try str(0))))
        case "split":
            try want(2)
            let s = try str(0), sep = try str(1)
            if sep.isEmpty { return .json(.array(s.map { .string(String($0)) })) }
            return .json(.array(s.split(separator: sep, omittingEmptySubsequences: false).map { .string(String($0)) }))
        case "join":
            try want(2)
            let sep = try str(1)
            switch args[0] {
            case .missing, .json(.null): return .json(.string(""))
            case .json(.array(let a)): return .json(.string(a.map { GoFormat.value($0) }.joined(separator: sep)))
            case .json(.object(let o)): return .json(.string(o.map { GoFormat.value($0.1) }.sorted().joined(separator: sep)))
            case .json(let j): throw TemplateError("expected slice, got \(GoFormat.typeName(j))")
            }
        case "pad":
            try want(3)
            let s = try str(0)
            if s.isEmpty { return .json(.string(s)) }
            return .json(.string(String(repeating: " ", count: max(0, try int(1))) + s + String(repeating: " ", count: max(0, try int(2)))))
        case "truncate":
            try want(2)
            let s = try str(0), n = try int(1)
            let bytes = Array(s.utf8)
            if bytes.count < n { return .json(.string(s)) }
            return .json(.string(String(decoding: bytes[..<max(0, n)], as: UTF8.self)))
        case "not": try want(1); return .json(.bool(!truth(args[0])))
        case "len":
            try want(1)
            switch args[0] {
            case .json(.string(let s)): return .json(.int(Int64(s.utf8.count)))
            case .json(.array(let a)): return .json(.int(Int64(a.count)))
            case .json(.object(let o)): return .json(.int(Int64(o.count)))
            case .missing, .json(.null): throw TemplateError("len of nil pointer")
            case .json(let j): throw TemplateError("len of type \(GoFormat.typeName(j))")
            }
        case "index":
            guard !args.isEmpty else { throw TemplateError("wrong number of args for index: want at least 1 got 0") }
            var v = args[0]
            for key in args.dropFirst() {
                switch (v, key) {
                case (.json(.array(let a)), .json(.int(let i))):
                    guard i >= 0, i < a.count else { throw TemplateError("index out of range: \(i)") }
                    v = .json(a[Int(i)])
                case (.json(.object(let o)), .json(.string(let k))):
                    let stringMap = typedMaps && o.allSatisfy { $0.1.string != nil }
                    v = .json(o[k] ?? (stringMap ? .string("") : .null))
                case (.json(.null), .json(.string)) where typedMaps: v = .json(.string(""))
                case (.json(.string(let s)), .json(.int(let i))):
                    let b = Array(s.utf8)
                    guard i >= 0, i < b.count else { throw TemplateError("index out of range: \(i)") }
                    v = .json(.int(Int64(b[Int(i)])))
                case (.missing, _), (.json(.null), _): throw TemplateError("index of untyped nil")
                default: throw TemplateError("can't index item of type \(GoFormat.typeName(v.json))")
                }
            }
            return v
        case "slice":
            guard !args.isEmpty else { throw TemplateError("wrong number of args for slice: want at least 1 got 0") }
            var bounds: [Int] = []
            for i in 1..<args.count { bounds.append(try int(i)) }
            switch args[0] {
            case .json(.string(let s)):
                let b = Array(s.utf8)
                let lo = bounds.first ?? 0, hi = bounds.count > 1 ? bounds[1] : b.count
                guard bounds.count <= 2, lo >= 0, lo <= hi, hi <= b.count else { throw TemplateError("index out of range: \(hi)") }
                return .json(.string(String(decoding: b[lo..<hi], as: UTF8.self)))
            case .json(.array(let a)):
                let lo = bounds.first ?? 0, hi = bounds.count > 1 ? bounds[1] : a.count
                guard lo >= 0, lo <= hi, hi <= a.count else { throw TemplateError("index out of range: \(hi)") }
                return .json(.array(Array(a[lo..<hi])))
            default: throw TemplateError("can't slice item of type \(GoFormat.typeName(args[0].json))")
            }
        case "print": return .json(.string(GoFormat.sprint(args)))
        case "println": return .json(.string(args.map { GoFormat.value($0) }.joined(separator: " ") + "\n"))
        case "printf":
            guard !args.isEmpty else { throw TemplateError("wrong number of args for printf: want at least 1 got 0") }
            return .json(.string(GoFormat.printf(try str(0), Array(args.dropFirst()))))
        case "eq":
            guard args.count >= 2 else { throw TemplateError("missing argument for comparison") }
            for other in args.dropFirst() where try compare(args[0], other) == 0 { return .json(.bool(true)) }
            return .json(.bool(false))
        case "ne": try want(2); return .json(.bool(try compare(args[0], args[1]) != 0))
        case "lt": try want(2); return .json(.bool(try ordered(args[0], args[1]) < 0))
        case "le": try want(2); return .json(.bool(try ordered(args[0], args[1]) <= 0))
        case "gt": try want(2); return .json(.bool(try ordered(args[0], args[1]) > 0))
        case "ge": try want(2); return .json(.bool(try ordered(args[0], args[1]) >= 0))
        case "html": return .json(.string(html(GoFormat.sprint(args))))
        case "js": return .json(.string(js(GoFormat.sprint(args))))
        case "urlquery": return .json(.string(urlquery(GoFormat.sprint(args))))
        case "call": throw TemplateError("non-function of type \(GoFormat.typeName(args.first?.json ?? .null))")
        default: throw TemplateError("function \"\(name)\" not defined")
        }
    }

    static func truth(_ v: Value) -> Bool {
        switch v.json {
        case .null: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .double(let d): return d != 0
        case .string(let s): return !s.isEmpty
        case .array(let a): return !a.isEmpty
        case .object(let o): return !o.isEmpty
        }
    }

    /// Go's eq/ne: basic kinds compare by value; different kinds are an error unless nil.
    static func compare(_ a: Value, _ b: Value) throws(TemplateError) -> Int {
        switch (a.json, b.json) {
        case (.int(let x), .int(let y)): return x == y ? 0 : 1
        case (.double(let x), .double(let y)): return x == y ? 0 : 1
        case (.string(let x), .string(let y)): return x == y ? 0 : 1
        case (.bool(let x), .bool(let y)): return x == y ? 0 : 1
        case (.null, .null): return 0
        case (.null, _), (_, .null): return 1
        case (.array, .array), (.object, .object): throw TemplateError("non-comparable type")
        default: throw TemplateError("incompatible types for comparison")
        }
    }

    static func ordered(_ a: Value, _ b: Value) throws(TemplateError) -> Int {
        switch (a.json, b.json) {
        case (.int(let x), .int(let y)): return x < y ? -1 : x == y ? 0 : 1
        case (.double(let x), .double(let y)): return x < y ? -1 : x == y ? 0 : 1
        case (.string(let x), .string(let y)): return x < y ? -1 : x == y ? 0 : 1
        case (.int, _), (.double, _), (.string, _):
            if case .int = b.json {
            } else if case .double = b.json {
            } else if case .string = b.json {
            } else {
                throw TemplateError("invalid type for comparison")
            }
            throw TemplateError("incompatible types for comparison")
        default: throw TemplateError("invalid type for comparison")
        }
    }

    /// strings.Title: upper-cases the first letter of each word; letters, digits and `_` join words.
    static func title(_ s: String) -> String {
        var out = ""
        var prevSeparator = true
        for u in s.unicodeScalars {
            if prevSeparator, let up = String(u).uppercased().unicodeScalars.first, String(u).uppercased().unicodeScalars.count == 1 {
                out.unicodeScalars.append(up)
            } else {
                out.unicodeScalars.append(u)
            }
            let isWordChar = u.properties.isAlphabetic || u.properties.numericType != nil || u == "_"
            prevSeparator = !isWordChar
        }
        return out
    }

    static func html(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "&": out += "&amp;"
            case "'": out += "&#39;"
            case "\"": out += "&#34;"
            case "\0": out += "\u{FFFD}"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    static func js(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "\\": out += "\\\\"
            case "'": out += "\\'"
            case "\"": out += "\\\""
            case "<": out += "\\u003C"
            case ">": out += "\\u003E"
            case "&": out += "\\u0026"
            case "=": out += "\\u003D"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if c.value < 0x20 { out += "\\u" + String(c.value, radix: 16, uppercase: true).leftPadded(4) } else { out.unicodeScalars.append(c) }
            }
        }
        return out
    }

    static func urlquery(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            case UInt8(ascii: " "): out += "+"
            default: out += "%" + String(b, radix: 16, uppercase: true).leftPadded(2)
            }
        }
        return out
    }
}
