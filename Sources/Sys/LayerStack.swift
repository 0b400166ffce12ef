import Glibc

/// What an overlay of read-only layer directories would show, worked out from the layers' own
/// entries without mounting them, by overlayfs's rules: a whiteout (a 0/0 character device) hides
/// what is below it; a directory merges with the directories below it unless it is opaque; a
/// non-directory ends the lookup. Each step opens one entry of a directory already open and
/// follows no link, so a layer's `etc -> /` never leads the lookup onto the host.
public enum LayerStack {
    /// Overlay's whiteout: a 0/0 character device.
    public static func isWhiteout(_ st: stat) -> Bool { (st.st_mode & S_IFMT) == S_IFCHR && st.st_rdev == 0 }
    static func isDirectory(_ st: stat) -> Bool { (st.st_mode & S_IFMT) == S_IFDIR }

    /// The entry the merged tree of `layers` (directories, top first) has at `rel` ("etc/hosts":
    /// no `.` or `..`), nil when it has none there. Throws when a layer cannot be read.
    public static func lookup(_ layers: [String], _ rel: String) throws(SysError) -> stat? {
        var level: [Int32] = []
        defer { for fd in level { close(fd) } }
        for layer in layers {
            let fd = Glibc.open(layer, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard fd >= 0 else { throw SysError("open \(layer)") }
            level.append(fd)
        }
        let names = rel.split(separator: "/").map(String.init)
        guard !names.isEmpty else { return nil }
        for (depth, name) in names.enumerated() {
            // The topmost entry decides; directories below it merge while it and they are directories.
            var found: stat? = nil
            var next: [Int32] = []
            for fd in level {
                guard let st = DirFD.lstat(fd, name) else { continue }
                if isWhiteout(st) { break }
                if found == nil { found = st }
                guard isDirectory(st), let f = found, isDirectory(f) else { break }
                guard depth < names.count - 1 else { break }
                let sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard sub >= 0 else {
                    for s in next { close(s) }
                    throw SysError("open \(rel)")
                }
                next.append(sub)
                if OverlayXattrs.isOpaque(sub) { break }
            }
            guard let entry = found else {
                for s in next { close(s) }
                return nil
            }
            if depth == names.count - 1 { return entry }
            for fd in level { close(fd) }
            level = next
            // A non-directory on the way: nothing lies below it.
            guard isDirectory(entry) else { return nil }
        }
        return nil
    }
}
