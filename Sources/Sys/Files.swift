import CSys
import Glibc

/// Small file helpers over raw syscalls: no Foundation, so the shim and CLI stay light.
public enum FS {
    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    public static func readAll(fd: Int32) throws(SysError) -> [UInt8] {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, 65536) }
            if n < 0 { if errno == EINTR { continue }; throw SysError("read") }
            if n == 0 { return out }
            out.append(contentsOf: buf[0..<n])
        }
    }

    public static func read(_ path: String) throws(SysError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw SysError("open \(path)") }
        defer { close(fd) }
        return try readAll(fd: fd)
    }

    /// The bytes of a file from `offset` to its current end.
    public static func read(_ path: String, from offset: Int64) throws(SysError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw SysError("open \(path)") }
        defer { close(fd) }
        if lseek(fd, off_t(offset), SEEK_SET) < 0 { throw SysError("lseek \(path)") }
        return try readAll(fd: fd)
    }

    public static func readString(_ path: String) throws(SysError) -> String {
        String(decoding: try read(path), as: UTF8.self)
    }

    public static func writeAll(fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(SysError) {
        var off = 0
        while off < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + off, bytes.count - off)
            if n < 0 { if errno == EINTR { continue }; throw SysError("write") }
            off += n
        }
    }

    /// Writes into an existing file in place (sysctls under /proc/sys, cgroup files).
    public static func writeExisting(_ path: String, _ text: String) throws(SysError) {
        let fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)
        guard fd >= 0 else { throw SysError("open \(path)") }
        defer { close(fd) }
        try writeAll(fd: fd, Array(text.utf8))
    }

    public static func writeAll(fd: Int32, _ bytes: [UInt8]) throws(SysError) {
        var err: SysError?
        bytes.withUnsafeBytes { b in
            do throws(SysError) { try writeAll(fd: fd, b) } catch { err = error }
        }
        if let err { throw err }
    }

    /// Write to a temporary file, fsync, rename over the target: readers see the old or the new
    /// content, never half of it, even across a crash. `durable: false` skips the fsync, for state
    /// that does not outlive a reboot anyway (a runtime's, under /run).
    public static func writeAtomic(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644, durable: Bool = true) throws(SysError) {
        let tmp = path + ".tmp\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        if fd < 0 { throw SysError("open \(tmp)") }
        do throws(SysError) {
            try writeAll(fd: fd, bytes)
            if durable && fsync(fd) != 0 { throw SysError("fsync \(tmp)") }
        } catch {
            close(fd)
            unlink(tmp)
            throw error
        }
        close(fd)
        // Not durable: the old file goes first. ext4 flushes a file renamed over another one
        // (its auto_da_alloc guard for writers that skip fsync), half a millisecond at every
        // start; readers of these files are never running while they are replaced.
        if !durable { unlink(path) }
        if rename(tmp, path) != 0 { let e = SysError("rename \(tmp)"); unlink(tmp); throw e }
    }

    /// A small file that is made anew whenever it matters (a container's hosts, resolv.conf,
    /// hostname) rewritten where it is: the same inode, so a container's bind mount of it sees
    /// the new text, and no inode is made and freed at every start (on this host's ext4 each
    /// new inode first skips every one freed in the last minutes). Written before it is cut to
    /// length, so a reader never finds it empty. Anything but a regular file is replaced.
    public static func rewrite(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws(SysError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, mode)
        var st = stat()
        guard fd >= 0, fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            if fd >= 0 { close(fd) }
            return try writeAtomic(path, bytes, mode: mode, durable: false)
        }
        defer { close(fd) }
        try writeAll(fd: fd, bytes)
        if ftruncate(fd, off_t(bytes.count)) != 0 { throw SysError("truncate \(path)") }
    }

    public static func rewrite(_ path: String, _ text: String, mode: mode_t = 0o644) throws(SysError) {
        try rewrite(path, Array(text.utf8), mode: mode)
    }

    /// A scratch file that lives no longer than the processes reading it (an exec's process
    /// spec, its pid): written in place, never fsynced — a crash loses nothing worth keeping.
    public static func writeScratch(_ path: String, _ bytes: [UInt8]) throws(SysError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        if fd < 0 { throw SysError("open \(path)") }
        defer { close(fd) }
        try writeAll(fd: fd, bytes)
    }

    public static func writeAtomic(_ path: String, _ text: String, mode: mode_t = 0o644, durable: Bool = true) throws(SysError) {
        try writeAtomic(path, Array(text.utf8), mode: mode, durable: durable)
    }

    /// A new private (0700) directory named `prefix` + six random characters (mkdtemp).
    public static func makeTempDirectory(_ prefix: String) throws(SysError) -> String {
        var template = Array((prefix + "XXXXXX").utf8CString)
        guard let p = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else { throw SysError("mkdtemp \(prefix)") }
        return String(cString: p)
    }

    /// The leaf first, its parents only when it says ENOENT: making a container's directories
    /// (a dozen cgroup hierarchies, say) costs one call each instead of one per component.
    public static func mkdirAll(_ path: String, mode: mode_t = 0o755) throws(SysError) {
        if mkdir(path, mode) == 0 || errno == EEXIST { return }
        guard errno == ENOENT else { throw SysError("mkdir \(path)") }
        var parent = path
        while parent.count > 1 && parent.hasSuffix("/") { parent.removeLast() }
        guard let slash = parent.lastIndex(of: "/") else { throw SysError("mkdir \(path)", errno: ENOENT) }
        parent = String(parent[..<slash])
        if !parent.isEmpty { try mkdirAll(parent, mode: mode) }
        if mkdir(path, mode) != 0 && errno != EEXIST { throw SysError("mkdir \(path)") }
    }

    /// rm -rf without following symlinks. Unmounted state is the caller's job.
    public static func removeAll(_ path: String) {
        // The path's own components are the caller's (Berth's directories); what is below it may
        // be a container's or an image's, so it is walked on directory descriptors (DirFD).
        var path = path
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        let slash = path.lastIndex(of: "/")
        let parent = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        guard !name.isEmpty, name != ".", name != ".." else { return }
        let fd = Glibc.open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        DirFD.removeAll(fd, name)
    }

    public static func list(_ path: String) throws(SysError) -> [String] {
        guard let d = opendir(path) else { throw SysError("opendir \(path)") }
        defer { closedir(d) }
        return names(d)
    }

    /// The directories in a directory (not `.` and `..`), told by the entry's type where the file
    /// system gives one (cgroupfs does), so a cgroup's dozens of interface files are never stat'ed.
    public static func subdirectories(_ path: String) -> [String] {
        guard let d = opendir(path) else { return [] }
        defer { closedir(d) }
        var out: [String] = []
        forEachEntry(d) { name, type in
            switch Int32(type) {
            case Int32(DT_DIR): out.append(name)
            case Int32(DT_UNKNOWN):
                var st = stat()
                if lstat(path + "/" + name, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR { out.append(name) }
            default: break
            }
            return true
        }
        return out
    }

    /// A directory with no entries; false for one that cannot be read (or is not there).
    public static func isEmptyDirectory(_ path: String) -> Bool {
        guard let d = opendir(path) else { return false }
        defer { closedir(d) }
        var empty = true
        forEachEntry(d) { _, _ in
            empty = false
            return false
        }
        return empty
    }

    /// The entries of an open directory stream, without `.` and `..`.
    static func names(_ d: OpaquePointer) -> [String] {
        var out: [String] = []
        forEachEntry(d) { name, _ in
            out.append(name)
            return true
        }
        return out
    }

    /// Each entry's name and `d_type` but `.` and `..`, until `body` returns false.
    static func forEachEntry(_ d: OpaquePointer, _ body: (String, UInt8) -> Bool) {
        while let e = readdir(d) {
            let name = withUnsafePointer(to: e.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != "..", !body(name, e.pointee.d_type) { return }
        }
    }

    public static func size(_ path: String) -> Int64? {
        var st = stat()
        return stat(path, &st) == 0 ? Int64(st.st_size) : nil
    }

    /// Whether something is mounted at exactly this path (per /proc/self/mountinfo).
    /// statx says so in one call; mountinfo (which grows with every container's mounts, and was
    /// read on the actor at every exit) only where the kernel does not say.
    public static func isMountPoint(_ path: String) -> Bool {
        switch berth_is_mount_root(path) {
        case 1: return true
        case 0: return false
        default: break
        }
        if !exists(path) { return false }
        guard let text = try? readString("/proc/self/mountinfo") else { return false }
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ", maxSplits: 5)
            // Field 5 is the mount point, with spaces escaped as \040.
            if f.count > 4, f[4].replacing("\\040", with: " ") == path { return true }
        }
        return false
    }

    /// Total bytes of regular files at and below path (du-like: symlinks not followed, each
    /// hard-linked inode counted once). The path is Berth's own (a container's writable layer, a
    /// volume's data); what is below it is the container's, walked on descriptors (DirFD).
    public static func diskUsage(_ path: String) -> Int64 {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            var st = stat()
            return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG ? Int64(st.st_size) : 0
        }
        defer { close(fd) }
        return DirFD.diskUsage(fd, ".")
    }
}
