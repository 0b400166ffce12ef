import Archive
import BuildKitAPI
import Engine
import Foundation
import Sys

/// Where a FileSync transfer's entries go, in walk order (a directory before what it holds).
/// Paths and numbers were checked by `FileSyncReceiver` before they reach a sink. A sink is used
/// by one transfer, one packet at a time (hence unchecked Sendable: it crosses into the stream's
/// handler, never shared).
protocol ContextSink: AnyObject, Sendable {
    func directory(_ s: Fsutil_Types_Stat, perm: Int) throws
    func symlink(_ s: Fsutil_Types_Stat) throws
    func fifo(_ s: Fsutil_Types_Stat, perm: Int) throws
    func hardlink(_ s: Fsutil_Types_Stat, perm: Int) throws
    /// A file unchanged since the last transfer: the daemon's copy, open for reading.
    func kept(_ s: Fsutil_Types_Stat, perm: Int, fd: Int32) throws
    /// A file the client is about to send: `write` gets its bytes, `end` follows them.
    func begin(_ s: Fsutil_Types_Stat, perm: Int) throws
    func write(_ bytes: [UInt8]) throws
    func end(_ s: Fsutil_Types_Stat, perm: Int) throws
    func finish() throws
}

/// The transfer as a tar, for a builder that takes one.
final class TarSink: ContextSink, @unchecked Sendable {
    let tar: TarWriter
    init(_ tar: TarWriter) { self.tar = tar }

    private static func mtime(_ s: Fsutil_Types_Stat) -> Int64 { s.modTime / 1_000_000_000 }

    func directory(_ s: Fsutil_Types_Stat, perm: Int) throws {
        try tar.entry(s.path + "/", type: "5", mode: perm, uid: Int(s.uid), gid: Int(s.gid), mtime: Self.mtime(s))
    }
    func symlink(_ s: Fsutil_Types_Stat) throws {
        try tar.entry(s.path, type: "2", mode: 0o777, uid: Int(s.uid), gid: Int(s.gid), mtime: Self.mtime(s), link: s.linkname)
    }
    func fifo(_ s: Fsutil_Types_Stat, perm: Int) throws {
        try tar.entry(s.path, type: "6", mode: perm, uid: Int(s.uid), gid: Int(s.gid), mtime: Self.mtime(s))
    }
    func hardlink(_ s: Fsutil_Types_Stat, perm: Int) throws {
        try tar.entry(s.path, type: "1", mode: perm, uid: Int(s.uid), gid: Int(s.gid), mtime: Self.mtime(s), link: s.linkname)
    }
    func kept(_ s: Fsutil_Types_Stat, perm: Int, fd: Int32) throws {
        try begin(s, perm: perm)
        var left = s.size
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        while left > 0 {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, Int(min(Int64($0.count), left))) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw FileSyncReceiver.Failure.protocolError("the kept copy of \(s.path) is short") }
            try tar.write(Array(buf[0..<n]))
            left -= Int64(n)
        }
        try end(s, perm: perm)
    }
    func begin(_ s: Fsutil_Types_Stat, perm: Int) throws {
        try tar.entry(s.path, type: "0", size: s.size, mode: perm, uid: Int(s.uid), gid: Int(s.gid), mtime: Self.mtime(s))
    }
    func write(_ bytes: [UInt8]) throws { try tar.write(bytes) }
    func end(_ s: Fsutil_Types_Stat, perm: Int) throws { try tar.pad(s.size) }
    func finish() throws { try tar.finish() }
}

/// The transfer as a directory the builder reads in place: files kept from the last transfer
/// are hard links to the daemon's copies (nothing copied; the copies are replaced, never
/// rewritten, so a later transfer cannot change this snapshot's contents), sent files are
/// written. Every name is made beneath the snapshot's root on descriptors: parents opened with
/// RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, nothing created through a link.
final class SnapshotSink: ContextSink, @unchecked Sendable {
    let rootfd: Int32
    private(set) var entries: [BuildContextEntry] = []
    private var dirTimes: [(String, Int64)] = []
    private var receiving: Int32 = -1

    init(directory: String) throws {
        try FS.mkdirAll(directory, mode: 0o700)
        rootfd = try DirFD.openDirectory(directory)
    }

    deinit {
        if receiving >= 0 { close(receiving) }
        close(rootfd)
    }

    private func record(_ s: Fsutil_Types_Stat, _ kind: TarEntry.Kind, perm: Int) {
        entries.append(
            BuildContextEntry(
                path: s.path, kind: kind, mode: UInt32(perm), size: kind == .file ? s.size : 0, mtime: s.modTime / 1_000_000_000,
                mtimeNanos: Int(s.modTime % 1_000_000_000), link: s.linkname))
    }

    /// The entry's parent directory, open, and its own name.
    private func parent(_ path: String) throws -> (fd: Int32, name: String) {
        let slash = path.lastIndex(of: "/")
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let fd: Int32
        if let slash {
            fd = DirFD.open(rootfd, String(path[..<slash]), O_RDONLY | O_DIRECTORY, .strict)
        } else {
            fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        }
        guard fd >= 0 else { throw SysError("open the directory of \(path)") }
        return (fd, name)
    }

    private func own(_ dirfd: Int32, _ name: String, _ s: Fsutil_Types_Stat, perm: Int?) throws {
        guard fchownat(dirfd, name, s.uid, s.gid, AT_SYMLINK_NOFOLLOW) == 0 else { throw SysError("chown \(s.path)") }
        if let perm, fchmodat(dirfd, name, mode_t(perm), 0) != 0 { throw SysError("chmod \(s.path)") }
    }

    private func setTime(_ dirfd: Int32, _ name: String, _ modTime: Int64) {
        let t = timespec(tv_sec: Int(modTime / 1_000_000_000), tv_nsec: Int(modTime % 1_000_000_000))
        var times = [t, t]
        utimensat(dirfd, name, &times, AT_SYMLINK_NOFOLLOW)
    }

    func directory(_ s: Fsutil_Types_Stat, perm: Int) throws {
        let (dirfd, name) = try parent(s.path)
        defer { close(dirfd) }
        guard mkdirat(dirfd, name, 0o700) == 0 else { throw SysError("mkdir \(s.path)") }
        try own(dirfd, name, s, perm: perm)
        dirTimes.append((s.path, s.modTime))
        record(s, .directory, perm: perm)
    }

    func symlink(_ s: Fsutil_Types_Stat) throws {
        let (dirfd, name) = try parent(s.path)
        defer { close(dirfd) }
        guard symlinkat(s.linkname, dirfd, name) == 0 else { throw SysError("symlink \(s.path)") }
        try own(dirfd, name, s, perm: nil)
        setTime(dirfd, name, s.modTime)
        record(s, .symlink, perm: 0o777)
    }

    func fifo(_ s: Fsutil_Types_Stat, perm: Int) throws {
        let (dirfd, name) = try parent(s.path)
        defer { close(dirfd) }
        guard mkfifoat(dirfd, name, 0o600) == 0 else { throw SysError("mkfifo \(s.path)") }
        try own(dirfd, name, s, perm: perm)
        record(s, .fifo, perm: perm)
    }

    func hardlink(_ s: Fsutil_Types_Stat, perm: Int) throws {
        let (dirfd, name) = try parent(s.path)
        defer { close(dirfd) }
        let (tdir, tname) = try parent(s.linkname)
        defer { close(tdir) }
        guard linkat(tdir, tname, dirfd, name, 0) == 0 else { throw SysError("link \(s.path)") }
        record(s, .hardlink, perm: perm)
    }

    func kept(_ s: Fsutil_Types_Stat, perm: Int, fd: Int32) throws {
        let (dirfd, name) = try parent(s.path)
        defer { close(dirfd) }
        if linkat(fd, "", dirfd, name, 0x1000 /* AT_EMPTY_PATH */) != 0 {
            // Another filesystem, or no CAP_DAC_READ_SEARCH: copy it instead.
            let out = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard out >= 0 else { throw SysError("create \(s.path)") }
            defer { close(out) }
            var buf = [UInt8](repeating: 0, count: 1 << 16)
            var off: off_t = 0
            while true {
                let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off) }
                if n < 0 && errno == EINTR { continue }
                guard n >= 0 else { throw SysError("read the kept copy of \(s.path)") }
                if n == 0 { break }
                try FS.writeAll(fd: out, Array(buf[0..<n]))
                off += off_t(n)
            }
        }
        try own(dirfd, name, s, perm: perm)
        setTime(dirfd, name, s.modTime)
        record(s, .file, perm: perm)
    }

    func begin(_ s: Fsutil_Types_Stat, perm: Int) throws {
        let (dirfd, name) = try parent(s.path)
        defer { close(dirfd) }
        receiving = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard receiving >= 0 else { throw SysError("create \(s.path)") }
    }

    func write(_ bytes: [UInt8]) throws { try FS.writeAll(fd: receiving, bytes) }

    func end(_ s: Fsutil_Types_Stat, perm: Int) throws {
        close(receiving)
        receiving = -1
        let (dirfd, name) = try parent(s.path)
        defer { close(dirfd) }
        try own(dirfd, name, s, perm: perm)
        setTime(dirfd, name, s.modTime)
        record(s, .file, perm: perm)
    }

    func finish() throws {
        for (path, t) in dirTimes.reversed() {
            guard let (dirfd, name) = try? parent(path) else { continue }
            setTime(dirfd, name, t)
            close(dirfd)
        }
    }
}
