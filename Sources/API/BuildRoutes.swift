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
        res.startStream(contentType: "application/json")
        do {
            _ = try await engine.build(contextTar: file, request: r) { msg in _ = await res.writeJSONLine(msg) }
        } catch let e as EngineError {
            var detail: JSON = ["message": .string(e.description)]
            if case .stepFailed(_, let code) = e { detail = ["code": .int(Int64(code)), "message": .string(e.description)] }
            _ = await res.writeJSONLine(["errorDetail": detail, "error": .string(e.description)])
        } catch {
            _ = await res.writeJSONLine(["errorDetail": ["message": .string("\(error)")], "error": .string("\(error)")])
        }
        res.end()
    }
}

