import CSys
import Glibc
import OCI
import Sys

/// Applies one layer tar to a directory, refusing any entry that could write outside it:
/// absolute names, `..` escapes, writes through symlinks, hard links to outside, symlinks whose
/// relative target climbs out. Every step works on directory descriptors: an entry's parent is
/// opened with openat2 (no symlink followed, nothing above the root), and the entry is made with
/// the `*at` calls on that descriptor, so a tree changed meanwhile (a running container's, for
/// `cp`) still cannot redirect a write out of it. Docker whiteouts become overlayfs whiteouts
/// (0/0 char devices, `trusted.overlay.opaque`, `user.` in a user namespace), so the directory can serve directly as an overlay
/// lower layer.
public struct LayerUnpacker {
    /// The directory to unpack into: a trusted host path, or a descriptor the caller opened
    /// (resolved inside a container's root) and keeps.
    enum Target { case path(String), descriptor(Int32) }
    let target: Target
    /// Layers Berth made itself (commit) may hold any symlink a container made; only untrusted
    /// input is held to "no relative symlink climbs out of the root".
    public let trusted: Bool
    /// Who owns what is unpacked: as the archive says (layers, `cp` into a container), whoever
    /// unpacks (`docker cp` out of a container: the CLI does not chown), or one fixed owner
    /// (`cp -a` into a container: the container's user).
    public enum Ownership: Sendable { case archived, caller, fixed(UInt32, UInt32) }
    public var ownership: Ownership = .archived
    /// Only image layers carry whiteouts. Any other tar (`cp` either way, build contexts, COPY
    /// staging) unpacks a `.wh.` name as the ordinary file it is: applying it would let a
    /// container or a context delete files where the tar is unpacked (`.wh...` named the parent).
    public let layer: Bool
    /// Ownership in a remapped container's ids, stored as the host ids they map to.
    public var shift: IDShift? = nil
    /// Only entries whose cleaned path this accepts are written (their parents made as needed);
    /// the rest are skipped unread. nil: every entry.
    public var include: ((String) -> Bool)? = nil

    public init(root: String, trusted: Bool = false, ownership: Ownership = .archived, layer: Bool = false) {
        self.target = .path(root); self.trusted = trusted; self.ownership = ownership; self.layer = layer
    }

    /// Unpacks into an open directory (not closed here).
    public init(rootFD: Int32, trusted: Bool = false, ownership: Ownership = .archived, layer: Bool = false) {
        self.target = .descriptor(rootFD); self.trusted = trusted; self.ownership = ownership; self.layer = layer
    }

    public func unpack(tarPath: String) throws(ArchiveError) {
        try unpack(reader: try ArchiveReader(path: tarPath))
    }

    /// Unpacks a gzip or plain layer in one pass, returning its diff ID (the digest of the
    /// uncompressed tar) for the caller to verify.
    public func unpack(streaming path: String) throws(ArchiveError) -> Digest {
        let source = try HashingSource(path: path)
        try unpack(reader: try source.reader())
        return try source.finish()
    }

    func unpack(reader: ArchiveReader) throws(ArchiveError) {
        let rootfd: Int32
        switch target {
        case .path(let p):
            rootfd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if rootfd < 0 { throw ArchiveError("open \(p): \(SysError("open"))") }
        case .descriptor(let fd):
            rootfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if rootfd < 0 { throw ArchiveError("open the destination: \(SysError("open"))") }
        }
        var state = State(rootfd: rootfd)
        defer { state.close() }
        while let e = try reader.next() {
            try apply(e, reader: reader, &state)
        }
        // Directory times last: creating children changes them.
        for (rel, t, n) in state.dirTimes.reversed() {
            let fd = DirFD.open(rootfd, rel, O_RDONLY | O_DIRECTORY, .strict)
            if fd >= 0 {
                var ts = [timespec(tv_sec: Int(t), tv_nsec: n), timespec(tv_sec: Int(t), tv_nsec: n)]
                futimens(fd, &ts)
                Glibc.close(fd)
            }
        }
    }

    /// The root, the last entry's parent directory (tar entries come grouped by directory) and
    /// the directories whose times are set at the end.
    struct State {
        let rootfd: Int32
        var parent: (rel: String, fd: Int32)? = nil
        var dirTimes: [(String, Int64, Int)] = []
        init(rootfd: Int32) { self.rootfd = rootfd }
        /// Something was removed: the cached parent may be what went.
        mutating func forgetParent() {
            if let p = parent { Glibc.close(p.fd) }
            parent = nil
        }
        mutating func close() {
            forgetParent()
            Glibc.close(rootfd)
        }
    }

    private func apply(_ e: TarEntry, reader: ArchiveReader, _ state: inout State) throws(ArchiveError) {
        if e.path.hasPrefix("/") { throw ArchiveError("invalid tar entry \(quote(e.path)): absolute paths are not allowed") }
        guard let rel = SafePath.clean(e.path) else {
            throw ArchiveError("invalid tar entry \(quote(e.path)): path is outside of the archive root")
        }
        if rel.isEmpty { return }  // "./" itself
        if let include, !include(rel) { return }
        let parent = rel.split(separator: "/").dropLast().joined(separator: "/")
        let name = String(rel.split(separator: "/").last!)
        let dirfd = try parentDirectory(parent, &state)

        if layer && name == ".wh..wh..opq" {
            _ = "y".withCString { fsetxattr(dirfd, OverlayXattrs.opaque, $0, 1, 0) }
            return
        }
        if layer && name.hasPrefix(".wh.") {
            let victim = String(name.dropFirst(4))
            guard !victim.isEmpty, victim != ".", victim != "..", !victim.hasPrefix(".wh.") else {
                throw ArchiveError("invalid tar entry \(quote(e.path)): not a whiteout of a file")
            }
            DirFD.removeAll(dirfd, victim)
            if mknodat(dirfd, victim, S_IFCHR | 0o000, 0) != 0 { throw ArchiveError("whiteout \(rel): \(SysError("mknod"))") }
            return
        }
        let existing = DirFD.lstat(dirfd, name)
        let existingDir = existing.map { ($0.st_mode & S_IFMT) == S_IFDIR } ?? false
        if existing != nil && !(e.kind == .directory && existingDir) {
            DirFD.removeAll(dirfd, name)
            if existingDir { state.forgetParent() }
        }
        let mode = mode_t(e.mode & 0o7777)
        switch e.kind {
        case .directory:
            if !existingDir && mkdirat(dirfd, name, 0o755) != 0 { throw ArchiveError("mkdir \(rel): \(SysError("mkdir"))") }
            let fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if fd < 0 { throw ArchiveError("open \(rel): \(SysError("open"))") }
            defer { Glibc.close(fd) }
            try finish(fd: fd, e, mode: mode)
            state.dirTimes.append((rel, e.mtime, e.mtimeNanos))
            return
        case .file:
            let fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
            if fd < 0 { throw ArchiveError("create \(rel): \(SysError("open"))") }
            defer { Glibc.close(fd) }
            try reader.readData { (b) throws(ArchiveError) in
                do { try FS.writeAll(fd: fd, b) } catch { throw ArchiveError("write \(rel): \(error)") }
            }
            try finish(fd: fd, e, mode: mode)
            setTime(fd: fd, e)
            return
        case .symlink:
            guard trusted || SafePath.symlinkStaysInside(entryPath: rel, target: e.linkTarget) else {
                throw ArchiveError("invalid symlink \(quote(rel)) -> \(quote(e.linkTarget)): points outside of the archive root")
            }
            if symlinkat(e.linkTarget, dirfd, name) != 0 { throw ArchiveError("symlink \(rel): \(SysError("symlink"))") }
        case .hardlink:
            guard !e.linkTarget.hasPrefix("/"), let target = SafePath.clean(e.linkTarget), !target.isEmpty else {
                throw ArchiveError("invalid hardlink \(quote(rel)) -> \(quote(e.linkTarget)): points outside of the archive root")
            }
            let tparent = target.split(separator: "/").dropLast().joined(separator: "/")
            let tname = String(target.split(separator: "/").last!)
            let tfd = DirFD.open(state.rootfd, tparent, DirFD.pathOnly | O_DIRECTORY, .strict)
            if tfd < 0 {
                if errno == ELOOP || errno == EXDEV { throw ArchiveError("invalid hardlink under \(quote(tparent)): path goes through a symlink") }
                throw ArchiveError("link \(rel): \(SysError("open"))")
            }
            defer { Glibc.close(tfd) }
            // A hard link shares its target's inode: its header's metadata must not rewrite it.
            if linkat(tfd, tname, dirfd, name, 0) != 0 { throw ArchiveError("link \(rel): \(SysError("link"))") }
            return
        case .charDevice, .blockDevice, .fifo:
            let type: mode_t = e.kind == .charDevice ? S_IFCHR : e.kind == .blockDevice ? S_IFBLK : S_IFIFO
            let dev = makedev(e.devMajor, e.devMinor)
            if mknodat(dirfd, name, type | mode, dev) != 0 { throw ArchiveError("mknod \(rel): \(SysError("mknod"))") }
        case .other:
            return
        }
        // Symlinks and device nodes cannot be opened to be changed: by name in their directory,
        // never following the name.
        if let (uid, gid) = try owner(e) { fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) }
        if e.kind != .symlink {
            fchmodat(dirfd, name, mode, AT_SYMLINK_NOFOLLOW)
            let path = DirFD.procPath(dirfd, name)
            for (k, v) in e.xattrs where k.hasPrefix("user.") || k.hasPrefix("security.capability") {
                _ = v.withUnsafeBytes { lsetxattr(path, k, $0.baseAddress, $0.count, 0) }
            }
        }
        var ts = [timespec(tv_sec: Int(e.mtime), tv_nsec: e.mtimeNanos), timespec(tv_sec: Int(e.mtime), tv_nsec: e.mtimeNanos)]
        utimensat(dirfd, name, &ts, AT_SYMLINK_NOFOLLOW)
    }

    private func owner(_ e: TarEntry) throws(ArchiveError) -> (uid_t, gid_t)? {
        let ids: (UInt32, UInt32)
        switch ownership {
        case .archived: ids = (UInt32(e.uid), UInt32(e.gid))
        case .caller: return nil
        case .fixed(let uid, let gid): ids = (uid, gid)
        }
        guard let shift else { return (uid_t(ids.0), gid_t(ids.1)) }
        guard let uid = shift.hostUID(ids.0), let gid = shift.hostGID(ids.1) else {
            throw ArchiveError("Container ID \(ids.0):\(ids.1) of \(quote(e.path)) cannot be mapped to a host ID")
        }
        return (uid_t(uid), gid_t(gid))
    }

    /// Owner, then mode (a chown clears set-id bits), then extended attributes, on an open file or directory.
    private func finish(fd: Int32, _ e: TarEntry, mode: mode_t) throws(ArchiveError) {
        if let (uid, gid) = try owner(e) { fchown(fd, uid, gid) }
        fchmod(fd, mode)
        for (k, v) in e.xattrs where k.hasPrefix("user.") || k.hasPrefix("security.capability") {
            _ = v.withUnsafeBytes { fsetxattr(fd, k, $0.baseAddress, $0.count, 0) }
        }
    }

    private func setTime(fd: Int32, _ e: TarEntry) {
        var ts = [timespec(tv_sec: Int(e.mtime), tv_nsec: e.mtimeNanos), timespec(tv_sec: Int(e.mtime), tv_nsec: e.mtimeNanos)]
        futimens(fd, &ts)
    }

    private func makedev(_ major: UInt32, _ minor: UInt32) -> dev_t {
        let ma = dev_t(major), mi = dev_t(minor)
        return ((ma & 0xfffff000) << 32) | ((ma & 0xfff) << 8) | ((mi & 0xffffff00) << 12) | (mi & 0xff)
    }

    /// The entry's parent directory, open for writing: every component a real directory
    /// (created if missing), never a symlink, never above the root.
    private func parentDirectory(_ rel: String, _ state: inout State) throws(ArchiveError) -> Int32 {
        if let p = state.parent, p.rel == rel { return p.fd }
        state.forgetParent()
        var fd = DirFD.open(state.rootfd, rel, O_RDONLY | O_DIRECTORY, .strict)
        if fd < 0 && errno == ENOENT {
            fd = openat(state.rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            for c in rel.split(separator: "/") where fd >= 0 {
                let name = String(c)
                var next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                if next < 0 && errno == ENOENT {
                    if mkdirat(fd, name, 0o755) != 0 && errno != EEXIST {
                        let err = SysError("mkdir")
                        Glibc.close(fd)
                        throw ArchiveError("mkdir \(rel): \(err)")
                    }
                    next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                }
                let err = errno
                Glibc.close(fd)
                fd = next
                errno = err
            }
        }
        if fd < 0 {
            if errno == ELOOP || errno == EXDEV { throw ArchiveError("invalid tar entry under \(quote(rel)): path goes through a symlink") }
            if errno == ENOTDIR { throw ArchiveError("invalid tar entry under \(quote(rel)): not a directory") }
            throw ArchiveError("open \(rel): \(SysError("open"))")
        }
        state.parent = (rel, fd)
        return fd
    }

    private func quote(_ s: String) -> String { "\"" + s + "\"" }
}
