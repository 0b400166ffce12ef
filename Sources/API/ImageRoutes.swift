import DockerAPI
import Engine
import Foundation
import JSON
import NIOHTTP1
import OCI
import Registry
import Sys

extension Router {
    func images(_ req: Request, _ res: Responder, _ p: [String]) async throws {
        let rest = p.joined(separator: "/")
        func name(dropping suffix: String) -> String? {
            rest.hasSuffix("/" + suffix) ? String(rest.dropLast(suffix.count + 1)) : nil
        }
        switch req.method {
        case .GET where rest == "json":
            let f = try filters(req, accepted: ["dangling", "label", "before", "since", "reference", "until"])
            var filter = ImageListFilter()
            filter.dangling = try boolFilter(f, "dangling")
            filter.references = f["reference"] ?? []
            filter.labels = f["label"] ?? []
            filter.before = f["before"] ?? []
            filter.since = f["since"] ?? []
            for u in f["until"] ?? [] {
                guard let t = Timestamp.parseRelative(u) else { throw EngineError.badRequest("invalid filter 'until=\(u)'") }
                filter.until.append(t)
            }
            let list = try await engine.listImages(all: req.bool("all"), filter: filter)
            res.json(200, .array(list.map { VersionAdapter.imageSummary($0.json, req.version) }))
        case .GET where rest == "search":
            // dockerd's search filters, checked before the registry is asked.
            let f = try filters(req, accepted: ["is-automated", "is-official", "stars"])
            let automated = try boolFilter(f, "is-automated"), official = try boolFilter(f, "is-official")
            var minStars = 0
            for s in f["stars"] ?? [] {
                guard let n = Int(s) else { throw EngineError.badRequest("invalid filter 'stars=\(s)'") }
                minStars = max(minStars, n)
            }
            // `is-automated=true` finds nothing (the field is deprecated, always false), as dockerd.
            if automated == true { return res.json(200, .array([])) }
            let r = try await engine.search(
                req.q("term") ?? "", limit: try req.int("limit") ?? 25, credentials: RegistryAuth.decode(req.headers["X-Registry-Auth"].first))
            let kept = r.filter { result in
                (result["star_count"].int ?? 0) >= minStars && (official.map { (result["is_official"].bool ?? false) == $0 } ?? true)
            }
            res.json(200, .array(kept))
        case .POST where rest == "prune":
            let f = try filters(req, accepted: ["dangling", "label", "label!", "until"])
            let all = try boolFilter(f, "dangling") == false
            let r = try await engine.pruneImages(all: all, labels: labelFilter(f), until: try untilFilter(f))
            res.json(200, PruneReport(key: "ImagesDeleted", deleted: r.deleted, spaceReclaimed: r.reclaimed).json)
        case .GET where rest == "get":
            try await save(req, res, names: req.query["names"] ?? [])
        case .GET:
            if let n = name(dropping: "json") { return res.json(200, VersionAdapter.imageSummary(try await engine.inspectImage(n).json, req.version)) }
            if let n = name(dropping: "get") { return try await save(req, res, names: [n]) }
            if let n = name(dropping: "history") { return res.json(200, .array(try engine.history(n).map(\.json))) }
            res.json(404, ErrorResponse("page not found").json)
        case .POST where rest == "create":
            try await create(req, res)
        case .POST where rest == "load":
            try await load(req, res)
        case .POST:
            if let n = name(dropping: "push") { return try await push(req, res, name: n) }
            if let n = name(dropping: "tag") {
                try await engine.tag(n, repo: req.q("repo") ?? "", tag: req.q("tag"))
                return res.noContent(201)
            }
            res.json(404, ErrorResponse("page not found").json)
        case .DELETE where !rest.isEmpty:
            let r = try await engine.removeImage(rest, force: req.bool("force"), prune: !req.bool("noprune"))
            res.json(200, .array(r))
        default:
            res.json(404, ErrorResponse("page not found").json)
        }
    }

    /// The request body as a temporary file (tarballs for import and load).
    func spool(_ req: Request) throws -> String {
        if let f = req.bodyFile { return f }
        let path = engine.store.tempPath("upload")
        try FS.writeAtomic(path, req.body, mode: 0o600)
        return path
    }

    /// `POST /images/create`: import (`fromSrc=-` with the tar as the body, or a URL dockerd
    /// downloads), or pull (`fromImage`).
    func create(_ req: Request, _ res: Responder) async throws {
        if let src = req.q("fromSrc") {
            let file: String
            if src == "-" {
                file = try spool(req)
            } else {
                // dockerd's rule: a source without a scheme is fetched over http.
                let url = src.hasPrefix("http://") || src.hasPrefix("https://") ? src : "http://" + src
                file = engine.store.tempPath("import")
                do { try await Engine.download(url, to: file) } catch { unlink(file); throw error }
            }
            defer { unlink(file) }
            // `--platform` names the imported image's platform, as dockerd records it (it was ignored).
            var platform: PlatformSpec? = nil
            if let p = req.q("platform"), !p.isEmpty {
                do { platform = try PlatformSpec(parsing: p) } catch { throw EngineError.badRequest(error.description) }
            }
            let id = try engine.importImage(
                tarFile: file, repo: req.q("repo"), tag: req.q("tag"), message: req.q("message") ?? "",
                changes: req.query["changes"] ?? [], platform: platform)
            res.startStream(contentType: "application/json")
            _ = await res.writeJSONLine(["status": .string(id.description)])
            res.end()
            return
        }
        var image = req.q("fromImage") ?? ""
        if let tag = req.q("tag"), !tag.isEmpty { image += (tag.hasPrefix("sha256:") ? "@" : ":") + tag }
        let parsed: Reference
        do { parsed = try Reference(parsing: image) } catch { throw EngineError.badRequest(error.description) }
        let creds = RegistryAuth.decode(req.headers["X-Registry-Auth"].first)
        res.startStream(contentType: "application/json")
        do {
            // No tag and no digest: every tag, as dockerd (the docker CLI sends this for `pull -a`).
            if parsed.tag == nil && parsed.digest == nil {
                try await engine.pullAllTags(image, credentials: creds, platform: req.q("platform")) { msg in _ = await res.writeJSONLine(msg) }
            } else {
                _ = try await engine.pull(image, credentials: creds, platform: req.q("platform")) { msg in _ = await res.writeJSONLine(msg) }
            }
        } catch {
            _ = await res.writeJSONLine(["errorDetail": ["message": .string(error.description)], "error": .string(error.description)])
        }
        res.end()
    }

    func push(_ req: Request, _ res: Responder, name: String) async throws {
        let creds = RegistryAuth.decode(req.headers["X-Registry-Auth"].first)
        let tag = req.q("tag") ?? ""
        // No tag: every tag of the repository, as dockerd (the docker CLI sends this for `push -a`).
        if !tag.isEmpty { _ = try engine.resolveImage(name + ":" + tag) }
        res.startStream(contentType: "application/json")
        do {
            if tag.isEmpty {
                try await engine.pushAllTags(name, credentials: creds) { msg in _ = await res.writeJSONLine(msg) }
            } else {
                _ = try await engine.push(name, tag: tag, credentials: creds) { msg in _ = await res.writeJSONLine(msg) }
            }
        } catch {
            _ = await res.writeJSONLine(["errorDetail": ["message": .string(error.description)], "error": .string(error.description)])
        }
        res.end()
    }

    func load(_ req: Request, _ res: Responder) async throws {
        let file = try spool(req)
        defer { unlink(file) }
        // dockerd answers 200 at once and reports a bad archive in the stream (docker-py raises
        // ImageLoadError from that line, not from the status).
        let loaded: [String]
        do { loaded = try engine.loadArchive(file) } catch {
            let message = error.description
            res.startStream(contentType: "application/json")
            _ = await res.writeJSONLine(["errorDetail": ["message": .string(message)], "error": .string(message)])
            res.end()
            return
        }
        res.startStream(contentType: "application/json")
        for line in loaded {
            _ = await res.writeJSONLine(["stream": .string(line + "\n")])
        }
        res.end()
    }

    func save(_ req: Request, _ res: Responder, names: [String]) async throws {
        let plan = try engine.savePlan(names)
        defer { plan.cleanup() }
        res.startStream(contentType: "application/x-tar")
        try await ArchiveStreamer.stream(plan) { bytes in await res.write(bytes) }
        res.end()
    }
}
