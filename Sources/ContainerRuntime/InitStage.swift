import CRuntime
import CSys
import Glibc
import JSON
import Sys

/// The two forked stages of `create` (see ContainerCreate.swift). Both report failures on the
/// sync socket ('E' + message) and exit; nothing here returns to the caller.
struct InitStage {
    let config: RuntimeConfig
    let id: String
    let bundle: String
    let sock: Int32
    let fifoFd: Int32
    let consoleFd: Int32
    let filter: [UInt8]?
    let manager: CgroupManager?
    let layout: CgroupLayout
    let preserveFds: Int
    let noPivot: Bool
    let stdio: [Int32]?

    func fail(_ message: String) -> Never {
        SyncMessage.send(sock, UInt8(ascii: "E"), message)
        _exit(1)
    }

    /// Stage 1: cgroups, namespaces, then the init.
    func stage1() -> Never {
        do throws(RuntimeFailure) {
            // A caller that keeps its own stdio (and its signal dispositions and mask, which
            // would outlive the execve) hands the container's over here.
            if let io = stdio, io.count == 3, brt_take_stdio(io[0], io[1], io[2]) != 0 { throw RuntimeFailure.errno("set up the container's stdio") }
            // Joined in the host's cgroup namespace, so a new one is rooted at the container's cgroup.
            try manager?.join("0")
            // Every namespace path is opened before any is entered (a joined mount namespace
            // changes what the later paths mean); the user namespace is entered first.
            var joins: [(type: String, fd: Int32)] = []
            for type in Namespaces.order {
                guard let path = config.namespace(type)?.path else { continue }
                let fd = open(path, O_RDONLY | O_CLOEXEC)
                if fd < 0 { throw RuntimeFailure.errno("failed to open \(path)") }
                joins.append((type, fd))
            }
            for j in joins {
                if brt_setns(j.fd, Namespaces.flag(j.type)!) != 0 {
                    throw RuntimeFailure.errno("failed to setns to \(config.namespace(j.type)!.path!)")
                }
                close(j.fd)
            }
            // No mount namespace in the spec: the caller's, not the private one the sealed re-exec made.
            if config.namespace("mount") == nil && callerMountNamespace >= 0 && brt_setns(callerMountNamespace, Namespaces.flag("mount")!) != 0 {
                throw RuntimeFailure.errno("return to the caller's mount namespace")
            }
            let newUser = config.namespace("user").map { $0.path == nil } ?? false
            if newUser {
                if brt_unshare(Namespaces.flag("user")!) != 0 { throw RuntimeFailure.errno("unshare user namespace") }
                SyncMessage.send(sock, UInt8(ascii: "U"))
                guard let (k, _) = SyncMessage.receive(sock), k == UInt8(ascii: "u") else { _exit(1) }
            }
            if config.namespace("user") != nil {
                if brt_setresgid(0) != 0 { throw RuntimeFailure.errno("setresgid in the user namespace") }
                if brt_setresuid(0) != 0 { throw RuntimeFailure.errno("setresuid in the user namespace") }
            }
            var flags: Int32 = 0
            for n in config.namespaces where n.path == nil && n.type != "user" { flags |= Namespaces.flag(n.type)! }
            if flags != 0 && brt_unshare(flags) != 0 { throw RuntimeFailure.errno("unshare namespaces") }
        } catch {
            fail(error.message)
        }
        let pid = brt_fork()
        if pid < 0 { fail("fork: \(goErrorText(errno))") }
        if pid == 0 { initProcess() }
        SyncMessage.send(sock, UInt8(ascii: "P"), String(pid))
        _exit(0)
    }

    /// The container's init: from here on everything is the container's.
    func initProcess() -> Never {
        // Not dumpable until execve: nothing in the container may open /proc/1/exe or its fds.
        _ = brt_prctl(PR_SET_DUMPABLE_, 0, 0, 0, 0)
        let setup = ProcessSetup(process: config.process, seccompFilter: filter)
        let program: String
        do throws(RuntimeFailure) {
            let newMountNS = config.namespace("mount").map { $0.path == nil } ?? false
            var sources: [Int: Int32] = [:]
            if config.namespace("user") != nil {
                for (i, m) in config.mounts.enumerated() where MountOptions(m.options, type: m.type).bind {
                    let fd = berth_recv_fd(sock)
                    if fd < 0 { throw RuntimeFailure.errno("receive the mount source of \(m.destination)") }
                    sources[i] = fd
                }
            }
            let rootfs = RootfsSetup(
                config: config, cgroups: manager?.paths, layout: layout,
                userNamespace: config.namespace("user") != nil, cgroupNamespace: config.namespace("cgroup") != nil, sources: sources)
            if newMountNS {
                try rootfs.prepare()
            }
            if !config.hooks.prestart.isEmpty || !config.hooks.createRuntime.isEmpty {
                SyncMessage.send(sock, UInt8(ascii: "H"))
                guard let (k, _) = SyncMessage.receive(sock), k == UInt8(ascii: "g") else { _exit(1) }
            }
            if !config.hooks.createContainer.isEmpty {
                try HookRunner.run(config.hooks.createContainer, kind: "createContainer", state: hookState("created"))
            }
            if newMountNS && Self.rulesMayGoOnEarly(config) { SyncMessage.send(sock, UInt8(ascii: "D")) }
            if newMountNS {
                if noPivot {
                    try moveRoot()
                } else {
                    try rootfs.pivot()
                }
                try rootfs.finalize()
            } else {
                if chroot(config.rootPath) != 0 { throw RuntimeFailure.errno("chroot \(config.rootPath)") }
                _ = chdir("/")
                for (k, v) in config.sysctl { try writeExisting("/proc/sys/" + k.replacing(".", with: "/"), v) }
            }
            if let h = config.hostname, config.namespace("uts") != nil, brt_sethostname(h) != 0 { throw RuntimeFailure.errno("sethostname") }
            if let d = config.domainname, config.namespace("uts") != nil, brt_setdomainname(d) != 0 { throw RuntimeFailure.errno("setdomainname") }
            if setsid() < 0 { throw RuntimeFailure.errno("setsid") }
            if config.process.terminal { try setupConsole() }
            try setup.applyRlimits()
            if let u = config.process.umask { umask(mode_t(u & 0o777)) }
            try setup.applyAppArmor()
            if config.process.noNewPrivileges && brt_prctl(PR_SET_NO_NEW_PRIVS_, 1, 0, 0, 0) != 0 {
                throw RuntimeFailure.errno("set no_new_privs")
            }
            if chdir(config.process.cwd) != 0 {
                throw RuntimeFailure("chdir to cwd (\"\(config.process.cwd)\") set in config.json failed: \(goErrorText(errno))")
            }
            try ProcessSetup.checkWorkingDirectoryInside()
            program = try setup.lookPath()
            // Nothing of the host past stdio (and the fds the caller asked to pass) reaches the program.
            if brt_cloexec_from(UInt32(3 + max(0, preserveFds))) != 0 { throw RuntimeFailure.errno("close_range") }
        } catch {
            fail(error.message)
        }
        SyncMessage.send(sock, UInt8(ascii: "R"))
        close(sock)
        // Blocks until `start` opens the fifo for reading.
        let w = openat(fifoFd, "exec.fifo", O_WRONLY | O_CLOEXEC)
        if w < 0 { late("open the exec fifo: \(goErrorText(errno))") }
        _ = Array("0".utf8).withUnsafeBytes { write(w, $0.baseAddress, 1) }
        close(w)
        close(fifoFd)
        do throws(RuntimeFailure) {
            if !config.hooks.startContainer.isEmpty {
                try HookRunner.run(config.hooks.startContainer, kind: "startContainer", state: hookState("created", pid: getpid()))
            }
            if !config.process.noNewPrivileges { try setup.loadSeccomp() }
            try setup.becomeUser()
            // As close to execve as possible, so the filter need not allow our own setup calls.
            if config.process.noNewPrivileges { try setup.loadSeccomp() }
        } catch {
            late(error.message)
        }
        let e = setup.exec(program)
        late("exec \(program): \(goErrorText(e < 0 ? errno : e))", code: errno == ENOENT ? 127 : 126)
    }

    /// Whether the device rules may go on from here, while the init pivots and hides paths: its
    /// device nodes are made, and nothing it still does opens one. A terminal's pty is opened
    /// later, so with one the rules wait for "ready", as runc's do.
    static func rulesMayGoOnEarly(_ config: RuntimeConfig) -> Bool { !config.process.terminal }

    /// A failure after `create` returned: the container's stderr is all that is left to tell.
    func late(_ message: String, code: Int32 = 126) -> Never {
        let text = Array("berth-runtime: unable to start container process: \(message)\n".utf8)
        _ = text.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        _exit(code)
    }

    func hookState(_ status: String, pid: Int32 = 0) -> JSON {
        [
            "ociVersion": .string(ContainerRuntimeEngine.ociVersion), "id": .string(id), "status": .string(status),
            "pid": .int(Int64(pid == 0 ? getpid() : pid)), "bundle": .string(bundle), "annotations": JSON.stringMap(config.annotations),
        ]
    }

    /// --no-pivot: the root moved over / and chrooted into (initramfs roots).
    func moveRoot() throws(RuntimeFailure) {
        guard chdir(config.rootPath) == 0 else { throw RuntimeFailure.errno("chdir \(config.rootPath)") }
        if mount(config.rootPath, "/", nil, MountFlags.move, nil) != 0 { throw RuntimeFailure.errno("move the root") }
        if chroot(".") != 0 { throw RuntimeFailure.errno("chroot") }
        _ = chdir("/")
    }

    /// The container's terminal: a pty of its own devpts; the master goes to the console socket,
    /// the slave becomes stdio, the controlling terminal and /dev/console.
    func setupConsole() throws(RuntimeFailure) {
        var master: Int32 = -1, slave: Int32 = -1
        var name = [CChar](repeating: 0, count: 64)
        if brt_open_pty(&master, &slave, &name, 64) != 0 { throw RuntimeFailure.errno("open a pty") }
        let slavePath = cString(name)
        if config.process.consoleRows > 0 || config.process.consoleCols > 0 {
            _ = berth_set_winsize(master, config.process.consoleRows, config.process.consoleCols)
        }
        let console = open("/dev/console", O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0o666)
        if console >= 0 { close(console) }
        if mount(slavePath, "/dev/console", nil, MountFlags.bind, nil) != 0 && errno != ENOENT {
            throw RuntimeFailure.errno("bind \(slavePath) to /dev/console")
        }
        if brt_send_fd(consoleFd, master, slavePath) != 0 { throw RuntimeFailure.errno("send the console to the console socket") }
        close(master)
        close(consoleFd)
        for i in 0..<3 where dup2(slave, Int32(i)) < 0 { throw RuntimeFailure.errno("dup2 the console") }
        if slave > 2 { close(slave) }
        if brt_set_ctty(0) != 0 { throw RuntimeFailure.errno("set the controlling terminal") }
    }
}
