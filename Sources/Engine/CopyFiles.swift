import Archive
import CSys
import DockerAPI
import Foundation
import JSON
import OCI
import Runtime
import Sys

/// `docker cp`: paths resolved inside the container's root (symlinks followed as the container
/// would, never out of it), with the container paused meanwhile so it cannot swap a path for a
/// symlink under us (the CVE-2018-15664 class), as Docker does.
extension Engine {
    public struct PathStat: Sendable {
        public var name: String
        public var size: Int64
        public var mode: UInt32  // Go os.FileMode bits
        public var mtime: String
        public var linkTarget: String
        public var isDir: Bool

        public var json: JSON {
            ["name": .string(name), "size": .int(size), "mode": .int(Int64(mode)), "mtime": .string(mtime), "linkTarget": .string(linkTarget)]
        }
    }

    /// The container's root for `cp` as the container sees it, volumes and bind mounts included: a
    /// running container's through its own mount namespace (`/proc/<pid>/root`), frozen; a stopped
    /// one's mounted here with its volumes and binds on top. With what undoes the freeze or the
    /// mount, which the caller must call (from any thread).
    func frozenRoot(_ ref: String) async throws(EngineError) -> (Container, String, @Sendable () -> Void) {
        let c = try container(ref)
        if c.state.running {
            let root = c.state.pid > 0 ? "/proc/\(c.state.pid)/root" : rootfs(c.id)
            guard await holdFrozen(c.id) else { return (c, root, {}) }  // the walk is on descriptors all the same
            return (c, root, releaser(c.id))
        }
        let root: String
        do {
            root = try mountRootfs(c.id, chains: lowerChains(c))
        } catch { throw .internalError("mounting the container's filesystem: \(error)") }
        // A lazy unmount of the root takes the volume binds below it along.
        let release: @Sendable () -> Void = { umount2(root, Int32(MNT_DETACH)) }
        do { try Engine.bindMounts(c.mounts, into: root) } catch {
            release()
            throw .internalError("mounting the container's volumes: \(error)")
        }
        return (c, root, release)
    }

    /// cp's failures in dockerd's terms: a refused archive is the client's (400).
    nonisolated static func copyError(_ error: any Error) -> EngineError {
        if let e = error as? EngineError { return e }
        if let e = error as? ArchiveError { return .badRequest(e.message) }
        return .wrapping(error)
    }

    /// Volumes and binds of a stopped container over its mounted root, shallowest first, each
    /// destination resolved inside the root on descriptors (a symlink in the image cannot aim
    /// one elsewhere, and the mount goes on the directory resolved, through /proc's link to it).
    nonisolated static func bindMounts(_ mounts: [MountPoint], into root: String) throws {
        let rootfd = try DirFD.openDirectory(root, flags: DirFD.pathOnly)
        defer { close(rootfd) }
        for m in mounts.filter({ $0.type != .tmpfs && !$0.source.isEmpty }).sorted(by: { $0.destination.count < $1.destination.count }) {
            let dest = MountParser.clean(m.destination)
            guard dest != "/" else { continue }
            var fd = DirFD.open(rootfd, dest, DirFD.pathOnly, .container)
            if fd < 0 && errno == ENOENT {
                let parent = try DirFD.mkdirAll(rootfd, String(dest[..<dest.lastIndex(of: "/")!]), .container)
                defer { close(parent) }
                let name = String(dest[dest.index(after: dest.lastIndex(of: "/")!)...])
                if FS.isDirectory(m.source) {
                    if mkdirat(parent, name, 0o755) != 0 && errno != EEXIST { throw SysError("mkdir \(m.destination)") }
                } else {
                    let f = openat(parent, name, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o644)
                    guard f >= 0 else { throw SysError("create \(m.destination)") }
                    close(f)
                }
                fd = DirFD.open(rootfd, dest, DirFD.pathOnly, .container)
            }
            guard fd >= 0 else { throw SysError("open \(m.destination) in the container") }
            defer { close(fd) }
            guard mount(m.source, DirFD.procPath(fd), nil, UInt(MS_BIND | MS_REC), nil) == 0 else { throw SysError("bind \(m.destination)") }
        }
    }

    func lowerChains(_ c: Container) -> [OCI.Digest] {
        chainIDs((try? store.image(id: c.image))?.map { $0.config.diffIDs } ?? [])
    }

    /// A path of the container as the kernel resolves it inside the root: either the directory
    /// holding its last component plus that name (the component itself not followed), or, for
    /// the root, a trailing `/`, `.` or `..`, the directory it names (followed).
    enum Located: Sendable {
        case entry(parent: Int32, name: String)
        case itself(Int32)
        var fd: Int32 {
            switch self {
            case .entry(let p, _): return p
            case .itself(let fd): return fd
            }
        }
    }

    static func locate(_ rootfd: Int32, _ path: String) throws(EngineError) -> Located? {
        let comps = path.split(separator: "/")
        let followFinal = path.hasSuffix("/") || comps.last == "." || comps.last == ".."
        if comps.isEmpty || followFinal {
            let fd = DirFD.open(rootfd, path, DirFD.pathOnly | O_DIRECTORY, .container)
            if fd < 0 { return try notFound(path) }
            return .itself(fd)
        }
        let parent = DirFD.open(rootfd, comps.dropLast().joined(separator: "/"), DirFD.pathOnly | O_DIRECTORY, .container)
        if parent < 0 { return try notFound(path) }
        let name = String(comps.last!)
        guard DirFD.lstat(parent, name) != nil else {
            close(parent)
            return nil
        }
        return .entry(parent: parent, name: name)
    }

    private static func notFound(_ path: String) throws(EngineError) -> Located? {
        if errno == ENOENT || errno == ENOTDIR { return nil }
        throw .internalError("resolving \(path) in the container: \(SysError("openat2"))")
    }

    /// What `docker cp` reports of a located path (Go's os.FileMode bits).
    /// A link's target is reported fully resolved inside the root, as an absolute path (dockerd's
    /// StatPath), not as written.
    static func stat(_ at: Located, name: String, rootfd: Int32, path: String) -> PathStat? {
        var st = Glibc.stat()
        var link = ""
        switch at {
        case .itself(let fd): guard fstat(fd, &st) == 0 else { return nil }
        case .entry(let parent, let entry):
            guard fstatat(parent, entry, &st, AT_SYMLINK_NOFOLLOW) == 0 else { return nil }
            if (st.st_mode & S_IFMT) == S_IFLNK { link = DirFD.resolvedName(rootfd, path) ?? DirFD.readLink(parent, entry) }
        }
        var mode = UInt32(st.st_mode & 0o777)
        switch st.st_mode & S_IFMT {
        case S_IFDIR: mode |= 1 << 31
        case S_IFLNK: mode |= 1 << 27
        default: break
        }
        let mtime = Timestamp(nanos: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)).goRFC3339Nano
        return PathStat(
            name: name, size: Int64(st.st_size), mode: mode, mtime: mtime, linkTarget: link, isDir: (st.st_mode & S_IFMT) == S_IFDIR)
    }

    /// The name dockerd gives a path in `cp`: the last component once cleaned (`a/b/..` is `a`),
    /// except that a trailing `/.` is kept (`dir/.` is `.`: the directory's contents).
    static func baseName(_ path: String) -> String {
        if path == "." || path.hasSuffix("/.") { return "." }
        return MountParser.clean(path).split(separator: "/").last.map(String.init) ?? "/"
    }

    public func statPath(_ ref: String, path: String) async throws(EngineError) -> PathStat {
        let source = try await archiveSource(ref, path: path)
        source.finish()
        return source.stat
    }

    /// `GET /containers/{id}/archive`: the path located and stat'ed, and its tar walk to run off
    /// the actor, streamed as it goes: however big the tree, no other request waits for it and
    /// none of it is held in memory or on disk (it was both: a 2 GB file took 2 GB of berthd's
    /// memory and blocked every request for 2.6 s). The container stays frozen, or its stopped
    /// root mounted, until `finish`.
    public struct ArchiveSource: Sendable {
        public let stat: PathStat
        let at: Located
        let shift: IDShift?
        let release: @Sendable () -> Void

        /// The tar of the path, through `emit`. A followed directory goes out under the name asked
        /// for, as dockerd rebases it.
        public func write(_ emit: @escaping ([UInt8]) throws -> Void) throws(EngineError) {
            do {
                switch at {
                case .entry(let parent, let name):
                    let tree = TreeTar(rootFD: parent, layer: false, sink: emit)
                    tree.shift = shift
                    try tree.write(only: name)
                case .itself(let dir):
                    let tree = TreeTar(rootFD: dir, layer: false, sink: emit)
                    tree.shift = shift
                    if stat.name == "/" { try tree.write() } else { try tree.write(directoryAs: stat.name) }
                }
            } catch { throw Engine.copyError(error) }
        }

        /// Closes the path's descriptor and thaws (or unmounts) the container.
        public func finish() {
            close(at.fd)
            release()
        }
    }

    public func archiveSource(_ ref: String, path: String) async throws(EngineError) -> ArchiveSource {
        let shift = try idShift(container(ref).id)
        let (c, root, release) = try await frozenRoot(ref)
        do {
            let rootfd = try DirFD.openDirectory(root, flags: DirFD.pathOnly)
            defer { close(rootfd) }
            guard let at = try Engine.locate(rootfd, path) else {
                throw EngineError.notFound("Could not find the file \(path) in container \(c.name)")
            }
            guard let s = Engine.stat(at, name: Engine.baseName(path), rootfd: rootfd, path: path) else {
                close(at.fd)
                throw EngineError.notFound("Could not find the file \(path) in container \(c.name)")
            }
            return ArchiveSource(stat: s, at: at, shift: shift, release: release)
        } catch {
            release()
            throw Self.copyError(error)
        }
    }

    /// `PUT /containers/{id}/archive`: a tar extracted into a directory of the container, opened
    /// inside its root; the unpacker works on that descriptor, never through a symlink there.
    /// `copyUIDGID` (`cp -a`): everything is owned by the container's user, as dockerd does;
    /// otherwise ownership is as archived.
    /// The unpacking runs off the actor (the tar is the client's, as big as it likes).
    public func extractInto(_ ref: String, path: String, tarFile: String, copyUIDGID: Bool = false) async throws(EngineError) {
        let shift = try idShift(container(ref).id)
        let (c, root, release) = try await frozenRoot(ref)
        defer { release() }
        let done = await Self.offActor {
            let rootfd = try DirFD.openDirectory(root, flags: DirFD.pathOnly)
            defer { close(rootfd) }
            let dir = DirFD.open(rootfd, path, O_RDONLY | O_DIRECTORY, .container)
            if dir < 0 {
                let isEntry = errno == ENOTDIR ? DirFD.open(rootfd, path, DirFD.pathOnly, .container) : -1
                if isEntry >= 0 {
                    close(isEntry)
                    throw EngineError.badRequest("extraction point is not a directory")
                }
                if errno == ENOENT || errno == ENOTDIR { throw EngineError.notFound("Could not find the file \(path) in container \(c.name)") }
                throw SysError("open \(path) in the container")
            }
            defer { close(dir) }
            var ownership = LayerUnpacker.Ownership.archived
            if copyUIDGID {
                let files = try Engine.userFiles(root: root)
                let u = try UserResolver.resolve(c.config.user, passwd: files.passwd, group: files.group)
                ownership = .fixed(UInt32(u.uid), UInt32(u.gid))
            }
            var unpacker = LayerUnpacker(rootFD: dir, trusted: true, ownership: ownership)
            unpacker.shift = shift
            try unpacker.unpack(tarPath: tarFile)
        }
        if case .failure(let error) = done { throw Self.copyError(error) }
    }
}

extension Engine {
    /// What `path` names inside `root` (links followed in-root), nil when absent.
    nonisolated static func statInRoot(_ root: String, _ path: String) -> Glibc.stat? {
        guard let rootfd = try? DirFD.openDirectory(root, flags: DirFD.pathOnly) else { return nil }
        defer { close(rootfd) }
        let fd = DirFD.open(rootfd, path, DirFD.pathOnly, .container)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = Glibc.stat()
        return fstat(fd, &st) == 0 ? st : nil
    }

    nonisolated static func isDirectoryInRoot(_ root: String, _ path: String) -> Bool {
        statInRoot(root, path).map { ($0.st_mode & S_IFMT) == S_IFDIR } ?? false
    }

    struct UserFiles: Sendable {
        var passwd: String
        var group: String
    }

    /// As `userFiles`, on the global executor rather than the caller's (the engine's actor).
    nonisolated static func userFilesOffActor(root: String) async throws(EngineError) -> (passwd: String, group: String) {
        let result = await Task.detached { () -> Result<UserFiles, EngineError> in
            do throws(EngineError) {
                let f = try Engine.userFiles(root: root)
                return .success(UserFiles(passwd: f.passwd, group: f.group))
            } catch { return .failure(error) }
        }.value
        switch result {
        case .success(let f): return (f.passwd, f.group)
        case .failure(let e): throw e
        }
    }

    /// A container root's /etc/passwd and /etc/group, read inside the root (SafeFS: no link
    /// out of it, no FIFO waited on, at most 1 MiB each); "" for a file that is absent.
    nonisolated static func userFiles(root: String) throws(EngineError) -> (passwd: String, group: String) {
        do {
            return (try SafeFS.readTextInRoot(root, "/etc/passwd"), try SafeFS.readTextInRoot(root, "/etc/group"))
        } catch { throw .badRequest("reading the container's user database: \(error)") }
    }
}
