import Archive
import CSys
import DockerAPI
import Foundation
import JSON
import OCI
import Runtime
import Store
import Sys

extension Engine {
    // MARK: create

    public struct CreateResult: Sendable { public var id: String; public var warnings: [String] }

    public func create(name requested: String?, body raw: JSON, apiVersion: APIVersion = .current, platform: String? = nil) throws(EngineError) -> CreateResult
    {
        // Typed as dockerd decodes it: a field of the wrong kind, or a number that does not fit,
        // is refused in Go's words before anything else looks at the body.
        let request: ContainerCreateBody
        do { request = try ContainerCreateBody(checking: CreateValidation.canonical(raw)) } catch { throw .badRequest(error.description) }
        // `platform` (API 1.41): the image must be that platform's, as dockerd checks (it was ignored).
        if let platform, !platform.isEmpty {
            let wanted: PlatformSpec
            do { wanted = try PlatformSpec(parsing: platform) } catch { throw .badRequest(error.description) }
            if let image = try? resolveImage(request.config.image), !wanted.matches(os: image.config.os, architecture: image.config.architecture) {
                throw .notFound(
                    "image with reference \(request.config.image) was found but does not match the specified platform: wanted \(wanted), actual: \(image.config.os)/\(image.config.architecture)"
                )
            }
        }
        return try create(name: requested, request: request, apiVersion: apiVersion)
    }

    /// Creates a container from a typed request (the Engine API's, or another front-end's).
    public func create(name requested: String?, request: ContainerCreateBody, apiVersion: APIVersion = .current) throws(EngineError) -> CreateResult {
        var body = request.config
        // HealthConfig.StartInterval exists from API 1.44; older clients' values are dropped, as dockerd does.
        if apiVersion < .v1_44 { body.healthcheck?.startInterval = 0 }
        let imageRef = body.image
        guard !imageRef.isEmpty else { throw .badRequest("Config cannot be empty in order to create a container") }
        // Not a reference and not an image ID: resolveImage's 400, as dockerd (a 404 sends the docker CLI pulling).
        let image = try resolveImage(imageRef)
        var name = requested ?? ""
        if name.hasPrefix("/") { name.removeFirst() }
        if name.isEmpty {
            repeat { name = Names.random() } while containers.values.contains { $0.name == name }
        } else {
            guard Names.isValid(name) else { throw .badRequest("Invalid container name (\(name)), only [a-zA-Z0-9][a-zA-Z0-9_.-] + are allowed") }
            if let other = containers.values.first(where: { $0.name == name }) {
                throw .conflict(
                    "Conflict. The container name \"/\(name)\" is already in use by container \"\(other.id)\". You have to remove (or rename) that container to be able to reuse that name."
                )
            }
        }
        let id = Names.newID()
        let cfg = DockerShapes.containerConfig(body: body, image: image.config, id: id)
        let requestedHost = request.hostConfig
        if let opts = requestedHost.storageOpt, !opts.isEmpty {
            // Per-container size limits need a quota-capable filesystem; not implemented, refused
            // in dockerd's words for the overlay driver.
            throw .badRequest("--storage-opt is supported only for overlay over xfs with 'pquota' mount option")
        }
        try CreateValidation.restartPolicy(requestedHost.restartPolicy)
        try CreateValidation.fields(body, requestedHost)
        if config.remap != nil && requestedHost.usernsMode != "host" {
            // What a remapped root cannot have (dockerd's checks and words).
            if requestedHost.privileged {
                throw .badRequest(
                    "privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode")
            }
            if requestedHost.networkMode == "host" { throw .badRequest("Cannot share the host's network namespace when user namespaces are enabled") }
            if requestedHost.pidMode == "host" { throw .badRequest("Cannot share the host PID namespace when user namespaces are enabled") }
        }
        // Options Berth cannot apply are refused at create, in dockerd's words where it has them.
        var probe = BundleSpec(
            id: "", rootfs: "", args: [], env: [], cwd: "/", user: .root,
            hostname: "", resolvConf: "", hostsFile: "", hostnameFile: "")
        try SecurityOptions.apply(&probe, requestedHost)
        try NamespaceModes.validateSysctls(
            requestedHost.sysctls ?? [:], ipcHost: requestedHost.ipcMode == "host",
            netHost: requestedHost.networkMode == "host")
        try CreateValidation.logConfig(requestedHost.logConfig)
        try CreateValidation.endpoints(request.networking, apiVersion: apiVersion)
        try ResourceChecks.checkHost(requestedHost, runtimes: Set(config.runtimes.keys))
        var host = DockerShapes.hostConfig(requestedHost)
        // The runtime is chosen once, at create (inspect shows it), as dockerd does.
        if requestedHost.runtime.isEmpty { host.runtime = config.defaultRuntime }
        var warnings = try ResourceChecks.check(
            &host.resources, update: false, host: cgroupSupport,
            cpuCount: ProcessInfo.processInfo.activeProcessorCount)
        // The daemon's default ulimits join the container's own (its own win), as dockerd
        // merges them at create: inspect shows what applies.
        if !config.defaultUlimits.isEmpty {
            var ulimits = host.resources.ulimits ?? []
            let own = Set(ulimits.map(\.name))
            for u in config.defaultUlimits where !own.contains(u.name) {
                ulimits.append(Ulimit(name: u.name, hard: u.hard, soft: u.soft))
            }
            host.resources.ulimits = ulimits
        }
        if host.autoRemove, !host.restartPolicy.name.isEmpty, host.restartPolicy.name != "no" {
            throw .badRequest("conflicting options: cannot specify both --restart and --rm")
        }
        var cmd = cfg.entrypoint ?? []
        cmd += cfg.cmd ?? []
        guard let path = cmd.first else { throw .badRequest("No command specified") }
        var c = Container(id: id, name: name, path: path, args: Array(cmd.dropFirst()), config: cfg, hostConfig: host, image: image.id)
        if let links = host.links, !links.isEmpty {
            c.hostConfig.links = try normalizedLinks(links, selfName: name)
        }
        // A network that does not exist (yet) fails the start, not the create, as in dockerd:
        // clients read a 404 from create as a missing image.
        let legacyMAC = body.macAddress.isEmpty ? nil : body.macAddress
        do { c.endpoints = try initialEndpoints(mode: c.networkMode, networking: request.networking, legacyMAC: legacyMAC) } catch {
            if case .notFound = error, !c.networkMode.hasPrefix("container:") { c.endpoints = [] } else { throw error }
        }
        c.mounts = try createMounts(cfg: cfg, host: host)
        do {
            try FS.mkdirAll(dir(id), mode: 0o710)
            if let r = config.remap, host.usernsMode != "host" { chown(dir(id), 0, r.gid) }
            try writeEtcFiles(c, onlyMissing: false)
        } catch {
            FS.removeAll(dir(id))
            for m in c.mounts where m.anonymous { try? removeVolume(m.name, force: true) }
            throw .internalError("creating container directory: \(error)")
        }
        persist(c, durable: !c.autoRemove)
        emit(c, "create")
        if case let adj = host.oomScoreAdj, adj < 0, NamespaceModes.applicableOomScoreAdj(adj) != adj {
            warnings.append(
                "OomScoreAdj \(adj) needs CAP_SYS_RESOURCE, which this host withholds; the container runs with \(NamespaceModes.applicableOomScoreAdj(adj))")
        }
        return CreateResult(id: id, warnings: warnings)
    }

    /// Resolves the request's mounts and makes what they need: volumes (named ones once,
    /// anonymous ones fresh) and missing `-v` bind sources, as Docker does.
    func createMounts(cfg: ContainerConfig, host: HostConfig) throws(EngineError) -> [MountPoint] {
        var from: [(MountPoint, readOnly: Bool?)] = []
        for spec in host.volumesFrom ?? [] {
            let parsed: (String, Bool?)
            do { parsed = try MountParser.volumesFrom(spec) } catch { throw .badRequest(error.message) }
            // A 400 as dockerd's: a 404 from create sends the docker CLI pulling the image.
            guard let other = try? container(parsed.0) else { throw .badRequest("No such container: \(parsed.0)") }
            for m in other.mounts where !m.hidden && m.type != .tmpfs { from.append((m, parsed.1)) }
        }
        var mounts: [MountPoint]
        do {
            mounts = try MountParser.resolve(
                binds: host.binds ?? [], mounts: host.mounts ?? [],
                tmpfs: host.tmpfs ?? [:], volumes: cfg.volumes ?? [],
                volumesFrom: from)
        } catch { throw .badRequest(error.message) }
        var made: [String] = []
        do {
            for i in mounts.indices {
                switch mounts[i].type {
                case .volume:
                    if mounts[i].name.isEmpty { mounts[i].name = Names.newID() }
                    let existed = loadVolume(mounts[i].name) != nil
                    // `--mount type=volume,volume-label=…,volume-opt=…` give a new volume its labels and options.
                    let opts = host.mounts?.first { $0.type == "volume" && MountParser.clean($0.target) == mounts[i].destination }?.volumeOptions
                    // HostConfig.VolumeDriver applies to the volumes `-v` and the image make; an
                    // unknown driver fails here, when a volume needs it, as in dockerd.
                    let driver = mounts[i].driver == "local" && !host.volumeDriver.isEmpty && opts == nil ? host.volumeDriver : mounts[i].driver
                    if driver != "local", !existed {
                        throw EngineError.notFound("create \(mounts[i].name): error looking up volume plugin \(driver): plugin \"\(driver)\" not found")
                    }
                    try createVolume(
                        name: mounts[i].name, driver: existed ? nil : driver, labels: opts?.labels ?? [:],
                        options: opts?.driverOptions ?? [:], anonymous: mounts[i].anonymous)
                    if !existed { made.append(mounts[i].name) }
                    mounts[i].source = volumeData(mounts[i].name)
                case .bind:
                    if !FS.exists(mounts[i].source) {
                        do { try FS.mkdirAll(mounts[i].source, mode: 0o755) } catch {
                            throw EngineError.badRequest("error while creating mount source path '\(mounts[i].source)': \(error)")
                        }
                    }
                case .tmpfs: break
                }
            }
        } catch let e as EngineError {
            for n in made { try? removeVolume(n, force: true) }
            throw e
        } catch {
            for n in made { try? removeVolume(n, force: true) }
            throw .wrapping(error)
        }
        return mounts
    }

    // MARK: start

    func logAttributesPath(_ id: String) -> String { dir(id) + "/log-attrs.json" }

    /// json-file's options for this start, checked as dockerd's driver checks them when it opens
    /// the log. Patterns and templates come from the client: resolved off the actor, so a
    /// pathological one holds a thread of its own and not every other call.
    func jsonFileSettings(_ c: Container) async throws(EngineError) -> JSONFileLogSettings {
        let config = c.hostConfig.logConfig
        guard config.type == "json-file" || config.type.isEmpty, !config.config.isEmpty else { return JSONFileLogSettings() }
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, host.count - 1)
        let hostname = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let subject = JSONFileLogSettings.Subject(
            id: c.id, name: c.name, entrypoint: c.path, args: c.args, imageID: c.image.description, imageName: c.config.image,
            created: c.created, env: c.config.env ?? [], labels: c.labels, logPath: logPath(c.id), hostname: hostname)
        let options = config.config
        let resolved: Result<JSONFileLogSettings, Error>
        if options["labels-regex"] == nil && options["env-regex"] == nil && options["tag"] == nil {
            resolved = Result { () throws(JSONFileLogSettings.Failure) in try JSONFileLogSettings.resolve(options, for: subject) }
        } else {
            resolved = await Self.offActor { try JSONFileLogSettings.resolve(options, for: subject) }
        }
        switch resolved {
        case .success(let s): return s
        case .failure(let e): throw .internalError("\(e)")
        }
    }

    public func start(_ ref: String, keepRestartCount: Bool = false) async throws(EngineError) {
        var c = try container(ref)
        if c.state.running || starting.contains(c.id) { throw .notModified }
        // A user's start cancels a pending policy restart and counts afresh, as in Docker.
        // `restarting` stays until the run is up or has failed: while the runtime works (off the
        // actor) a client polling the state sees "restarting", never "exited" with the new count.
        c.state.manuallyStopped = false
        if !keepRestartCount { c.restartCount = 0 }
        let id = c.id
        starting.insert(id)
        defer {
            starting.remove(id)
            if let fd = heldNamespaces.removeValue(forKey: id) { close(fd) }
        }
        do {
            await awaitPreviousShim(c)
            let logSettings = try await jsonFileSettings(c)
            let root = try mountRootfs(c.id, chains: chainIDs(store.image(id: c.image)?.config.diffIDs ?? []), volatile: c.autoRemove)
            try writeEtcFiles(c, onlyMissing: true)
            try makeWorkingDirectory(c, root: root)
            // The container's user database is read off the actor: whatever its owner planted
            // there (bounded, non-blocking, in-root) cannot hold up every other API call.
            let files = try await Engine.userFilesOffActor(root: root)
            var veths: [VethAttachment] = []
            var spec = try bundleSpec(for: c, root: root, userFiles: files)
            emitVolumeEvents(c, "mount")
            if c.networkMode == "host" {
                spec.hostNetwork = true
                spec.hostname = (try? FS.readString("/etc/hostname"))?.trimmingSpaces() ?? spec.hostname
                spec.hostsFile = "/etc/hosts"
                spec.resolvConf = "/etc/resolv.conf"
            } else {
                if let r = remap(id) {
                    // The container's user namespace first: its network namespace is made inside it.
                    do { try r.persistNamespace(at: userNamespacePath(id)) } catch { throw EngineError.internalError("\(error)") }
                    spec.userNamespacePath = userNamespacePath(id)
                }
                (spec.networkNamespace, veths) = try connectSandbox(&c)
                if c.networkMode.hasPrefix("container:"), let other = try? container(String(c.networkMode.dropFirst("container:".count))) {
                    spec.hostsFile = dir(other.id) + "/hosts"
                    spec.resolvConf = dir(other.id) + "/resolv.conf"
                }
            }
            // Not synced: the spec is made anew at every start and read by the runtime at once.
            try FS.writeAtomic(dir(id) + "/config.json", OCISpecBuilder.build(spec).serialized(), durable: false)
            unlink(exitFile(id))
            var shim = ShimSpec(id: id, bundle: dir(id), socket: socketPath(id), logPath: logPath(id), exitFile: exitFile(id), openStdin: c.openStdin)
            shim.tty = c.config.tty
            shim.logMaxSize = logSettings.maxSize
            shim.logMaxFiles = logSettings.maxFiles
            shim.logCompress = logSettings.compress
            let attrs = logSettings.attributesJSON
            if attrs.isEmpty {
                unlink(logAttributesPath(id))
            } else {
                // Not synced: written anew at every start, before the shim reads it.
                try FS.writeAtomic(logAttributesPath(id), attrs, mode: 0o600, durable: false)
                shim.logAttrsFile = logAttributesPath(id)
            }
            // Off the actor, the veths made alongside (the container's program runs only at the
            // start below, so it finds them in place). Calls that would change the container
            // wait for the start (`afterStart`); others are picked up again afterwards.
            containers[id] = c
            let pid = try await launchWithVeths(shim, runtime: runtime(for: c), veths: veths)
            if let fd = heldNamespaces.removeValue(forKey: id) { close(fd) }
            c = containers[id] ?? c
            startNameServer(c)
            try connectLive(id)
            c.state.pid = pid
        } catch {
            unmountRootfs(id)
            releaseSandbox(&c)
            let msg = "\(error)"
            c.state.error = msg
            c.state.exitCode =
                msg.contains("executable file not found") || msg.contains("no such file or directory") ? 127 : msg.contains("permission denied") ? 126 : 128
            c.state.restarting = false
            persist(c)
            if c.autoRemove { try? removeNow(id, volumes: true) }
            if error is UserResolver.NotFound { throw .badRequest(msg) }
            if let e = error as? EngineError { throw e }
            throw .badRequest("OCI runtime create failed: \(msg): unknown")
        }
        c.state.status = "running"
        c.state.restarting = false
        c.state.startedAt = .now()
        c.state.finishedAt = .zero
        c.state.exitCode = 0
        c.state.error = ""
        c.state.oomKilled = false
        containers[id] = c
        emit(c, "start")
        startHealthMonitor(id)
        // The shim starts the container while its state is written (a sync of the database):
        // the answer still waits for both. A daemon that dies in between finds a shim of a
        // container not recorded as running, which `recover` takes down as a start cut short.
        let io = live[id]
        if let io {
            bindPendingAttaches(id)
            io.requestStart()
        }
        persist(c, durable: !c.autoRemove)
        guard let io else { return }
        if let err = await io.startResult() {
            // A start that reports failure leaves nothing behind: no process, runtime state,
            // mount or network device (the shim may be gone, so no exit event may come).
            io.kill(9)
            launcher.forceDelete(id: id, runtime: runtime(for: c))
            live[id]?.close()
            live[id] = nil
            if var now = containers[id], now.state.running {
                unmountRootfs(id)
                releaseSandbox(&now)
                now.state.status = "exited"
                now.state.pid = 0
                now.state.exitCode = 128
                now.state.error = err
                now.state.finishedAt = .now()
                persist(now)
                stopHealthMonitor(id)
                wakeExitWaiters(id, code: 128)
                for s in pendingAttach.removeValue(forKey: id) ?? [] { s.subscriber(ShimFrame(.exited)) }
                if now.autoRemove { try? removeNow(id, volumes: true) }
            }
            throw .badRequest("OCI runtime start failed: \(err): unknown")
        }
    }

    /// The shim of this container's previous run reports the exit before it deletes that run's
    /// runtime state, and removes its socket last. A new run (the same runtime id and socket
    /// path) waits for that socket to go: a few tenths of a millisecond usually, at most about
    /// 5 s, after which what is left (a shim that died meanwhile) is cleared as `recover` does.
    func awaitPreviousShim(_ c: Container) async {
        let sock = socketPath(c.id)
        guard live[c.id] == nil, FS.exists(sock) else { return }
        for i in 0..<500 {
            try? await Task.sleep(nanoseconds: i < 50 ? 200_000 : 10_000_000)
            if !FS.exists(sock) { return }
        }
        launcher.forceDelete(id: c.id, runtime: runtime(for: c))
        unlink(sock)
    }

    /// The shim (and with it the runtime's create) and the container's veths, at once, each on a
    /// thread of its own. When the veths fail, a container the shim made is deleted again.
    func launchWithVeths(_ shim: ShimSpec, runtime: OCIRuntime, veths: [VethAttachment]) async throws -> Int32 {
        let launcher = self.launcher
        async let launched = Engine.offActor { try launcher.launch(shim, runtime: runtime) }
        let host = hostNet
        let attached = veths.isEmpty ? .success(()) : await Engine.offActor { for v in veths { try v.attach(on: host) } }
        let pid = await launched
        if case .failure(let e) = attached {
            if case .success = pid { launcher.forceDelete(id: shim.id, runtime: runtime) }
            throw e
        }
        return try pid.get()
    }

    /// Runs blocking work on a thread of its own (not one of the few the actors share).
    nonisolated static func offActor<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async -> Result<T, Error> {
        await withCheckedContinuation { (k: CheckedContinuation<Result<T, Error>, Never>) in
            DispatchQueue.global(qos: .userInitiated).async { k.resume(returning: Result { try body() }) }
        }
    }

    /// Waits for a start, pause or unpause in flight (their runtime works off the actor) to
    /// finish, so what follows sees the container running or not, paused or not, as Docker's
    /// per-container lock orders them.
    func afterStart(_ ref: String) async throws(EngineError) -> Container {
        let c = try container(ref)
        for _ in 0..<60_000 where starting.contains(c.id) || freezing.contains(c.id) { try? await Task.sleep(nanoseconds: 500_000) }
        return try container(c.id)
    }

    /// dockerd's SetupWorkingDirectory (runc's init does the same): a working directory the
    /// image lacks is made, root's and 0755 (the remapped root's under userns-remap), resolved
    /// inside the container's root; one that names something else is refused in dockerd's words.
    /// dockerd checks it at create as well, where Berth has no root mounted yet.
    func makeWorkingDirectory(_ c: Container, root: String) throws {
        let wd = c.config.workingDir
        guard !wd.isEmpty, wd.contains(where: { $0 != "/" }) else { return }
        let rootfd = try DirFD.openDirectory(root, flags: DirFD.pathOnly)
        defer { close(rootfd) }
        let existing = DirFD.open(rootfd, wd, DirFD.pathOnly, .container)
        if existing >= 0 {
            defer { close(existing) }
            var st = Glibc.stat()
            if fstat(existing, &st) == 0 && (st.st_mode & S_IFMT) != S_IFDIR {
                throw EngineError.internalError("Cannot mkdir: \(wd) is not a directory")
            }
            return
        }
        let owner = remap(c.id).map { (uid: $0.uid, gid: $0.gid) } ?? (uid: 0, gid: 0)
        close(try DirFD.mkdirAll(rootfd, wd, mode: 0o755, owner: owner, .container))
    }

    /// The container's /etc/hostname, hosts and resolv.conf as at create. Not synced (three
    /// fsyncs were a millisecond of every create): each start writes again any that a crash
    /// left missing or empty, and the network's own versions of hosts and resolv.conf.
    func writeEtcFiles(_ c: Container, onlyMissing: Bool) throws(SysError) {
        let hostname = c.config.hostname.isEmpty ? c.shortID : c.config.hostname
        let files: [(String, () -> String)] = [
            ("hostname", { hostname + "\n" }),
            ("hosts", { DockerShapes.hostsFile(hostname: hostname, extra: c.hostConfig.extraHosts ?? []) }),
            (
                "resolv.conf",
                {
                    DockerShapes.resolvConf(
                        host: (try? FS.readString("/etc/resolv.conf")) ?? "", dns: c.hostConfig.dns ?? [], search: c.hostConfig.dnsSearch ?? [],
                        options: c.hostConfig.dnsOptions ?? [])
                }
            ),
        ]
        for (name, text) in files {
            let path = dir(c.id) + "/" + name
            var st = Glibc.stat()
            if onlyMissing && lstat(path, &st) == 0 && st.st_size > 0 { continue }
            try FS.rewrite(path, text())
        }
    }

    func bundleSpec(for c: Container, root: String, userFiles: (passwd: String, group: String)) throws -> BundleSpec {
        let (passwd, group) = userFiles
        var user = try UserResolver.resolve(c.config.user, passwd: passwd, group: group)
        for g in try UserResolver.additionalGroups(c.hostConfig.groupAdd ?? [], group: group) where !user.additionalGids.contains(g) {
            user.additionalGids.append(g)
        }
        let hostname = c.config.hostname.isEmpty ? c.shortID : c.config.hostname
        var env = CreateValidation.processEnvironment(c.config.env ?? [])
        if !env.contains(where: { $0.hasPrefix("PATH=") }) { env.insert("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", at: 0) }
        env.insert("HOSTNAME=" + hostname, at: 1)
        if c.networkMode == "bridge" {
            // Link variables come before the container's own, as dockerd orders them.
            let ownStart = env.firstIndex { !$0.hasPrefix("PATH=") && !$0.hasPrefix("HOSTNAME=") } ?? env.count
            env.insert(contentsOf: try linkContext(c).env, at: ownStart)
        }
        let tty = c.config.tty
        if tty && !env.contains(where: { $0.hasPrefix("TERM=") }) { env.append("TERM=xterm") }
        // runc sets it in the container's init; berth-runtime leaves the environment as the spec has it.
        env = UserResolver.withHome(env, home: user.home)
        var s = BundleSpec(
            id: c.id, rootfs: root, args: [c.path] + c.args, env: env, cwd: c.config.workingDir.isEmpty ? "/" : c.config.workingDir,
            user: user, hostname: hostname, resolvConf: dir(c.id) + "/resolv.conf", hostsFile: dir(c.id) + "/hosts",
            hostnameFile: dir(c.id) + "/hostname")
        s.terminal = tty
        if let r = remap(c.id) {
            s.userNamespace = r
            // Its own /etc files are the remapped root's to change, as with dockerd.
            for f in ["hosts", "hostname", "resolv.conf"] { chown(dir(c.id) + "/" + f, r.uid, r.gid) }
        }
        if c.hostConfig.consoleSize.count == 2 {
            s.consoleSize = (Int(clamping: c.hostConfig.consoleSize[0]), Int(clamping: c.hostConfig.consoleSize[1]))
        }
        let h = c.hostConfig
        let r = h.resources
        s.memory = r.memory
        s.memorySwap = r.memorySwap
        // dockerd accepts a negative CpuShares at create and refuses it when it makes the spec.
        if r.cpuShares < 0 { throw EngineError.internalError("shares: invalid argument") }
        s.cpuShares = r.cpuShares
        if r.nanoCpus > 0 {
            s.cpuPeriod = 100_000
            s.cpuQuota = r.nanoCpus * 100_000 / 1_000_000_000
        } else {
            s.cpuQuota = r.cpuQuota
            s.cpuPeriod = r.cpuPeriod
        }
        s.pidsLimit = r.pidsLimit ?? 0
        s.memoryReservation = r.memoryReservation
        s.memorySwappiness = r.memorySwappiness.flatMap { $0 >= 0 ? $0 : nil }
        s.oomKillDisable = r.oomKillDisable ?? false
        s.cpusetCpus = r.cpusetCpus
        s.cpusetMems = r.cpusetMems
        s.cpuRealtimePeriod = r.cpuRealtimePeriod
        s.cpuRealtimeRuntime = r.cpuRealtimeRuntime
        s.blkioWeight = r.blkioWeight
        func device(_ path: String) -> (major: Int64, minor: Int64)? {
            HostDevices.device(at: path).map { (Int64($0.major), Int64($0.minor)) }
        }
        s.blkioWeightDevices = (r.blkioWeightDevice ?? []).compactMap { w in device(w.path).map { ($0.major, $0.minor, w.weight) } }
        for (key, list) in [
            ("throttleReadBpsDevice", r.blkioDeviceReadBps), ("throttleWriteBpsDevice", r.blkioDeviceWriteBps),
            ("throttleReadIOPSDevice", r.blkioDeviceReadIOps), ("throttleWriteIOPSDevice", r.blkioDeviceWriteIOps),
        ] {
            let entries = (list ?? []).compactMap { t in device(t.path).map { ($0.major, $0.minor, t.rate) } }
            if !entries.isEmpty { s.blkioThrottles[key] = entries }
        }
        s.cgroupParent = cgroupParent(r)
        s.cgroups = cgroupSupport.limits
        s.daemonGroupTop = Engine.ownGroupTop
        s.annotations = h.annotations ?? [:]
        s.capAdd = h.capAdd ?? []
        // `--cap-add ALL` means every capability the daemon holds (root here lacks some).
        if s.capAdd.contains(where: { $0.uppercased() == "ALL" || $0.uppercased() == "CAP_ALL" }) { s.allCapabilities = LinuxCapabilities.bounding() }
        s.capDrop = h.capDrop ?? []
        if h.initProcess == true {
            guard FS.exists(config.initPath) else {
                throw EngineError.internalError(
                    "exec: \"docker-init\": executable file not found in $PATH (looked for \(config.initPath); set init-path in daemon.json)")
            }
            s.initBinary = config.initPath
        }
        if h.privileged {
            s.privileged = true
            s.allCapabilities = LinuxCapabilities.bounding()
            s.hostDevices = HostDevices.list()
        }
        try applyNamespaceModes(&s, c)
        try SecurityOptions.apply(&s, h)
        s.readonlyRootfs = h.readonlyRootfs
        if h.shmSize > 0 { s.shmSize = h.shmSize }
        try prepareVolumes(c, rootfs: root)
        // Parents before children: a mount over /a then /a/b, as Docker orders them.
        let ordered = c.mounts.enumerated().sorted { a, b in
            let ca = a.element.destination.split(separator: "/").count, cb = b.element.destination.split(separator: "/").count
            return ca != cb ? ca < cb : a.offset < b.offset
        }
        s.extraMounts = ordered.map(\.element.ociJSON)
        return s
    }

    /// Mounts volumes that have driver options and fills empty ones from the image (Docker's
    /// copy-up: contents, ownership and modes of what the image has at that path).
    func prepareVolumes(_ c: Container, rootfs root: String) throws {
        for m in c.mounts where m.type == .volume {
            guard let v = loadVolume(m.name) else { throw EngineError.notFound("get \(m.name): no such volume") }
            try mountVolumeIfNeeded(v)
            let data = volumeData(m.name)
            guard !m.noCopy, ((try? FS.list(data)) ?? []).isEmpty else { continue }
            // Opened inside the root (an image's symlink must not point the copy at the host),
            // walked on descriptors and unpacked into the volume; the directory's own owner and
            // mode go to the volume's root, as Docker's copy-up does.
            let rootfd = try DirFD.openDirectory(root, flags: DirFD.pathOnly)
            defer { close(rootfd) }
            let src = DirFD.open(rootfd, m.destination, O_RDONLY | O_DIRECTORY, .container)
            guard src >= 0 else { continue }
            defer { close(src) }
            guard !((try? DirFD.list(src)) ?? []).isEmpty else { continue }
            let tar = dir(c.id) + "/copy-up.tar"
            defer { unlink(tar) }
            do {
                let out = open(tar, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
                guard out >= 0 else { throw SysError("open \(tar)") }
                defer { close(out) }
                try TreeTar(rootFD: src, layer: false) { try FS.writeAll(fd: out, $0) }.write()
                try LayerUnpacker(root: data, trusted: true).unpack(tarPath: tar)
            } catch { throw EngineError.internalError("copying image content to volume \(m.name): \(error)") }
            var st = Glibc.stat()
            if fstat(src, &st) == 0 {
                chown(data, st.st_uid, st.st_gid)
                chmod(data, st.st_mode & 0o7777)
            }
        }
    }

    /// Overlay: the image's snapshots read-only (top layer first), one writable layer per container.
    /// A remapped container (daemon `userns-remap`) sees each layer through an idmapped bind
    /// (on-disk 0 is its range's first id), and its writable layer's root belongs to that id.
    ///
    /// `volatile` (a container removed at its exit, `--rm`): overlay's volatile option, so the
    /// unmount at exit does not sync the whole upper file system (0.4-1 ms of every `run --rm`,
    /// measured) for a layer deleted right after. No crash can make that unsafe: after one, a
    /// `--rm` container is removed, never mounted again (a failed start removes it too). Overlay's
    /// marker against later mounts of the layer is cleared first all the same, and a kernel
    /// without the option mounts as before.
    func mountRootfs(_ id: String, chains: [Digest], volatile: Bool = false) throws -> String {
        let d = dir(id)
        for sub in ["upper", "work", "rootfs"] { try FS.mkdirAll(d + "/" + sub) }
        var lowers = rootLowers(chains)
        if lowers.isEmpty { try FS.mkdirAll(d + "/empty"); lowers = [d + "/empty"] }
        umount2(d + "/rootfs", Int32(MNT_DETACH))
        if let remap = remap(id) {
            let userns = try remapNamespace()
            unmountLayerViews(id)
            var views: [String] = []
            for (i, lower) in lowers.enumerated() {
                let view = d + "/layers/\(i)"
                try FS.mkdirAll(view)
                guard berth_idmapped_bind(userns, lower, view) == 0 else {
                    unmountLayerViews(id)
                    throw EngineError.internalError("idmapped mount of a layer for \(id.prefix(12)): \(SysError("mount_setattr"))")
                }
                views.append(view)
            }
            lowers = views
            // Its root directory is the container's `/` as far as ownership goes.
            chown(d + "/upper", remap.uid, remap.gid)
        }
        let opts = "lowerdir=\(lowers.joined(separator: ":")),upperdir=\(d)/upper,workdir=\(d)/work" + OverlayXattrs.mountOptions
        if volatile {
            FS.removeAll(d + "/work/work/incompat")
            if mount("overlay", d + "/rootfs", "overlay", 0, opts + ",volatile") == 0 { return d + "/rootfs" }
        }
        guard mount("overlay", d + "/rootfs", "overlay", 0, opts) == 0 else {
            throw EngineError.internalError("mount overlay for \(id.prefix(12)): \(SysError("mount"))")
        }
        return d + "/rootfs"
    }

    func unmountRootfs(_ id: String) {
        umount2(rootfs(id), Int32(MNT_DETACH))
        unmountLayerViews(id)
        if config.remap != nil { UsernsRemap.releaseNamespace(at: userNamespacePath(id)) }
    }

    func userNamespacePath(_ id: String) -> String { config.execRoot + "/userns/" + id }

    /// The idmapped layer binds of a remapped container.
    func unmountLayerViews(_ id: String) {
        let layers = dir(id) + "/layers"
        for name in (try? FS.list(layers)) ?? [] { umount2(layers + "/" + name, Int32(MNT_DETACH)) }
        FS.removeAll(layers)
    }

    /// The remap that applies to a container: the daemon's, unless it runs with `--userns=host`.
    func remap(_ id: String) -> UsernsRemap? {
        guard let r = config.remap else { return nil }
        return containers[id]?.hostConfig.usernsMode == "host" ? nil : r
    }

    /// The id shift for archives in and out of a remapped container.
    func idShift(_ id: String) -> IDShift? {
        remap(id).map { IDShift(uid: $0.uid, gid: $0.gid, size: $0.size) }
    }

    func remapNamespace() throws -> Int32 {
        if remapNamespaceFD >= 0 { return remapNamespaceFD }
        guard let r = config.remap else { throw EngineError.internalError("no userns-remap configured") }
        do { remapNamespaceFD = try r.namespaceFD() } catch { throw EngineError.internalError("\(error)") }
        return remapNamespaceFD
    }

    // MARK: signals

    /// As dockerd: SIGKILL (the default) returns once the container has exited, so an inspect
    /// right after sees it stopped; other signals return once sent.
    public func kill(_ ref: String, signal: String?) async throws(EngineError) {
        var c = try await afterStart(ref)
        guard c.state.running else { throw .conflict("Container \(c.id) is not running") }
        c.state.manuallyStopped = true  // as dockerd: a killed container is not restarted by its policy
        persist(c)
        let sig: Int32
        if let signal, !signal.isEmpty {
            guard let s = Signals.parse(signal) else { throw .badRequest("Invalid signal: \(signal)") }
            sig = s
        } else {
            sig = 9
        }
        send(signal: sig, to: c)
        emit(c, "kill", extra: ["signal": String(sig)])
        if sig == 9 { _ = await waitExit(c.id, seconds: 10) }
    }

    func send(signal: Int32, to c: Container) {
        // A frozen process cannot act on a signal; Docker thaws first for the same reason. Frozen
        // for a copy's walk too: a kill waited for the copy to end (forever, with a client that
        // stopped reading).
        let frozen = c.state.paused || walkFreezes[c.id] != nil
        if frozen && (signal == 9 || signal == 15 || signal == Signals.parse(c.config.stopSignal)) { thawIfFrozen(c.id) }
        if let io = live[c.id] { io.kill(signal) } else if c.state.pid > 0 { Glibc.kill(c.state.pid, signal) }
    }

    /// SIGTERM (or the image's stop signal), then SIGKILL after the timeout.
    /// `signal` (API 1.42): instead of the container's stop signal.
    public func stop(_ ref: String, timeout: Int?, signal: String? = nil) async throws(EngineError) {
        var c = try await afterStart(ref)
        if c.state.restarting {
            c.state.restarting = false
            c.state.manuallyStopped = true
            persist(c)
            return
        }
        guard c.state.running else { throw .notModified }
        c.state.manuallyStopped = true
        persist(c)
        try await stopRunning(c, timeout: timeout, signal: signal)
    }

    func stopRunning(_ c: Container, timeout: Int?, signal: String? = nil) async throws(EngineError) {
        var sig = Signals.parse(c.config.stopSignal) ?? 15
        if let signal, !signal.isEmpty {
            guard let s = Signals.parse(signal) else { throw .badRequest("Invalid signal: \(signal)") }
            sig = s
        }
        let t = timeout ?? c.config.stopTimeout ?? 10
        // As dockerd: a negative timeout waits for as long as the program takes, never killing.
        var grace: Double? = t >= 0 ? Double(t) : nil
        let readyAfter = await awaitSignalReadiness(c, signal: sig, within: min(grace ?? 0.5, 0.5))
        grace = grace.map { max(0, $0 - readyAfter) }
        send(signal: sig, to: c)
        emit(c, "kill", extra: ["signal": String(sig)])
        let exitedInTime = await waitExit(c.id, seconds: grace)
        if !exitedInTime {
            send(signal: 9, to: c)
            emit(c, "kill", extra: ["signal": "9"])
            _ = await waitExit(c.id, seconds: 30)
        }
        if let now = containers[c.id] { emit(now, "stop") }
    }

    /// Whether the container stopped running within `seconds` (nil: however long that takes).
    /// Woken by the exit itself (`wakeExitWaiters`), not by polling: a stop answers as soon as
    /// the shim reports the exit.
    func waitExit(_ id: String, seconds: Double?) async -> Bool {
        guard containers[id]?.state.running == true else { return true }
        nextExitWaitToken &+= 1
        let token = nextExitWaitToken
        var timer: Task<Void, Never>?
        if let seconds {
            // A timeout from a client is any Int: clamped before it becomes nanoseconds.
            let nanos = UInt64(min(max(seconds, 0), 1e9) * 1e9)
            timer = Task { [weak self] in
                try? await Task.sleep(nanoseconds: nanos)
                await self?.endExitWait(id, token: token)
            }
        }
        let exited = await withCheckedContinuation { timedExitWaiters[id, default: [:]][token] = $0 }
        timer?.cancel()
        return exited
    }

    func endExitWait(_ id: String, token: Int) {
        guard let w = timedExitWaiters[id]?.removeValue(forKey: token) else { return }
        if timedExitWaiters[id]?.isEmpty == true { timedExitWaiters[id] = nil }
        w.resume(returning: containers[id]?.state.running != true)
    }

    /// The container stopped running (or is gone): the API's waits (`wait`) get its exit code and
    /// every `waitExit` (stop, kill, rm -f) returns.
    func wakeExitWaiters(_ id: String, code: Int32) {
        for w in exitWaiters.removeValue(forKey: id) ?? [] { w.resume(returning: code) }
        for w in (timedExitWaiters.removeValue(forKey: id) ?? [:]).values { w.resume(returning: true) }
    }

    /// Before a stop signal: a container started moments ago whose PID 1 (in its own PID
    /// namespace) has no handler for the signal yet would lose it (`SignalReadiness`). Waits, at
    /// most `within` seconds and only in the first second after the start, until the program
    /// catches, ignores or blocks the signal; returns the seconds spent, which the caller takes
    /// from the stop's timeout. A program that never installs a handler costs this wait once.
    func awaitSignalReadiness(_ c: Container, signal: Int32, within: Double) async -> Double {
        guard !SignalReadiness.alwaysDelivered(signal), c.hostConfig.pidMode.isEmpty, c.state.pid > 0, within > 0 else { return 0 }
        let sinceStart = Double(Timestamp.now().nanos - c.state.startedAt.nanos) / 1e9
        guard sinceStart >= 0, sinceStart < 1 else { return 0 }
        let began = Timestamp.monotonicNanos()
        let deadline = began + Int64(within * 1e9)
        let status = "/proc/\(c.state.pid)/status"
        while Timestamp.monotonicNanos() < deadline {
            // The kernel's own file (bounded, never blocks); a process gone ends the wait.
            guard containers[c.id]?.state.running == true, let text = try? FS.readString(status),
                SignalReadiness.wouldKeep(signal, status: text) == false
            else { break }
            try? await Task.sleep(nanoseconds: 5_000_000)
        }
        return Double(Timestamp.monotonicNanos() - began) / 1e9
    }

    /// `resize`: the TTY's window size, passed to the shim (which owns the pty master).
    public func resize(_ ref: String, height: Int, width: Int) throws(EngineError) {
        let c = try container(ref)
        guard c.state.running else { throw .conflict("Container \(c.id) is not running") }
        live[c.id]?.resize(rows: height, cols: width)
    }

    public func restart(_ ref: String, timeout: Int?, signal: String? = nil) async throws(EngineError) {
        var c = try await afterStart(ref)
        if c.state.running {
            c.state.manuallyStopped = true  // the restart below is ours, not the policy's
            persist(c)
            try await stopRunning(c, timeout: timeout, signal: signal)
        }
        try await start(c.id, keepRestartCount: true)
        if let now = containers[c.id] { emit(now, "restart") }
    }

    // MARK: remove / rename / prune

    public func remove(_ ref: String, force: Bool, volumes: Bool = false) async throws(EngineError) {
        var c = try await afterStart(ref)
        if c.state.restarting && !force {
            throw .conflict("You cannot remove a restarting container \(c.id). Stop the container before attempting removal or force remove")
        }
        if c.state.running || c.state.restarting {
            c.state.manuallyStopped = true
            c.state.restarting = false
            persist(c)
        }
        if c.state.running {
            guard force else {
                throw .conflict("You cannot remove a running container \(c.id). Stop the container before attempting removal or force remove")
            }
            send(signal: 9, to: c)
            _ = await waitExit(c.id, seconds: 30)
        }
        try removeNow(c.id, volumes: volumes)
    }

    /// `volumes`: also the container's anonymous volumes (`rm -v`, `--rm`); named ones stay.
    func removeNow(_ id: String, volumes: Bool = false) throws(EngineError) {
        guard let c = containers[id] else { return }
        if c.state.running { return }
        unmountRootfs(id)
        unmountShareableShm(id)
        // The writable layer goes first when it holds anything: on a full disk it is what frees
        // the space the database needs to record the removal, and `rm` answering means the space
        // is free. An empty one (a container that wrote nothing) goes with the rest, after.
        if !FS.isEmptyDirectory(dir(id) + "/upper") {
            FS.removeAll(dir(id) + "/upper")
            FS.removeAll(dir(id) + "/work")
        }
        do { try store.deleteContainer(id: id, durable: !c.autoRemove) } catch { throw .wrapping(error) }
        containers[id] = nil
        health[id] = nil
        stopHealthMonitor(id)
        emit(c, "destroy")
        execs = execs.filter { $0.value.containerID != id }
        for s in pendingAttach.removeValue(forKey: id) ?? [] { s.subscriber(ShimFrame(.exited)) }
        for w in removeWaiters.removeValue(forKey: id) ?? [] { w.resume(returning: c.state.exitCode) }
        wakeExitWaiters(id, code: c.state.exitCode)
        if volumes {
            for m in c.mounts where m.type == .volume && m.anonymous && !m.name.isEmpty { try? removeVolume(m.name, force: true) }
        }
        // The container is gone from the store and the API; what is left of its directory (its
        // config, hosts files, log: a dozen journaled unlinks, a millisecond or more) is deleted
        // off the actor, after the answer. Nothing reuses the path (ids are random), and a
        // directory a crash leaves behind is swept at the next start (sweepRemovedContainers).
        let leftover = dir(id)
        DispatchQueue.global(qos: .utility).async { FS.removeAll(leftover) }
    }

    /// Directories under containers/ that no stored container owns: a removal the daemon did not
    /// live to finish. A row whose document no longer decodes keeps its directory; anything still
    /// mounted in one is detached first, never deleted through.
    func sweepRemovedContainers() {
        let root = config.dataRoot + "/containers"
        guard let stored = try? store.containerIDs() else { return }
        for name in (try? FS.list(root)) ?? [] where !stored.contains(name) && containers[name] == nil && Self.isContainerID(name) {
            umount2(root + "/" + name + "/rootfs", Int32(MNT_DETACH))
            unmountShareableShm(name)
            unmountLayerViews(name)
            FS.removeAll(root + "/" + name)
        }
    }

    /// 64 lowercase hex digits: the only names berthd gives container directories.
    static func isContainerID(_ name: String) -> Bool {
        name.utf8.count == 64 && name.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }

    public func rename(_ ref: String, to newName: String) throws(EngineError) {
        var c = try container(ref)
        var name = newName
        if name.hasPrefix("/") { name.removeFirst() }
        guard Names.isValid(name) else { throw .badRequest("Invalid container name (\(name)), only [a-zA-Z0-9][a-zA-Z0-9_.-] + are allowed") }
        if name == c.name { throw .badRequest("Renaming a container with the same name as its current name") }
        if let other = containers.values.first(where: { $0.name == name }) {
            throw .conflict(
                "Conflict. The container name \"/\(name)\" is already in use by container \"\(other.id)\". You have to remove (or rename) that container to be able to reuse that name."
            )
        }
        let old = c.name
        c.name = name
        persist(c)
        emit(c, "rename", extra: ["oldName": "/" + old])
    }

    public func prune(labels: LabelFilter, until: Timestamp? = nil) async throws(EngineError) -> (deleted: [String], reclaimed: Int64) {
        let stopped = containers.values.filter { c in
            !c.state.running && !starting.contains(c.id) && labels.matches(c.labels) && (until.map { c.created < $0 } ?? true)
        }
        // Sized off the actor, so the set is checked again after: one may have been started or
        // removed meanwhile.
        let sizes = await containerSizes(stopped)
        var deleted: [String] = []
        var reclaimed: Int64 = 0
        for c in stopped {
            guard let now = containers[c.id], !now.state.running, !starting.contains(c.id) else { continue }
            reclaimed += sizes[c.id]?.rw ?? 0
            try removeNow(c.id)
            deleted.append(c.id)
        }
        return (deleted, reclaimed)
    }
}
