/// An image reference as Docker normalises it: `busybox` is `docker.io/library/busybox:latest`.
public struct Reference: Sendable, Hashable, CustomStringConvertible {
    public var domain: String
    public var path: String
    public var tag: String?
    public var digest: Digest?

    public static let defaultDomain = "docker.io"

    public enum ParseError: Error, Sendable, CustomStringConvertible, Equatable {
        case invalidFormat
        case notLowercase
        case tooLong
        public var description: String {
            switch self {
            case .invalidFormat: return "invalid reference format"
            case .notLowercase: return "invalid reference format: repository name must be lowercase"
            case .tooLong: return "invalid reference format: repository name must not be more than 255 characters"
            }
        }
    }

    /// Parses and normalises; a missing tag stays nil (see `withDefaultTag`).
    public init(parsing input: String) throws(ParseError) {
        var rest = Substring(input)
        var digest: Digest? = nil
        if let at = rest.firstIndex(of: "@") {
            guard let d = Digest(parsing: String(rest[rest.index(after: at)...])) else { throw .invalidFormat }
            digest = d
            rest = rest[..<at]
        }
        var tag: String? = nil
        if let colon = rest.lastIndex(of: ":"), !rest[colon...].contains("/") {
            let t = String(rest[rest.index(after: colon)...])
            guard Reference.isValidTag(t) else { throw .invalidFormat }
            tag = t
            rest = rest[..<colon]
        }
        guard !rest.isEmpty else { throw .invalidFormat }
        var comps = rest.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        var domain = Reference.defaultDomain
        if comps.count > 1, let first = comps.first,
            first.contains(".") || first.contains(":") || first == "localhost" || first.lowercased() != first
        {
            guard Reference.isValidDomain(first) else { throw .invalidFormat }
            domain = first
            comps.removeFirst()
        }
        for c in comps {
            guard Reference.isValidComponent(c) else {
                if Reference.isValidComponent(c.lowercased()) { throw .notLowercase }
                throw .invalidFormat
            }
        }
        var path = comps.joined(separator: "/")
        if domain == Reference.defaultDomain && comps.count == 1 { path = "library/" + path }
        guard path.count + domain.count < 256 else { throw .tooLong }
        self.domain = domain
        self.path = path
        self.tag = tag
        self.digest = digest
    }

    public init(domain: String, path: String, tag: String?, digest: Digest?) {
        self.domain = domain; self.path = path; self.tag = tag; self.digest = digest
    }

    /// `docker.io/library/busybox` (no tag).
    public var repository: String { domain + "/" + path }

    /// The short form users see: `busybox`, `me/app`, `localhost:5000/app`.
    public var familiarRepository: String {
        if domain == Reference.defaultDomain {
            return path.hasPrefix("library/") && path.split(separator: "/").count == 2 ? String(path.dropFirst(8)) : path
        }
        return repository
    }

    /// Tag `latest` when neither a tag nor a digest was given.
    public var withDefaultTag: Reference {
        var r = self
        if r.tag == nil && r.digest == nil { r.tag = "latest" }
        return r
    }

    public var description: String {
        var s = repository
        if let tag { s += ":" + tag }
        if let digest { s += "@" + digest.description }
        return s
    }

    public var familiar: String {
        var s = familiarRepository
        if let tag { s += ":" + tag }
        if let digest { s += "@" + digest.description }
        return s
    }

    static func isValidTag(_ t: String) -> Bool {
        guard let f = t.utf8.first, t.utf8.count <= 128 else { return false }
        func word(_ c: UInt8) -> Bool { (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F }
        return word(f) && t.utf8.allSatisfy { word($0) || $0 == 0x2E || $0 == 0x2D }
    }

    /// `[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*`
    static func isValidComponent(_ c: String) -> Bool {
        let b = Array(c.utf8)
        guard let first = b.first, let last = b.last, alnum(first), alnum(last) else { return false }
        var i = 0
        while i < b.count {
            if alnum(b[i]) { i += 1; continue }
            // separator run
            var j = i
            while j < b.count, !alnum(b[j]) { j += 1 }
            let sep = String(decoding: b[i..<j], as: UTF8.self)
            guard sep == "." || sep == "_" || sep == "__" || sep.allSatisfy({ $0 == "-" }) else { return false }
            i = j
        }
        return true
    }

    static func alnum(_ c: UInt8) -> Bool { (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7A) }

    static func isValidDomain(_ d: String) -> Bool {
        var host = Substring(d)
        if let colon = d.lastIndex(of: ":"), !d.hasPrefix("[") {
            guard let _ = Int(d[d.index(after: colon)...]) else { return false }
            host = d[..<colon]
        }
        return !host.isEmpty
            && host.utf8.allSatisfy { c in
                (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || c == 0x2E || c == 0x2D || c == 0x5B || c == 0x5D
                    || c == 0x3A
            }
    }
}
