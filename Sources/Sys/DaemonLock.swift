import Glibc

/// One daemon per data root and per exec root, as dockerd's pid file: an exclusive `flock` on
/// `<dir>/berthd.pid`, held for the life of the process. Two daemons on one store would each
/// adopt the other's containers, rewrite its firewall chains and unmount its read-only helpers;
/// the kernel drops the lock when the holder dies, so no stale file ever blocks a start.
public enum DaemonLock {
    public struct InUse: Error, CustomStringConvertible {
        public let description: String
    }

    /// Creates `dir` (with `mode`) if missing, locks its pid file and writes this process's pid
    /// in it. Returns the descriptor, which must stay open (it is close-on-exec: no shim or
    /// helper inherits the lock).
    public static func acquire(dir: String, mode: mode_t, what: String) throws -> Int32 {
        try FS.mkdirAll(dir, mode: mode)
        let path = dir + "/berthd.pid"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else { throw SysError("open \(path)") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let err = errno
            var buf = [UInt8](repeating: 0, count: 32)
            let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 32, 0) }
            close(fd)
            guard err == EWOULDBLOCK else { throw SysError("lock \(path)", errno: err) }
            let pid = n > 0 ? Int32(String(decoding: buf[0..<n], as: UTF8.self).split(separator: "\n").first ?? "") : nil
            let holder = pid.map { " (pid \($0))" } ?? ""
            throw InUse(description: "\(what) \(dir) is in use by another berthd\(holder): stop it, or give each daemon its own --data-root and --exec-root")
        }
        let text = Array("\(getpid())\n".utf8)
        if ftruncate(fd, 0) != 0 || text.withUnsafeBytes({ pwrite(fd, $0.baseAddress, $0.count, 0) }) != text.count {
            let err = errno
            close(fd)
            throw SysError("write \(path)", errno: err)
        }
        return fd
    }
}
