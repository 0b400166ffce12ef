import CSys
import Glibc
import Sys

/// `berth-shim exec …`: runs one `exec -t` process and relays its terminal over our stdio.
///
/// runc takes a console socket for exec only with `--detach`, after which the exec'd process is
/// reparented to the nearest child subreaper. So this helper is that subreaper: it lets runc
/// start the process detached, receives the pty master, copies stdin → master and master →
/// stdout, reaps the process, and exits with its exit code — which is all berthd waits for.
enum ExecTTY {
    struct Options {
        var runtime = "runc", runtimeRoot = "", id = "", process = "", pidFile = "", consoleSocket = ""
    }

    static func parse(_ args: ArraySlice<String>) -> Options {
        var o = Options()
        var it = args.makeIterator()
        while let a = it.next() {
            switch a {
            case "--runtime": o.runtime = it.next() ?? o.runtime
            case "--runtime-root": o.runtimeRoot = it.next() ?? ""
            case "--id": o.id = it.next() ?? ""
            case "--process": o.process = it.next() ?? ""
            case "--pid-file": o.pidFile = it.next() ?? ""
            case "--console-socket": o.consoleSocket = it.next() ?? ""
            default: break
            }
        }
        return o
    }

    static func die(_ message: String) -> Never {
        try? FS.writeAll(fd: 2, Array((message + "\n").utf8))
        exit(255)
    }

    static func run(_ args: ArraySlice<String>) -> Never {
        let o = parse(args)
        guard !o.id.isEmpty, !o.process.isEmpty, !o.consoleSocket.isEmpty else { die("usage: berth-shim exec --id ID --process FILE --pid-file FILE --console-socket PATH") }
        _ = berth_set_child_subreaper()
        let sigfd = berth_block_sigchld_fd()
        signal(SIGPIPE, SIG_IGN)
        let listenFd: Int32
        do { listenFd = try UnixSocket.listen(o.consoleSocket) } catch { die("console socket: \(error)") }
        defer { unlink(o.consoleSocket) }
        let argv = [o.runtime, "--root", o.runtimeRoot, "exec", "--process", o.process, "--console-socket", o.consoleSocket,
                    "--detach", "--pid-file", o.pidFile, o.id]
        // runc's own errors go straight to our stderr, where berthd reads them.
        let runc: pid_t
        do { runc = try Proc.spawn(argv, stdin: -1, stdout: 2, stderr: 2) } catch { unlink(o.consoleSocket); die("\(error)") }
        let status = Proc.wait(runc)
        if status != 0 { unlink(o.consoleSocket); exit(status == 0 ? 255 : status) }
        let conn = berth_accept(listenFd)
        let master = conn >= 0 ? berth_recv_fd(conn) : -1
        if conn >= 0 { close(conn) }
        close(listenFd)
        unlink(o.consoleSocket)
        let pid = pid_t((try? FS.readString(o.pidFile))?.trimmingSpaces() ?? "") ?? 0
        guard master >= 0, pid > 0 else {
            if pid > 0 { kill(pid, SIGKILL) }
            die("did not receive the exec's console")
        }
        var exitCode: Int32? = nil
        var masterOpen = true, stdinOpen = true
        var buf = [UInt8](repeating: 0, count: 65536)
        func reap() {
            var st: Int32 = 0
            while true {
                let p = waitpid(-1, &st, WNOHANG)
                if p <= 0 { break }
                if p == pid { exitCode = Proc.decodeStatus(st) }
            }
        }
        while masterOpen {
            var fds = [pollfd(fd: master, events: Int16(POLLIN), revents: 0), pollfd(fd: sigfd, events: Int16(POLLIN), revents: 0)]
            if stdinOpen { fds.append(pollfd(fd: 0, events: Int16(POLLIN), revents: 0)) }
            // After the exit, drain what the pty still holds, briefly (a background child may keep it open).
            let rc = poll(&fds, nfds_t(fds.count), exitCode == nil ? -1 : 100)
            if rc < 0 { if errno == EINTR { continue }; break }
            if rc == 0 { break }
            if fds[1].revents != 0 { _ = berth_sig_read(sigfd); reap() }
            if fds[0].revents != 0 {
                let n = buf.withUnsafeMutableBytes { read(master, $0.baseAddress, 65536) }
                if n > 0 { do { try FS.writeAll(fd: 1, Array(buf[0..<n])) } catch { stdinOpen = false } }
                else if n == 0 || (errno != EINTR && errno != EAGAIN) { masterOpen = false }   // EIO: the slave side is gone
            }
            if stdinOpen && fds.count > 2 && fds[2].revents != 0 {
                let n = buf.withUnsafeMutableBytes { read(0, $0.baseAddress, 65536) }
                if n > 0 { try? FS.writeAll(fd: master, Array(buf[0..<n])) }
                else if n == 0 || errno != EINTR {
                    // The client closed its input: on a terminal that is end-of-file, ^D.
                    stdinOpen = false
                    try? FS.writeAll(fd: master, [4])
                }
            }
        }
        close(master)
        while exitCode == nil {
            var st: Int32 = 0
            let p = waitpid(-1, &st, 0)
            if p < 0 && errno != EINTR { break }
            if p == pid { exitCode = Proc.decodeStatus(st) }
        }
        exit(exitCode ?? 255)
    }
}
