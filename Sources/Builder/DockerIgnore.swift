/// `.dockerignore`: Docker's pattern rules (moby/patternmatcher): patterns are cleaned paths
/// relative to the context root, `*` and `?` stay within a path element, `**` spans any number
/// of them, `!` re-includes, and the last matching pattern decides. A directory that matches
/// takes its contents with it.
public struct DockerIgnore: Sendable {
    /// A pattern's elements, compiled once: `**` or one element's glob as Unicode scalars (so
    /// testing a path allocates nothing per pattern element; a many-line `.dockerignore` against
    /// every file of a context made that the cost of a build's context scan).
    enum Element: Sendable, Equatable { case anyElements; case glob([Unicode.Scalar]) }
    struct Pattern: Sendable { var elements: [Element]; var exclusion: Bool }
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
            // The pattern followed by `**`: it matches the path itself or a directory above it.
            let elements = parts.map { $0 == "**" ? Element.anyElements : .glob(Array($0.unicodeScalars)) } + [.anyElements]
            out.append(Pattern(elements: elements, exclusion: exclusion))
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
        if patterns.isEmpty { return parentExcluded }
        let parts = DockerIgnore.clean(path).map { Array($0.unicodeScalars) }
        var excluded = parentExcluded
        for p in patterns {
            if excluded == !p.exclusion { continue }
            if DockerIgnore.match(p.elements, parts) {
                excluded = !p.exclusion
            }
        }
        return excluded
    }

    /// Whether the pattern's elements match the path's, `**` spanning any number of them.
    /// Dynamic programming over (pattern element, path element): O(pattern × path) element
    /// matches. The recursive search it replaces was exponential in the number of `**` (found by
    /// fuzzing: a 2 KB .dockerignore took seconds to test one path).
    static func match(_ p: [Element], _ s: [[Unicode.Scalar]]) -> Bool {
        // next[j]: p[i+1...] matches s[j...]; cur[j]: p[i...] matches s[j...].
        var next = [Bool](repeating: false, count: s.count + 1)
        next[s.count] = true
        var cur = next
        for i in stride(from: p.count - 1, through: 0, by: -1) {
            for j in cur.indices { cur[j] = false }
            switch p[i] {
            case .anyElements:
                cur[s.count] = next[s.count]
                for j in stride(from: s.count - 1, through: 0, by: -1) { cur[j] = next[j] || cur[j + 1] }
            case .glob(let g):
                for j in 0..<s.count where next[j + 1] { cur[j] = Glob.m(g, 0, s[j], 0) }
            }
            swap(&next, &cur)
        }
        return next[0]
    }
}

/// Go's filepath.Match for one path element: `*`, `?`, `[...]` (with `^`/`!` and ranges), `\` escapes.
public enum Glob {
    public static func match(_ pattern: String, _ name: String) -> Bool {
        let p = Array(pattern.unicodeScalars), s = Array(name.unicodeScalars)
        return m(p, 0, s, 0)
    }

    /// Iterative, backtracking only to the last `*`: O(pattern × name). The recursive form was
    /// exponential in the number of stars — a hostile `.dockerignore` of `**********…` stalled a
    /// build for seconds per path (found by scripts/fuzz).
    static func m(_ p: [Unicode.Scalar], _ start: Int, _ s: [Unicode.Scalar], _ from: Int) -> Bool {
        var pi = start, si = from
        var star = -1, mark = 0
        while true {
            if pi < p.count && p[pi] == "*" {
                star = pi
                mark = si
                pi += 1
                continue
            }
            if si == s.count {
                // Only stars may remain; a malformed class at the end still fails as before.
                while pi < p.count && p[pi] == "*" { pi += 1 }
                return pi == p.count
            }
            if pi < p.count, let next = step(p, pi, s[si]) {
                pi = next
                si += 1
                continue
            }
            if pi < p.count, p[pi] == "[", classEnd(p, pi) == nil { return false }  // malformed: no match, as Go errs
            // Mismatch: let the last star take one more character (never a `/`).
            guard star >= 0, mark < s.count, s[mark] != "/" else { return false }
            mark += 1
            si = mark
            pi = star + 1
        }
    }

    /// The pattern position after matching `c` at `pi` (not a star), or nil.
    static func step(_ p: [Unicode.Scalar], _ pi: Int, _ c: Unicode.Scalar) -> Int? {
        switch p[pi] {
        case "?": return c == "/" ? nil : pi + 1
        case "[":
            guard let end = classEnd(p, pi) else { return nil }
            var k = pi + 1
            var negate = false
            if k < p.count, p[k] == "^" || p[k] == "!" { negate = true; k += 1 }
            var matched = false
            var first = true
            while k < end && (p[k] != "]" || first) {
                first = false
                var lo = p[k]
                if lo == "\\", k + 1 < p.count { k += 1; lo = p[k] }
                var hi = lo
                if k + 2 < p.count, p[k + 1] == "-", p[k + 2] != "]" {
                    hi = p[k + 2]
                    if hi == "\\", k + 3 < p.count { k += 1; hi = p[k + 2] }
                    k += 2
                }
                if lo.value <= c.value && c.value <= hi.value { matched = true }
                k += 1
            }
            return matched == negate ? nil : end + 1
        case "\\":
            return pi + 1 < p.count && p[pi + 1] == c ? pi + 2 : nil
        default:
            return p[pi] == c ? pi + 1 : nil
        }
    }

    /// Where a `[...]` class at `pi` closes, nil when it never does.
    static func classEnd(_ p: [Unicode.Scalar], _ pi: Int) -> Int? {
        var k = pi + 1
        if k < p.count, p[k] == "^" || p[k] == "!" { k += 1 }
        var first = true
        while k < p.count && (p[k] != "]" || first) {
            first = false
            if p[k] == "\\", k + 1 < p.count { k += 1 }
            if k + 2 < p.count, p[k + 1] == "-", p[k + 2] != "]" {
                k += 2
                if p[k] == "\\", k + 1 < p.count { k += 1 }
            }
            k += 1
        }
        return k < p.count ? k : nil
    }
}
