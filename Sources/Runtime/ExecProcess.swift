import CSys
import Foundation
import Sys

/// A process started in a running container by the exec helper (`berth-exec`), its stdio relayed by a reader
/// thread: output goes to `onOutput` (1 stdout, 2 stderr) in order, then `onExit` with the code.
public final class ExecProcess: @unchecked Sendable {
    private let lock = NSLock()
    private var stdinFd: Int32 = -1
    public private(set) var pid: Int32 = 0

    public init() {}

    /// `argv` is the exec helper's command line; with a TTY the helper relays the pty over its stdio.
    public func start(
        argv: [String], env: [String], openStdin: Bool,
        onOutput: @escaping @Sendable (UInt8, [UInt8]) -> Void, onExit: @escaping @Sendable (Int32) -> Void
    ) throws {
        var outP: [Int32] = [0, 0], errP: [Int32] = [0, 0], inP: [Int32] = [-1, -1]
        _ = berthPipe(&outP); _ = berthPipe(&errP)
        if openStdin { _ = berthPipe(&inP) }
        let child: Int32
        do {
            child = try Proc.spawn(argv, env: env, stdin: inP[0], stdout: outP[1], stderr: errP[1])
        } catch {
            for fd in outP + errP + inP where fd >= 0 { close(fd) }
            throw error
        }
        close(outP[1]); close(errP[1])
        if inP[0] >= 0 { close(inP[0]) }
        lock.lock(); stdinFd = inP[1]; pid = child; lock.unlock()
        let out = outP[0], err = errP[0]
        let t = Thread { [weak self] in
            var fds = [pollfd(fd: out, events: Int16(POLLIN), revents: 0), pollfd(fd: err, events: Int16(POLLIN), revents: 0)]
            var buf = [UInt8](repeating: 0, count: 65536)
            var open = 2
            while open > 0 {
                if poll(&fds, 2, -1) < 0 { if errno == EINTR { continue }; break }
                for k in 0..<2 where fds[k].fd >= 0 && fds[k].revents != 0 {
                    let n = buf.withUnsafeMutableBytes { read(fds[k].fd, $0.baseAddress, 65536) }
                    if n > 0 {
                        onOutput(k == 0 ? 1 : 2, Array(buf[0..<n]))
                    } else if n == 0 || errno != EINTR {
                        close(fds[k].fd); fds[k].fd = -1; open -= 1
                    }
                }
            }
            let code = Proc.wait(child)
            self?.closeStdin()
            onExit(code)
        }
        t.start()
    }

    public func writeStdin(_ bytes: [UInt8]) {
        // A duplicate taken under the lock: a concurrent closeStdin may free the number for
        // another descriptor, but never the one we write to (a write may block on a full pipe,
        // so it is not done under the lock).
        lock.lock(); let fd = stdinFd >= 0 ? fcntl(stdinFd, F_DUPFD_CLOEXEC, 3) : -1; lock.unlock()
        if fd >= 0 {
            try? FS.writeAll(fd: fd, bytes)
            close(fd)
        }
    }

    public func closeStdin() {
        lock.lock(); let fd = stdinFd; stdinFd = -1; lock.unlock()
        if fd >= 0 { close(fd) }
    }
}

func berthPipe(_ fds: inout [Int32]) -> Int32 { berth_pipe(&fds) }
