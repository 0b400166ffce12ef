import CRuntime
import Glibc
import JSON
import Seccomp
import Sys

/// `create`: the container's init process, in its namespaces and cgroups, on its root, its
/// program looked up, waiting on the exec fifo for `start`.
///
///   berth-runtime create (host)
///     └─ stage 1: joins the cgroups and the namespaces given by path, unshares the user namespace
///        (the parent writes its maps), unshares the others, forks
///          └─ init (pid 1 of a new pid namespace): mounts, pivot_root, process setup, waits on
///             the fifo, execve. Stage 1 exits at once, so init is reparented to the caller's
///             subreaper (berth-shim), as with runc.
///
/// No re-exec: the runtime is single-threaded, so it forks freely, and it runs from a sealed
/// copy of itself (brt_ensure_sealed) so a container cannot reach the host's binary through
/// /proc/<init>/exe while init is still the runtime.
public struct CreateOptions: Sendable {
    public var id: String
    public var bundle: String
    public var pidFile: String?
    public var consoleSocket: String?
    public var preserveFds: Int = 0
    public var noPivot = false
    /// The container's stdin, stdout and stderr (-1: /dev/null) when `create` runs in a process
    /// that keeps its own (berth-shim's fast path); nil: this process's (the command line's).
    public var stdio: [Int32]? = nil
    public init(id: String, bundle: String) { self.id = id; self.bundle = bundle }
}

public struct ContainerRuntimeEngine {
    public let store: StateStore
    public static let ociVersion = "1.1.0"

    public init(root: String) { store = StateStore(root: root) }

    public func create(_ o: CreateOptions) throws(RuntimeFailure) -> ContainerState {
        guard ContainerState.validID(o.id) else { throw RuntimeFailure("invalid container id format: \(o.id)") }
        let bundle = absolutePath(o.bundle.isEmpty ? "." : o.bundle)
        // Made absolute now: entering the container's mount namespace (mount sources) resets the cwd.
        let pidFile = o.pidFile.flatMap { $0.isEmpty ? nil : absolutePath($0) }
        let raw: JSON
        do { raw = try JSON.parse(try FS.read(bundle + "/config.json")) } catch let e as SysError {
            throw RuntimeFailure("open \(bundle)/config.json: \(goErrorText(e.errno))")
        } catch {
            throw RuntimeFailure("config.json: \(error)")
        }
        let config: RuntimeConfig
        do { config = try RuntimeConfig.decode(raw, bundle: bundle) } catch { throw RuntimeFailure(error.message) }
        try validate(config, id: o.id)
        if config.process.terminal && (o.consoleSocket ?? "").isEmpty {
            throw RuntimeFailure("cannot allocate tty if runc will detach without setting console socket")
        }
        if !config.process.terminal && !(o.consoleSocket ?? "").isEmpty {
            throw RuntimeFailure("cannot use console socket if runc will not detach or allocate tty")
        }
        var st = stat()
        guard stat(config.rootPath, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
            throw RuntimeFailure("rootfs (\(config.rootPath)) does not exist")
        }

        do { try FS.mkdirAll(store.root, mode: 0o700) } catch { throw RuntimeFailure("mkdir \(store.root): \(goErrorText(error.errno))") }
        let dir = store.dir(o.id)
        if mkdir(dir, 0o711) != 0 {
            if errno == EEXIST { throw RuntimeFailure("container with id exists: \(o.id)") }
            throw RuntimeFailure.errno("mkdir \(dir)")
        }
        var cleanup = Cleanup(dir: dir)
        defer { cleanup.run() }
        do { try FS.writeAtomic(dir + "/config.json", raw.serializedBytes(), mode: 0o600, durable: false) } catch {
            throw RuntimeFailure("saving the spec: \(error)")
        }

        var filter: [UInt8]? = nil
        if let profile = config.seccomp { filter = try SeccompCache(root: store.root).filter(for: profile) }

        // Cgroups, made and filled before the init joins them.
        let layout = CgroupLayout.host()
        var cgroupPaths: CgroupPaths? = nil
        var manager: CgroupManager? = nil
        if layout.unified != nil || !layout.v1.isEmpty {
            let paths = CgroupPaths(
                layout: layout, cgroupsPath: config.cgroupsPath, id: o.id, ownCgroup: (try? FS.readString("/proc/self/cgroup")) ?? "")
            let m = CgroupManager(paths: paths, files: HostCgroupFiles(), v2Only: layout.v2Only)
            cleanup.cgroups = m
            do throws(RuntimeFailure) {
                try m.create()
                // Another container's processes in it would be frozen, limited and killed with this one.
                let others = m.pids()
                if !others.isEmpty { throw RuntimeFailure("container's cgroup is not empty: \(others.count) process(es) found") }
                cgroupPaths = paths
                manager = m
            } catch {
                // Rootless (a user namespace that is not the host's) without a cgroup path or
                // limits asked for: run without cgroups of its own, as runc does.
                guard Self.inUserNamespace, config.cgroupsPath == nil, config.resources.object?.isEmpty ?? true else { throw error }
                cleanup.cgroups = nil
            }
        }

        if brt_mkfifo(store.fifo(o.id), 0o622) != 0 { throw RuntimeFailure.errno("mkfifo \(store.fifo(o.id))") }
        // Writable by the container's root whoever it is on the host (mkfifo applied the umask).
        if chmod(store.fifo(o.id), 0o622) != 0 { throw RuntimeFailure.errno("chmod \(store.fifo(o.id))") }
        // The init reopens the fifo on its directory's descriptor: not through /proc/self/fd,
        // which a non-dumpable process in a user namespace may not open.
        let fifoFd = open(dir, O_PATH_ | O_DIRECTORY | O_CLOEXEC)
        guard fifoFd >= 0 else { throw RuntimeFailure.errno("open the state directory") }
        defer { close(fifoFd) }
        var consoleFd: Int32 = -1
        if let sock = o.consoleSocket, !sock.isEmpty {
            do { consoleFd = try UnixSocket.connect(sock) } catch { throw RuntimeFailure("connect to the console socket \(sock): \(error)") }
        }
        defer { if consoleFd >= 0 { close(consoleFd) } }

        var sv: [Int32] = [0, 0]
        guard brt_socketpair(&sv) == 0 else { throw RuntimeFailure.errno("socketpair") }
        let stage = InitStage(
            config: config, id: o.id, bundle: bundle, sock: sv[1], fifoFd: fifoFd, consoleFd: consoleFd, filter: filter, manager: manager,
            layout: layout, preserveFds: o.preserveFds, noPivot: o.noPivot, stdio: o.stdio)
        let child = brt_fork()
        if child < 0 {
            close(sv[0]); close(sv[1])
            throw RuntimeFailure.errno("fork")
        }
        if child == 0 {
            close(sv[0])
            stage.stage1()
        }
        close(sv[1])
        defer { close(sv[0]) }
        var initPid: Int32 = 0
        cleanup.killPid = { initPid }
        let hookState = { (status: String) -> JSON in
            [
                "ociVersion": .string(Self.ociVersion), "id": .string(o.id), "status": .string(status), "pid": .int(Int64(initPid)),
                "bundle": .string(bundle), "annotations": JSON.stringMap(config.annotations),
            ]
        }
        var failure: String? = nil
        let resources = CgroupPlan.withDefaultDevices(config.resources)
        var devicesApplied = false
        var reports = ChildReports()
        loop: while let (kind, text) = reports.next({ SyncMessage.receive(sv[0]) }) {
            switch kind {
            case UInt8(ascii: "U"):
                do throws(RuntimeFailure) {
                    try writeIDMaps(pid: child, config: config)
                    SyncMessage.send(sv[0], UInt8(ascii: "u"))
                } catch {
                    failure = error.message
                    break loop
                }
            case UInt8(ascii: "P"):
                initPid = Int32(text) ?? 0
                // Written from here: in a user namespace the non-dumpable init cannot open its own
                // /proc files, which belong to the host's root.
                do throws(RuntimeFailure) {
                    if let o = config.process.oomScoreAdj, initPid > 0 { try writeExisting("/proc/\(initPid)/oom_score_adj", String(o)) }
                    if config.namespace("user") != nil && initPid > 0 { try sendMountSources(initPid, config, sv[0]) }
                } catch {
                    failure = error.message
                    break loop
                }
            case UInt8(ascii: "H"):
                do throws(RuntimeFailure) {
                    try HookRunner.run(config.hooks.prestart, kind: "prestart", state: hookState("created"))
                    try HookRunner.run(config.hooks.createRuntime, kind: "createRuntime", state: hookState("created"))
                    SyncMessage.send(sv[0], UInt8(ascii: "g"))
                } catch {
                    failure = error.message
                    break loop
                }
            case UInt8(ascii: "D"):
                // The init has made its device nodes (a device cgroup that denies mknod would have
                // stopped it) and goes on mounting: the device rules, one file write each on v1,
                // go on meanwhile instead of after it.
                do throws(RuntimeFailure) {
                    try manager?.apply(resources, .devices)
                    devicesApplied = true
                } catch {
                    failure = error.message
                    break loop
                }
            case UInt8(ascii: "R"):
                // The limits go on once the init has made its devices and mounts, before anything
                // of the container runs.
                do throws(RuntimeFailure) {
                    try manager?.apply(resources, devicesApplied ? .allButDevices : .all)
                } catch {
                    failure = error.message
                }
                break loop
            case UInt8(ascii: "E"):
                failure = text
                break loop
            default:
                failure = "unexpected message from the container's init"
                break loop
            }
        }
        var status: Int32 = 0
        _ = brt_waitpid(child, &status, 0)
        if let f = failure { throw RuntimeFailure("unable to start container process: \(f)") }
        guard initPid > 0, let start = processStartTime(initPid) else {
            throw RuntimeFailure("unable to start container process: the container's init exited during create (\(Self.describe(waitStatus: status)))")
        }
        var state = ContainerState(
            id: o.id, pid: initPid, startTime: start, bundle: bundle, rootfs: config.rootPath, created: Timestamp.now().rfc3339Nano,
            annotations: config.annotations, cgroups: cgroupPaths, v2Only: layout.v2Only)
        state.hasPoststartHooks = !config.hooks.poststart.isEmpty
        state.hasPoststopHooks = !config.hooks.poststop.isEmpty
        try store.save(state)
        if let pf = pidFile {
            do { try FS.writeAtomic(pf, "\(initPid)", mode: 0o644, durable: false) } catch { throw RuntimeFailure("writing the pid file: \(error)") }
        }
        cleanup.disarm()
        return state
    }

    /// How the first stage ended, for an error that would otherwise say only that it did.
    static func describe(waitStatus s: Int32) -> String {
        let signal = s & 0x7f
        if signal == 0 { return "stage exit status \((s >> 8) & 0xff)" }
        return "stage killed by signal \(signal)"
    }

    /// Whether this process runs in a user namespace other than the host's (rootless berthd).
    static var inUserNamespace: Bool {
        let map = (try? FS.readString("/proc/self/uid_map")) ?? ""
        return map.split(whereSeparator: { $0 == " " || $0 == "\n" }) != ["0", "0", "4294967295"]
    }

    /// runc's spec validation, in its words, for what Berth's users can reach.
    func validate(_ c: RuntimeConfig, id: String) throws(RuntimeFailure) {
        if c.hostname.map({ !$0.isEmpty }) ?? false, c.namespace("uts") == nil {
            throw RuntimeFailure("unable to set hostname without a private UTS namespace")
        }
        if c.domainname.map({ !$0.isEmpty }) ?? false, c.namespace("uts") == nil {
            throw RuntimeFailure("unable to set domainname without a private UTS namespace")
        }
        if !c.maskedPaths.isEmpty || !c.readonlyPaths.isEmpty, c.namespace("mount") == nil {
            throw RuntimeFailure("unable to restrict sys entries without a private MNT namespace")
        }
        for key in c.sysctl.keys {
            if key.hasPrefix("net.") && c.namespace("network") == nil {
                throw RuntimeFailure("sysctl \"\(key)\" not allowed in host network namespace")
            }
            if key == "kernel.hostname" || key == "kernel.domainname" {
                throw RuntimeFailure("sysctl \"\(key)\" is not allowed as it conflicts with the OCI \"hostname\" field")
            }
        }
        if !c.mountLabel.isEmpty || !c.process.selinuxLabel.isEmpty {
            throw RuntimeFailure("SELinux labels are not supported by berth-runtime")
        }
        if c.namespace("time") != nil { throw RuntimeFailure("time namespaces are not supported by berth-runtime") }
    }

    /// runc's mount sources for a user namespace: the container's root may not be able to reach
    /// a bind's source (a 0700 directory of the host's root), so they are opened here, with the
    /// host root's rights but inside the init's new mount namespace (a bind must come from the
    /// mount namespace it goes to), and passed to the init in the spec's order.
    func sendMountSources(_ pid: Int32, _ config: RuntimeConfig, _ sock: Int32) throws(RuntimeFailure) {
        let binds = config.mounts.filter { MountOptions($0.options, type: $0.type).bind }
        guard !binds.isEmpty else { return }
        let own = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC)
        let theirs = open("/proc/\(pid)/ns/mnt", O_RDONLY | O_CLOEXEC)
        defer { close(own); close(theirs) }
        guard own >= 0, theirs >= 0 else { throw RuntimeFailure.errno("open the mount namespaces") }
        guard brt_setns(theirs, Namespaces.flag("mount")!) == 0 else { throw RuntimeFailure.errno("enter the container's mount namespace") }
        defer { _ = brt_setns(own, Namespaces.flag("mount")!) }
        for m in binds {
            let fd = open(m.source, O_PATH_ | O_CLOEXEC)
            guard fd >= 0 else { throw RuntimeFailure.errno("mount \(m.source) to \(m.destination): open \(m.source)") }
            defer { close(fd) }
            if brt_send_fd(sock, fd, "m") != 0 { throw RuntimeFailure.errno("pass the mount source of \(m.destination)") }
        }
    }

    func writeIDMaps(pid: Int32, config: RuntimeConfig) throws(RuntimeFailure) {
        func text(_ m: [RuntimeConfig.IDMapping]) -> String { m.map { "\($0.containerID) \($0.hostID) \($0.size)\n" }.joined() }
        try writeExisting("/proc/\(pid)/uid_map", text(config.uidMappings))
        try writeExisting("/proc/\(pid)/gid_map", text(config.gidMappings))
    }
}

/// Undoes a half-made create: the init killed, cgroups and state directory removed.
struct Cleanup {
    let dir: String
    var cgroups: CgroupManager? = nil
    var killPid: () -> Int32 = { 0 }
    var armed = true
    mutating func disarm() { armed = false }
    func run() {
        guard armed else { return }
        let pid = killPid()
        if pid > 0 {
            kill(pid, SIGKILL)
            var st: Int32 = 0
            _ = brt_waitpid(pid, &st, 1)
        }
        if let m = cgroups {
            for p in m.pids() { kill(p, SIGKILL) }
            for _ in 0..<100 where !m.destroy() { usleepMillis(2) }
        }
        FS.removeAll(dir)
    }
}

func absolutePath(_ p: String) -> String {
    if p.hasPrefix("/") { return p }
    var buf = [CChar](repeating: 0, count: 4097)
    guard getcwd(&buf, 4096) != nil else { return p }
    let cwd = cString(buf)
    return p == "." ? cwd : cwd + "/" + (p.hasPrefix("./") ? String(p.dropFirst(2)) : p)
}
