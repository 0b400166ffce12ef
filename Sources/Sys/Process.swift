import CSys
import Glibc

/// Process spawning through posix_spawn (never fork() in a multithreaded process).
public enum Proc {
    /// Starts argv[0] (looked up in PATH) with the given stdio descriptors (-1: /dev/null).
    public static func spawn(
        _ argv: [String], env: [String]? = nil, stdin: Int32 = -1, stdout: Int32 = -1,
        stderr: Int32 = -1, newSession: Bool = false
    ) throws(SysError) -> pid_t {
        let environment = env ?? currentEnvironment()
        var pid: pid_t = 0
        let rc = withCStrings(argv) { cargv in
            withCStrings(environment) { cenv in
                berth_spawn(&pid, argv[0], cargv, cenv, stdin, stdout, stderr, newSession ? 1 : 0)
            }
        }
        if rc != 0 { throw SysError("exec \(argv[0])", errno: rc) }
        return pid
    }

    /// Starts argv[0] with `fds[i]` as its descriptor i (stdio first, then any the child is told
    /// about; -1: /dev/null); every other descriptor closed.
    public static func spawn(_ argv: [String], env: [String]? = nil, fds: [Int32]) throws(SysError) -> pid_t {
        let environment = env ?? currentEnvironment()
        var pid: pid_t = 0
        let rc = withCStrings(argv) { cargv in
            withCStrings(environment) { cenv in fds.withUnsafeBufferPointer { berth_spawn_fds(&pid, argv[0], cargv, cenv, $0.baseAddress, Int32(fds.count)) } }
        }
        if rc != 0 { throw SysError("exec \(argv[0])", errno: rc) }
        return pid
    }

    /// Blocks until pid exits; returns its exit code (128+signal when killed).
    public static func wait(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return -1 }
        }
        return decodeStatus(status)
    }

    public static func decodeStatus(_ status: Int32) -> Int32 {
        let sig = status & 0x7f
        if sig == 0 { return (status >> 8) & 0xff }
        return 128 + sig
    }

    public struct Output: Sendable {
        public var status: Int32
        public var stdout: [UInt8]
        public var stderr: [UInt8]
        public init(status: Int32, stdout: [UInt8], stderr: [UInt8]) { self.status = status; self.stdout = stdout; self.stderr = stderr }
        public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
        public var stderrText: String { String(decoding: stderr, as: UTF8.self) }
    }

    /// Runs a command to completion, collecting stdout and stderr (both through one poll loop, so
    /// neither pipe can fill up and deadlock).
    public static func run(_ argv: [String], env: [String]? = nil, input: [UInt8]? = nil) throws(SysError) -> Output {
        var outPipe: [Int32] = [0, 0], errPipe: [Int32] = [0, 0], inPipe: [Int32] = [-1, -1]
        guard berth_pipe(&outPipe) == 0, berth_pipe(&errPipe) == 0 else { throw SysError("pipe") }
        if input != nil, berth_pipe(&inPipe) != 0 { throw SysError("pipe") }
        let pid: pid_t
        do throws(SysError) {
            pid = try spawn(argv, env: env, stdin: inPipe[0], stdout: outPipe[1], stderr: errPipe[1])
        } catch {
            for fd in outPipe + errPipe + inPipe where fd >= 0 { close(fd) }
            throw error
        }
        close(outPipe[1]); close(errPipe[1])
        if inPipe[0] >= 0 {
            close(inPipe[0])
            try? FS.writeAll(fd: inPipe[1], input ?? [])
            close(inPipe[1])
        }
        let (out, err) = drain(outPipe[0], errPipe[0])
        close(outPipe[0]); close(errPipe[0])
        return Output(status: wait(pid), stdout: out, stderr: err)
    }

    /// Reads two pipes to their ends through one poll loop (so neither can fill up and stall
    /// the writer); the descriptors stay open.
    public static func drain(_ stdout: Int32, _ stderr: Int32) -> (stdout: [UInt8], stderr: [UInt8]) {
        var out: [UInt8] = [], err: [UInt8] = []
        var fds = [pollfd(fd: stdout, events: Int16(POLLIN), revents: 0), pollfd(fd: stderr, events: Int16(POLLIN), revents: 0)]
        var buf = [UInt8](repeating: 0, count: 65536)
        var open = 2
        while open > 0 {
            if poll(&fds, 2, -1) < 0 { if errno == EINTR { continue }; break }
            for k in 0..<2 where fds[k].fd >= 0 && fds[k].revents != 0 {
                let n = buf.withUnsafeMutableBytes { Glibc.read(fds[k].fd, $0.baseAddress, 65536) }
                if n > 0 {
                    if k == 0 { out.append(contentsOf: buf[0..<n]) } else { err.append(contentsOf: buf[0..<n]) }
                } else if n == 0 || errno != EINTR {
                    fds[k].fd = -1; open -= 1
                }
            }
        }
        return (out, err)
    }

    public static func currentEnvironment() -> [String] {
        var out: [String] = []
        var p = environ
        while let s = p.pointee { out.append(String(cString: s)); p += 1 }
        return out
    }

    /// Path of the running executable's directory (to find sibling binaries like berth-shim).
    public static func executableDirectory() -> String {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, 4095)
        guard n > 0 else { return "." }
        let path = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if let slash = path.lastIndex(of: "/") { return String(path[..<slash]) }
        return "."
    }

    public static func getenv(_ name: String) -> String? {
        guard let v = Glibc.getenv(name) else { return nil }
        return String(cString: v)
    }
}

public func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    var ptrs: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    ptrs.append(nil)
    defer { for p in ptrs { free(p) } }
    return ptrs.withUnsafeBufferPointer { body($0.baseAddress!) }
}
