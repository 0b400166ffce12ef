import CSys
import Glibc
import JSON
import Sys

/// `berth-shim exec …`: starts one process inside a running container and lives as long as it,
/// exiting with its exit code — which is all berthd waits for.
///
/// No OCI runtime is involved: `runc exec` costs a Go start-up and a re-exec (~27 ms here), while
/// entering the container's namespaces and cgroups directly takes a fork or two (nsexec.c). The
/// process is confined exactly as the container's own: the same namespaces and cgroups, the
/// capability sets, user and no_new_privs from the process file berthd writes, and the container's
/// seccomp filter, compiled by berthd once per profile. Without a TTY the process inherits our
/// stdio (berthd's pipes); with one its pty comes from the container's devpts and we relay it.
enum ExecHelper {
    struct Options {
        var pid: Int32 = 0, process = "", seccomp = "", pidFile = ""
    }

    static func parse(_ args: ArraySlice<String>) -> Options {
        var o = Options()
        var it = args.makeIterator()
        while let a = it.next() {
            switch a {
            case "--pid": o.pid = Int32(it.next() ?? "") ?? 0
            case "--process": o.process = it.next() ?? ""
            case "--seccomp": o.seccomp = it.next() ?? ""
            case "--pid-file": o.pidFile = it.next() ?? ""
            default: break
            }
        }
        return o
    }

    /// A process that could not be started, as dockerd 20.10 reports it: its error text on the
    /// exec's stdout stream, "\r\n"-terminated, and exit code 126 whatever the cause.
    static func die(_ message: String) -> Never {
        try? FS.writeAll(fd: 1, Array("OCI runtime exec failed: exec failed: unable to start container process: \(message): unknown\r\n".utf8))
        exit(126)
    }

    static func run(_ args: ArraySlice<String>) -> Never {
        let o = parse(args)
        guard o.pid > 0, !o.process.isEmpty else { die("usage: berth-shim exec --pid PID --process FILE [--seccomp FILE] [--pid-file FILE]") }
        let process: JSON
        do { process = try JSON.parse(FS.read(o.process)) } catch { die("reading \(o.process): \(error)") }
        var filter: [UInt8] = []
        if !o.seccomp.isEmpty {
            do { filter = try FS.read(o.seccomp) } catch { die("reading the seccomp filter: \(error)") }
        }
        let cgroupFiles = CgroupMembership.procsFiles(procCgroup: (try? FS.readString("/proc/\(o.pid)/cgroup")) ?? "",
                                                      mountinfo: (try? FS.readString("/proc/self/mountinfo")) ?? "")
        let sigfd = berth_block_sigchld_fd()
        signal(SIGPIPE, SIG_IGN)

        let argv = process["args"].stringArray ?? []
        let env = process["env"].stringArray ?? []
        guard !argv.isEmpty else { die("no command") }
        let path = env.last { $0.hasPrefix("PATH=") }.map { String($0.dropFirst(5)) }
        let user = process["user"], caps = process["capabilities"]
        let groups = (user["additionalGids"].array ?? []).compactMap { $0.int.map { UInt32(truncatingIfNeeded: $0) } }
        let tty = process["terminal"].bool ?? false
        var errBuf = [CChar](repeating: 0, count: 2048)
        var master: Int32 = -1, code: Int32 = 0
        let pid: Int32 = withCStrings(argv) { cargv in
            withCStrings(env) { cenv in
                withCStrings(cgroupFiles) { ccg in
                    groups.withUnsafeBufferPointer { g in
                        filter.withUnsafeBytes { f in
                            (process["cwd"].string ?? "/").withCString { cwd in
                                withOptionalCString(path) { cpath in
                                    var spec = berth_exec_spec()
                                    spec.target_pid = o.pid
                                    spec.argv = UnsafePointer(OpaquePointer(cargv))
                                    spec.envp = UnsafePointer(OpaquePointer(cenv))
                                    spec.path_env = cpath
                                    spec.cwd = cwd
                                    spec.uid = UInt32(truncatingIfNeeded: user["uid"].int ?? 0)
                                    spec.gid = UInt32(truncatingIfNeeded: user["gid"].int ?? 0)
                                    spec.groups = g.baseAddress
                                    spec.ngroups = Int32(g.count)
                                    spec.cap_bounding = LinuxCapabilities.mask(caps["bounding"].stringArray ?? [])
                                    spec.cap_effective = LinuxCapabilities.mask(caps["effective"].stringArray ?? [])
                                    spec.cap_permitted = LinuxCapabilities.mask(caps["permitted"].stringArray ?? [])
                                    spec.cap_inheritable = LinuxCapabilities.mask(caps["inheritable"].stringArray ?? [])
                                    spec.cap_ambient = LinuxCapabilities.mask(caps["ambient"].stringArray ?? [])
                                    spec.no_new_privs = process["noNewPrivileges"].bool == true ? 1 : 0
                                    spec.seccomp = f.isEmpty ? nil : f.baseAddress
                                    spec.seccomp_len = Int32(f.count)
                                    spec.cgroup_procs = UnsafePointer(OpaquePointer(ccg))
                                    spec.tty = tty ? 1 : 0
                                    spec.rows = UInt16(truncatingIfNeeded: process["consoleSize"]["height"].int ?? 0)
                                    spec.cols = UInt16(truncatingIfNeeded: process["consoleSize"]["width"].int ?? 0)
                                    spec.oom_score_adj = process["oomScoreAdj"].int.map { Int32(truncatingIfNeeded: $0) } ?? Int32.min
                                    return berth_nsexec(&spec, &master, &errBuf, Int32(errBuf.count), &code)
                                }
                            }
                        }
                    }
                }
            }
        }
        if pid <= 0 {
            let message = String(decoding: errBuf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            die(message)
        }
        if !o.pidFile.isEmpty { try? FS.writeAtomic(o.pidFile, "\(pid)") }
        var status: Int32? = nil
        if master >= 0 { status = relay(master: master, sigfd: sigfd, pid: pid) }
        exit(status ?? waitFor(pid))
    }

    static func waitFor(_ pid: Int32) -> Int32 {
        var st: Int32 = 0
        while true {
            let p = waitpid(-1, &st, 0)
            if p < 0 && errno != EINTR { return 255 }
            if p == pid { return Proc.decodeStatus(st) }
        }
    }

    /// Copies stdin → master and master → stdout until the terminal's other side is gone; returns
    /// the process's exit code if it was reaped meanwhile.
    static func relay(master: Int32, sigfd: Int32, pid: Int32) -> Int32? {
        var exitCode: Int32? = nil
        var masterOpen = true, stdinOpen = true
        var buf = [UInt8](repeating: 0, count: 65536)
        while masterOpen {
            var fds = [pollfd(fd: master, events: Int16(POLLIN), revents: 0), pollfd(fd: sigfd, events: Int16(POLLIN), revents: 0)]
            if stdinOpen { fds.append(pollfd(fd: 0, events: Int16(POLLIN), revents: 0)) }
            // After the exit, drain what the pty still holds, briefly (a background child may keep it open).
            let rc = poll(&fds, nfds_t(fds.count), exitCode == nil ? -1 : 100)
            if rc < 0 { if errno == EINTR { continue }; break }
            if rc == 0 { break }
            if fds[1].revents != 0 {
                _ = berth_sig_read(sigfd)
                var st: Int32 = 0
                while case let p = waitpid(-1, &st, WNOHANG), p > 0 { if p == pid { exitCode = Proc.decodeStatus(st) } }
            }
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
        return exitCode
    }

    static func withOptionalCString<R>(_ s: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
        guard let s else { return body(nil) }
        return s.withCString { body($0) }
    }
}
