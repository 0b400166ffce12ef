/// `.dockerignore`: Docker's pattern rules (moby/patternmatcher): patterns are cleaned paths
/// relative to the context root, `*` and `?` stay within a path element, `**` spans any number
/// of them, `!` re-includes, and the last matching pattern decides. A directory that matches
/// takes its contents with it.
public struct DockerIgnore: Sendable {
    struct Pattern: Sendable { var parts: [String]; var exclusion: Bool }
    let patterns: [Pattern]

    public init(_ text: String) {
        var out: [Pattern] = []
        for raw in text.split(separator: "\n") {
            var l = raw.trimmingCharacters(" \t\r")
            if l.isEmpty || l.hasPrefix("#") { continue }
            var exclusion = false
            if l.hasPrefix("!") { exclusion = true; l = String(l.dropFirst()).trimmingCharacters(" \t") }
            let parts = DockerIgnore.clean(l)
            if parts.isEmpty { continue }
            out.append(Pattern(parts: parts, exclusion: exclusion))
        }
        patterns = out
    }

    static func clean(_ p: String) -> [String] {
        var out: [String] = []
        for c in p.split(separator: "/") where c != "." && !c.isEmpty {
            if c == ".." { if !out.isEmpty { out.removeLast() } } else { out.append(String(c)) }
        }
        return out
    }

    public var isEmpty: Bool { patterns.isEmpty }
    /// Whether some `!` pattern could re-include something below an excluded directory.
    public var hasExclusions: Bool { patterns.contains { $0.exclusion } }

    /// Whether `path` (relative, `/`-separated) is excluded. `parentExcluded`: whether its
    /// directory was, which a path inherits unless a pattern says otherwise.
    public func excludes(_ path: String, parentExcluded: Bool = false) -> Bool {
        let parts = DockerIgnore.clean(path)
        var excluded = parentExcluded
        for p in patterns {
            if excluded == !p.exclusion { continue }
            if DockerIgnore.match(p.parts[...], parts[...]) || DockerIgnore.matchesParent(p.parts, parts) {
                excluded = !p.exclusion
            }
        }
        return excluded
    }

    /// A pattern also matches everything below a matching directory.
    static func matchesParent(_ pattern: [String], _ parts: [String]) -> Bool {
        guard parts.count > 1 else { return false }
        for n in 1..<parts.count where match(pattern[...], parts[..<n]) { return true }
        return false
    }

    static func match(_ p: ArraySlice<String>, _ s: ArraySlice<String>) -> Bool {
        guard let first = p.first else { return s.isEmpty }
        if first == "**" {
            if p.count == 1 { return true }
            var rest = s
            while true {
                if match(p.dropFirst(), rest) { return true }
                if rest.isEmpty { return false }
                rest = rest.dropFirst()
            }
        }
        guard let head = s.first, Glob.match(first, head) else { return false }
        return match(p.dropFirst(), s.dropFirst())
    }
}

/// Go's filepath.Match for one path element: `*`, `?`, `[...]` (with `^`/`!` and ranges), `\` escapes.
public enum Glob {
    public static func match(_ pattern: String, _ name: String) -> Bool {
        let p = Array(pattern.unicodeScalars), s = Array(name.unicodeScalars)
        return m(p, 0, s, 0)
    }

    static func m(_ p: [Unicode.Scalar], _ pi: Int, _ s: [Unicode.Scalar], _ si: Int) -> Bool {
        var pi = pi, si = si
        while pi < p.count {
            switch p[pi] {
            case "*":
                if pi + 1 == p.count { return !s[si...].contains("/") }
                for k in si...s.count {
                    if m(p, pi + 1, s, k) { return true }
                    if k < s.count && s[k] == "/" { return false }
                }
                return false
            case "?":
                guard si < s.count, s[si] != "/" else { return false }
                pi += 1; si += 1
            case "[":
                guard si < s.count else { return false }
                var k = pi + 1
                var negate = false
                if k < p.count, p[k] == "^" || p[k] == "!" { negate = true; k += 1 }
                var matched = false
                var first = true
                while k < p.count && (p[k] != "]" || first) {
                    first = false
                    var lo = p[k]
                    if lo == "\\", k + 1 < p.count { k += 1; lo = p[k] }
                    var hi = lo
                    if k + 2 < p.count, p[k + 1] == "-", p[k + 2] != "]" {
                        hi = p[k + 2]
                        if hi == "\\", k + 3 < p.count { k += 1; hi = p[k + 2] }
                        k += 2
                    }
                    if lo.value <= s[si].value && s[si].value <= hi.value { matched = true }
                    k += 1
                }
                guard k < p.count else { return false }
                if matched == negate { return false }
                pi = k + 1; si += 1
            case "\\":
                guard pi + 1 < p.count, si < s.count, p[pi + 1] == s[si] else { return false }
                pi += 2; si += 1
            default:
                guard si < s.count, p[pi] == s[si] else { return false }
                pi += 1; si += 1
            }
        }
        return si == s.count
    }
}
