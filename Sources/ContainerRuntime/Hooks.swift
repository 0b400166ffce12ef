import CRuntime
import CSys
import Glibc
import JSON
import Sys

/// OCI hooks: each is run with the container's state as JSON on its stdin; a non-zero exit or
/// a timeout is an error in runc's words.
enum HookRunner {
    static func run(_ hooks: [RuntimeConfig.Hook], kind: String, state: JSON) throws(RuntimeFailure) {
        for (i, h) in hooks.enumerated() {
            do throws(RuntimeFailure) {
                try runOne(h, state: state)
            } catch {
                throw RuntimeFailure("error running \(kind) hook #\(i): \(error.message)")
            }
        }
    }

    static func runOne(_ h: RuntimeConfig.Hook, state: JSON) throws(RuntimeFailure) {
        var input: [Int32] = [0, 0], output: [Int32] = [0, 0]
        guard berth_pipe(&input) == 0, berth_pipe(&output) == 0 else { throw RuntimeFailure.errno("pipe") }
        let pid = brt_fork()
        if pid < 0 { throw RuntimeFailure.errno("fork") }
        if pid == 0 {
            // The caller may be berth-shim (its SIGCHLD blocked, SIGPIPE ignored): the hook gets
            // what a freshly started program would.
            brt_reset_signals()
            dup2(input[0], 0)
            dup2(output[1], 1)
            dup2(output[1], 2)
            let args = h.args.isEmpty ? [h.path] : h.args
            _ = withCStrings(args) { a in withCStrings(h.env) { e in execve(h.path, a, e) } }
            _exit(127)
        }
        close(input[0]); close(output[1])
        // The state is small (a few hundred bytes): the pipe holds it, the hook may never read it.
        _ = fcntl(input[1], F_SETFL, O_NONBLOCK)
        try? FS.writeAll(fd: input[1], state.serializedBytes())
        close(input[1])
        _ = fcntl(output[0], F_SETFL, O_NONBLOCK)
        var out: [UInt8] = []
        let deadline = h.timeout.map { Timestamp.monotonicNanos() + Int64($0) * 1_000_000_000 }
        var status: Int32 = 0
        while true {
            var buf = [UInt8](repeating: 0, count: 4096)
            let n = buf.withUnsafeMutableBytes { read(output[0], $0.baseAddress, $0.count) }
            if n > 0 && out.count < 65536 { out += buf[0..<n] }
            if brt_waitpid(pid, &status, 1) == pid { break }
            if let d = deadline, Timestamp.monotonicNanos() > d {
                kill(pid, SIGKILL)
                _ = brt_waitpid(pid, &status, 0)
                close(output[0])
                throw RuntimeFailure("timeout after \(h.timeout!) seconds")
            }
            if n <= 0 { usleepMillis(1) }
        }
        close(output[0])
        let code = brt_decode_status(status)
        if code != 0 {
            throw RuntimeFailure("exit status \(code), stdout: \(String(decoding: out, as: UTF8.self).trimmedLine), stderr: ")
        }
    }
}
