import BerthNet
import Foundation
import JSON
import OCI
import Registry
import Runtime
import Store
import Sys

public struct EngineConfig: Sendable {
    public var dataRoot: String
    public var execRoot: String
    public var shimPath: String
    /// The OCI runtimes containers may name (`--runtime`), runc always among them, and the one
    /// a container gets when it names none (daemon.json `runtimes`, `default-runtime`).
    public var runtimes: [String: OCIRuntime] = [OCIRuntime.stockName: .stock]
    public var defaultRuntime = OCIRuntime.stockName
    public var insecureRegistries: [String] = []
    public var maxConcurrentDownloads = 3
    public var mirrors: [String: [String]] = [:]
    public var certsDirs: [String] = ["/etc/berth/certs.d", "/etc/docker/certs.d"]
    public var loopbackIsInsecure = true
    public var uploadChunkSize: Int64 = 32 << 20
    /// The most an uploaded archive (context, `load`, `import`, `cp`) may be, in bytes.
    public var maxUploadSize: Int64 = 64 << 30
    /// daemon.json `userns-remap`: containers' root is this range's first host id.
    public var remap: UsernsRemap? = nil
    /// Rootless: the daemon is root only in a user namespace of an ordinary user's (its
    /// /etc/subuid range), in a network namespace slirp4netns connects to the host.
    public struct Rootless: Sendable {
        /// slirp4netns's control socket, where published ports are asked for.
        public var slirpSocket: String
        /// The cgroup v2 subtree the host delegated to the user, if any.
        public var delegation: CgroupDelegation?
        public init(slirpSocket: String, delegation: CgroupDelegation? = nil) {
            self.slirpSocket = slirpSocket
            self.delegation = delegation
        }
    }
    public var rootless: Rootless? = nil
    /// The default bridge device, and a tag that keeps this daemon's firewall chains apart
    /// from another berthd's on the same host ("" for the standard data root).
    public var bridgeName = "berth0"
    public var firewallTag = ""
    /// `bip`: the default bridge's gateway/prefix; picked from free private ranges when nil.
    public var defaultBridgeCIDR: String? = nil
    /// berth-exec, which starts exec processes (installed next to the shim).
    public var execHelperPath: String
    /// daemon.json `default-ulimits`: given to containers that do not set the same limit.
    public var defaultUlimits: [(name: String, soft: Int64, hard: Int64)] = []
    /// `run --init`'s binary (a static tini, as Docker's docker-init); the first that exists.
    public var initPath =
        ["/usr/libexec/docker/docker-init", "/usr/bin/docker-init", "/usr/bin/tini-static", "/usr/local/bin/docker-init"]
        .first { FS.exists($0) } ?? "/usr/bin/docker-init"
    public init(dataRoot: String, execRoot: String, shimPath: String) {
        self.dataRoot = dataRoot; self.execRoot = execRoot; self.shimPath = shimPath
        execHelperPath = (shimPath.lastIndex(of: "/").map { String(shimPath[...$0]) } ?? "") + "berth-exec"
    }
}

/// The domain behind the API: images and containers, their lifecycle, and their state.
/// One actor owns all container state; slow work (unpacking, waiting) happens outside it.
public actor Engine {
    /// What this host's cgroups can enforce (read once).
    static let hostCgroups = CgroupSupport.probe()
    /// The group ids this daemon's own user namespace maps from 0 (rootless), nil on the host.
    static let ownGroupTop = UsernsRemap.contiguousTop(ofMap: (try? FS.readString("/proc/self/gid_map")) ?? "")
    /// What containers can be held to: the host's cgroups (rootful), a delegated v2 subtree
    /// (rootless where the host gives one), or nothing (rootless elsewhere).
    public nonisolated let cgroupSupport: CgroupSupport
    public nonisolated let store: Store
    public nonisolated let config: EngineConfig
    let launcher: ShimLauncher
    public nonisolated let registry: RegistryClient
    public nonisolated let events = EventBus()
    nonisolated let maxConcurrentDownloads: Int
    var containers: [String: Container] = [:]
    var live: [String: LiveIO] = [:]
    var exitWaiters: [String: [CheckedContinuation<Int32, Never>]] = [:]
    var removeWaiters: [String: [CheckedContinuation<Int32, Never>]] = [:]
    /// `waitExit`'s waiters (stop, kill, rm -f), each with a token its timer ends it by.
    var timedExitWaiters: [String: [Int: CheckedContinuation<Bool, Never>]] = [:]
    var nextExitWaitToken = 0
    var starting: Set<String> = []
    /// Containers whose `pause` or `unpause` is in flight: the runtime's freeze runs off the
    /// actor, and `afterStart` holds what would change the container until it is done.
    var freezing: Set<String> = []
    /// Build steps running now, by cache key, with the builds waiting for each.
    var buildStepsInFlight: [String: [CheckedContinuation<Void, Never>]] = [:]
    /// Client directories kept between builds (LocalContexts.swift), by key directory.
    var localContexts: [String: LocalContextState] = [:]
    /// The user namespace with the remap's mapping, for idmapped layer mounts (made on first use).
    var remapNamespaceFD: Int32 = -1
    var pendingAttach: [String: [AttachSession]] = [:]
    var execs: [String: ExecRecord] = [:]
    /// Per running container (keyed by id and init pid): what every exec starts from.
    var execBases: [String: ExecBase] = [:]
    var health: [String: HealthState] = [:]
    /// An image's layer directories for inspect's `GraphDriver.LowerDir` (images are immutable;
    /// `docker logs` inspects first, so this is on its path).
    var lowerDirCache: [Digest: String] = [:]
    /// Walks of a running container's root under way (cp, export), by container: it stays frozen
    /// until the last one ends (`holdFrozen`, `releaseFrozen`).
    var walkFreezes: [String: Int] = [:]
    /// `--network none` namespaces berthd holds for a start in flight, until the runtime has
    /// joined them (closed by `start` however it ends).
    var heldNamespaces: [String: Int32] = [:]
    /// Each image's init layer (nil: none fits), by its top layer's chain ID (`rootLowers`).
    var initLayers: [Digest: String?] = [:]
    var healthTasks: [String: Task<Void, Never>] = [:]
    var networks: [String: NetworkRecord] = [:]
    var ipams: [String: IPAM] = [:]
    /// IPv6-enabled networks' address pools.
    var ipam6s: [String: IPAM6] = [:]
    /// Sockets bound to published host ports, held so nothing else takes them.
    /// Each running container's held host ports (a bound socket per published port).
    var portHolds: [String: [(port: PublishedPort, fd: Int32)]] = [:]
    /// Relays for published ports reached through the host's loopback, per host port
    /// ("tcp 0.0.0.0 8080"): one relay in front of every replica publishing it.
    var loopbackProxies: [String: LoopbackProxy] = [:]
    /// Rootless: slirp4netns's forwarding ids of each container's published ports.
    var slirpForwards: [String: [Int64]] = [:]
    public nonisolated let hostNet: HostNetworking
    nonisolated let names = NameTable()
    var dns: DNSServer?

    public init(config: EngineConfig) throws {
        self.config = config
        if let r = config.rootless {
            cgroupSupport = r.delegation?.support() ?? .none
        } else {
            cgroupSupport = Engine.hostCgroups
        }
        hostNet = LinuxHostNetworking()
        store = try Store(root: config.dataRoot)
        // The remapped root must pass through the data root to its containers' files (group
        // search only, as dockerd's root:<remapped gid> 0710); the directory above it, o+x.
        if let r = config.remap {
            try FS.mkdirAll(config.dataRoot + "/containers", mode: 0o710)
            for d in [config.dataRoot, config.dataRoot + "/containers"] {
                chown(d, 0, r.gid)
                chmod(d, 0o710)
            }
            let parent = String(config.dataRoot[..<(config.dataRoot.lastIndex(of: "/") ?? config.dataRoot.endIndex)])
            var st = Glibc.stat()
            if !parent.isEmpty, lstat(parent, &st) == 0, st.st_mode & 0o001 == 0 { chmod(parent, (st.st_mode & 0o7777) | 0o001) }
            // Directories above it are the operator's: checked, not changed (dockerd's words).
            var dir = parent
            while let slash = dir.lastIndex(of: "/"), slash != dir.startIndex {
                dir = String(dir[..<slash])
                if lstat(dir, &st) == 0, st.st_mode & 0o001 == 0 {
                    throw EngineError.badRequest(
                        "a subdirectory in your graphroot path (\(config.dataRoot)) restricts access to the remapped root uid/gid; please fix by allowing 'o+x' permissions on existing directories"
                    )
                }
            }
        }
        for r in config.runtimes.values { try FS.mkdirAll(r.root(execRoot: config.execRoot), mode: 0o700) }
        try FS.mkdirAll(config.execRoot + "/shims", mode: 0o700)
        if config.remap != nil { try FS.mkdirAll(config.execRoot + "/userns", mode: 0o700) }
        registry = RegistryClient(
            insecureRegistries: config.insecureRegistries, mirrors: config.mirrors,
            certsDirs: config.certsDirs, loopbackIsInsecure: config.loopbackIsInsecure,
            uploadChunkSize: config.uploadChunkSize)
        maxConcurrentDownloads = config.maxConcurrentDownloads
        launcher = ShimLauncher(shimPath: config.shimPath, execRoot: config.execRoot)
        for doc in try store.loadContainers() {
            if let c = Container(document: doc) { containers[c.id] = c }
        }
    }

    // MARK: paths

    func dir(_ id: String) -> String { config.dataRoot + "/containers/" + id }
    func rootfs(_ id: String) -> String { dir(id) + "/rootfs" }
    func socketPath(_ id: String) -> String { config.execRoot + "/shims/" + id.prefix(24) + ".sock" }
    func logPath(_ id: String) -> String { dir(id) + "/\(id)-json.log" }
    func exitFile(_ id: String) -> String { dir(id) + "/exit" }

    /// `durable: false`: see `Store.saveContainer`.
    func persist(_ c: Container, durable: Bool = true) {
        containers[c.id] = c
        do { try store.saveContainer(id: c.id, name: c.name, doc: c.document, durable: durable) } catch {
            FileHandle.standardError.write("berthd: saving container \(c.shortID): \(error)\n".data(using: .utf8)!)
        }
    }

    // MARK: lookup

    /// Full ID, name (with or without "/"), or a unique ID prefix — as Docker resolves them.
    public func container(_ ref: String) throws(EngineError) -> Container {
        if let c = containers[ref] { return c }
        let name = ref.hasPrefix("/") ? String(ref.dropFirst()) : ref
        if let c = containers.values.first(where: { $0.name == name }) { return c }
        let matches = ref.isEmpty ? [] : containers.values.filter { $0.id.hasPrefix(ref) }
        if matches.count == 1 { return matches[0] }
        if matches.count > 1 { throw .notFound("Multiple IDs found with provided prefix: \(ref)") }
        throw .noSuchContainer(ref)
    }

    public func allContainers() -> [Container] {
        containers.values.sorted { $0.created > $1.created }
    }

    /// Reconnects to shims of containers that were running when the daemon stopped, and
    /// settles those that exited meanwhile (their shim wrote the exit file).
    public func recover() {
        setupNetworking()
        sweepRemovedContainers()
        sweepInitLayers()
        for var c in containers.values where c.state.running {
            do {
                try connectLive(c.id)
                startHealthMonitor(c.id)
            } catch {
                let record = ExitRecord.settled(try? FS.readString(exitFile(c.id)))
                launcher.forceDelete(id: c.id, runtime: runtime(for: c))
                unmountRootfs(c.id)
                releaseSandbox(&c)
                c.state.status = "exited"; c.state.exitCode = record.code; c.state.finishedAt = Timestamp(nanos: record.nanos); c.state.pid = 0
                c.state.oomKilled = record.oomKilled
                persist(c)
                if c.autoRemove { try? removeNow(c.id, volumes: true) }
            }
        }
        // As dockerd at its restore: a `--rm` container that is not running goes, whether it
        // exited or was never started. Its records are not synced (Store.saveContainer), so a
        // power loss may bring one back in any earlier state; none of them outlives a restart.
        for c in containers.values where c.autoRemove && !c.state.running { try? removeNow(c.id, volumes: true) }
        // A freeze the dead daemon held for `export` or `cp` (not recorded: the user did not ask
        // for it) would hold the container forever, as not even SIGKILL reaches a frozen process,
        // and `unpause` refuses a container that is not paused. Thawed here; one the user paused
        // stays paused.
        let mountinfo = (try? FS.readString("/proc/self/mountinfo")) ?? ""
        for c in containers.values where c.state.running && !c.state.paused && live[c.id] != nil {
            if Self.isFrozen(pid: c.state.pid, mountinfo: mountinfo) { _ = try? Proc.run(runtimeArgv(c) + ["resume", c.id]) }
        }
        // A start cut short by the daemon's death: the runtime's create runs off the actor, so a
        // shim may have made the container (its socket is there) that was never recorded as
        // running. Nothing may run unseen: the runtime deletes it (its init goes, the shim then
        // exits), and a later start begins afresh.
        for c in containers.values where !c.state.running && FS.exists(socketPath(c.id)) {
            launcher.forceDelete(id: c.id, runtime: runtime(for: c))
            unmountRootfs(c.id)
        }
    }

    func connectLive(_ id: String) throws {
        let io = try LiveIO(
            socket: socketPath(id),
            onExit: { [weak self] record in
                guard let self else { return }
                Task { await self.exited(id, code: record.code, at: Timestamp(nanos: record.nanos), oomKilled: record.oomKilled) }
            },
            onLost: { [weak self] in
                guard let self else { return }
                Task { await self.monitorLost(id) }
            })
        live[id] = io
    }

    func monitorLost(_ id: String) {
        guard let c = containers[id], c.state.running else { return }
        // Without its shim nobody watches the container: take it down rather than leave a
        // process, runtime state and devices behind a container reported as exited.
        launcher.forceDelete(id: id, runtime: runtime(for: c))
        let record = ExitRecord.settled(try? FS.readString(exitFile(id)))
        exited(id, code: record.code, at: .now(), oomKilled: record.oomKilled)
    }

    func exited(_ id: String, code: Int32, at: Timestamp, oomKilled: Bool = false) {
        live[id]?.close()
        live[id] = nil
        walkFreezes[id] = nil  // a walk's end must not thaw (or count against) a later run
        guard var c = containers[id] else { return }
        unmountRootfs(id)
        unmountShareableShm(id)
        c.state.status = "exited"
        c.state.pid = 0
        releaseSandbox(&c)
        c.state.paused = false
        c.state.exitCode = code
        c.state.finishedAt = at
        c.state.pid = 0
        c.state.oomKilled = oomKilled
        // A container removed at its exit is not written first: the removal below deletes its
        // row (and a crash in between is recovered as an exit, then the removal).
        if c.autoRemove { containers[id] = c } else { persist(c) }
        // As dockerd: the OOM killer's event, then the exit's.
        if oomKilled { emit(c, "oom") }
        emit(c, "die", extra: ["exitCode": String(code)])
        emitVolumeEvents(c, "unmount")
        stopHealthMonitor(id)
        wakeExitWaiters(id, code: code)
        applyRestartPolicy(id)
        for s in pendingAttach.removeValue(forKey: id) ?? [] { s.subscriber(ShimFrame(.exited)) }
        if c.autoRemove {
            do { try removeNow(id, volumes: true) } catch { persist(c) }
        }
    }

    public func liveIO(_ id: String) -> LiveIO? { live[id] }

    // MARK: wait

    public enum WaitCondition: String, Sendable { case notRunning = "not-running", nextExit = "next-exit", removed }

    /// Suspends until the condition holds; returns the exit code.
    public func wait(_ ref: String, condition: WaitCondition) async throws(EngineError) -> Int32 {
        let c = try container(ref)
        let id = c.id
        switch condition {
        case .notRunning:
            if !c.state.running && !starting.contains(id) { return c.state.exitCode }
            return await withCheckedContinuation { exitWaiters[id, default: []].append($0) }
        case .nextExit:
            return await withCheckedContinuation { exitWaiters[id, default: []].append($0) }
        case .removed:
            return await withCheckedContinuation { removeWaiters[id, default: []].append($0) }
        }
    }
}
