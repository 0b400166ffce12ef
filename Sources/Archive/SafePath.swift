/// Lexical path rules for entries of untrusted tar streams.
public enum SafePath {
    /// Cleans `./a//b/` to `a/b`; nil when the path is absolute or climbs out with `..`.
    public static func clean(_ path: String) -> String? {
        if path.hasPrefix("/") { return nil }
        var out: [Substring] = []
        for c in path.split(separator: "/") {
            if c == "." || c.isEmpty { continue }
            if c == ".." {
                if out.isEmpty { return nil }
                out.removeLast()
            } else { out.append(c) }
        }
        return out.joined(separator: "/")
    }

    /// Whether a symlink at `entryPath` whose target is `target` stays inside the root when
    /// resolved lexically. Absolute targets are resolved against the container's root, not the
    /// host's, so they never escape by themselves.
    public static func symlinkStaysInside(entryPath: String, target: String) -> Bool {
        if target.hasPrefix("/") { return true }
        var parts = entryPath.split(separator: "/").dropLast().map(String.init)
        for c in target.split(separator: "/") {
            if c == "." || c.isEmpty { continue }
            if c == ".." {
                if parts.isEmpty { return false }
                parts.removeLast()
            } else { parts.append(String(c)) }
        }
        return true
    }
}
