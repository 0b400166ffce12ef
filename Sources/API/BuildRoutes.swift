import Archive
import BuildKit
import BuildKitAPI
import DockerAPI
import Engine
import Foundation
import GRPCCore
import JSON
import NIOHTTP1
import OCI
import Sys

extension Router {
    /// `POST /build`: the legacy builder's API. The body is the context as a tar; the answer a
    /// stream of JSON messages (`stream`, `aux`, `errorDetail`) the docker CLI prints.
    func build(_ req: Request, _ res: Responder) async throws {
        if req.q("version") == "2" { return try await buildWithBuildKit(req, res) }
        guard req.q("version") == nil || req.q("version") == "1" || req.q("version") == "" else {
            throw EngineError.badRequest("unsupported builder version \(req.q("version") ?? "")")
        }
        var r = BuildRequest()
        r.dockerfile = req.q("dockerfile").flatMap { $0.isEmpty ? nil : $0 } ?? "Dockerfile"
        r.tags = req.query["t"] ?? []
        r.target = req.q("target") ?? ""
        r.noCache = req.bool("nocache")
        r.pull = req.bool("pull")
        r.quiet = req.bool("q")
        r.removeIntermediate = req.q("rm").map { $0 == "1" || $0 == "true" } ?? true
        r.forceRemove = req.bool("forcerm")
        // Repeated (docker-py) or comma-joined (the docker CLI) `host:ip` entries.
        r.extraHosts = (req.query["extrahosts"] ?? []).flatMap { $0.split(separator: ",").map(String.init) }.filter { !$0.isEmpty }
        r.networkMode = req.q("networkmode").flatMap { $0.isEmpty ? nil : $0 } ?? "default"
        func object(_ key: String) throws -> JSON { try jsonQuery(req, key) }
        for (k, v) in try object("buildargs").object ?? JSONObject() { if let s = v.string { r.buildArgs[k] = s } }
        r.labels = try object("labels").stringMap ?? [:]
        r.cacheFrom = try object("cachefrom").stringArray ?? []
        // RUN steps' limits, as dockerd's legacy builder applies them (they were ignored).
        func int64(_ key: String) throws -> Int64 {
            guard let text = req.q(key), !text.isEmpty else { return 0 }
            guard let n = Int64(text) else { throw EngineError.badRequest("strconv.ParseInt: parsing \(JSON.string(text).serialized()): invalid syntax") }
            return n
        }
        r.resources.memory = try int64("memory")
        r.resources.memorySwap = try int64("memswap")
        r.resources.cpuShares = try int64("cpushares")
        r.resources.cpuPeriod = try int64("cpuperiod")
        r.resources.cpuQuota = try int64("cpuquota")
        r.resources.cpusetCpus = req.q("cpusetcpus") ?? ""
        r.resources.cpusetMems = req.q("cpusetmems") ?? ""
        r.shmSize = try int64("shmsize")
        if let u = try object("ulimits").array, !u.isEmpty {
            r.resources.ulimits = u.map { Ulimit(name: $0["Name"].string ?? "", hard: $0["Hard"].int ?? 0, soft: $0["Soft"].int ?? 0) }
        }
        // Berth builds for the platform it runs on; another is refused, one that does not parse in dockerd's words.
        if let p = req.q("platform"), !p.isEmpty {
            let wanted: PlatformSpec
            do { wanted = try PlatformSpec(parsing: p) } catch { throw EngineError.badRequest(error.description) }
            guard wanted.matches(os: "linux", architecture: PlatformSpec.hostArchitecture) else {
                throw EngineError.notImplemented("building for \(wanted) is not supported by Berth (it builds for linux/\(PlatformSpec.hostArchitecture))")
            }
        }
        if let isolation = req.q("isolation"), !isolation.isEmpty, isolation != "default" {
            throw EngineError.badRequest("Invalid isolation: \(JSON.string(isolation).serialized()) - linux only supports 'default'")
        }
        for t in r.tags where (try? Reference(parsing: t)) == nil {
            throw EngineError.badRequest("invalid reference format: repository name (\(t)) must be lowercase")
        }
        let file = try spool(req)
        defer { unlink(file) }
        if let remote = req.q("remote"), !remote.isEmpty {
            // The context comes from elsewhere: a git repository or a URL (the body is empty).
            let scratch = engine.store.tempPath("remote")
            try FS.mkdirAll(scratch, mode: 0o700)
            defer { FS.removeAll(scratch) }
            if let df = try await RemoteContext.fetch(remote, into: file, scratch: scratch) { r.dockerfile = df }
        }
        try TarCompletion.completeUncompressedTar(at: file)
        // As dockerd: the stream starts with the first message, so a build that fails before
        // saying anything (an empty Dockerfile, a bad context) is an HTTP error, not a 200.
        let started = StreamStart()
        let gone = StreamStart()  // begun once a write to the client fails
        // Gone: a write failed, or the connection closed while a quiet step ran.
        r.isCancelled = { gone.isStarted || !res.isActive }
        do {
            _ = try await engine.build(contextTar: file, request: r) { msg in
                if started.begin() { res.startStream(contentType: "application/json") }
                if !(await res.writeJSONLine(msg)) { _ = gone.begin() }
            }
        } catch {
            let e = error
            if started.begin() {
                if case .stepFailed = e {} else { throw e }
                res.startStream(contentType: "application/json")
            }
            var detail: JSON = ["message": .string(e.description)]
            if case .stepFailed(_, let code) = e { detail = ["code": .int(Int64(code)), "message": .string(e.description)] }
            _ = await res.writeJSONLine(["errorDetail": detail, "error": .string(e.description)])
        }
        if started.begin() { res.startStream(contentType: "application/json") }
        res.end()
    }
}

extension Router {
    /// `POST /build?version=2`: BuildKit through the classic endpoint, as the docker CLI's own
    /// BuildKit client (20.10) builds when `/_ping` says `Builder-Version: 2`. The context and
    /// Dockerfile come over the client's session (`remote=client-session`, `session=`); the
    /// options are the query's, turned into dockerfile.v0 attributes; progress goes out as
    /// `moby.buildkit.trace` aux messages (base64 of BuildKit's StatusResponse), the image as
    /// `moby.image.id`.
    func buildWithBuildKit(_ req: Request, _ res: Responder) async throws {
        guard let solver = grpc?.solver else { throw EngineError.badRequest("BuildKit is not served by this daemon") }
        guard req.q("remote") == "client-session", let session = req.q("session"), !session.isEmpty else {
            throw EngineError.badRequest("a BuildKit build needs the client's session (remote=client-session, session=…)")
        }
        var attrs: [String: String] = ["filename": req.q("dockerfile").flatMap { $0.isEmpty ? nil : $0 } ?? "Dockerfile"]
        if let t = req.q("target"), !t.isEmpty { attrs["target"] = t }
        if req.bool("nocache") { attrs["no-cache"] = "" }
        if req.bool("pull") { attrs["image-resolve-mode"] = "pull" }
        if let n = req.q("networkmode"), !n.isEmpty, n != "default" { attrs["force-network-mode"] = n }
        let hosts = (req.query["extrahosts"] ?? []).flatMap { $0.split(separator: ",") }.map { $0.replacingOccurrences(of: ":", with: "=") }
        if !hosts.isEmpty { attrs["add-hosts"] = hosts.joined(separator: ",") }
        if let p = req.q("platform"), !p.isEmpty { attrs["platform"] = p }
        func object(_ key: String) throws -> JSON { try jsonQuery(req, key) }
        for (k, v) in try object("buildargs").object ?? JSONObject() { if let s = v.string { attrs["build-arg:" + k] = s } }
        for (k, v) in try object("labels").stringMap ?? [:] { attrs["label:" + k] = v }
        let tags = req.query["t"] ?? []
        for t in tags where (try? Reference(parsing: t)) == nil {
            throw EngineError.badRequest("invalid reference format: repository name (\(t)) must be lowercase")
        }
        let outputs = try object("outputs")
        if let list = outputs.array, !list.isEmpty, !list.allSatisfy({ ($0["Type"].string ?? $0["type"].string) == "moby" }) {
            throw EngineError.badRequest("only the moby output is supported by berthd")
        }
        var solve = Moby_Buildkit_V1_SolveRequest()
        solve.ref = req.q("buildid").flatMap { $0.isEmpty ? nil : $0 } ?? UUID().uuidString.lowercased()
        solve.session = session
        solve.frontend = "dockerfile.v0"
        solve.frontendAttrs = attrs
        var exporter = Moby_Buildkit_V1_Exporter()
        exporter.type = "moby"
        if !tags.isEmpty { exporter.attrs = ["name": tags.joined(separator: ",")] }
        solve.exporters = [exporter]
        let ref = solve.ref
        res.startStream(contentType: "application/json")
        let updates = await solver.jobs.subscribe(ref)
        let relay = Task {
            for await u in updates {
                guard let bytes = try? u.serializedBytes() as [UInt8] else { continue }
                _ = await res.writeJSONLine(["id": "moby.buildkit.trace", "aux": .string(Base64.encode(bytes))])
            }
        }
        do {
            let out = try await solver.solve(solve)
            await relay.value
            if let id = out.exporterResponse["containerimage.config.digest"] {
                _ = await res.writeJSONLine(["id": "moby.image.id", "aux": ["ID": .string(id)]])
                // With q=1 the client prints the stream: the image id alone, as dockerd sends it.
                if req.bool("q") { _ = await res.writeJSONLine(["stream": .string(id + "\n")]) }
            }
        } catch {
            await relay.value
            let message = (error as? RPCError)?.message ?? "\(error)"
            _ = await res.writeJSONLine(["errorDetail": ["message": .string(message)], "error": .string(message)])
        }
        res.end()
    }
}

extension Router {
    /// A query parameter holding JSON (`buildargs`, `labels`, `outputs`…); null when absent.
    func jsonQuery(_ req: Request, _ key: String) throws -> JSON {
        guard let text = req.q(key), !text.isEmpty else { return .null }
        do { return try JSON.parse(text) } catch { throw EngineError.badRequest("invalid \(key): \(error.message)") }
    }
}

/// Whether a response stream has been started; `begin` is true for the one caller that starts it.
final class StreamStart: @unchecked Sendable {
    private let lock = NSLock()
    private var started = false
    func begin() -> Bool {
        lock.lock(); defer { lock.unlock() }
        if started { return false }
        started = true
        return true
    }

    var isStarted: Bool {
        lock.lock(); defer { lock.unlock() }
        return started
    }
}
