import Glibc

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
            } else {
                out.append(c)
            }
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
            } else {
                parts.append(String(c))
            }
        }
        return true
    }

    /// Resolves `path` as the container would see it — symlinks followed relative to `root`,
    /// `..` never above it — and returns the host path. The final component is followed only
    /// when asked. Throws on loops (more than 40 links).
    public static func resolveInRoot(_ root: String, _ path: String, followFinal: Bool) throws(ArchiveError) -> String {
        var queue = ArraySlice(path.split(separator: "/").map(String.init))
        var resolved: [String] = []
        var hops = 0
        while let c = queue.first {
            queue = queue.dropFirst()
            if c == "." || c.isEmpty { continue }
            if c == ".." { _ = resolved.popLast(); continue }
            let candidate = root + "/" + (resolved + [c]).joined(separator: "/")
            var st = stat()
            if lstat(candidate, &st) == 0, (st.st_mode & S_IFMT) == S_IFLNK, !queue.isEmpty || followFinal {
                hops += 1
                if hops > 40 { throw ArchiveError("too many levels of symbolic links: \(path)") }
                var buf = [CChar](repeating: 0, count: 4097)
                let n = readlink(candidate, &buf, 4096)
                let target = n > 0 ? String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
                if target.hasPrefix("/") { resolved = [] }
                queue = ArraySlice(target.split(separator: "/").map(String.init)) + queue
                continue
            }
            resolved.append(c)
        }
        return root + (resolved.isEmpty ? "" : "/" + resolved.joined(separator: "/"))
    }
}
