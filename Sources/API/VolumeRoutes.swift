import DockerAPI
import Engine
import JSON
import NIOHTTP1

extension Router {
    /// `/volumes`, `/volumes/create`, `/volumes/prune`, `/volumes/{name}`.
    func volumes(_ req: Request, _ res: Responder, _ p: [String]) async throws {
        switch (req.method, p.first) {
        case (.GET, nil): try await listVolumes(req, res)
        case (.POST, "create"):
            let b = try jsonBody(req, as: RequestBodies.volumeCreate)
            let v = try await engine.createVolume(
                name: b["Name"].string, driver: b["Driver"].string, labels: b["Labels"].stringMap ?? [:],
                options: b["DriverOpts"].stringMap ?? [:])
            res.json(201, await engine.volumeResponse(v).json)
        case (.POST, "prune"):
            let f = try filters(req, accepted: ["label", "label!", "all"])
            // From API 1.42 only anonymous volumes go, unless the `all` filter says otherwise.
            let allFilter = try boolFilter(f, "all")
            let all = req.version < .v1_42 || allFilter == true
            let r = await engine.pruneVolumes(labels: labelFilter(f), anonymousOnly: !all)
            res.json(200, PruneReport(key: "VolumesDeleted", names: r.names, spaceReclaimed: r.reclaimed).json)
        case (.GET, let name?) where p.count == 1: res.json(200, await engine.volumeResponse(try await engine.volume(name)).json)
        case (.DELETE, let name?) where p.count == 1:
            try await engine.removeVolume(name, force: req.bool("force"))
            res.send(status: 204)
        default: res.json(404, ErrorResponse("page not found").json)
        }
    }

    func listVolumes(_ req: Request, _ res: Responder) async throws {
        let f = try filters(req, accepted: ["dangling", "name", "label", "driver"])
        let dangling = try boolFilter(f, "dangling")
        var out: [VolumeResponse] = []
        for v in engine.allVolumes() {
            let inUse = await engine.volumeInUse(v.name)
            if let dangling, dangling == inUse { continue }
            if let names = f["name"], !names.contains(where: { v.name.contains($0) }) { continue }
            if let drivers = f["driver"], !drivers.contains(v.driver) { continue }
            if let labels = f["label"], !DockerShapes.matchLabels(v.labels, labels) { continue }
            out.append(await engine.volumeResponse(v))
        }
        res.json(200, VolumeListResponse(volumes: out).json)
    }
}
