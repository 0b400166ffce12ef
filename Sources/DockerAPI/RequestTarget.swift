/// The request target of an Engine API call, as berthd reads it once SwiftNIO has parsed the
/// head: `/v1.41/containers/x%2Fy/json?all=1&filters=...` becomes the path without its version
/// prefix, the version, and the query's values (repeated keys kept in order, `+` as space,
/// percent escapes decoded). Hostile targets — bad escapes, invalid UTF-8, endless `&` — give a
/// value, never a trap.
public struct RequestTarget: Equatable, Sendable {
    public var path: String
    public var version: String?
    public var query: [String: [String]]

    public init(uri: String) {
        var target = Substring(uri)
        var queryString = Substring("")
        if let q = target.firstIndex(of: "?") {
            queryString = target[target.index(after: q)...]
            target = target[..<q]
        }
        var path = RequestTarget.percentDecode(target)
        var version: String? = nil
        let parts = path.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: true)
        if let first = parts.first, first.count > 1, first.hasPrefix("v"), first.dropFirst().allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }) {
            version = String(first.dropFirst())
            path = "/" + (parts.count > 1 ? String(parts[1]) : "")
        }
        // Bytes, not Characters: "/" followed by a combining mark is one Character that is not "/".
        if path.utf8.first != UInt8(ascii: "/") { path = "/" + path }
        var query: [String: [String]] = [:]
        for pair in queryString.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let k = RequestTarget.percentDecode(kv[0], plusIsSpace: true)
            let v = kv.count > 1 ? RequestTarget.percentDecode(kv[1], plusIsSpace: true) : ""
            query[k, default: []].append(v)
        }
        self.path = path
        self.version = version
        self.query = query
    }

    /// `%41` → `A`; the text as it came when an escape is malformed or the bytes are not UTF-8
    /// (Foundation's removingPercentEncoding refuses those; Go's PathUnescape errors).
    public static func percentDecode(_ s: Substring, plusIsSpace: Bool = false) -> String {
        let raw = Array(s.utf8)
        guard raw.contains(UInt8(ascii: "%")) || (plusIsSpace && raw.contains(UInt8(ascii: "+"))) else { return String(s) }
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var i = 0
        while i < raw.count {
            let b = raw[i]
            if b == UInt8(ascii: "%") {
                guard i + 2 < raw.count, let hi = hex(raw[i + 1]), let lo = hex(raw[i + 2]) else {
                    return String(s)
                }
                out.append(hi << 4 | lo)
                i += 3
            } else {
                out.append(plusIsSpace && b == UInt8(ascii: "+") ? UInt8(ascii: " ") : b)
                i += 1
            }
        }
        return String(validating: out, as: UTF8.self) ?? String(s)
    }

    private static func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// The endpoints that take an archive body, whatever its Content-Type says (the docker CLI's
    /// `cp` sends its tar chunked with no type at all): spooled to disk, never held in memory.
    public static func isUpload(method: String, uri: String) -> Bool {
        guard method == "PUT" || method == "POST" else { return false }
        let t = RequestTarget(uri: uri)
        if method == "PUT" { return t.path.hasPrefix("/containers/") && t.path.hasSuffix("/archive") }
        return t.path == "/build" || t.path == "/images/load" || (t.path == "/images/create" && t.query["fromSrc"] != nil)
    }
}
