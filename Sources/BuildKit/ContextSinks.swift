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
    /// Whether the daemon holds this file as the client has it (size, time, mode, owner), so it
    /// need not be sent.
    func unchanged(_ s: Fsutil_Types_Stat) -> Bool
    /// A file `unchanged` said the daemon holds.
    func kept(_ s: Fsutil_Types_Stat, perm: Int) throws
    /// How many files may be asked for at once (their DATA then interleaves by id): a tar is
    /// written one file after another, a directory can take several at a time.
    var window: Int { get }
    /// A file the client is about to send (by its walk id): `write` gets its bytes, `end`
    /// follows them.
    func begin(_ id: UInt32, _ s: Fsutil_Types_Stat, perm: Int) throws
    func write(_ id: UInt32, _ bytes: [UInt8]) throws
    func end(_ id: UInt32, _ s: Fsutil_Types_Stat, perm: Int) throws
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
    func unchanged(_ s: Fsutil_Types_Stat) -> Bool { false }
    func kept(_ s: Fsutil_Types_Stat, perm: Int) throws { throw SysError("no kept copy of \(s.path)") }
    var window: Int { 1 }
    func begin(_ id: UInt32, _ s: Fsutil_Types_Stat, perm: Int) throws {
        try tar.entry(s.path, type: "0", size: s.size, mode: perm, uid: Int(s.uid), gid: Int(s.gid), mtime: Self.mtime(s))
    }
    func write(_ id: UInt32, _ bytes: [UInt8]) throws { try tar.write(bytes) }
    func end(_ id: UInt32, _ s: Fsutil_Types_Stat, perm: Int) throws { try tar.pad(s.size) }
    func finish() throws { try tar.finish() }
}

/// The transfer into a generation of a client directory the daemon keeps (LocalContexts.swift):
/// in place when no build reads it — only what changed is written, what the client no longer
/// has is removed — or as the next generation, unchanged files hard-linked from the latest
/// (their inodes are never rewritten: a changed file is a new one). The builder then reads the
/// generation as the context. Every name is made beneath the root on descriptors: parents opened
/// with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, nothing created or removed through a link.
final class GenerationSink: ContextSink, @unchecked Sendable {
    let rootfd: Int32
    /// The latest generation, when this transfer makes the next one.
    private let basefd: Int32?
    private let base: [String: LocalContextEntry]
    private let inPlace: Bool
    private(set) var entries: [BuildContextEntry] = []
    private(set) var manifest: [String: LocalContextEntry] = [:]
    private var dirTimes: [(String, Int64)] = []
    /// The files being received, by walk id (at most `window`).
    private var receiving: [UInt32: Int32] = [:]

    init(_ lease: LocalContextLease) throws {
        try FS.mkdirAll(lease.directory, mode: 0o700)
        rootfd = try DirFD.openDirectory(lease.directory)
        inPlace = lease.inPlace
        if let b = lease.baseDirectory, !lease.inPlace, let fd = try? DirFD.openDirectory(b) {
            basefd = fd
            base = lease.baseManifest ?? Self.scan(fd)
        } else {
            basefd = nil
            base = lease.inPlace ? (lease.baseManifest ?? Self.scan(rootfd)) : [:]
        }
    }

    deinit {
        for (_, fd) in receiving { close(fd) }
        if let basefd { close(basefd) }
        for (_, fd) in parents { close(fd) }
        close(rootfd)
    }

    static func entry(_ s: Fsutil_Types_Stat) -> LocalContextEntry {
        let m = s.mode
        let kind: LocalContextEntry.Kind =
            m & FileSyncReceiver.modeDir != 0
            ? .directory
            : m & FileSyncReceiver.modeSymlink != 0 ? .symlink : m & FileSyncReceiver.modeNamedPipe != 0 ? .fifo : s.linkname.isEmpty ? .file : .hardlink
        return LocalContextEntry(
            kind: kind, perm: kind == .symlink ? 0o777 : UInt32(FileSyncReceiver.permissions(m)), uid: s.uid, gid: s.gid,
            size: kind == .file ? s.size : 0, mtime: s.modTime, link: kind == .symlink || kind == .hardlink ? s.linkname : "")
    }

    /// What a generation holds, read from disk (after a restart), never following a link.
    static func scan(_ dirfd: Int32, prefix: String = "", into out: inout [String: LocalContextEntry], depth: Int = 0) {
        guard depth < 256 else { return }
        for name in (try? DirFD.list(dirfd)) ?? [] {
            guard let st = DirFD.lstat(dirfd, name) else { continue }
            let rel = prefix.isEmpty ? name : prefix + "/" + name
            let mtime = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
            var e = LocalContextEntry(kind: .file, perm: st.st_mode & 0o7777, uid: st.st_uid, gid: st.st_gid, size: 0, mtime: mtime, link: "")
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                e.kind = .directory
                let sub = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                if sub >= 0 {
                    scan(sub, prefix: rel, into: &out, depth: depth + 1)
                    close(sub)
                }
            case S_IFREG: e.size = Int64(st.st_size)
            case S_IFLNK:
                e.kind = .symlink
                e.perm = 0o777
                var buf = [CChar](repeating: 0, count: 4097)
                let n = readlinkat(dirfd, name, &buf, 4096)
                guard n >= 0 else { continue }
                e.link = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            case S_IFIFO: e.kind = .fifo
            default: continue
            }
            out[rel] = e
        }
    }

    static func scan(_ fd: Int32) -> [String: LocalContextEntry] {
        var out: [String: LocalContextEntry] = [:]
        scan(fd, into: &out)
        return out
    }

    private func record(_ s: Fsutil_Types_Stat, _ e: LocalContextEntry) {
        manifest[s.path] = e
        let kind: TarEntry.Kind
        switch e.kind {
        case .directory: kind = .directory
        case .file: kind = .file
        case .symlink: kind = .symlink
        case .fifo: kind = .fifo
        case .hardlink: kind = .hardlink
        }
        entries.append(
            BuildContextEntry(
                path: s.path, kind: kind, mode: e.perm, size: e.size, mtime: s.modTime / 1_000_000_000,
                mtimeNanos: Int(s.modTime % 1_000_000_000), link: e.link))
    }

    /// Directories opened so far, by path (a walk sends a directory's entries together, but
    /// returns to parents); closed at the end.
    private var parents: [String: Int32] = [:]

    /// The entry's parent directory (owned by the sink) and its own name.
    private func parent(_ path: String, in root: Int32? = nil) throws -> (fd: Int32, name: String) {
        let slash = path.lastIndex(of: "/")
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let dir = slash.map { String(path[..<$0]) } ?? ""
        if let root {  // the base generation's: not cached
            let fd = dir.isEmpty ? openat(root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) : DirFD.open(root, dir, O_RDONLY | O_DIRECTORY, .strict)
            guard fd >= 0 else { throw SysError("open the directory of \(path)") }
            return (fd, name)
        }
        if let fd = parents[dir] { return (fd, name) }
        let fd = dir.isEmpty ? openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) : DirFD.open(rootfd, dir, O_RDONLY | O_DIRECTORY, .strict)
        guard fd >= 0 else { throw SysError("open the directory of \(path)") }
        if parents.count > 4096 { forgetParents() }
        parents[dir] = fd
        return (fd, name)
    }

    private func forgetParents() {
        for (_, fd) in parents { close(fd) }
        parents = [:]
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

    /// In place, whatever holds the name now makes way (a directory: with what it holds, its
    /// descriptors forgotten first).
    private func clear(_ dirfd: Int32, _ name: String, _ path: String) {
        guard inPlace, base[path] != nil || DirFD.lstat(dirfd, name) != nil else { return }
        if base[path]?.kind == .directory || DirFD.lstat(dirfd, name).map({ $0.st_mode & S_IFMT == S_IFDIR }) == true {
            for (p, fd) in parents where p == path || p.hasPrefix(path + "/") {
                close(fd)
                parents[p] = nil
            }
        }
        DirFD.removeAll(dirfd, name)
    }

    func unchanged(_ s: Fsutil_Types_Stat) -> Bool {
        let e = Self.entry(s)
        return e.kind == .file && base[s.path] == e
    }

    func kept(_ s: Fsutil_Types_Stat, perm: Int) throws {
        let e = Self.entry(s)
        defer { record(s, e) }
        guard !inPlace, let basefd else { return }
        let (dirfd, name) = try parent(s.path)
        let (bdir, bname) = try parent(s.path, in: basefd)
        defer { close(bdir) }
        // Generations are siblings on one filesystem: the link shares the inode, owner, mode
        // and time included.
        guard linkat(bdir, bname, dirfd, name, 0) == 0 else { throw SysError("link the kept copy of \(s.path)") }
    }

    func directory(_ s: Fsutil_Types_Stat, perm: Int) throws {
        let e = Self.entry(s)
        let (dirfd, name) = try parent(s.path)
        if inPlace, let old = base[s.path], old.kind == .directory, DirFD.lstat(dirfd, name).map({ $0.st_mode & S_IFMT == S_IFDIR }) == true {
            if old.perm != e.perm || old.uid != e.uid || old.gid != e.gid { try own(dirfd, name, s, perm: perm) }
        } else {
            clear(dirfd, name, s.path)
            guard mkdirat(dirfd, name, 0o700) == 0 else { throw SysError("mkdir \(s.path)") }
            try own(dirfd, name, s, perm: perm)
        }
        dirTimes.append((s.path, s.modTime))
        record(s, e)
    }

    /// A symlink or FIFO: kept in place when unchanged, made otherwise.
    private func special(_ s: Fsutil_Types_Stat, perm: Int?, make: (Int32, String) -> Int32) throws {
        let e = Self.entry(s)
        defer { record(s, e) }
        let (dirfd, name) = try parent(s.path)
        if inPlace && base[s.path] == e { return }
        clear(dirfd, name, s.path)
        guard make(dirfd, name) == 0 else { throw SysError("create \(s.path)") }
        try own(dirfd, name, s, perm: perm)
        setTime(dirfd, name, s.modTime)
    }

    func symlink(_ s: Fsutil_Types_Stat) throws {
        try special(s, perm: nil) { symlinkat(s.linkname, $0, $1) }
    }

    func fifo(_ s: Fsutil_Types_Stat, perm: Int) throws {
        try special(s, perm: perm) { mkfifoat($0, $1, 0o600) }
    }

    func hardlink(_ s: Fsutil_Types_Stat, perm: Int) throws {
        let (dirfd, name) = try parent(s.path)
        clear(dirfd, name, s.path)
        let (tdir, tname) = try parent(s.linkname)
        guard linkat(tdir, tname, dirfd, name, 0) == 0 else { throw SysError("link \(s.path)") }
        record(s, Self.entry(s))
    }

    /// Files asked for at once: one round trip to the client per window, not per file (fsutil's
    /// own receiver asks for every file at once; its sender serves four at a time).
    var window: Int { 16 }

    func begin(_ id: UInt32, _ s: Fsutil_Types_Stat, perm: Int) throws {
        let (dirfd, name) = try parent(s.path)
        clear(dirfd, name, s.path)
        let fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SysError("create \(s.path)") }
        receiving[id] = fd
    }

    func write(_ id: UInt32, _ bytes: [UInt8]) throws {
        guard let fd = receiving[id] else { throw SysError("write \(id): not being received", errno: EBADF) }
        try FS.writeAll(fd: fd, bytes)
    }

    /// Owner, mode and times set on the file's own descriptor: nothing is looked up by name again.
    func end(_ id: UInt32, _ s: Fsutil_Types_Stat, perm: Int) throws {
        guard let fd = receiving.removeValue(forKey: id) else { throw SysError("end \(id): not being received", errno: EBADF) }
        defer { close(fd) }
        guard fchown(fd, s.uid, s.gid) == 0 else { throw SysError("chown \(s.path)") }
        guard fchmod(fd, mode_t(perm)) == 0 else { throw SysError("chmod \(s.path)") }
        let t = timespec(tv_sec: Int(s.modTime / 1_000_000_000), tv_nsec: Int(s.modTime % 1_000_000_000))
        var times = [t, t]
        futimens(fd, &times)
        record(s, Self.entry(s))
    }

    func finish() throws {
        if inPlace {
            // What the client no longer has goes, deepest first.
            for path in base.keys.filter({ manifest[$0] == nil }).sorted(by: { $0.count > $1.count }) {
                guard let (dirfd, name) = try? parent(path) else { continue }
                clear(dirfd, name, path)
            }
        }
        // Directories last: what was made in them moved their times.
        for (path, t) in dirTimes.reversed() {
            guard let (dirfd, name) = try? parent(path) else { continue }
            setTime(dirfd, name, t)
        }
        forgetParents()
    }
}
