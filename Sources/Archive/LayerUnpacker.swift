import CSys
import Glibc
import OCI
import Sys

/// Applies one layer tar to a fresh directory, refusing any entry that could write outside it:
/// absolute names, `..` escapes, writes through symlinks, hard links to outside, symlinks whose
/// relative target climbs out. Docker whiteouts become overlayfs whiteouts (0/0 char devices,
/// `trusted.overlay.opaque`), so the directory can serve directly as an overlay lower layer.
public struct LayerUnpacker {
    public let root: String
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

    public init(root: String, trusted: Bool = false, ownership: Ownership = .archived, layer: Bool = false) {
        self.root = root; self.trusted = trusted; self.ownership = ownership; self.layer = layer
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
        var dirTimes: [(String, Int64, Int)] = []
        while let e = try reader.next() {
            try apply(e, reader: reader, dirTimes: &dirTimes)
        }
        // Directory times last: creating children changes them.
        for (p, t, n) in dirTimes.reversed() { setTime(p, t, n) }
    }

    private func apply(_ e: TarEntry, reader: ArchiveReader, dirTimes: inout [(String, Int64, Int)]) throws(ArchiveError) {
        if e.path.hasPrefix("/") { throw ArchiveError("invalid tar entry \(quote(e.path)): absolute paths are not allowed") }
        guard let rel = SafePath.clean(e.path) else {
            throw ArchiveError("invalid tar entry \(quote(e.path)): path is outside of the archive root")
        }
        if rel.isEmpty { return }  // "./" itself
        let parent = rel.split(separator: "/").dropLast().joined(separator: "/")
        let name = String(rel.split(separator: "/").last!)
        try ensureDirectory(parent)
        let parentPath = parent.isEmpty ? root : root + "/" + parent

        if layer && name == ".wh..wh..opq" {
            _ = "y".withCString { setxattr(parentPath, "trusted.overlay.opaque", $0, 1, 0) }
            return
        }
        if layer && name.hasPrefix(".wh.") {
            let target = name.dropFirst(4)
            guard !target.isEmpty, target != ".", target != "..", !target.hasPrefix(".wh.") else {
                throw ArchiveError("invalid tar entry \(quote(e.path)): not a whiteout of a file")
            }
            let victim = parentPath + "/" + target
            FS.removeAll(victim)
            if mknod(victim, S_IFCHR | 0o000, 0) != 0 { throw ArchiveError("whiteout \(rel): \(SysError("mknod"))") }
            return
        }
        let full = root + "/" + rel
        var st = stat()
        let exists = lstat(full, &st) == 0
        if exists && !(e.kind == .directory && (st.st_mode & S_IFMT) == S_IFDIR) { FS.removeAll(full) }

        switch e.kind {
        case .directory:
            if !(exists && (st.st_mode & S_IFMT) == S_IFDIR) && mkdir(full, 0o755) != 0 { throw ArchiveError("mkdir \(rel): \(SysError("mkdir"))") }
            chmod(full, mode_t(e.mode & 0o7777))
            dirTimes.append((full, e.mtime, e.mtimeNanos))
        case .file:
            let fd = open(full, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
            if fd < 0 { throw ArchiveError("create \(rel): \(SysError("open"))") }
            do throws(ArchiveError) {
                try reader.readData { (b) throws(ArchiveError) in
                    do { try FS.writeAll(fd: fd, b) } catch { throw ArchiveError("write \(rel): \(error)") }
                }
            } catch { close(fd); throw error }
            close(fd)
        case .symlink:
            guard trusted || SafePath.symlinkStaysInside(entryPath: rel, target: e.linkTarget) else {
                throw ArchiveError("invalid symlink \(quote(rel)) -> \(quote(e.linkTarget)): points outside of the archive root")
            }
            if symlink(e.linkTarget, full) != 0 { throw ArchiveError("symlink \(rel): \(SysError("symlink"))") }
        case .hardlink:
            guard !e.linkTarget.hasPrefix("/"), let target = SafePath.clean(e.linkTarget), !target.isEmpty else {
                throw ArchiveError("invalid hardlink \(quote(rel)) -> \(quote(e.linkTarget)): points outside of the archive root")
            }
            let tparent = target.split(separator: "/").dropLast().joined(separator: "/")
            try ensureNoSymlinks(tparent)
            if link(root + "/" + target, full) != 0 { throw ArchiveError("link \(rel): \(SysError("link"))") }
        case .charDevice, .blockDevice, .fifo:
            let type: mode_t = e.kind == .charDevice ? S_IFCHR : e.kind == .blockDevice ? S_IFBLK : S_IFIFO
            let dev = makedev(e.devMajor, e.devMinor)
            if mknod(full, type | mode_t(e.mode & 0o7777), dev) != 0 { throw ArchiveError("mknod \(rel): \(SysError("mknod"))") }
        case .other:
            return
        }
        // A hard link shares its target's inode: its header's metadata must not rewrite it.
        if e.kind == .hardlink { return }
        switch ownership {
        case .archived: lchown(full, uid_t(e.uid), gid_t(e.gid))
        case .caller: break
        case .fixed(let uid, let gid): lchown(full, uid_t(uid), gid_t(gid))
        }
        if e.kind != .symlink && e.kind != .directory { chmod(full, mode_t(e.mode & 0o7777)) }
        for (k, v) in e.xattrs where k.hasPrefix("user.") || k.hasPrefix("security.capability") {
            _ = v.withUnsafeBytes { lsetxattr(full, k, $0.baseAddress, $0.count, 0) }
        }
        if e.kind != .directory { setTime(full, e.mtime, e.mtimeNanos) }
    }

    private func makedev(_ major: UInt32, _ minor: UInt32) -> dev_t {
        let ma = dev_t(major), mi = dev_t(minor)
        return ((ma & 0xfffff000) << 32) | ((ma & 0xfff) << 8) | ((mi & 0xffffff00) << 12) | (mi & 0xff)
    }

    private func setTime(_ path: String, _ secs: Int64, _ nanos: Int) {
        var ts = [timespec(tv_sec: Int(secs), tv_nsec: nanos), timespec(tv_sec: Int(secs), tv_nsec: nanos)]
        utimensat(AT_FDCWD, path, &ts, AT_SYMLINK_NOFOLLOW)
    }

    /// Every component of rel must be a real directory (created if missing), never a symlink.
    private func ensureDirectory(_ rel: String) throws(ArchiveError) {
        var cur = root
        for c in rel.split(separator: "/") {
            cur += "/" + c
            var st = stat()
            if lstat(cur, &st) == 0 {
                if (st.st_mode & S_IFMT) == S_IFLNK { throw ArchiveError("invalid tar entry under \(quote(rel)): path goes through a symlink") }
                if (st.st_mode & S_IFMT) != S_IFDIR { throw ArchiveError("invalid tar entry under \(quote(rel)): not a directory") }
            } else if mkdir(cur, 0o755) != 0 {
                throw ArchiveError("mkdir \(cur): \(SysError("mkdir"))")
            }
        }
    }

    private func ensureNoSymlinks(_ rel: String) throws(ArchiveError) {
        var cur = root
        for c in rel.split(separator: "/") {
            cur += "/" + c
            var st = stat()
            if lstat(cur, &st) == 0, (st.st_mode & S_IFMT) == S_IFLNK {
                throw ArchiveError("invalid hardlink under \(quote(rel)): path goes through a symlink")
            }
        }
    }

    private func quote(_ s: String) -> String { "\"" + s + "\"" }
}
