import Archive
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
        public var hostPath: String
        public var isDir: Bool

        public var json: JSON {
            ["name": .string(name), "size": .int(size), "mode": .int(Int64(mode)), "mtime": .string(mtime), "linkTarget": .string(linkTarget)]
        }
    }

    /// Runs `body` on the container's root as the container sees it, volumes and bind mounts
    /// included: a running container's through its own mount namespace (`/proc/<pid>/root`),
    /// frozen meanwhile; a stopped one's mounted here with its volumes and binds on top.
    func withFrozenRoot<T>(_ ref: String, _ body: (Container, String) throws -> T) throws(EngineError) -> T {
        let c = try container(ref)
        var release: () -> Void = {}
        let root: String
        if c.state.running {
            root = c.state.pid > 0 ? "/proc/\(c.state.pid)/root" : rootfs(c.id)
            if !c.state.paused {
                _ = try? Proc.run(runtimeArgv + ["pause", c.id])
                release = { [runtimeArgv] in _ = try? Proc.run(runtimeArgv + ["resume", c.id]) }
            }
        } else {
            do {
                root = try mountRootfs(c.id, chains: lowerChains(c))
            } catch { throw .internalError("mounting the container's filesystem: \(error)") }
            // A lazy unmount of the root takes the volume binds below it along.
            release = { umount2(root, Int32(MNT_DETACH)) }
            do { try Engine.bindMounts(c.mounts, into: root) } catch {
                release()
                throw .internalError("mounting the container's volumes: \(error)")
            }
        }
        defer { release() }
        do { return try body(c, root) } catch let e as EngineError { throw e } catch let e as ArchiveError {
            throw .badRequest(e.message)
        } catch { throw .wrapping(error) }
    }

    /// Volumes and binds of a stopped container over its mounted root, shallowest first, each
    /// destination resolved inside the root (a symlink in the image cannot aim one elsewhere).
    nonisolated static func bindMounts(_ mounts: [MountPoint], into root: String) throws {
        for m in mounts.filter({ $0.type != .tmpfs && !$0.source.isEmpty }).sorted(by: { $0.destination.count < $1.destination.count }) {
            let target = try SafePath.resolveInRoot(root, m.destination, followFinal: true)
            guard target.hasPrefix(root + "/") else { continue }
            if !FS.exists(target) {
                if FS.isDirectory(m.source) {
                    try FS.mkdirAll(target, mode: 0o755)
                } else {
                    try FS.mkdirAll(String(target[..<target.lastIndex(of: "/")!]), mode: 0o755)
                    let fd = open(target, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o644)
                    guard fd >= 0 else { throw SysError("create \(m.destination)") }
                    close(fd)
                }
            }
            guard mount(m.source, target, nil, UInt(MS_BIND | MS_REC), nil) == 0 else { throw SysError("bind \(m.destination)") }
        }
    }

    func lowerChains(_ c: Container) -> [OCI.Digest] {
        chainIDs((try? store.image(id: c.image))?.map { $0.config.diffIDs } ?? [])
    }

    /// `host` resolved under `root`; the root itself may be /proc/<pid>/root, a link to follow
    /// (a trailing slash does), where any other final link is reported as the link it is.
    static func stat(_ host: String, in root: String, name: String) -> PathStat? {
        var st = Glibc.stat()
        guard lstat(host == root ? host + "/" : host, &st) == 0 else { return nil }
        var mode = UInt32(st.st_mode & 0o777)
        var link = ""
        switch st.st_mode & S_IFMT {
        case S_IFDIR: mode |= 1 << 31
        case S_IFLNK:
            mode |= 1 << 27
            var buf = [CChar](repeating: 0, count: 4097)
            let n = readlink(host, &buf, 4096)
            if n > 0 { link = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        default: break
        }
        let mtime = Timestamp(nanos: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)).goRFC3339Nano
        return PathStat(
            name: name, size: Int64(st.st_size), mode: mode, mtime: mtime, linkTarget: link, hostPath: host,
            isDir: (st.st_mode & S_IFMT) == S_IFDIR)
    }

    public func statPath(_ ref: String, path: String) throws(EngineError) -> PathStat {
        try withFrozenRoot(ref) { c, root in
            let host = try SafePath.resolveInRoot(root, path, followFinal: path.hasSuffix("/") || path.hasSuffix("/."))
            let name = path.split(separator: "/").last.map(String.init) ?? "/"
            guard let s = Engine.stat(host, in: root, name: name) else {
                throw EngineError.notFound("Could not find the file \(path) in container \(c.name)")
            }
            return s
        }
    }

    /// `GET /containers/{id}/archive`: the path (and what is below it) as a tar, into `file`.
    public func archivePath(_ ref: String, path: String, to file: String) throws(EngineError) -> PathStat {
        try withFrozenRoot(ref) { c, root in
            let host = try SafePath.resolveInRoot(root, path, followFinal: path.hasSuffix("/") || path.hasSuffix("/."))
            let name = host == root ? "/" : String(host.split(separator: "/").last ?? "")
            guard let s = Engine.stat(host, in: root, name: path.split(separator: "/").last.map(String.init) ?? "/") else {
                throw EngineError.notFound("Could not find the file \(path) in container \(c.name)")
            }
            let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw SysError("open \(file)") }
            defer { close(fd) }
            if host == root {
                try TreeTar(root: root, layer: false) { try FS.writeAll(fd: fd, $0) }.write()
            } else {
                let parent = String(host[..<host.lastIndex(of: "/")!])
                try TreeTar(root: parent, layer: false) { try FS.writeAll(fd: fd, $0) }.write(only: name)
            }
            return s
        }
    }

    /// `PUT /containers/{id}/archive`: a tar extracted into a directory of the container; entries
    /// may not write through symlinks (the unpacker refuses), and the directory is resolved in-root.
    /// `copyUIDGID` (`cp -a`): everything is owned by the container's user, as dockerd does;
    /// otherwise ownership is as archived.
    public func extractInto(_ ref: String, path: String, tarFile: String, copyUIDGID: Bool = false) throws(EngineError) {
        try withFrozenRoot(ref) { c, root in
            let host = try SafePath.resolveInRoot(root, path, followFinal: true)
            guard let s = Engine.stat(host, in: root, name: "") else {
                throw EngineError.notFound("Could not find the file \(path) in container \(c.name)")
            }
            guard s.isDir else { throw EngineError.badRequest("extraction point is not a directory") }
            var ownership = LayerUnpacker.Ownership.archived
            if copyUIDGID {
                let files = try Engine.userFiles(root: root)
                let u = try UserResolver.resolve(c.config.user, passwd: files.passwd, group: files.group)
                ownership = .fixed(UInt32(u.uid), UInt32(u.gid))
            }
            try LayerUnpacker(root: host, trusted: true, ownership: ownership).unpack(tarPath: tarFile)
        }
    }
}

extension Engine {
    /// A container root's /etc/passwd and /etc/group, read inside the root (SafeFS: no link
    /// out of it, no FIFO waited on, at most 1 MiB each); "" for a file that is absent.
    nonisolated static func userFiles(root: String) throws(EngineError) -> (passwd: String, group: String) {
        do {
            return (try SafeFS.readTextInRoot(root, "/etc/passwd"), try SafeFS.readTextInRoot(root, "/etc/group"))
        } catch { throw .badRequest("reading the container's user database: \(error)") }
    }
}
