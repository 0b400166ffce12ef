import CRuntime
import CSys
import Glibc
import JSON
import Seccomp
import Sys

/// `run` (create, start, and in the foreground wait, forward signals, relay a terminal, delete)
/// and `exec`, which share the waiting and the terminal relay.
struct Runner {
    let engine: ContainerRuntimeEngine

    func run(_ o: CreateOptions, detach: Bool) throws(RuntimeFailure) -> Int32 {
        var o = o
        _ = brt_prctl(PR_SET_CHILD_SUBREAPER_, 1, 0, 0, 0)
        let sigfd = detach ? -1 : brt_forwarding_signalfd()
        var console: ConsoleListener? = nil
        if !detach && (o.consoleSocket ?? "").isEmpty, configWantsTerminal(o.bundle) {
            console = try ConsoleListener()
            o.consoleSocket = console!.path
        }
        defer { console?.remove() }
        let state = try engine.create(o)
        let master = try console?.receive() ?? -1
        do { try engine.start(o.id) } catch {
            try? engine.delete(o.id, force: true)
            throw error
        }
        if detach { return 0 }
        let code = Self.wait(pid: state.pid, sigfd: sigfd, master: master)
        try? engine.delete(o.id, force: true)
        return code
    }

    func configWantsTerminal(_ bundle: String) -> Bool {
        guard let j = try? JSON.parse(try FS.read((bundle.isEmpty ? "." : bundle) + "/config.json")) else { return false }
        return j["process"]["terminal"].bool ?? false
    }

    /// Waits for `pid` (our child, or reparented to us as subreaper), forwarding signals and
    /// relaying the terminal; returns its exit code as a shell reports it.
    static func wait(pid: Int32, sigfd: Int32, master: Int32) -> Int32 {
        var code: Int32? = nil
        var masterOpen = master >= 0
        var stdinOpen = master >= 0
        var buf = [UInt8](repeating: 0, count: 32768)
        if master >= 0 { var rows: UInt16 = 0, cols: UInt16 = 0; if berthGetWinsize(0, &rows, &cols) { _ = berth_set_winsize(master, rows, cols) } }
        while code == nil || masterOpen {
            var fds = [pollfd(fd: sigfd, events: Int16(POLLIN), revents: 0)]
            if masterOpen { fds.append(pollfd(fd: master, events: Int16(POLLIN), revents: 0)) }
            if stdinOpen { fds.append(pollfd(fd: 0, events: Int16(POLLIN), revents: 0)) }
            let rc = poll(&fds, nfds_t(fds.count), code != nil ? 100 : -1)
            if rc == 0 { break }
            if rc < 0 { if errno == EINTR { continue }; break }
            for f in fds where f.revents != 0 {
                if f.fd == sigfd {
                    while case let sig = brt_signalfd_next(sigfd), sig != 0 {
                        if sig == SIGCHLD { continue }
                        if sig == SIGWINCH && master >= 0 {
                            var rows: UInt16 = 0, cols: UInt16 = 0
                            if berthGetWinsize(0, &rows, &cols) { _ = berth_set_winsize(master, rows, cols) }
                            continue
                        }
                        kill(pid, sig)
                    }
                    var status: Int32 = 0
                    while true {
                        let p = brt_waitpid(-1, &status, 1)
                        if p <= 0 { break }
                        if p == pid { code = brt_decode_status(status) }
                    }
                } else if f.fd == master {
                    let n = buf.withUnsafeMutableBytes { read(master, $0.baseAddress, $0.count) }
                    if n <= 0 { masterOpen = false; stdinOpen = false } else { try? FS.writeAll(fd: 1, Array(buf[0..<n])) }
                } else if f.fd == 0 {
                    let n = buf.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
                    if n <= 0 { stdinOpen = false } else { try? FS.writeAll(fd: master, Array(buf[0..<n])) }
                }
            }
        }
        if master >= 0 { close(master) }
        return code ?? 255
    }

    static func berthGetWinsize(_ fd: Int32, _ rows: inout UInt16, _ cols: inout UInt16) -> Bool {
        var ws = winsize()
        guard ioctl(fd, UInt(TIOCGWINSZ), &ws) == 0 else { return false }
        rows = ws.ws_row; cols = ws.ws_col
        return true
    }
}

/// A console socket of our own, for a foreground `run`/`exec` with a terminal.
struct ConsoleListener {
    let path: String
    let fd: Int32
    init() throws(RuntimeFailure) {
        let dir: String
        do { dir = try FS.makeTempDirectory("/tmp/berth-runtime-console-") } catch { throw RuntimeFailure("\(error)") }
        path = dir + "/console.sock"
        do { fd = try UnixSocket.listen(path) } catch { throw RuntimeFailure("\(error)") }
    }
    func receive() throws(RuntimeFailure) -> Int32 {
        let c = berth_accept(fd)
        guard c >= 0 else { throw RuntimeFailure.errno("accept the console") }
        defer { close(c) }
        let m = berth_recv_fd(c)
        guard m >= 0 else { throw RuntimeFailure.errno("receive the console") }
        return m
    }
    func remove() {
        close(fd)
        unlink(path)
        rmdir(String(path.dropLast("/console.sock".count)))
    }
}

/// `exec`: a process in a running container's namespaces and cgroups, set up as the init was.
struct ExecCommand {
    let engine: ContainerRuntimeEngine

    func run(_ p: inout Flags) throws(RuntimeFailure) -> Int32 {
        let processFile = try p.value("-p", "--process")
        let tty = p.bool("-t", "--tty")
        let detach = p.bool("-d", "--detach")
        let consoleSocket = try p.value("--console-socket")
        let pidFile = try p.value("--pid-file")
        let cwd = try p.value("--cwd")
        let env = try p.values("-e", "--env")
        let user = try p.value("-u", "--user")
        let caps = try p.values("-c", "--cap")
        let nnp = p.bool("--no-new-privs")
        let additionalGids = try p.values("-g", "--additional-gids")
        _ = try p.value("--preserve-fds")
        _ = try p.value("--apparmor")
        _ = try p.value("--process-label")
        let id = try p.id()
        let s = try engine.store.load(id)
        switch engine.store.status(s) {
        case .stopped: throw RuntimeFailure("cannot exec in a stopped container")
        case .paused: throw RuntimeFailure("cannot exec in a paused container")
        default: break
        }
        guard let config = engine.store.config(id) else { throw RuntimeFailure("container state of \(id) is corrupt") }
        var process = config.process
        if let file = processFile {
            do {
                process = try RuntimeConfig.decodeProcess(try JSON.parse(try FS.read(file)))
            } catch let e as RuntimeConfig.Invalid {
                throw RuntimeFailure(e.message)
            } catch {
                throw RuntimeFailure("process file \(file): \(error)")
            }
        } else {
            guard !p.positional.isEmpty else { throw RuntimeFailure("exec: args must not be empty") }
            process.args = p.positional
            process.terminal = tty
            if let c = cwd { process.cwd = c }
            process.env += env
            if let u = user {
                let parts = u.split(separator: ":")
                guard let uid = UInt32(parts.first ?? ""), parts.count <= 2, parts.count < 2 || UInt32(parts[1]) != nil else {
                    throw RuntimeFailure("parsing \(u) as uid:gid failed")
                }
                process.uid = uid
                process.gid = parts.count == 2 ? UInt32(parts[1])! : 0
            }
            for g in additionalGids { if let v = UInt32(g) { process.additionalGids.append(v) } }
            for c in caps {
                for set in [\RuntimeConfig.Process.bounding, \.effective, \.permitted, \.ambient] where !process[keyPath: set].contains(c) {
                    process[keyPath: set].append(c)
                }
            }
            if nnp { process.noNewPrivileges = true }
        }
        if process.terminal && detach && (consoleSocket ?? "").isEmpty {
            throw RuntimeFailure("cannot allocate tty if runc will detach without setting console socket")
        }
        var filter: [UInt8]? = nil
        if let profile = config.seccomp { filter = try SeccompCache(root: engine.store.root).filter(for: profile) }
        _ = brt_prctl(PR_SET_CHILD_SUBREAPER_, 1, 0, 0, 0)
        let sigfd = detach ? -1 : brt_forwarding_signalfd()
        var listener: ConsoleListener? = nil
        var consolePath = consoleSocket
        if process.terminal && (consoleSocket ?? "").isEmpty {
            listener = try ConsoleListener()
            consolePath = listener!.path
        }
        defer { listener?.remove() }
        var consoleFd: Int32 = -1
        if process.terminal, let path = consolePath {
            do { consoleFd = try UnixSocket.connect(path) } catch { throw RuntimeFailure("connect to the console socket \(path): \(error)") }
        }
        var sv: [Int32] = [0, 0]
        guard brt_socketpair(&sv) == 0 else { throw RuntimeFailure.errno("socketpair") }
        let join = ExecJoin(
            target: s.pid, process: process, filter: filter, cgroups: engine.manager(s), sock: sv[1], consoleFd: consoleFd)
        let child = brt_fork()
        if child < 0 { throw RuntimeFailure.errno("fork") }
        if child == 0 {
            close(sv[0])
            join.enter()
        }
        close(sv[1])
        if consoleFd >= 0 { close(consoleFd) }
        var pid: Int32 = 0
        var failure: String? = nil
        var reports = ChildReports()
        while let (kind, text) = reports.next({ SyncMessage.receive(sv[0]) }) {
            if kind == UInt8(ascii: "P") {
                pid = Int32(text) ?? 0
                // From here, as for create: the process may not open its own /proc files in a user namespace.
                if let o = process.oomScoreAdj, pid > 0 { try? writeExisting("/proc/\(pid)/oom_score_adj", String(o)) }
            } else if kind == UInt8(ascii: "E") {
                failure = text; break
            } else if kind == UInt8(ascii: "R") {
                break
            }
        }
        close(sv[0])
        var st: Int32 = 0
        _ = brt_waitpid(child, &st, 0)
        if let f = failure {
            if pid > 0 { _ = brt_waitpid(pid, &st, 0) }
            throw RuntimeFailure("exec failed: unable to start container process: \(f)")
        }
        guard pid > 0 else { throw RuntimeFailure("exec failed: the process did not start") }
        if let pf = pidFile {
            do { try FS.writeAtomic(absolutePath(pf), "\(pid)", mode: 0o644, durable: false) } catch { throw RuntimeFailure("writing the pid file: \(error)") }
        }
        let master = try listener?.receive() ?? -1
        if detach { return 0 }
        return Runner.wait(pid: pid, sigfd: sigfd, master: master)
    }
}

/// The forked side of `exec`: joins the container, then forks the process (inside its pid namespace).
struct ExecJoin {
    let target: Int32
    let process: RuntimeConfig.Process
    let filter: [UInt8]?
    let cgroups: CgroupManager?
    let sock: Int32
    let consoleFd: Int32

    func fail(_ m: String) -> Never {
        SyncMessage.send(sock, UInt8(ascii: "E"), m)
        _exit(1)
    }

    func enter() -> Never {
        _ = brt_prctl(PR_SET_DUMPABLE_, 0, 0, 0, 0)
        do throws(RuntimeFailure) {
            try cgroups?.join("0")
            // Opened first: after the mount namespace, /proc is the container's. The user
            // namespace last: host root may enter the others whoever owns them.
            var fds: [(String, Int32)] = []
            for kind in ["cgroup", "ipc", "uts", "net", "pid", "mnt", "user"] {
                var a = stat(), b = stat()
                let path = "/proc/\(target)/ns/\(kind)"
                guard stat(path, &a) == 0 else { continue }
                if stat("/proc/self/ns/\(kind)", &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev { continue }
                let fd = open(path, O_RDONLY | O_CLOEXEC)
                if fd < 0 { throw RuntimeFailure.errno("open \(path)") }
                fds.append((kind, fd))
            }
            for (kind, fd) in fds where brt_setns(fd, 0) != 0 { throw RuntimeFailure.errno("setns \(kind)") }
        } catch {
            fail(error.message)
        }
        let pid = brt_fork()
        if pid < 0 { fail("fork: \(goErrorText(errno))") }
        if pid == 0 { become() }
        SyncMessage.send(sock, UInt8(ascii: "P"), String(pid))
        _exit(0)
    }

    func become() -> Never {
        let setup = ProcessSetup(process: process, seccompFilter: filter)
        let program: String
        do throws(RuntimeFailure) {
            if setsid() < 0 { throw RuntimeFailure.errno("setsid") }
            if process.terminal {
                var master: Int32 = -1, slave: Int32 = -1
                var name = [CChar](repeating: 0, count: 64)
                if brt_open_pty(&master, &slave, &name, 64) != 0 { throw RuntimeFailure.errno("open a pty") }
                if process.consoleRows > 0 { _ = berth_set_winsize(master, process.consoleRows, process.consoleCols) }
                if brt_send_fd(consoleFd, master, cString(name)) != 0 { throw RuntimeFailure.errno("send the console") }
                close(master)
                for i in 0..<3 { dup2(slave, Int32(i)) }
                if slave > 2 { close(slave) }
                if brt_set_ctty(0) != 0 { throw RuntimeFailure.errno("set the controlling terminal") }
            }
            if consoleFd >= 0 { close(consoleFd) }
            try setup.applyRlimits()
            try setup.applyAppArmor()
            if process.noNewPrivileges && brt_prctl(PR_SET_NO_NEW_PRIVS_, 1, 0, 0, 0) != 0 { throw RuntimeFailure.errno("set no_new_privs") }
            if !process.noNewPrivileges { try setup.loadSeccomp() }
            try setup.becomeUser()
            if chdir(process.cwd) != 0 {
                throw RuntimeFailure("chdir to cwd (\"\(process.cwd)\") set in config.json failed: \(goErrorText(errno))")
            }
            try ProcessSetup.checkWorkingDirectoryInside()
            program = try setup.lookPath()
            if process.noNewPrivileges { try setup.loadSeccomp() }
            if brt_cloexec_from(3) != 0 { throw RuntimeFailure.errno("close_range") }
        } catch {
            fail(error.message)
        }
        // The socket is close-on-exec: its EOF tells the parent the execve happened.
        let e = setup.exec(program)
        fail("exec \(program): \(goErrorText(e < 0 ? errno : e))")
    }
}
