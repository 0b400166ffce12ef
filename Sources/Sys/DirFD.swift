import CSys
import Glibc

/// File operations on directory descriptors, for trees someone else may be changing (a
/// container's root, a tar being unpacked): each step names one entry of a directory already
/// open, so a component swapped for a symlink meanwhile is never followed out of the tree, and
/// no path string is checked and then reopened.
public enum DirFD {
    /// O_PATH (Glibc's Swift overlay does not export it): a handle for resolution only.
    public static let pathOnly: Int32 = 0o10000000

    /// openat2(2)'s RESOLVE_* bits.
    public struct Resolve: OptionSet, Sendable {
        public let rawValue: UInt64
        public init(rawValue: UInt64) { self.rawValue = rawValue }
        public static let noXDev = Resolve(rawValue: 0x01)
        public static let noMagicLinks = Resolve(rawValue: 0x02)
        public static let noSymlinks = Resolve(rawValue: 0x04)
        /// The path must stay below the directory (`..` above it or an absolute link fails).
        public static let beneath = Resolve(rawValue: 0x08)
        /// The directory is `/` for the lookup: `..` and absolute links stop at it.
        public static let inRoot = Resolve(rawValue: 0x10)
        /// A container's view: links followed inside the root, never out of it.
        public static let container: Resolve = [.inRoot, .noMagicLinks]
        /// A tree being written: no link followed at all, nothing above the directory.
        public static let strict: Resolve = [.beneath, .noSymlinks, .noMagicLinks]
    }

    /// openat2(2) (O_CLOEXEC added); -1 with errno. An empty path means the directory itself.
    public static func open(_ dirfd: Int32, _ path: String, _ flags: Int32, mode: mode_t = 0, _ resolve: Resolve) -> Int32 {
        let rel = path.drop { $0 == "/" }
        return berth_openat2_resolve(dirfd, rel.isEmpty ? "." : String(rel), flags, Int32(mode), resolve.rawValue)
    }

    /// Opens a trusted host directory (one Berth made or was given by its operator).
    public static func openDirectory(_ path: String, flags: Int32 = O_RDONLY) throws(SysError) -> Int32 {
        let fd = Glibc.open(path, flags | O_DIRECTORY | O_CLOEXEC)
        if fd < 0 { throw SysError("open \(path)") }
        return fd
    }

    /// The names in a directory (not `.` and `..`), unsorted.
    public static func list(_ fd: Int32) throws(SysError) -> [String] {
        let copy = Glibc.openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard copy >= 0, let d = fdopendir(copy) else {
            if copy >= 0 { close(copy) }
            throw SysError("opendir")
        }
        defer { closedir(d) }
        return FS.names(d)
    }

    /// The entry `name` of the directory, not followed if it is a link; nil when absent.
    public static func lstat(_ dirfd: Int32, _ name: String) -> stat? {
        var st = stat()
        return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 ? st : nil
    }

    /// A symlink's target ("" when it is not one).
    public static func readLink(_ dirfd: Int32, _ name: String) -> String {
        var buf = [CChar](repeating: 0, count: 4097)
        let n = readlinkat(dirfd, name, &buf, 4096)
        return n > 0 ? String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
    }

    /// Removes `name` and, for a directory, everything below it, never following a link and
    /// never crossing into another mount (a mount point inside is left, and so are its parents).
    /// However deep the tree (see `walkTree`): a container or a layer can nest directories far
    /// beyond PATH_MAX, where a path string stops working and the tree was left behind on disk.
    /// true when `name` is gone.
    @discardableResult
    public static func removeAll(_ dirfd: Int32, _ name: String) -> Bool {
        if unlinkat(dirfd, name, 0) == 0 || errno == ENOENT { return true }
        guard errno == EISDIR || errno == EPERM else { return false }
        if unlinkat(dirfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT { return true }
        guard errno == ENOTEMPTY || errno == EEXIST else { return false }
        var complete = true
        let walked = walkTree(
            dirfd, name,
            visit: { fd, entry in
                if unlinkat(fd, entry, 0) == 0 || errno == ENOENT { return false }
                guard errno == EISDIR || errno == EPERM else {
                    complete = false  // a mount point (EBUSY) or immutable: left, and so are its parents
                    return false
                }
                if unlinkat(fd, entry, AT_REMOVEDIR) == 0 || errno == ENOENT { return false }
                guard errno == ENOTEMPTY || errno == EEXIST else {
                    complete = false
                    return false
                }
                return true
            },
            leave: { fd, dir in
                if unlinkat(fd, dir, AT_REMOVEDIR) != 0 && errno != ENOENT { complete = false }
            })
        return walked && complete
    }

    /// Bytes of the regular files at and below `name` (du's apparent size: links not followed,
    /// a hard-linked inode counted once, mounts inside not entered), however deep the tree. A
    /// container's writable layer and a volume are the container's to shape: walked on
    /// descriptors (a directory swapped for a link is not followed out) and without recursion.
    public static func diskUsage(_ dirfd: Int32, _ name: String) -> Int64 {
        guard let top = lstat(dirfd, name) else { return 0 }
        var seen = Set<UInt64>()
        var total: Int64 = 0
        func add(_ st: stat) {
            guard (st.st_mode & S_IFMT) == S_IFREG else { return }
            if st.st_nlink > 1 && !seen.insert(UInt64(st.st_ino)).inserted { return }
            total += Int64(st.st_size)
        }
        guard (top.st_mode & S_IFMT) == S_IFDIR else {
            add(top)
            return total
        }
        _ = walkTree(
            dirfd, name,
            visit: { fd, entry in
                guard let st = lstat(fd, entry) else { return false }
                if (st.st_mode & S_IFMT) == S_IFDIR { return true }
                add(st)
                return false
            },
            leave: { _, _ in })
        return total
    }

    /// Depth-first over everything below the directory `name` of `dirfd`, however deep: a loop
    /// over an explicit stack (a tree can be deeper than recursion may go on a thread's stack),
    /// listing each directory once, with at most `openWindow` directories open. One that had to be
    /// closed is reached again through its child's `..`, checked against the device and inode it
    /// had. `visit(fd, entry)` sees each entry of each directory and returns true to go into it;
    /// it is opened as a directory of the same mount, never through a link. `leave(fd, dir)` is
    /// called with a directory's parent and name once its entries are done, `name` itself last.
    /// false when a directory could not be opened (it is skipped), or one moved while the walk was
    /// below it (the walk stops there rather than go on anywhere else).
    static func walkTree(_ dirfd: Int32, _ name: String, visit: (Int32, String) -> Bool, leave: (Int32, String) -> Void) -> Bool {
        guard let first = TreeFrame.open(dirfd, name) else { return false }
        // stack[..<firstOpen] are closed (their names stay listed), stack[firstOpen...] open.
        var stack = [first]
        var firstOpen = 0
        var opened = true
        defer { for f in stack where f.fd >= 0 { close(f.fd) } }
        while !stack.isEmpty {
            let top = stack.count - 1
            if let entry = stack[top].pending.popLast() {
                let fd = stack[top].fd
                guard visit(fd, entry) else { continue }
                guard let child = TreeFrame.open(fd, entry) else {
                    opened = false
                    continue
                }
                stack.append(child)
                if stack.count - firstOpen > openWindow {
                    close(stack[firstOpen].fd)
                    stack[firstOpen].fd = -1
                    firstOpen += 1
                }
                continue
            }
            // Nothing left in the top directory: back up to its parent.
            let done = stack.removeLast()
            guard let parentIndex = stack.indices.last else {
                close(done.fd)
                leave(dirfd, name)
                return opened
            }
            if parentIndex < firstOpen {
                let up = Glibc.openat(done.fd, "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                var st = stat()
                guard up >= 0, fstat(up, &st) == 0, UInt64(st.st_dev) == stack[parentIndex].device, UInt64(st.st_ino) == stack[parentIndex].inode
                else {
                    if up >= 0 { close(up) }
                    close(done.fd)
                    return false
                }
                stack[parentIndex].fd = up
                firstOpen = parentIndex
            }
            close(done.fd)
            leave(stack[parentIndex].fd, done.name)
        }
        return false
    }

    /// How many directories `walkTree` keeps open at once.
    static let openWindow = 32

    /// One directory on `walkTree`'s way down: its descriptor (-1 while closed for the window),
    /// its name in its parent, its identity, and the names not yet removed.
    private struct TreeFrame {
        var fd: Int32
        let name: String
        let device: UInt64
        let inode: UInt64
        var pending: [String]

        /// The directory `name` of `dirfd` if it is one on the same mount, not a link.
        static func open(_ dirfd: Int32, _ name: String) -> TreeFrame? {
            let fd = DirFD.open(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, [.beneath, .noSymlinks, .noXDev])
            guard fd >= 0 else { return nil }
            var st = stat()
            guard fstat(fd, &st) == 0, let names = try? DirFD.list(fd) else {
                close(fd)
                return nil
            }
            return TreeFrame(fd: fd, name: name, device: UInt64(st.st_dev), inode: UInt64(st.st_ino), pending: names)
        }
    }

    /// The directory at `path` inside the tree (`resolve` says how links are followed), created
    /// with `mode` where missing, one component at a time; an O_PATH descriptor. With `owner`,
    /// the directories it makes (only those) are given to it with exactly `mode`, whatever the
    /// process's umask.
    public static func mkdirAll(
        _ rootfd: Int32, _ path: String, mode: mode_t = 0o755, owner: (uid: UInt32, gid: UInt32)? = nil, _ resolve: Resolve
    ) throws(SysError) -> Int32 {
        var cur = Glibc.openat(rootfd, ".", pathOnly | O_DIRECTORY | O_CLOEXEC)
        if cur < 0 { throw SysError("open the root") }
        var sofar = ""
        for c in path.split(separator: "/") where c != "." {
            sofar += "/" + c
            var next = open(rootfd, sofar, pathOnly | O_DIRECTORY, resolve)
            if next < 0 && errno == ENOENT && c != ".." {
                // cur is the resolved parent: the new directory goes there, under its own name.
                if mkdirat(cur, String(c), mode) == 0 {
                    if let o = owner,
                        fchownat(cur, String(c), o.uid, o.gid, AT_SYMLINK_NOFOLLOW) != 0 || fchmodat(cur, String(c), mode, 0) != 0
                    {
                        close(cur)
                        throw SysError("chown \(sofar)")
                    }
                } else if errno != EEXIST {
                    close(cur)
                    throw SysError("mkdir \(sofar)")
                }
                next = open(rootfd, sofar, pathOnly | O_DIRECTORY, resolve)
            }
            close(cur)
            if next < 0 { throw SysError("open \(sofar)") }
            cur = next
        }
        return cur
    }

    /// A path usable by calls that take no descriptor (mount, setxattr on a link): the entry
    /// `name` of the open directory, reached through /proc's link to that descriptor.
    public static func procPath(_ dirfd: Int32, _ name: String = "") -> String {
        "/proc/self/fd/\(dirfd)" + (name.isEmpty ? "" : "/" + name)
    }

    /// The path `path` names inside the tree once every link is followed (as the kernel does
    /// with RESOLVE_IN_ROOT), written from the tree's root: what `docker cp` reports as a
    /// link's target. Each link is read on a descriptor of its directory; nil on a loop.
    public static func resolvedName(_ rootfd: Int32, _ path: String) -> String? {
        var queue = ArraySlice(path.split(separator: "/").map(String.init))
        var resolved: [String] = []
        var hops = 0
        while let c = queue.first {
            queue = queue.dropFirst()
            if c == "." { continue }
            if c == ".." { _ = resolved.popLast(); continue }
            let dir = open(rootfd, resolved.joined(separator: "/"), pathOnly | O_DIRECTORY, .container)
            guard dir >= 0 else { return "/" + (resolved + [c] + queue).joined(separator: "/") }
            defer { close(dir) }
            if let st = lstat(dir, c), (st.st_mode & S_IFMT) == S_IFLNK {
                hops += 1
                if hops > 40 { return nil }
                let target = readLink(dir, c)
                if target.hasPrefix("/") { resolved = [] }
                queue = ArraySlice(target.split(separator: "/").map(String.init)) + queue
                continue
            }
            resolved.append(c)
        }
        return "/" + resolved.joined(separator: "/")
    }
}
