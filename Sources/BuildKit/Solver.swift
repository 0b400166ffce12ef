import Archive
import BuildKitAPI
import Engine
import Foundation
import GRPCCore
import JSON
import OCI
import Sys

/// `Solve` with the `dockerfile.v0` frontend, on Berth's builder: the Dockerfile and the
/// context come from the client's session (FileSync), the build runs as `POST /build` would,
/// progress goes to the ref's status stream, and the image is tagged as the `moby` exporter's
/// `name` says.
public struct Solver: Sendable {
    public let engine: Engine
    let sessions: SessionRegistry
    public let jobs: BuildJobs
    let gateway = GatewayJobs()

    public init(engine: Engine, sessions: SessionRegistry, jobs: BuildJobs) {
        self.engine = engine; self.sessions = sessions; self.jobs = jobs
    }

    /// The frontend attributes Berth's builder takes; any other is refused by name (an option
    /// silently ignored would build something other than what was asked).
    static let knownAttrs: Set<String> = [
        "filename", "target", "no-cache", "add-hosts", "force-network-mode", "image-resolve-mode", "platform", "cmdline", "source",
        "contextsubdir", "multi-platform",
    ]

    /// The image names a solve's exporters ask for (the `moby` exporter's `name`, comma-separated).
    static func exportTags(_ req: Moby_Buildkit_V1_SolveRequest) throws -> [String] {
        var tags: [String] = []
        var exporters = req.exporters.map { ($0.type, $0.attrs) }
        if exporters.isEmpty, !req.exporter.isEmpty { exporters = [(req.exporter, req.exporterAttrs)] }
        for (type, attrs) in exporters {
            guard type == "moby" || type == "image" || type == "docker" else {
                throw RPCError(code: .invalidArgument, message: "exporter \(String(reflecting: type)) is not supported by berthd: only moby")
            }
            if attrs["push"] == "true" { throw RPCError(code: .invalidArgument, message: "push from a build is not supported by berthd") }
            for n in (attrs["name"] ?? "").split(separator: ",") where !n.trimmingCharacters(in: .whitespaces).isEmpty {
                let t = n.trimmingCharacters(in: .whitespaces)
                do { _ = try Reference(parsing: t) } catch { throw RPCError(code: .invalidArgument, message: "invalid reference format: \(t)") }
                tags.append(t)
            }
        }
        return tags
    }

    /// The options of a dockerfile.v0 solve as a build request.
    static func buildRequest(frontend: String, attrs: [String: String], hasDefinition: Bool) throws -> BuildRequest {
        guard frontend == "dockerfile.v0" else {
            throw RPCError(code: .invalidArgument, message: "frontend \(String(reflecting: frontend)) is not supported by berthd: only dockerfile.v0")
        }
        guard !hasDefinition else {
            throw RPCError(code: .invalidArgument, message: "LLB definitions and frontend inputs are not supported by berthd")
        }
        var b = BuildRequest()
        for (k, v) in attrs.sorted(by: { $0.key < $1.key }) {
            if k.hasPrefix("build-arg:") {
                b.buildArgs[String(k.dropFirst("build-arg:".count))] = v
            } else if k.hasPrefix("label:") {
                b.labels[String(k.dropFirst("label:".count))] = v
            } else if k.hasPrefix("attest:") {
                continue
            } else if !knownAttrs.contains(k) {
                throw RPCError(code: .invalidArgument, message: "frontend option \(k) is not supported by berthd")
            }
        }
        let a = attrs
        b.dockerfile = a["filename"].flatMap { $0.isEmpty ? nil : $0 } ?? "Dockerfile"
        b.target = a["target"] ?? ""
        if let nc = a["no-cache"] {
            // Empty: no stage uses the cache; otherwise the stages `--no-cache-filter` names.
            if nc.isEmpty { b.noCache = true } else { b.noCacheStages = Set(nc.split(separator: ",").map { $0.lowercased() }) }
        }
        b.pull = a["image-resolve-mode"] == "pull"
        if let net = a["force-network-mode"], !net.isEmpty {
            guard net == "host" || net == "none" || net == "default" else {
                throw RPCError(code: .invalidArgument, message: "network mode \(String(reflecting: net)) not supported by buildkit")
            }
            b.networkMode = net
        }
        if let hosts = a["add-hosts"], !hosts.isEmpty {
            // BuildKit's form is host=ip; the builder's is Docker's host:ip.
            b.extraHosts = hosts.split(separator: ",").map { $0.replacingOccurrences(of: "=", with: ":") }
        }
        if let p = a["platform"], !p.isEmpty {
            let first = String(p.split(separator: ",", omittingEmptySubsequences: false)[0])
            guard ControlService.hostPlatforms.contains(where: { "\($0.os)/\($0.architecture)" == first }) else {
                throw RPCError(code: .invalidArgument, message: "platform \(p) is not supported by berthd (it builds for the host's platform only)")
            }
        }
        if let sub = a["contextsubdir"], !sub.isEmpty { throw RPCError(code: .invalidArgument, message: "contextsubdir is not supported by berthd") }
        return b
    }

    /// `.dockerignore` lines as fsutil exclude patterns (comments and blanks dropped).
    static func ignorePatterns(_ text: String) -> [String] {
        text.split(whereSeparator: \.isNewline).compactMap { raw in
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { return nil }
            var neg = false
            var p = Substring(line)
            if p.hasPrefix("!") { neg = true; p = p.dropFirst() }
            while p.hasPrefix("/") { p = p.dropFirst() }
            if p.isEmpty { return nil }
            return (neg ? "!" : "") + p
        }
    }

    /// Control.Solve. With the dockerfile.v0 frontend the build runs here; with none (how
    /// buildx and Compose v2 build) the client's build function asks for it through the
    /// gateway (LLBBridge.Solve, under this ref) and hands the result back with Return, which
    /// this call waits for before it exports.
    public func solve(_ req: Moby_Buildkit_V1_SolveRequest) async throws -> Moby_Buildkit_V1_SolveResponse {
        let ref = req.ref
        defer { Task { await jobs.finish(ref) } }
        let tags = try Self.exportTags(req)
        let image: Digest
        if req.frontend.isEmpty {
            guard !ref.isEmpty else { throw RPCError(code: .invalidArgument, message: "a build without a frontend needs a ref") }
            try await gateway.open(ref, session: req.session, attrs: req.frontendAttrs)
            // gRPC tells a handler its RPC ended (the client went away) through the RPC
            // cancellation handle, not by cancelling the task: both end the job.
            let gateway = self.gateway
            let result = await withRPCCancellationHandler {
                await withTaskCancellationHandler {
                    await gateway.result(ref)
                } onCancel: {
                    Task { await gateway.cancel(ref) }
                }
            } onCancelRPC: {
                Task { await gateway.cancel(ref) }
            }
            switch result {
            case .failure(let e): throw e
            case .success(let r):
                let id: String
                switch r.result {
                case .ref(let out)?: id = out.id
                case .refDeprecated(let out)?: id = out
                default: id = ""
                }
                // An empty result: buildx's internal solves (it asks for the gateway's
                // capabilities that way) export nothing.
                if id.isEmpty && tags.isEmpty && req.exporters.isEmpty && req.exporter.isEmpty { return Moby_Buildkit_V1_SolveResponse() }
                guard let d = Digest(parsing: id) else {
                    throw RPCError(code: .invalidArgument, message: "the build returned no image to export")
                }
                image = d
            }
        } else {
            var progress = ProgressTranslator(ref: ref)
            do {
                let build = try Self.buildRequest(
                    frontend: req.frontend, attrs: req.frontendAttrs, hasDefinition: Self.hasLLB(req.definition, req.frontendInputs))
                guard let session = await sessions.session(req.session) else { throw Self.noSession(req.session) }
                image = try await runDockerfile(build, session: session, ref: ref, progress: &progress)
            } catch {
                await jobs.publish(ref, progress.complete(error: Self.message(error)))
                throw Self.rpcError(error)
            }
            await jobs.publish(ref, progress.complete())
        }
        var export = ProgressTranslator(ref: ref + "/export")
        await jobs.publish(ref, export.begin("exporting to image"))
        for t in tags {
            do { try await engine.tagImage(image, as: t) } catch {
                await jobs.publish(ref, export.complete(error: error.description))
                throw Self.rpcError(error)
            }
            await jobs.publish(ref, export.log("naming to \((try? Reference(parsing: t).withDefaultTag.description) ?? t) done\n"))
        }
        await jobs.publish(ref, export.complete())
        var resp = Moby_Buildkit_V1_SolveResponse()
        resp.exporterResponse = ["containerimage.config.digest": image.description, "containerimage.digest": image.description]
        if !tags.isEmpty { resp.exporterResponse["image.name"] = tags.joined(separator: ",") }
        return resp
    }

    /// LLBBridge.Solve for the build `buildID` (the Control.Solve ref it runs under).
    public func gatewaySolve(buildID: String, _ req: Moby_Buildkit_V1_Frontend_SolveRequest) async throws -> Moby_Buildkit_V1_Frontend_SolveResponse {
        guard let job = await gateway.job(buildID) else {
            throw RPCError(code: .notFound, message: "no such job \(buildID)")
        }
        var attrs = job.attrs
        for (k, v) in req.frontendOpt { attrs[k] = v }
        var progress = ProgressTranslator(ref: buildID)
        let image: Digest
        do {
            let build = try Self.buildRequest(
                frontend: req.frontend, attrs: attrs, hasDefinition: Self.hasLLB(req.definition, req.frontendInputs) || !req.cacheImports.isEmpty)
            guard let session = await sessions.session(job.session) else { throw Self.noSession(job.session) }
            image = try await runDockerfile(build, session: session, ref: buildID, progress: &progress)
        } catch {
            await jobs.publish(buildID, progress.complete(error: Self.message(error)))
            throw Self.rpcError(error)
        }
        await jobs.publish(buildID, progress.complete())
        var r = Moby_Buildkit_V1_Frontend_Ref()
        r.id = image.description
        var res = Moby_Buildkit_V1_Frontend_Result()
        res.ref = r
        if let config = try? engine.store.image(id: image)?.config.json.serialized() { res.metadata["containerimage.config"] = Data(config.utf8) }
        var resp = Moby_Buildkit_V1_Frontend_SolveResponse()
        resp.result = res
        return resp
    }

    /// LLBBridge.Return: the client's build function is done, with a result or an error.
    public func gatewayReturn(buildID: String, _ req: Moby_Buildkit_V1_Frontend_ReturnRequest) async throws {
        if req.hasError, req.error.code != 0 {
            let code = Status.Code(rawValue: Int(req.error.code)).flatMap { RPCError.Code($0) } ?? .unknown
            try await gateway.deliver(buildID, .failure(RPCError(code: code, message: String(req.error.message.prefix(64 << 10)))))
        } else {
            try await gateway.deliver(buildID, .success(req.result))
        }
    }

    static func hasLLB(_ def: Moby_Buildkit_V1_Definition, _ inputs: [String: Moby_Buildkit_V1_Definition]) -> Bool {
        !def.def.isEmpty || !inputs.isEmpty
    }

    static func noSession(_ id: String) -> RPCError {
        RPCError(code: .failedPrecondition, message: "no active session for \(id): context deadline exceeded")
    }

    static func rpcError(_ error: any Error) -> RPCError {
        if let e = error as? RPCError { return e }
        return RPCError(code: .unknown, message: message(error))
    }

    static func message(_ error: any Error) -> String {
        if let e = error as? RPCError { return e.message }
        if case .stepFailed(let m, let code)? = error as? EngineError,
            let open = m.range(of: "The command '"), let close = m.range(of: "' returned a non-zero code", options: .backwards)
        {
            // BuildKit's words for a failed RUN, which clients show as the build's error.
            return "process \"\(m[open.upperBound..<close.lowerBound])\" did not complete successfully: exit code: \(code)"
        }
        if let e = error as? EngineError { return e.description }
        return "\(error)"
    }

    /// The Dockerfile and context from the session, then Berth's builder, with progress.
    private func runDockerfile(_ request: BuildRequest, session: BuildSession, ref: String, progress: inout ProgressTranslator) async throws -> Digest {
        var build = request
        let work = engine.store.tempPath("bk-solve")
        try FS.mkdirAll(work, mode: 0o700)
        defer { FS.removeAll(work) }

        await jobs.publish(ref, progress.begin("[internal] load build definition from \(build.dockerfile)"))
        let dfName = build.dockerfile
        let dfBase = dfName.split(separator: "/").last.map(String.init) ?? dfName
        _ = try await session.syncDirectory("dockerfile", into: work + "/dockerfile.tar", includes: [dfBase, dfBase + ".dockerignore"])
        let dfFiles = try Self.smallFiles(work + "/dockerfile.tar", names: [dfBase, dfBase + ".dockerignore"])
        guard let dockerfile = dfFiles[dfBase] else {
            throw RPCError(code: .notFound, message: "failed to read dockerfile: open \(dfBase): no such file or directory")
        }
        build.dockerfileContent = dockerfile
        build.dockerfile = dfBase

        await jobs.publish(ref, progress.begin("[internal] load .dockerignore"))
        _ = try await session.syncDirectory("context", into: work + "/ignore.tar", includes: [".dockerignore"])
        let contextIgnore = try Self.smallFiles(work + "/ignore.tar", names: [".dockerignore"])[".dockerignore"]
        let ignoreText = dfFiles[dfBase + ".dockerignore"] ?? contextIgnore
        let excludes = ignoreText.map { Self.ignorePatterns(String(decoding: $0, as: UTF8.self)) } ?? []

        await jobs.publish(ref, progress.begin("[internal] load build context"))
        // The context as last sent under this client's shared key: only changed files travel.
        // Builds of one context at once (Compose's services) take turns with it.
        var mirror: String? = nil
        var lease: LocalContextLease? = nil
        if !session.sharedKey.isEmpty {
            mirror = engine.buildCacheDir + "/contexts/" + Digest.of(session.sharedKey + "\u{0}context").hex
            while await !engine.claimBuildStep("context-mirror:" + mirror!) {}
            lease = await engine.beginLocalContextTransfer(mirror!)
        }
        // With a key the context is a generation of the client's directory the daemon keeps,
        // read in place by the build (only changed files travel, nothing is copied); without
        // one (no shared key), a tar.
        var snapshot: [BuildContextEntry]? = nil
        let sent: (entries: Int, bytes: Int64, reused: Int)
        do {
            if let lease {
                let r = try await session.syncDirectory("context", lease: lease, excludes: excludes)
                await engine.endLocalContextTransfer(lease, manifest: r.manifest)
                snapshot = r.entries
                sent = (r.entries.count, r.bytes, r.reused)
            } else {
                sent = try await session.syncDirectory("context", into: work + "/context.tar", excludes: excludes)
            }
        } catch {
            if let lease { await engine.endLocalContextTransfer(lease, manifest: nil) }
            if let mirror { await engine.releaseBuildStep("context-mirror:" + mirror) }
            throw error
        }
        if let mirror {
            utimes(mirror, nil)  // its last use, for system df and prune's `until`
            await engine.releaseBuildStep("context-mirror:" + mirror)
        }
        await jobs.publish(
            ref, progress.log("transferring context: \(sent.bytes) bytes, \(sent.entries) entries, \(sent.reused) files unchanged since the last build\n"))
        await jobs.publish(ref, progress.complete())

        build.parallelStages = true
        build.sshAgent = { id, uid, gid, mode, scratch in
            guard await session.hasAgent(id) else { return nil }
            let sock = try SSHAgentSocket(session: session, id: id, uid: uid, gid: gid, mode: mode, scratch: scratch)
            return SSHAgentMount(path: sock.path, close: { sock.close() })
        }
        build.secrets = { id in
            do { return try await session.secret(id) } catch let e as RPCError where e.code == .notFound || e.code == .unimplemented { return nil }
        }
        let jobs = self.jobs
        let box = ProgressBox(progress)
        let cancelled = ManagedFlag()
        build.isCancelled = { cancelled.isSet }
        defer { progress = box.value }
        // A client that goes away cancels its RPC (the handle gRPC gives handlers), or the task:
        // either stops the build, its running steps included.
        return try await withRPCCancellationHandler {
            try await withTaskCancellationHandler {
                let emit: @Sendable (JSON) async -> Void = { msg in
                    let updates = box.translate(msg)
                    if !updates.isEmpty { await jobs.publish(ref, updates) }
                }
                if let snapshot, let lease {
                    do {
                        let id = try await engine.build(contextDirectory: lease.directory, entries: snapshot, request: build, emit: emit)
                        await engine.releaseLocalContext(lease)
                        return id
                    } catch {
                        await engine.releaseLocalContext(lease)
                        throw error
                    }
                }
                return try await engine.build(contextTar: work + "/context.tar", request: build, emit: emit)
            } onCancel: {
                cancelled.set()
            }
        } onCancelRPC: {
            cancelled.set()
        }
    }

    /// Small files (at most 16 MiB each) out of a tar the session wrote, by name.
    static func smallFiles(_ tar: String, names: Set<String>) throws -> [String: [UInt8]] {
        let reader = try ArchiveReader(path: tar)
        var out: [String: [UInt8]] = [:]
        while let e = try reader.next() {
            if names.contains(e.path), e.kind == .file, e.size <= 16 << 20 { out[e.path] = try reader.readAllData() }
        }
        return out
    }
}

/// The translator shared with the builder's message callback (called in order, one at a time).
final class ProgressBox: @unchecked Sendable {
    private let lock = NSLock()
    private var translator: ProgressTranslator
    init(_ t: ProgressTranslator) { translator = t }
    func translate(_ msg: JSON) -> [Moby_Buildkit_V1_StatusResponse] { lock.withLock { translator.translate(msg) } }
    var value: ProgressTranslator { lock.withLock { translator } }
}

/// Builds whose frontend runs through the gateway: opened by Control.Solve (with its session and
/// attributes), solved by LLBBridge.Solve under the same ref, ended by LLBBridge.Return.
actor GatewayJobs {
    struct Job: Sendable { var session: String; var attrs: [String: String] }
    typealias Outcome = Result<Moby_Buildkit_V1_Frontend_Result, RPCError>
    private var jobs: [String: Job] = [:]
    private var outcomes: [String: Outcome] = [:]
    private var resultWaiters: [String: CheckedContinuation<Outcome, Never>] = [:]
    private var jobWaiters: [String: [CheckedContinuation<Job?, Never>]] = [:]
    static let maxJobs = 256

    func open(_ ref: String, session: String, attrs: [String: String]) throws {
        guard jobs[ref] == nil else { throw RPCError(code: .alreadyExists, message: "build \(ref) is already running") }
        guard jobs.count < Self.maxJobs else { throw RPCError(code: .resourceExhausted, message: "too many builds at once") }
        let j = Job(session: session, attrs: attrs)
        jobs[ref] = j
        for w in jobWaiters.removeValue(forKey: ref) ?? [] { w.resume(returning: j) }
    }

    /// The open job for a gateway call (its Control.Solve may be a moment behind).
    func job(_ ref: String) async -> Job? {
        if let j = jobs[ref] { return j }
        if ref.isEmpty { return nil }
        // A Control.Solve that never comes ends the wait; a cancelled timer (this call was
        // answered) must not expire anyone (`try?` would fall through to the expiry at once).
        let t = Task {
            do { try await Task.sleep(nanoseconds: 60_000_000_000) } catch { return }
            self.expireJobWaiters(ref)
        }
        defer { t.cancel() }
        return await withCheckedContinuation { jobWaiters[ref, default: []].append($0) }
    }

    private func expireJobWaiters(_ ref: String) {
        for w in jobWaiters.removeValue(forKey: ref) ?? [] { w.resume(returning: nil) }
    }

    func deliver(_ ref: String, _ outcome: Outcome) async throws {
        // A build function with nothing to solve returns at once: its Return can overtake the
        // Control.Solve that opens the job (1 build in ~50 under load), so it waits as Solve does.
        if jobs[ref] == nil, await job(ref) == nil { throw RPCError(code: .notFound, message: "no such job \(ref)") }
        guard outcomes[ref] == nil else { throw RPCError(code: .alreadyExists, message: "build \(ref) already returned") }
        if let w = resultWaiters.removeValue(forKey: ref) {
            jobs[ref] = nil
            w.resume(returning: outcome)
        } else {
            outcomes[ref] = outcome
        }
    }

    func result(_ ref: String) async -> Outcome {
        if let o = outcomes.removeValue(forKey: ref) {
            jobs[ref] = nil
            return o
        }
        return await withCheckedContinuation { resultWaiters[ref] = $0 }
    }

    func cancel(_ ref: String) {
        jobs[ref] = nil
        outcomes[ref] = nil
        resultWaiters.removeValue(forKey: ref)?.resume(returning: .failure(RPCError(code: .cancelled, message: "context canceled")))
    }
}
