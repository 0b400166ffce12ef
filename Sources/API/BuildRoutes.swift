import Archive
import Engine
import Foundation
import JSON
import NIOHTTP1
import OCI
import Sys

extension Router {
    /// `POST /build`: the legacy builder's API. The body is the context as a tar; the answer a
    /// stream of JSON messages (`stream`, `aux`, `errorDetail`) the docker CLI prints.
    func build(_ req: Request, _ res: Responder) async throws {
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
        func object(_ key: String) throws -> JSON {
            guard let text = req.q(key), !text.isEmpty else { return .null }
            do { return try JSON.parse(text) } catch { throw EngineError.badRequest("invalid \(key): \(error.message)") }
        }
        for (k, v) in try object("buildargs").object ?? JSONObject() { if let s = v.string { r.buildArgs[k] = s } }
        r.labels = try object("labels").stringMap ?? [:]
        r.cacheFrom = try object("cachefrom").stringArray ?? []
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
        r.isCancelled = { gone.isStarted }
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
