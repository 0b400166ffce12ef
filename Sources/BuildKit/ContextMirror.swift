import Foundation
import Sys

/// The daemon's copy of a client directory from its last transfer (keyed by the session's
/// shared key and the directory's name), so a rebuild asks only for files whose size or
/// modification time changed, as BuildKit's local source does. Only regular files are kept
/// (links and directories come from the walk itself); every name comes from the client and
/// is made or opened beneath the mirror's root with openat2(RESOLVE_BENEATH |
/// RESOLVE_NO_SYMLINKS) and O_NOFOLLOW, never through a link. A failure here only means the
/// file is asked for again. Used by one transfer at a time (builds of one context take turns).
final class ContextMirror: @unchecked Sendable {
    let rootfd: Int32
    private var seen = Set<String>()

    init?(path: String) {
        try? FS.mkdirAll(path, mode: 0o700)
        guard let fd = try? DirFD.openDirectory(path) else { return nil }
        rootfd = fd
    }

    deinit { close(rootfd) }

    /// An unchanged copy of `path` (same size and modification time, to the nanosecond), open
    /// for reading.
    func unchanged(_ path: String, size: Int64, modTime: Int64) -> Int32? {
        seen.insert(path)
        let fd = DirFD.open(rootfd, path, O_RDONLY | O_NOFOLLOW, DirFD.Resolve.strict)
        guard fd >= 0 else { return nil }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG, Int64(st.st_size) == size,
            Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec) == modTime
        else {
            close(fd)
            return nil
        }
        return fd
    }

    /// A new copy of `path` to write as it arrives (its parents made beneath the root).
    func create(_ path: String) -> Int32? {
        seen.insert(path)
        let slash = path.lastIndex(of: "/")
        let parent = slash.map { String(path[..<$0]) } ?? ""
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let dirfd: Int32
        if parent.isEmpty {
            dirfd = dup(rootfd)
        } else {
            guard let p = try? DirFD.mkdirAll(rootfd, parent, mode: 0o700, DirFD.Resolve.strict) else { return nil }
            // An O_PATH descriptor cannot create entries: reopen it as a directory.
            dirfd = openat(p, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            close(p)
        }
        guard dirfd >= 0 else { return nil }
        defer { close(dirfd) }
        // Whatever is there (a directory of an earlier transfer included) makes way.
        DirFD.removeAll(dirfd, name)
        let fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        return fd >= 0 ? fd : nil
    }

    /// A copy is complete: it takes the client's modification time, by which the next
    /// transfer knows it.
    func finish(_ fd: Int32, modTime: Int64) {
        var times = [
            timespec(tv_sec: Int(modTime / 1_000_000_000), tv_nsec: Int(modTime % 1_000_000_000)),
            timespec(tv_sec: Int(modTime / 1_000_000_000), tv_nsec: Int(modTime % 1_000_000_000)),
        ]
        futimens(fd, &times)
        close(fd)
    }

    /// After a complete transfer: files the client no longer has go.
    func prune() {
        prune(rootfd, prefix: "")
    }

    private func prune(_ dirfd: Int32, prefix: String) {
        for name in (try? DirFD.list(dirfd)) ?? [] {
            let rel = prefix.isEmpty ? name : prefix + "/" + name
            guard let st = DirFD.lstat(dirfd, name) else { continue }
            if st.st_mode & S_IFMT == S_IFDIR {
                let sub = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                if sub >= 0 {
                    prune(sub, prefix: rel)
                    close(sub)
                }
                unlinkat(dirfd, name, AT_REMOVEDIR)  // only if now empty
            } else if !seen.contains(rel) {
                unlinkat(dirfd, name, 0)
            }
        }
    }
}
