import CSys
import Glibc
import Sys

/// One change of a container's writable layer against its image (`docker diff`).
public struct Change: Sendable, Equatable {
    public enum Kind: Int, Sendable { case modified = 0, added = 1, deleted = 2 }
    public var path: String
    public var kind: Kind
}

/// Walks directory trees into tar streams: a whole root filesystem (`export`), or an overlay
/// upper directory as a Docker layer, whose whiteouts (0/0 character devices, opaque
/// directories) become `.wh.` entries again (`commit`). Never follows symlinks: the walk goes
/// from directory descriptor to directory descriptor (`openat` with O_NOFOLLOW), so a tree that
/// changes meanwhile — a directory swapped for a link to `/` — cannot lead it out.
public final class TreeTar {
    enum Source { case path(String), descriptor(Int32) }
    let source: Source
    public let layer: Bool
    let tar: TarWriter
    /// Paths (relative) to leave out (`.dockerignore`); with `descendExcluded`, an excluded
    /// directory's contents are still offered one by one (a `!` pattern may take some back).
    public var exclude: ((String) -> Bool)? = nil
    public var descendExcluded = false
    /// Files added at the end (a Dockerfile read from stdin).
    public var extra: [(String, [UInt8])] = []
    /// A remapped container's tree: owners written in its ids, not the host's.
    public var shift: IDShift? = nil
    public init(root: String, layer: Bool, sink: @escaping TarWriter.Sink) {
        source = .path(root); self.layer = layer; tar = TarWriter(sink: sink)
    }
    /// A tree given as an open directory (kept open by the caller).
    public init(rootFD: Int32, layer: Bool, sink: @escaping TarWriter.Sink) {
        source = .descriptor(rootFD); self.layer = layer; tar = TarWriter(sink: sink)
    }

    private func openRoot() throws -> Int32 {
        switch source {
        case .path(let p): return try DirFD.openDirectory(p)
        case .descriptor(let fd):
            let copy = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if copy < 0 { throw SysError("open the directory") }
            return copy
        }
    }

    /// The whole tree, or (`only`) just one entry of the root directory and what is below it.
    public func write(only: String? = nil, as newName: String? = nil) throws {
        let rootfd = try openRoot()
        defer { close(rootfd) }
        var links: [UInt64: String] = [:]
        rename = (only ?? "", newName)
        try walk(rootfd, "", &links, only: only)
        for (name, bytes) in extra { try tar.addFile(name, bytes, mode: 0o600) }
        try tar.finish()
    }

    /// The root directory itself as the entry `name`, its contents below it (`cp` of a path
    /// that was a link to a directory, followed inside the container's root).
    public func write(directoryAs name: String) throws {
        let rootfd = try openRoot()
        defer { close(rootfd) }
        var st = stat()
        guard fstat(rootfd, &st) == 0 else { throw SysError("stat the directory") }
        var links: [UInt64: String] = [:]
        let uid = Int(shift?.containerUID(st.st_uid) ?? st.st_uid), gid = Int(shift?.containerGID(st.st_gid) ?? st.st_gid)
        try tar.entry(name + "/", type: "5", mode: Int(st.st_mode & 0o7777), uid: uid, gid: gid, mtime: Int64(st.st_mtim.tv_sec))
        try walk(rootfd, name, &links)
        try tar.finish()
    }

    /// Entry names as written: the `only` entry may go out under another name (cp to a new path).
    private var rename: (String, String?) = ("", nil)
    private func outName(_ r: String) -> String {
        guard let new = rename.1, !rename.0.isEmpty else { return r }
        if r == rename.0 { return new }
        if r.hasPrefix(rename.0 + "/") { return new + r.dropFirst(rename.0.count) }
        return r
    }

    /// A subdirectory, opened without following a link (nil when it is gone or was swapped).
    private static func openSubdirectory(_ dirfd: Int32, _ name: String) -> Int32? {
        let fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        return fd >= 0 ? fd : nil
    }

    /// The deepest nesting walked: a path within PATH_MAX (4096 bytes) has at most 2048
    /// components, so anything deeper was made on purpose, one `mkdirat` below the other, by a
    /// container or a layer. The walks hold an open directory and a path per level, and they
    /// used to recurse: 50,000 levels overflowed the stack and took berthd down with one
    /// `docker diff` (and 2,000 levels with `export` on a debug build). Now they loop, and refuse
    /// past this depth.
    public static let maxDepth = 2048

    static func tooDeep(_ rel: String) -> ArchiveError {
        ArchiveError("\(rel.prefix(64))…: directories nested deeper than \(maxDepth) levels")
    }

    /// A directory on the walk's way down: its names still to write, last first.
    private struct Level {
        let fd: Int32
        let rel: String
        var names: [String]
        let owned: Bool
    }

    /// Writes the tree below `rootfd` in name order, each directory's contents right after it.
    /// A loop over an explicit stack of open directories, not recursion: how deep a tree goes is
    /// up to whoever made it, a thread's stack is not (see `maxDepth`).
    private func walk(_ rootfd: Int32, _ rootRel: String, _ links: inout [UInt64: String], only: String? = nil) throws {
        var stack = [Level(fd: rootfd, rel: rootRel, names: try (only.map { [$0] } ?? DirFD.list(rootfd).sorted()).reversed(), owned: false)]
        defer { for l in stack where l.owned { close(l.fd) } }
        /// Goes down into `sub` (now owned by the stack).
        func descend(_ sub: Int32, _ r: String) throws {
            guard stack.count < TreeTar.maxDepth else {
                close(sub)
                throw TreeTar.tooDeep(r)
            }
            let names: [String]
            do { names = try DirFD.list(sub).sorted() } catch {
                close(sub)
                throw error
            }
            stack.append(Level(fd: sub, rel: r, names: names.reversed(), owned: true))
        }
        while !stack.isEmpty {
            let top = stack.count - 1
            guard let name = stack[top].names.popLast() else {
                let done = stack.removeLast()
                if done.owned { close(done.fd) }
                continue
            }
            let dirfd = stack[top].fd, rel = stack[top].rel
            let r = rel.isEmpty ? name : rel + "/" + name
            guard let st = DirFD.lstat(dirfd, name) else { continue }
            if let exclude, exclude(r) {
                if descendExcluded && (st.st_mode & S_IFMT) == S_IFDIR, let sub = TreeTar.openSubdirectory(dirfd, name) {
                    try descend(sub, r)
                }
                continue
            }
            let mode = Int(st.st_mode & 0o7777), mtime = Int64(st.st_mtim.tv_sec)
            let uid = Int(shift?.containerUID(st.st_uid) ?? st.st_uid), gid = Int(shift?.containerGID(st.st_gid) ?? st.st_gid)
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                guard let sub = TreeTar.openSubdirectory(dirfd, name) else { continue }
                do {
                    try tar.entry(outName(r) + "/", type: "5", mode: mode, uid: uid, gid: gid, mtime: mtime)
                    if layer && OverlayXattrs.isOpaque(sub) {
                        try tar.entry(outName(r) + "/.wh..wh..opq", type: "0", mode: 0, uid: 0, gid: 0, mtime: mtime)
                    }
                } catch {
                    close(sub)
                    throw error
                }
                try descend(sub, r)
            case S_IFREG:
                if layer && TreeTar.isMountStub(r, st) { continue }
                // Opened without following and without blocking; what was opened must be the
                // regular file just examined (a swap in between is skipped, not followed).
                let fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
                guard fd >= 0 else { continue }
                defer { close(fd) }
                var fst = stat()
                guard fstat(fd, &fst) == 0, (fst.st_mode & S_IFMT) == S_IFREG, fst.st_ino == st.st_ino, fst.st_dev == st.st_dev else { continue }
                if fst.st_nlink > 1, let first = links[UInt64(fst.st_ino)] {
                    try tar.entry(outName(r), type: "1", mode: mode, uid: uid, gid: gid, mtime: mtime, link: first)
                    continue
                }
                if fst.st_nlink > 1 { links[UInt64(fst.st_ino)] = outName(r) }
                let size = Int64(fst.st_size)
                try tar.entry(outName(r), type: "0", size: size, mode: mode, uid: uid, gid: gid, mtime: mtime)
                var remaining = size
                var buf = [UInt8](repeating: 0, count: 1 << 20)
                while remaining > 0 {
                    let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, Int(min(Int64(1 << 20), remaining))) }
                    if n <= 0 { break }
                    try tar.sink(Array(buf[0..<n]))
                    remaining -= Int64(n)
                }
                if remaining > 0 { try tar.sink([UInt8](repeating: 0, count: Int(remaining))) }  // file shrank meanwhile
                try tar.pad(size)
            case S_IFLNK:
                try tar.entry(outName(r), type: "2", mode: 0o777, uid: uid, gid: gid, mtime: mtime, link: DirFD.readLink(dirfd, name))
            case S_IFCHR where layer && st.st_rdev == 0:
                let parent = r.split(separator: "/").dropLast().joined(separator: "/")
                try tar.entry((parent.isEmpty ? "" : parent + "/") + ".wh." + name, type: "0", mode: 0, uid: 0, gid: 0, mtime: mtime)
            case S_IFCHR, S_IFBLK:
                let major = Int((st.st_rdev >> 8) & 0xfff) | Int((st.st_rdev >> 32) & ~0xfff)
                let minor = Int(st.st_rdev & 0xff) | Int((st.st_rdev >> 12) & ~0xff)
                try tar.entry(
                    outName(r), type: (st.st_mode & S_IFMT) == S_IFCHR ? "3" : "4", mode: mode, uid: uid, gid: gid, mtime: mtime,
                    devMajor: major, devMinor: minor & 0xfffff)
            case S_IFIFO:
                try tar.entry(outName(r), type: "6", mode: mode, uid: uid, gid: gid, mtime: mtime)
            default:
                continue
            }
        }
    }

    /// Empty files the runtime creates as bind-mount targets for the container's own
    /// hostname/hosts/resolv.conf: not the user's change (Docker keeps them in its init layer).
    static let mountStubs: Set<String> = ["etc/hostname", "etc/hosts", "etc/resolv.conf"]
    static func isMountStub(_ rel: String, _ st: stat) -> Bool {
        mountStubs.contains(rel) && (st.st_mode & S_IFMT) == S_IFREG && st.st_size == 0
    }

    /// A directory of the upper layer on `changes`' way down: its names still to look at (last
    /// first), which of them the image has there, where its own change goes, whether a lower
    /// layer has it, whether anything below changed.
    private struct ChangeLevel {
        let fd: Int32
        let rel: String
        var names: [String]
        /// The image's layers (indexes, top first) whose directory at `rel` shows in the merged tree.
        let lowers: [Int]
        /// The names the merged image has in this directory (a whiteout counts as none).
        let inImage: Set<String>
        let at: Int
        let existed: Bool
        var any = false
        /// The image's entries an opaque directory of the upper layer hides: gone from the
        /// container's view, so deleted, as dockerd lists them.
        var hidden: [String] = []
    }

    /// The layers of `candidates` (top first) whose directory at `rel` overlay merges, and which
    /// of `names` (all its names, when nil) the merged directory has: a layer without it is passed
    /// over; a non-directory, a whiteout or a link on the way hides the layers below, and so does
    /// an opaque directory. Each layer's directory is opened on its root's descriptor with no link
    /// followed (a hostile layer's `etc -> /` leads nowhere).
    static func mergedDirectory(_ roots: [Int32], _ candidates: [Int], _ rel: String, names: [String]?) -> (lowers: [Int], inImage: Set<String>) {
        var lowers: [Int] = []
        var seen = Set<String>(), inImage = Set<String>()
        for i in candidates {
            let fd = DirFD.open(roots[i], rel, O_RDONLY | O_DIRECTORY, .strict)
            guard fd >= 0 else {
                if errno == ENOENT { continue }
                break  // ENOTDIR, ELOOP (a link), or a path past PATH_MAX: nothing below counts
            }
            defer { close(fd) }
            lowers.append(i)
            for name in names ?? ((try? DirFD.list(fd)) ?? []) where !seen.contains(name) {
                guard let st = DirFD.lstat(fd, name) else { continue }
                seen.insert(name)
                if !LayerStack.isWhiteout(st) { inImage.insert(name) }
            }
            if OverlayXattrs.isOpaque(fd) { break }
        }
        return (lowers, inImage)
    }

    /// `docker diff`: the upper directory against the image's layers (top first). A loop over an
    /// explicit stack, as `walk`: the container decides how deep its layer goes.
    public static func changes(upper: String, lowers: [String]) throws(ArchiveError) -> [Change] {
        var out: [Change] = []
        var roots: [Int32] = []
        defer { for fd in roots { close(fd) } }
        for l in lowers {
            do { roots.append(try DirFD.openDirectory(l)) } catch { throw ArchiveError("\(error)") }
        }
        func names(_ fd: Int32) -> [String] { ((try? DirFD.list(fd)) ?? []).sorted().reversed() }
        guard let top = try? DirFD.openDirectory(upper) else { return [] }
        let topNames = names(top)
        let image = mergedDirectory(roots, Array(roots.indices), "", names: topNames)
        var stack = [ChangeLevel(fd: top, rel: "", names: topNames, lowers: image.lowers, inImage: image.inImage, at: 0, existed: true)]
        defer { for l in stack { close(l.fd) } }
        while !stack.isEmpty {
            let i = stack.count - 1
            guard let name = stack[i].names.popLast() else {
                let done = stack.removeLast()
                close(done.fd)
                for gone in done.hidden { out.append(Change(path: "/" + (done.rel.isEmpty ? gone : done.rel + "/" + gone), kind: .deleted)) }
                // A directory copied up only to hold changes counts as changed through them.
                if let parent = stack.indices.last, !done.existed || done.any || !done.hidden.isEmpty {
                    out.insert(Change(path: "/" + done.rel, kind: done.existed ? .modified : .added), at: done.at)
                    stack[parent].any = true
                }
                continue
            }
            let dirfd = stack[i].fd, rel = stack[i].rel
            let r = rel.isEmpty ? name : rel + "/" + name
            guard let st = DirFD.lstat(dirfd, name) else { continue }
            if LayerStack.isWhiteout(st) {
                out.append(Change(path: "/" + r, kind: .deleted))
                stack[i].any = true
                continue
            }
            let existed = stack[i].inImage.contains(name)
            if isMountStub(r, st) && !existed { continue }
            if (st.st_mode & S_IFMT) == S_IFDIR, let sub = openSubdirectory(dirfd, name) {
                guard stack.count < maxDepth else {
                    close(sub)
                    throw tooDeep(r)
                }
                let subNames = names(sub)
                // A directory the container made anew over the image's (opaque): what it no longer
                // has is deleted, so the image's whole listing is wanted.
                let remade = existed && OverlayXattrs.isOpaque(sub)
                let merged = mergedDirectory(roots, existed ? stack[i].lowers : [], r, names: remade ? nil : subNames)
                var level = ChangeLevel(fd: sub, rel: r, names: subNames, lowers: merged.lowers, inImage: merged.inImage, at: out.count, existed: existed)
                if remade { level.hidden = merged.inImage.subtracting(subNames).sorted() }
                stack.append(level)
            } else if (st.st_mode & S_IFMT) != S_IFDIR || !existed {
                out.append(Change(path: "/" + r, kind: existed ? .modified : .added))
                stack[i].any = true
            }
        }
        return out
    }
}
