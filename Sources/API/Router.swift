import BuildKit
import DockerAPI
import Engine
import Foundation
import JSON
import NIOHTTP1
import OCI
import Registry
import Sys

/// Maps method + path to one engine call. One small function per operation below.
public final class Router: Sendable {
    let engine: Engine
    /// BuildKit's control API (POST /grpc), when the daemon serves it.
    let grpc: GRPCHost?
    init(engine: Engine, grpc: GRPCHost? = nil) {
        self.engine = engine
        self.grpc = grpc
    }

    static let minVersion = "1.24"

    func handle(_ req: Request, _ res: Responder) async {
        defer { if let f = req.bodyFile { unlink(f) } }
        if let v = req.apiVersion {
            if compareVersions(v, Responder.maxVersion) > 0 {
                return res.error(.badRequest("client version \(v) is too new. Maximum supported API version is \(Responder.maxVersion)"))
            }
            if compareVersions(v, Router.minVersion) < 0 {
                return res.error(
                    .badRequest(
                        "client version \(v) is too old. Minimum supported API version is \(Router.minVersion), please upgrade your client to a newer version"))
            }
        }
        let p = req.path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        do {
            switch (req.method, p.first ?? "") {
            case (.GET, "_ping"), (.HEAD, "_ping"): ping(req, res)
            case (.GET, "version"): res.json(200, await SystemInfo.version(engine.config))
            case (.GET, "info"): res.json(200, await SystemInfo.info(engine))
            case (.POST, "auth"): try await auth(req, res)
            case (_, "containers"): try await containers(req, res, Array(p.dropFirst()))
            case (_, "images"): try await images(req, res, Array(p.dropFirst()))
            case (_, "exec"): try await execs(req, res, Array(p.dropFirst()))
            case (_, "volumes"): try await volumes(req, res, Array(p.dropFirst()))
            case (.GET, "events"): try await events(req, res)
            case (.GET, "system") where p.count == 2 && p[1] == "df": res.json(200, try await engine.diskUsage())
            case (_, "networks"): try await networks(req, res, Array(p.dropFirst()))
            case (.POST, "build") where p.count == 1: try await build(req, res)
            case (.POST, "grpc") where p.count == 1: try await grpcUpgrade(req, res)
            case (.POST, "session") where p.count == 1: try await sessionUpgrade(req, res)
            case (.POST, "build") where p.count == 2 && p[1] == "prune":
                let keep = Int64(req.q("keep-storage") ?? "") ?? 0
                guard keep >= 0 else { throw EngineError.badRequest("invalid keep-storage") }
                let r = try await engine.pruneBuildCache(keepStorage: keep, filters: try filters(req))
                res.json(200, PruneReport(key: "CachesDeleted", names: r.deleted, spaceReclaimed: r.reclaimed).json)
            case (.POST, "commit"):
                let body = req.body.isEmpty ? JSON.null : try jsonBody(req)
                let id = try await engine.commit(
                    req.q("container") ?? "", repo: req.q("repo"), tag: req.q("tag"), comment: req.q("comment") ?? "",
                    author: req.q("author") ?? "", changes: req.query["changes"] ?? [],
                    pause: req.q("pause").map { _ in req.bool("pause") } ?? true, overrides: body)
                res.json(201, IDResponse(id: id.description).json)
            case (_, let section) where InactiveFeatures.swarmSections.contains(section):
                throw InactiveFeatures.swarm(section, Array(p.dropFirst()))
            case (_, "plugins"):
                let names = try InactiveFeatures.plugins(req.method.rawValue, Array(p.dropFirst())).get()
                res.json(200, .array(names.map { .string($0) }))
            default: res.json(404, ErrorResponse("page not found").json)
            }
        } catch let e as EngineError {
            res.error(e, head: req.method == .HEAD)
        } catch {
            res.error(.internalError("\(error)"))
        }
    }

    /// `docker login` asks the daemon to check credentials against the registry.
    func auth(_ req: Request, _ res: Responder) async throws {
        let body = try jsonBody(req)
        var server = body["serveraddress"].string ?? ""
        for prefix in ["https://", "http://"] where server.hasPrefix(prefix) { server.removeFirst(prefix.count) }
        if let slash = server.firstIndex(of: "/") { server = String(server[..<slash]) }
        if server.isEmpty || server == "index.docker.io" { server = "docker.io" }
        let creds = Credentials(username: body["username"].string ?? "", password: body["password"].string ?? "")
        do {
            try await engine.registry.checkLogin(domain: server, credentials: creds)
        } catch let e as RegistryError {
            throw EngineError.unauthorized(e.message)
        }
        res.json(200, ["Status": "Login Succeeded", "IdentityToken": ""])
    }

    func ping(_ req: Request, _ res: Responder) {
        res.send(
            status: 200, contentType: "text/plain; charset=utf-8", body: Array("OK".utf8),
            extraHeaders: [
                ("Cache-Control", "no-cache, no-store, must-revalidate"), ("Pragma", "no-cache"), ("Builder-Version", "2"),
                ("Swarm", "inactive"),
            ],
            headOnly: req.method == .HEAD)
    }

    func compareVersions(_ a: String, _ b: String) -> Int {
        let x = a.split(separator: ".").map { Int($0) ?? 0 }, y = b.split(separator: ".").map { Int($0) ?? 0 }
        for i in 0..<max(x.count, y.count) {
            let l = i < x.count ? x[i] : 0, r = i < y.count ? y[i] : 0
            if l != r { return l < r ? -1 : 1 }
        }
        return 0
    }

    /// JSON request bodies: empty means `{}`; malformed is a 400 in Go's words.
    func jsonBody(_ req: Request) throws -> JSON {
        if req.body.isEmpty { return [:] }
        do { return try JSON.parse(req.body) } catch {
            throw EngineError.badRequest(error.message)
        }
    }

    /// A JSON body checked against the Go type dockerd decodes it into (wrong kinds and numbers
    /// that do not fit refused in Go's words).
    func jsonBody(_ req: Request, as type: GoType, fields: [String] = []) throws -> JSON {
        var body = try jsonBody(req)
        // Go matches keys to fields without regard to case (`detachKeys` fills `DetachKeys`).
        if !fields.isEmpty { body = body.canonicalizingKeys(fields) }
        do { try RequestBodies.check(body, as: type) } catch { throw EngineError.badRequest(error.description) }
        return body
    }

    /// `filters` in both shapes: `{"k":{"v":true}}` (Go) and `{"k":["v"]}` (docker-py).
    /// A prune's `until` filter (a Go duration back from now, or a time), nil when absent.
    func untilFilter(_ f: [String: [String]]) throws -> Timestamp? {
        guard let u = f["until"]?.first else { return nil }
        guard let t = Timestamp.parseRelative(u) else { throw EngineError.badRequest("invalid filter 'until=\(u)'") }
        return t
    }

    /// `filters` checked against the keys the endpoint accepts, as dockerd's `Validate` does:
    /// one it does not know is refused, never ignored (a `label!` a prune ignored removed what
    /// it was meant to keep).
    func filters(_ req: Request, accepted: Set<String>) throws -> [String: [String]] {
        let f = try filters(req)
        for k in f.keys.sorted() where !accepted.contains(k) { throw EngineError.badRequest("invalid filter '\(k)'") }
        return f
    }

    /// Go's `GetBoolOrDefault`: nil when absent, an error unless the values say one of true/1
    /// or false/0.
    func boolFilter(_ f: [String: [String]], _ key: String) throws -> Bool? {
        guard let values = f[key] else { return nil }
        let isFalse = values.contains("0") || values.contains("false"), isTrue = values.contains("1") || values.contains("true")
        if isFalse == isTrue { throw EngineError.badRequest("invalid filter '\(key)=[\(values.joined(separator: " "))]'") }
        return isTrue
    }

    /// A prune's `label` and `label!`.
    func labelFilter(_ f: [String: [String]]) -> LabelFilter { LabelFilter(include: f["label"] ?? [], exclude: f["label!"] ?? []) }

    func filters(_ req: Request) throws -> [String: [String]] {
        guard let text = req.q("filters"), !text.isEmpty else { return [:] }
        guard let j = try? JSON.parse(text), let o = j.object else { throw EngineError.badRequest("invalid filter: \(text)") }
        var out: [String: [String]] = [:]
        for (k, v) in o {
            if let a = v.stringArray { out[k] = a } else if let m = v.object { out[k] = m.keys } else { throw EngineError.badRequest("invalid filter '\(k)'") }
        }
        return out
    }
}

/// Docker's stdout/stderr multiplexing frame: [stream, 0, 0, 0, len:4 BE] + payload.
enum StreamFrame {
    static func frame(_ stream: UInt8, _ payload: [UInt8]) -> [UInt8] {
        let n = UInt32(payload.count)
        return [stream, 0, 0, 0, UInt8(n >> 24), UInt8((n >> 16) & 0xff), UInt8((n >> 8) & 0xff), UInt8(n & 0xff)] + payload
    }
}
