import DockerAPI
import JSON
import OCI
import Registry
import Store
import Sys

extension Engine {
    /// `GET /images/{name}/history`: the config's history, newest first; entries that made a
    /// layer carry its size, the top one the image ID and tags (others `<missing>`, as Docker).
    public nonisolated func history(_ ref: String) throws(EngineError) -> [ImageHistoryItem] {
        let img = try resolveImage(ref)
        let chains = chainIDs(img.config.diffIDs)
        var entries = img.config.json["history"].array ?? []
        if entries.isEmpty { entries = img.config.diffIDs.map { _ in ["created": .string(img.config.created)] } }
        var layer = 0
        var rows: [ImageHistoryItem] = []
        for h in entries {
            let empty = h["empty_layer"].bool ?? false
            var size: Int64 = 0
            if !empty, layer < chains.count { size = (try? store.layerSize(chains[layer])) ?? 0; layer += 1 }
            var row = ImageHistoryItem()
            row.created = Timestamp.parse(h["created"].string ?? "")?.seconds ?? 0
            row.createdBy = h["created_by"].string ?? ""
            row.size = size
            row.comment = h["comment"].string ?? ""
            rows.append(row)
        }
        rows.reverse()
        if !rows.isEmpty {
            rows[0].id = img.id.description
            let tags = img.tags.filter { $0.tag != nil }.map(\.familiar).sorted()
            rows[0].tags = tags.isEmpty ? nil : tags
        }
        return rows
    }

    /// `image prune`: dangling images (or, with `all`, every image no container uses).
    public func pruneImages(all: Bool, labels: LabelFilter, until: Timestamp?) throws(EngineError) -> (deleted: [JSON], reclaimed: Int64) {
        let images: [ImageRecord]
        do { images = try store.allImages() } catch { throw .wrapping(error) }
        let used = Set(containers.values.map(\.image))
        var out: [JSON] = []
        var reclaimed: Int64 = 0
        for img in images where !used.contains(img.id) {
            let tagged = img.tags.contains { $0.tag != nil }
            if tagged && !all { continue }
            if !labels.matches(img.config.labels) { continue }
            if let until, let created = Timestamp.parse(img.config.created), created >= until { continue }
            reclaimed += img.size
            for t in img.tags { out.append(["Untagged": .string(t.familiar)]) }
            do { try store.deleteImage(img.id) } catch { throw .wrapping(error) }
            out.append(["Deleted": .string(img.id.description)])
        }
        do { try store.pruneLayers() } catch { throw .wrapping(error) }
        return (out, reclaimed)
    }

    /// `search`: a registry's `/v2/_catalog`, filtered by the term (Docker Hub's search API is
    /// not part of the distribution protocol and is not reachable here).
    public func search(_ term: String, limit: Int, credentials: Credentials?) async throws(EngineError) -> [JSON] {
        var domain = "docker.io", text = term
        if let slash = term.firstIndex(of: "/") {
            let first = String(term[..<slash])
            if first.contains(".") || first.contains(":") || first == "localhost" { domain = first; text = String(term[term.index(after: slash)...]) }
        }
        let names: [String]
        do { names = try await registry.catalog(domain: domain, credentials: credentials) } catch {
            throw .internalError("registry \(domain) does not support search: \(error)")
        }
        return names.filter { text.isEmpty || $0.contains(text) }.prefix(limit > 0 ? limit : 25).map {
            [
                "name": .string(domain == "docker.io" ? $0 : domain + "/" + $0), "description": "", "star_count": 0,
                "is_official": false, "is_automated": false,
            ]
        }
    }
}

extension Engine {
    /// `GET /system/df`: images (with how many containers use each), containers with their
    /// writable-layer sizes, and the total of unique layers.
    public func diskUsage() async throws(EngineError) -> JSON {
        let images: [ImageRecord]
        do { images = try store.allImages() } catch { throw .wrapping(error) }
        var usage: [Digest: Int64] = [:]
        for c in containers.values { usage[c.image, default: 0] += 1 }
        var layerUse: [Digest: Int] = [:]
        for img in images { for ch in chainIDs(img.config.diffIDs) { layerUse[ch, default: 0] += 1 } }
        var layersSize: Int64 = 0
        for (ch, _) in layerUse { layersSize += (try? store.layerSize(ch)) ?? 0 }
        let imageJSON: [JSON] = images.map { img in
            var r = DockerShapes.imageSummary(img, containers: usage[img.id] ?? 0)
            r.sharedSize = chainIDs(img.config.diffIDs).filter { (layerUse[$0] ?? 0) > 1 }.reduce(Int64(0)) { $0 + ((try? store.layerSize($1)) ?? 0) }
            return r.json
        }
        // Containers' layers and volumes are theirs to fill: walked off the actor.
        let list = allContainers()
        let sizes = await containerSizes(list)
        let containerJSON: [JSON] = list.map { c in DockerShapes.summary(c, size: sizes[c.id] ?? (0, 0)).json }
        let volumes = allVolumes()
        let volumeSizes = await volumeSizes(volumes)
        let volumeJSON: [JSON] = volumes.map { v in
            var r = volumeResponse(v)
            r.usage = (Int64(volumeUsers(v.name).count), volumeSizes[v.name] ?? 0)
            return r.json
        }
        return [
            "LayersSize": .int(layersSize), "Images": .array(imageJSON), "Containers": .array(containerJSON),
            "Volumes": .array(volumeJSON), "BuildCache": .array(buildCacheRecords()),
        ]
    }
}
