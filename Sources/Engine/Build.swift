import Archive
import Builder
import DockerAPI
import Foundation
import JSON
import OCI
import Store
import Sys

/// What `POST /build` (and `berth build`) ask for.
public struct BuildRequest: Sendable {
    public var dockerfile = "Dockerfile"
    public var tags: [String] = []
    public var buildArgs: [String: String] = [:]
    public var target = ""
    public var noCache = false
    /// `--no-cache-filter`: the stages (by name) built without the cache.
    public var noCacheStages: Set<String> = []
    public var pull = false
    public var labels: [String: String] = [:]
    public var networkMode = "default"
    public var removeIntermediate = true
    public var forceRemove = false
    public var quiet = false
    public var cacheFrom: [String] = []
    /// `--add-host` for RUN steps (`host:ip`).
    public var extraHosts: [String] = []
    /// The legacy endpoint's limits for RUN steps (`memory`, `memswap`, `cpushares`, `cpusetcpus`,
    /// `cpusetmems`, `cpuperiod`, `cpuquota`, `ulimits`) and `shmsize`: they were taken and
    /// ignored; each step's container now has them, as dockerd's legacy builder gives them.
    public var resources = Resources()
    public var shmSize: Int64 = 0
    /// The Dockerfile itself, when it does not come in the context (BuildKit's clients send
    /// it separately); `dockerfile` then only names it in messages.
    public var dockerfileContent: [UInt8]? = nil
    /// A secret's bytes by id, for `RUN --mount=type=secret` (the client's session provides
    /// them; nil: the client has no such secret).
    public var secrets: (@Sendable (String) async throws -> [UInt8]?)? = nil
    /// Independent stages at once, as BuildKit schedules them; messages then carry `stage`
    /// (the legacy endpoint keeps dockerd's one-after-another order and stream).
    public var parallelStages = false
    /// `RUN --mount=type=ssh`: a socket forwarding the client's ssh agent `id` for one step,
    /// made in `scratch` (owner, mode); nil when the client forwards no such agent.
    public var sshAgent: (@Sendable (_ id: String, _ uid: UInt32, _ gid: UInt32, _ mode: UInt32, _ scratch: String) async throws -> SSHAgentMount?)? = nil
    /// Whether the client has gone away (the API's stream could not be written).
    public var isCancelled: @Sendable () -> Bool = { false }
    public init() {}
}

/// Docker's legacy builder: each step makes an image from the previous one — metadata steps
/// change the config, RUN runs a container and commits its changes, COPY/ADD copy into a
/// container's root and commit — and a step whose parent and instruction (and for COPY/ADD,
/// the content of its sources) match an earlier one is taken from the cache.
extension Engine {
    public nonisolated var buildCacheDir: String { config.dataRoot + "/build-cache" }

    public func build(contextTar: String, request: BuildRequest, emit: @escaping @Sendable (JSON) async -> Void) async throws(EngineError) -> Digest {
        try await build(request: request, emit: emit) { work, keep in
            try BuildContext(tar: contextTar, dir: work + "/context", digestFile: buildCacheDir + "/digests.json", keep: keep)
        }
    }

    /// A build whose context is a directory already on disk (the caller's to remove), with the
    /// entries its sender described.
    public func build(
        contextDirectory: String, entries: [BuildContextEntry], request: BuildRequest, emit: @escaping @Sendable (JSON) async -> Void
    ) async throws(EngineError) -> Digest {
        try await build(request: request, emit: emit) { _, keep in
            try BuildContext(directory: contextDirectory, entries: entries, digestFile: buildCacheDir + "/digests.json", keep: keep)
        }
    }

    /// A build in a scratch directory of its own, on the context `makeContext` opens there.
    private func build(
        request: BuildRequest, emit: @escaping @Sendable (JSON) async -> Void, makeContext: (String, Set<String>) throws -> BuildContext
    ) async throws(EngineError) -> Digest {
        let work = store.tempPath("build")
        do { try FS.mkdirAll(work, mode: 0o700) } catch { throw .wrapping(error) }
        defer { FS.removeAll(work) }
        let ctx: BuildContext
        do { ctx = try makeContext(work, [BuildContext.clean(request.dockerfile), ".dockerignore"]) } catch {
            throw .badRequest("failed to read the build context: \(error)")
        }
        defer { ctx.saveDigests() }
        var b = BuildRun(engine: self, request: request, context: ctx, work: work, emit: emit)
        return try await b.run()
    }

    /// Whether the caller may run the step `key`: false once another build that was running it
    /// has finished (its result is then in the cache, unless it failed).
    public func claimBuildStep(_ key: String) async -> Bool {
        if buildStepsInFlight[key] == nil {
            buildStepsInFlight[key] = []
            return true
        }
        await withCheckedContinuation { buildStepsInFlight[key, default: []].append($0) }
        return false
    }

    public func releaseBuildStep(_ key: String) {
        for w in buildStepsInFlight.removeValue(forKey: key) ?? [] { w.resume() }
    }

    nonisolated func cacheLookup(_ key: String) -> Digest? {
        guard let text = try? FS.readString(buildCacheDir + "/" + key), let d = Digest(parsing: text.trimmingSpaces()) else { return nil }
        return (try? store.image(id: d)) != nil ? d : nil
    }

    nonisolated func cacheStore(_ key: String, _ id: Digest) {
        try? FS.mkdirAll(buildCacheDir)
        try? FS.writeAtomic(buildCacheDir + "/" + key, id.description)
    }

    /// A container for a build step (RUN, or COPY/ADD's target), never started for COPY.
    func buildContainer(
        image: Digest, config: JSON, cmd: [String], env: [String], network: String, extraHosts: [String] = [], binds: [String] = [],
        tmpfs: [String: String] = [:], resources: Resources = Resources(), shmSize: Int64 = 0
    ) throws(EngineError) -> String {
        // The step's image config (its user, working directory, volumes…) as a container config.
        var cfg = ContainerConfig(json: config)
        cfg.image = image.description
        cfg.cmd = cmd
        cfg.entrypoint = []
        cfg.env = env
        var none = HealthcheckConfig()
        none.test = ["NONE"]
        cfg.healthcheck = none
        cfg.labels = nil
        var host = HostConfig()
        host.networkMode = network
        host.extraHosts = extraHosts.isEmpty ? nil : extraHosts
        host.binds = binds.isEmpty ? nil : binds
        host.tmpfs = tmpfs.isEmpty ? nil : tmpfs
        host.resources = resources
        host.shmSize = shmSize
        return try create(name: nil, request: ContainerCreateBody(config: cfg, hostConfig: host)).id
    }

    /// The container's writable layer as a new image: `imageConfig` is the full config document
    /// (config, history, rootfs) to register, with the layer appended.
    func commitStep(_ id: String, base: Digest?, imageConfig: JSON, createdBy: String) async throws(EngineError) -> Digest {
        let c = try container(id)
        let diffIDs = (imageConfig["rootfs"]["diff_ids"].stringArray ?? []).compactMap(Digest.init(parsing:))
        let diffID = try await layerFromWritableLayer(c.id, parentChain: chainIDs(diffIDs).last)
        var cfg = imageConfig
        cfg["rootfs"] = ["type": "layers", "diff_ids": JSON.strings((diffIDs + [diffID]).map(\.description))]
        return try registerStep(cfg, base: base, createdBy: createdBy, emptyLayer: false, container: c.id)
    }

    func registerStep(_ imageConfig: JSON, base: Digest?, createdBy: String, emptyLayer: Bool, container: String? = nil) throws(EngineError) -> Digest {
        var cfg = imageConfig
        let now = Timestamp.now().goRFC3339Nano
        cfg["created"] = .string(now)
        if let base { cfg["parent"] = .string(base.description) } else { cfg["parent"] = nil }
        cfg["container"] = container.map { .string($0) } ?? nil
        var cc = cfg["config"]
        cc["Cmd"] = ["/bin/sh", "-c", .string(createdBy.hasPrefix("/bin/sh -c ") ? String(createdBy.dropFirst(11)) : createdBy)]
        cfg["container_config"] = cc
        cfg["docker_version"] = "berth"
        var history = cfg["history"].array ?? []
        var h: JSON = ["created": .string(now), "created_by": .string(createdBy)]
        if emptyLayer { h["empty_layer"] = true }
        history.append(h)
        cfg["history"] = .array(history)
        do { return try store.registerImage(config: ImageConfig(json: cfg), tags: []) } catch { throw .wrapping(error) }
    }

    func buildStepOutput(_ id: String, _ sink: @escaping @Sendable (ShimFrame) -> Void) throws(EngineError) {
        try attach(id, session: AttachSession(subscriber: sink))
    }

    func imageRootForCopy(_ id: String) throws(EngineError) -> String {
        let c = try container(id)
        do { return try mountRootfs(c.id, chains: lowerChains(c)) } catch { throw .internalError("mounting: \(error)") }
    }

    func finishBuildContainer(_ id: String) {
        unmountRootfs(id)
        try? removeNow(id, volumes: true)
    }

    public func tagImage(_ id: Digest, as ref: String) throws(EngineError) {
        let r: Reference
        do { r = try Reference(parsing: ref).withDefaultTag } catch { throw .badRequest("invalid reference format: \(error)") }
        do { try store.tag(r, image: id) } catch { throw .wrapping(error) }
        emitImage("tag", id.description, name: r.description)
    }
}

/// A forwarded ssh agent's socket for one RUN step, closed when the step ends.
public struct SSHAgentMount: Sendable {
    public var path: String
    public var close: @Sendable () -> Void
    public init(path: String, close: @escaping @Sendable () -> Void) { self.path = path; self.close = close }
}

/// A stage of the Dockerfile: its FROM line and the instructions after it.
struct BuildStage: Sendable {
    var name: String?
    var from: String
    var body: [Instruction]
    var line: Instruction
}

/// One build in progress: stages, the step counter, the cache key chain.
struct BuildRun {
    let engine: Engine
    let request: BuildRequest
    let context: BuildContext
    let work: String
    var emit: @Sendable (JSON) async -> Void
    var stageImages: [String: Digest] = [:]  // name or index → final image
    /// Configs of `--cache-from` images: their history and layers can stand in for steps.
    var cacheSources: [JSON] = []
    /// The `--cache-from` images and their parents (by the `parent` their builder recorded).
    var cacheFromIDs: Set<Digest> = []
    var ignore = DockerIgnore("")
    var step = 0
    var totalSteps = 0
    /// The running stage is built without the cache (`--no-cache`, or named by `--no-cache-filter`).
    var noCache = false

    init(engine: Engine, request: BuildRequest, context: BuildContext, work: String, emit: @escaping @Sendable (JSON) async -> Void) {
        self.engine = engine; self.request = request; self.context = context; self.work = work; self.emit = emit
    }

    func say(_ s: String) async { if !request.quiet { await emit(["stream": .string(s)]) } }

    mutating func run() async throws(EngineError) -> Digest {
        guard let bytes = request.dockerfileContent ?? context.data(request.dockerfile) else {
            throw .badRequest("Cannot locate specified Dockerfile: \(request.dockerfile)")
        }
        let text = String(decoding: bytes, as: UTF8.self)
        ignore = DockerIgnore(context.data(".dockerignore").map { String(decoding: $0, as: UTF8.self) } ?? "")
        cacheSources = request.cacheFrom.compactMap { try? engine.resolveImage($0).config.json }
        for ref in request.cacheFrom {
            var next = (try? engine.resolveImage(ref))?.id
            while let id = next, !cacheFromIDs.contains(id), cacheFromIDs.count < 10_000 {
                cacheFromIDs.insert(id)
                next = (try? engine.store.image(id: id))??.config.json["parent"].string.flatMap(Digest.init(parsing:))
            }
        }
        let df: Dockerfile
        do { df = try Dockerfile.parse(text) } catch { throw .badRequest(error.message) }
        // ARGs before the first FROM are global: usable in FROM lines.
        var globalArgs: [String: String] = [:]
        var stages: [(name: String?, from: String, platform: String?, body: [Instruction], line: Instruction)] = []
        for ins in df.instructions {
            if ins.keyword == "FROM" {
                let words = ins.args.first?.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init) ?? []
                guard !words.isEmpty else { throw .badRequest("FROM requires either one or three arguments") }
                var name: String? = nil
                if words.count == 3, words[1].lowercased() == "as" {
                    name = words[2].lowercased()
                } else if words.count != 1 {
                    throw .badRequest("FROM requires either one or three arguments")
                }
                let shell = ShellWords(env: globalArgs, escape: df.escape)
                let from: String
                do { from = try shell.expand(words[0]) } catch { throw .badRequest(error.message) }
                stages.append((name, from, ins.flag("platform"), [], ins))
            } else if stages.isEmpty {
                guard ins.keyword == "ARG" else { throw .badRequest("no build stage in current context") }
                for (k, v) in try argPairs(ins, escape: df.escape, env: globalArgs) { globalArgs[k] = request.buildArgs[k] ?? v ?? "" }
            } else {
                stages[stages.count - 1].body.append(ins)
            }
        }
        guard !stages.isEmpty else { throw .badRequest("the Dockerfile (\(request.dockerfile)) cannot be empty") }
        var last = stages.count - 1
        if !request.target.isEmpty {
            guard let t = stages.firstIndex(where: { $0.name == request.target.lowercased() }) else {
                throw .badRequest("failed to reach build target \(request.target) in Dockerfile")
            }
            last = t
        }
        // Only the stages the target needs (FROM <stage>, COPY --from=<stage>).
        var needed = Set([last])
        for i in stride(from: last, through: 0, by: -1) where needed.contains(i) {
            for ref in [stages[i].from] + stages[i].body.flatMap(BuildRun.stageReferences) {
                if let j = stages[..<i].firstIndex(where: { $0.name == ref.lowercased() }) ?? Int(ref).flatMap({ $0 < i ? $0 : nil }) { needed.insert(j) }
            }
        }
        totalSteps = stages.enumerated().filter { needed.contains($0.offset) }.reduce(0) { $0 + 1 + $1.element.body.count }
        var final: Digest? = nil
        let order = stages.indices.filter { needed.contains($0) && $0 <= last }
        if request.parallelStages && order.count > 1 {
            final = try await runStagesInParallel(
                stages.map { BuildStage(name: $0.name, from: $0.from, body: $0.body, line: $0.line) }, order: order, last: last,
                globalArgs: globalArgs, escape: df.escape)
        } else {
            for (i, s) in stages.enumerated() where needed.contains(i) && i <= last {
                final = try await runStage(
                    final: i == last, name: s.name, from: s.from, line: s.line, body: s.body, globalArgs: globalArgs, escape: df.escape)
                stageImages[String(i)] = final
                if let n = s.name { stageImages[n] = final }
            }
        }
        guard let id = final else { throw .internalError("nothing was built") }
        await emit(["aux": ["ID": .string(id.description)]])
        // Quiet, dockerd sends the ID as the stream, which is what `docker build -q` prints.
        if request.quiet { await emit(["stream": .string(id.description + "\n")]) }
        await say("Successfully built \(id.hex.prefix(12))\n")
        for t in request.tags {
            try await engine.tagImage(id, as: t)
            await say("Successfully tagged \(try Self.familiar(t))\n")
        }
        return id
    }

    /// BuildKit's scheduling: every stage starts as soon as the stages it uses (FROM, COPY
    /// --from) are built, so independent stages run at once. Each runs on its own copy of the
    /// run state, numbered as the sequential build would number its steps, and its messages
    /// carry `stage` so progress can tell them apart.
    mutating func runStagesInParallel(
        _ stages: [BuildStage], order: [Int], last: Int, globalArgs: [String: String], escape: Character
    ) async throws(EngineError) -> Digest {
        var deps: [Int: Set<Int>] = [:]
        var firstStep: [Int: Int] = [:]
        var n = 0
        for i in order {
            firstStep[i] = n
            n += 1 + stages[i].body.count
            var d = Set<Int>()
            for ref in [stages[i].from] + stages[i].body.flatMap(BuildRun.stageReferences) {
                if let j = stages[..<i].firstIndex(where: { $0.name == ref.lowercased() }) ?? Int(ref).flatMap({ $0 < i ? $0 : nil }) { d.insert(j) }
            }
            deps[i] = d
        }
        var done: [Int: Digest] = [:]
        var started = Set<Int>()
        let base = self
        let baseEmit = emit
        do {
            try await withThrowingTaskGroup(of: (Int, Digest).self) { group in
                while true {
                    for i in order where !started.contains(i) && deps[i, default: []].isSubset(of: Set(done.keys)) {
                        started.insert(i)
                        var run = base
                        run.step = firstStep[i] ?? 0
                        for (j, id) in done {
                            run.stageImages[String(j)] = id
                            if let name = stages[j].name { run.stageImages[name] = id }
                        }
                        let tag = Int64(i)
                        run.emit = { msg in
                            var m = msg
                            m["stage"] = .int(tag)
                            await baseEmit(m)
                        }
                        let s = stages[i]
                        let isFinal = i == last
                        group.addTask {
                            var r = run
                            let id = try await r.runStage(
                                final: isFinal, name: s.name, from: s.from, line: s.line, body: s.body, globalArgs: globalArgs, escape: escape)
                            return (i, id)
                        }
                    }
                    guard let (i, id) = try await group.next() else { break }
                    done[i] = id
                }
            }
        } catch let e as EngineError {
            throw e
        } catch {
            throw .internalError("\(error)")
        }
        for (j, id) in done {
            stageImages[String(j)] = id
            if let name = stages[j].name { stageImages[name] = id }
        }
        guard let id = done[last] else { throw .internalError("nothing was built") }
        return id
    }

    /// The stages (or images) an instruction reads besides its stage's FROM: `COPY --from`, and
    /// the `from=` of a RUN's mounts.
    static func stageReferences(_ ins: Instruction) -> [String] {
        if ins.keyword == "COPY" { return ins.flag("from").map { [$0] } ?? [] }
        guard ins.keyword == "RUN" else { return [] }
        return ins.flags.compactMap { f in
            guard f.hasPrefix("--mount=") else { return nil }
            let m = try? RunMount.parse(String(f.dropFirst("--mount=".count)))
            return m.flatMap { $0.from.isEmpty ? nil : $0.from }
        }
    }

    static func familiar(_ t: String) throws(EngineError) -> String {
        do { return try Reference(parsing: t).withDefaultTag.familiar } catch { throw .badRequest("invalid reference format") }
    }

    func argPairs(_ ins: Instruction, escape: Character, env: [String: String]) throws(EngineError) -> [(String, String?)] {
        var out: [(String, String?)] = []
        for w in (ins.args.first ?? "").split(whereSeparator: { $0 == " " || $0 == "\t" }) {
            if let eq = w.firstIndex(of: "=") {
                let k = String(w[..<eq])
                do { out.append((k, try ShellWords(env: env, escape: escape).expand(String(w[w.index(after: eq)...])))) } catch {
                    throw .badRequest(error.message)
                }
            } else {
                out.append((String(w), nil))
            }
        }
        return out
    }
}
