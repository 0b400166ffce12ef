import DockerAPI
import Engine
import JSON
import NIOHTTP1

extension Router {
    /// `/networks`, `/networks/create`, `/networks/prune`, `/networks/{id}[/connect|/disconnect]`.
    func networks(_ req: Request, _ res: Responder, _ p: [String]) async throws {
        switch (req.method, p.first, p.count) {
        case (.GET, nil, _): try await listNetworks(req, res)
        case (.POST, "create", 1):
            let b = try jsonBody(req, as: RequestBodies.networkCreate)
            let n = try await engine.createNetwork(NetworkCreateRequest(json: b))
            res.json(201, ["Id": .string(n.id), "Warning": ""])
        case (.POST, "prune", 1):
            let f = try filters(req, accepted: ["label", "label!", "until"])
            let removed = await engine.pruneNetworks(labels: labelFilter(f), until: try untilFilter(f))
            res.json(200, PruneReport(key: "NetworksDeleted", names: removed, spaceReclaimed: nil).json)
        case (.GET, let id?, 1): res.json(200, await engine.networkResponse(try await engine.network(id)).json)
        case (.DELETE, let id?, 1):
            try await engine.removeNetwork(id)
            res.send(status: 204)
        case (.POST, let id?, 2) where p[1] == "connect":
            let b = try jsonBody(req, as: RequestBodies.networkConnect)
            try await engine.connect(network: id, container: b["Container"].string ?? "", config: EndpointSettings(json: b["EndpointConfig"]))
            res.send(status: 200)
        case (.POST, let id?, 2) where p[1] == "disconnect":
            let b = try jsonBody(req)
            try await engine.disconnect(network: id, container: b["Container"].string ?? "", force: b["Force"].bool ?? false)
            res.send(status: 200)
        default: res.json(404, ErrorResponse("page not found").json)
        }
    }

    func listNetworks(_ req: Request, _ res: Responder) async throws {
        let f = try filters(req, accepted: ["name", "id", "label", "driver", "type", "dangling", "scope"])
        var out: [JSON] = []
        for n in await engine.allNetworks() {
            if let names = f["name"], !names.contains(where: { n.name.contains($0) }) { continue }
            if let ids = f["id"], !ids.contains(where: { n.id.hasPrefix($0) }) { continue }
            if let drivers = f["driver"], !drivers.contains(n.driver) { continue }
            if let labels = f["label"], !DockerShapes.matchLabels(n.labels, labels) { continue }
            if let types = f["type"], !types.contains(n.predefined ? "builtin" : "custom") { continue }
            let r = await engine.networkResponse(n)
            if let d = f["dangling"]?.first {
                let dangling = !n.predefined && r.containers.isEmpty
                if (d == "true" || d == "1") != dangling { continue }
            }
            out.append(r.json)
        }
        res.json(200, .array(out))
    }
}
