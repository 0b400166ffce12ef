import BuildKitAPI
import Builder
import Foundation
import Glibc
import Sys

/// The sending end of fsutil's DiffCopy (BuildKit's FileSync), served by `berth build`'s
/// session: one STAT per entry of the directory in walk order (each directory before what it
/// holds, names sorted as Go's filepath.Walk does), an empty STAT, then each regular file the
/// daemon asks for with REQ(id) as DATA(id) chunks ending with an empty DATA; the daemon's FIN
/// is answered with FIN. `FileSyncReceiver` in berthd is the other end.
///
/// What the daemon's patterns exclude never leaves the client. Entries are opened beneath the
/// directory without following links, so a tree changing during the walk sends what was
/// examined or nothing.
public final class FileSyncSender: @unchecked Sendable {  // immutable once walked
    struct Entry {
        var stat: Fsutil_Types_Stat
        /// Relative path to open for DATA; nil for anything but a regular file.
        var file: String?
    }

    let root: Int32
    private(set) var entries: [Entry] = []
    public static let chunk = 32 << 10

    /// `includes` (fsutil's include patterns, as `.dockerignore` patterns) keep only what they
    /// match and the directories above it; `excludes` are a `.dockerignore`'s lines.
    public init(directory: String, includes: [String] = [], excludes: [String] = []) throws {
        root = try DirFD.openDirectory(directory)
        let exclude = DockerIgnore(excludes.joined(separator: "\n"))
        let include = includes.isEmpty ? nil : DockerIgnore(includes.joined(separator: "\n"))
        // Literal include patterns (the usual case: the Dockerfile's name, `.dockerignore`)
        // need only the directories on their way walked, not the whole tree.
        let literal = includes.allSatisfy { !$0.contains(where: { "*?[\\".contains($0) }) }
        let prefixes = Set(
            includes.flatMap { p -> [String] in
                let parts = p.split(separator: "/").map(String.init)
                return (0..<parts.count).map { parts[0...$0].joined(separator: "/") }
            })
        var pending: [Fsutil_Types_Stat] = []
        try walk(root, "", parentExcluded: false, exclude: exclude, include: include, walkOnly: literal ? prefixes : nil, pending: &pending)
    }

    deinit { close(root) }

    public var count: Int { entries.count }

    /// Go's os.FileMode of a stat: permission bits, then the type and special bits high up.
    static func goMode(_ m: mode_t) -> UInt32 {
        var g = UInt32(m & 0o777)
        if m & S_ISUID != 0 { g |= FileModeBits.setuid }
        if m & S_ISGID != 0 { g |= FileModeBits.setgid }
        if m & S_ISVTX != 0 { g |= FileModeBits.sticky }
        switch m & S_IFMT {
        case S_IFDIR: g |= FileModeBits.dir
        case S_IFLNK: g |= FileModeBits.symlink
        case S_IFIFO: g |= FileModeBits.namedPipe
        case S_IFSOCK: g |= FileModeBits.socket
        case S_IFCHR: g |= FileModeBits.device | FileModeBits.charDevice
        case S_IFBLK: g |= FileModeBits.device
        default: break
        }
        return g
    }

    private func walk(
        _ dirfd: Int32, _ rel: String, parentExcluded: Bool, exclude: DockerIgnore, include: DockerIgnore?, walkOnly: Set<String>?,
        pending: inout [Fsutil_Types_Stat]
    ) throws {
        var names = try DirFD.list(dirfd)
        names.sort { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        for name in names {
            let r = rel.isEmpty ? name : rel + "/" + name
            guard let st = DirFD.lstat(dirfd, name) else { continue }
            let isDir = st.st_mode & S_IFMT == S_IFDIR
            let excluded = exclude.excludes(r, parentExcluded: parentExcluded)
            let included = include.map { $0.excludes(r) } ?? true
            var s = Fsutil_Types_Stat()
            s.path = r
            s.mode = Self.goMode(st.st_mode)
            s.uid = st.st_uid
            s.gid = st.st_gid
            s.modTime = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
            var file: String? = nil
            switch st.st_mode & S_IFMT {
            case S_IFREG:
                s.size = Int64(st.st_size)
                file = r
            case S_IFLNK: s.linkname = DirFD.readLink(dirfd, name)
            case S_IFCHR, S_IFBLK:
                // glibc's major()/minor() are macros Swift does not import.
                let d = UInt64(st.st_rdev)
                s.devmajor = Int64(((d >> 8) & 0xfff) | ((d >> 32) & ~0xfff))
                s.devminor = Int64((d & 0xff) | ((d >> 12) & ~0xff))
            default: break
            }
            if !excluded && included {
                for p in pending { entries.append(Entry(stat: p, file: nil)) }
                pending.removeAll()
                entries.append(Entry(stat: s, file: file))
                if isDir, let sub = Self.openSubdirectory(dirfd, name) {
                    defer { close(sub) }
                    // Everything below an included directory is included.
                    try walk(sub, r, parentExcluded: false, exclude: exclude, include: nil, walkOnly: nil, pending: &pending)
                }
            } else if isDir {
                // Below an excluded directory a `!` pattern may bring something back, and below
                // a directory no include matched, an include may still match: walked, and the
                // directory is sent only before something in it is.
                let mayReinclude = !excluded || exclude.hasExclusions
                let mayInclude = include == nil || included || walkOnly.map { $0.contains(r) } ?? true
                guard mayReinclude && mayInclude, let sub = Self.openSubdirectory(dirfd, name) else { continue }
                defer { close(sub) }
                pending.append(s)
                try walk(sub, r, parentExcluded: excluded, exclude: exclude, include: include, walkOnly: walkOnly, pending: &pending)
                if pending.last?.path == r { pending.removeLast() }
            }
        }
    }

    private static func openSubdirectory(_ dirfd: Int32, _ name: String) -> Int32? {
        let fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        return fd >= 0 ? fd : nil
    }

    /// The walk: one STAT per entry, then the empty STAT that ends it.
    public func statPackets() -> [Fsutil_Types_Packet] {
        var out = entries.map { e -> Fsutil_Types_Packet in
            var p = Fsutil_Types_Packet()
            p.type = .packetStat
            p.stat = e.stat
            return p
        }
        var end = Fsutil_Types_Packet()
        end.type = .packetStat
        out.append(end)
        return out
    }

    public enum Failure: Error, CustomStringConvertible {
        case badRequest(String)
        case changed(String)
        public var description: String {
            switch self {
            case .badRequest(let m): return m
            case .changed(let p): return "\(p) changed while it was sent"
            }
        }
    }

    /// The bytes of the file the daemon asked for (REQ `id`), exactly its STAT's size, in DATA
    /// chunks handed to `send`, then the empty DATA that ends it.
    public func sendFile(_ id: UInt32, _ send: (Fsutil_Types_Packet) async throws -> Void) async throws {
        guard Int(id) < entries.count, let path = entries[Int(id)].file else { throw Failure.badRequest("invalid file request \(id)") }
        let size = entries[Int(id)].stat.size
        let fd = DirFD.open(root, path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, .strict)
        guard fd >= 0 else { throw Failure.changed(path) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG, Int64(st.st_size) == size else { throw Failure.changed(path) }
        var remaining = size
        var buf = [UInt8](repeating: 0, count: Self.chunk)
        while remaining > 0 {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, Int(min(Int64(Self.chunk), remaining))) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw Failure.changed(path) }
            var p = Fsutil_Types_Packet()
            p.type = .packetData
            p.id = id
            p.data = Data(buf[0..<n])
            try await send(p)
            remaining -= Int64(n)
        }
        var end = Fsutil_Types_Packet()
        end.type = .packetData
        end.id = id
        try await send(end)
    }
}

/// Go's os.FileMode bits, as fsutil puts them in Stat.mode.
enum FileModeBits {
    static let dir: UInt32 = 1 << 31
    static let symlink: UInt32 = 1 << 27
    static let device: UInt32 = 1 << 26
    static let namedPipe: UInt32 = 1 << 25
    static let socket: UInt32 = 1 << 24
    static let setuid: UInt32 = 1 << 23
    static let setgid: UInt32 = 1 << 22
    static let charDevice: UInt32 = 1 << 21
    static let sticky: UInt32 = 1 << 20
}
