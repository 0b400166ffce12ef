public struct JSONParseError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public let offset: Int
    public var description: String { message }
}

extension JSON {
    public static func parse(_ text: String) throws(JSONParseError) -> JSON {
        try parse(Array(text.utf8))
    }

    /// Parses one JSON document; trailing whitespace is allowed, anything else is an error.
    public static func parse(_ bytes: [UInt8]) throws(JSONParseError) -> JSON {
        var p = Parser(b: bytes)
        p.skipSpace()
        if p.i >= bytes.count { throw JSONParseError(message: "unexpected end of JSON input", offset: 0) }
        let v = try p.value(depth: 0)
        p.skipSpace()
        if p.i != bytes.count { throw p.fail("invalid character '\(Character(UnicodeScalar(bytes[p.i])))' after top-level value") }
        return v
    }

    /// Parses a stream of concatenated JSON documents (progress streams, log lines).
    public static func parseStream(_ bytes: [UInt8]) throws(JSONParseError) -> [JSON] {
        var p = Parser(b: bytes)
        var out: [JSON] = []
        p.skipSpace()
        while p.i < bytes.count {
            out.append(try p.value(depth: 0))
            p.skipSpace()
        }
        return out
    }
}

private struct Parser {
    let b: [UInt8]
    var i = 0

    func fail(_ m: String) -> JSONParseError { JSONParseError(message: m, offset: i) }

    mutating func skipSpace() {
        while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 }
    }

    mutating func value(depth: Int) throws(JSONParseError) -> JSON {
        guard depth < 512 else { throw fail("exceeded max depth") }
        skipSpace()
        guard i < b.count else { throw fail("unexpected end of JSON input") }
        switch b[i] {
        case UInt8(ascii: "{"):
            i += 1
            var o = JSONObject()
            skipSpace()
            if i < b.count, b[i] == UInt8(ascii: "}") { i += 1; return .object(o) }
            while true {
                skipSpace()
                guard i < b.count else { throw fail("unexpected end of JSON input") }
                guard b[i] == UInt8(ascii: "\"") else {
                    throw fail("invalid character '\(Character(UnicodeScalar(b[i])))' looking for beginning of object key string")
                }
                let k = try string()
                skipSpace()
                guard i < b.count, b[i] == UInt8(ascii: ":") else { throw fail("invalid character after object key") }
                i += 1
                o[k] = try value(depth: depth + 1)
                skipSpace()
                guard i < b.count else { throw fail("unexpected end of JSON input") }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "}") { i += 1; return .object(o) }
                throw fail("invalid character after object key:value pair")
            }
        case UInt8(ascii: "["):
            i += 1
            var a: [JSON] = []
            skipSpace()
            if i < b.count, b[i] == UInt8(ascii: "]") { i += 1; return .array(a) }
            while true {
                a.append(try value(depth: depth + 1))
                skipSpace()
                guard i < b.count else { throw fail("unexpected end of JSON input") }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "]") { i += 1; return .array(a) }
                throw fail("invalid character after array element")
            }
        case UInt8(ascii: "\""):
            return .string(try string())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .null)
        default:
            return try number()
        }
    }

    mutating func literal(_ word: String, _ v: JSON) throws(JSONParseError) -> JSON {
        let w = Array(word.utf8)
        guard i + w.count <= b.count, Array(b[i..<i + w.count]) == w else {
            throw fail("invalid character '\(Character(UnicodeScalar(b[i])))' looking for beginning of value")
        }
        i += w.count
        return v
    }

    mutating func number() throws(JSONParseError) -> JSON {
        let start = i
        var isFloat = false
        if i < b.count, b[i] == UInt8(ascii: "-") { i += 1 }
        while i < b.count {
            let c = b[i]
            if c >= 0x30 && c <= 0x39 {
                i += 1
            } else if c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") || c == UInt8(ascii: "+")
                || (c == UInt8(ascii: "-") && i > start)
            {
                isFloat = true; i += 1
            } else {
                break
            }
        }
        guard i > start else { throw fail("invalid character '\(Character(UnicodeScalar(b[i])))' looking for beginning of value") }
        let text = String(decoding: b[start..<i], as: UTF8.self)
        if !isFloat, let v = Int64(text) { return .int(v) }
        // A number too large for a double would become infinity, which serialises as text no
        // JSON parser reads back: a stored record holding it would be lost at the next start.
        // Found by scripts/fuzz (regression input: fuzz/corpus/json/huge-exponent).
        guard let d = Double(text), d.isFinite else { throw fail("invalid number \(text): out of range") }
        return .double(d)
    }

    mutating func hex4() throws(JSONParseError) -> UInt32 {
        guard i + 4 <= b.count else { throw fail("unexpected end of JSON input") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = b[i]
            var d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            default: throw fail("invalid character in \\u escape")
            }
            v = v * 16 + d
            i += 1
        }
        return v
    }

    mutating func string() throws(JSONParseError) -> String {
        i += 1  // opening quote
        var out: [UInt8] = []
        let start = i
        // Fast path: no escapes.
        while i < b.count, b[i] != UInt8(ascii: "\""), b[i] != UInt8(ascii: "\\") { i += 1 }
        if i < b.count, b[i] == UInt8(ascii: "\"") {
            let s = String(decoding: b[start..<i], as: UTF8.self)
            i += 1
            return s
        }
        out.append(contentsOf: b[start..<i])
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "\"") { i += 1; return String(decoding: out, as: UTF8.self) }
            if c == UInt8(ascii: "\\") {
                i += 1
                guard i < b.count else { break }
                let e = b[i]
                i += 1
                switch e {
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "u"):
                    var cp = try hex4()
                    if cp >= 0xD800 && cp < 0xDC00, i + 5 < b.count, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u") {
                        // A pair only when the second half is a low surrogate; otherwise, as
                        // Go does, the lone half becomes U+FFFD and the next escape stands alone.
                        // (An unchecked subtraction here trapped on `\udAaa\udAaA`: found by
                        // scripts/fuzz, kept as fuzz/corpus/json/lone-surrogates.)
                        let save = i
                        i += 2
                        let lo = try hex4()
                        if (0xDC00..<0xE000).contains(lo) {
                            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
                        } else {
                            i = save
                        }
                    }
                    let scalar = UnicodeScalar(cp) ?? "\u{FFFD}"
                    out.append(contentsOf: Array(String(Character(scalar)).utf8))
                default: out.append(e)
                }
            } else {
                out.append(c)
                i += 1
            }
        }
        throw fail("unexpected end of JSON input")
    }
}
