import CSys
import Glibc

/// Reading files inside a container's root filesystem, which its owner controls: every path is
/// resolved by the kernel as if the root were `/` (openat2 RESOLVE_IN_ROOT), so a symlink to
/// `/etc/shadow` or `../../..` lands inside the root, never on the host. Opens never block (a
/// FIFO planted at the path is refused, not waited on), only regular files are read, and reads
/// stop at a size limit (a `/dev/zero` or a huge file cannot exhaust memory).
public enum SafeFS {
    /// O_PATH (Glibc's Swift overlay does not export it): a handle for resolution only.
    static let pathOnly: Int32 = 0o10000000
    /// The contents of `path` inside `root`, nil when it does not exist or is not a regular
    /// file; throws when it is larger than `limit` bytes or cannot be read.
    public static func readFileInRoot(_ root: String, _ path: String, limit: Int = 1 << 20) throws(SysError) -> [UInt8]? {
        let dirfd = open(root, SafeFS.pathOnly | O_DIRECTORY | O_CLOEXEC)
        if dirfd < 0 { throw SysError("open \(root)") }
        defer { close(dirfd) }
        let rel = path.drop { $0 == "/" }
        let fd = berth_openat2(dirfd, rel.isEmpty ? "." : String(rel), O_RDONLY | O_NONBLOCK | O_NOCTTY, 0, 0)
        if fd < 0 {
            if errno == ENOENT || errno == ENOTDIR || errno == ELOOP || errno == EXDEV { return nil }
            throw SysError("open \(path) in the container")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw SysError("stat \(path) in the container") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        guard st.st_size <= limit else { throw SysError("\(path) in the container is larger than \(limit) bytes", errno: EFBIG) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while out.count <= limit {
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, 65536) }
            if n < 0 { if errno == EINTR { continue }; throw SysError("read \(path) in the container") }
            if n == 0 { return out }
            out.append(contentsOf: buf[0..<n])
        }
        throw SysError("\(path) in the container is larger than \(limit) bytes", errno: EFBIG)
    }

    /// As `readFileInRoot`, as text (invalid UTF-8 repaired); "" when absent.
    public static func readTextInRoot(_ root: String, _ path: String, limit: Int = 1 << 20) throws(SysError) -> String {
        guard let bytes = try readFileInRoot(root, path, limit: limit) else { return "" }
        return String(decoding: bytes, as: UTF8.self)
    }
}
