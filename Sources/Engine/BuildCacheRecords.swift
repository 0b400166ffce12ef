import Foundation
import JSON
import OCI
import Sys

/// BuildKit-style build cache records for what Berth's builder keeps outside images: the
/// `RUN --mount=type=cache` directories (`exec.cachemount`) and the client contexts kept for
/// incremental transfers (`source.local`). `system df` lists them,
/// `POST /build/prune` (`docker builder prune`) and BuildKit's Prune remove them. The legacy
/// cache is images, which `image prune` handles, as with dockerd.
extension Engine {
    nonisolated var cacheMountsDir: String { buildCacheDir + "/mounts" }

    /// Notes a cache mount's use (its description and times sit beside it).
    nonisolated func touchCacheMount(_ dir: String, target: String, command: String) {
        let meta = dir + ".json"
        let now = Timestamp.now().goRFC3339Nano
        var doc = (try? FS.read(meta)).flatMap { try? JSON.parse($0) } ?? ["CreatedAt": .string(now), "UsageCount": 0]
        doc["Description"] = .string("cached mount \(target) from exec \(String(command.prefix(200)))")
        doc["LastUsedAt"] = .string(now)
        doc["UsageCount"] = .int((doc["UsageCount"].int ?? 0) + 1)
        try? FS.writeAtomic(meta, doc.serialized())
    }

    /// The records, newest use first: cache mounts, and the client contexts kept for
    /// incremental transfers (`source.local`).
    public func buildCacheRecords() -> [JSON] {
        var out: [(String, JSON)] = []
        for (dir, type, lockPrefix) in [
            (cacheMountsDir, "exec.cachemount", "cache-mount:"), (buildCacheDir + "/contexts", "source.local", "context-mirror:"),
        ] {
            for n in ((try? FS.list(dir)) ?? []) where !n.hasSuffix(".json") && Digest.isHex64(n) {
                let path = dir + "/" + n
                let meta = (try? FS.read(path + ".json")).flatMap { try? JSON.parse($0) } ?? [:]
                var mtime = Glibc.stat()
                let changed: Timestamp? =
                    lstat(path, &mtime) == 0 ? Timestamp(nanos: Int64(mtime.st_mtim.tv_sec) * 1_000_000_000 + Int64(mtime.st_mtim.tv_nsec)) : nil
                let lastUsed: JSON = meta["LastUsedAt"].string.map { JSON.string($0) } ?? changed.map { JSON.string($0.goRFC3339Nano) } ?? .null
                let rec: JSON = [
                    "ID": .string(String(n.prefix(25))), "Type": .string(type),
                    "Description": .string(meta["Description"].string ?? (type == "source.local" ? "local source for context" : "cached mount")),
                    "InUse": .bool(buildStepsInFlight.keys.contains(lockPrefix + path) || localContextInUse(path)), "Shared": false,
                    "Size": .int(FS.diskUsage(path)),
                    "CreatedAt": .string(meta["CreatedAt"].string ?? changed?.goRFC3339Nano ?? "0001-01-01T00:00:00Z"),
                    "LastUsedAt": lastUsed,
                    "UsageCount": .int(meta["UsageCount"].int ?? 1), "Parents": .null, "Parent": "",
                ]
                out.append((rec["LastUsedAt"].string ?? "", rec))
            }
        }
        return out.sorted { $0.0 > $1.0 }.map(\.1)
    }

    /// Removes cache records not in use: those `filters` select (`id`, `type`, `until`,
    /// `description`), beyond `keepStorage` bytes of the most recently used.
    public func pruneBuildCache(keepStorage: Int64, filters: [String: [String]]) throws(EngineError) -> (deleted: [String], reclaimed: Int64) {
        for k in filters.keys where !["id", "type", "until", "description", "unused-for", "inuse", "shared", "private"].contains(k) {
            throw .badRequest("invalid filter '\(k)'")
        }
        var until: Timestamp? = nil
        if let u = (filters["until"] ?? filters["unused-for"])?.first {
            guard let t = Timestamp.parseRelative(u) else { throw .badRequest("invalid filter 'until=\(u)'") }
            until = t
        }
        var kept: Int64 = 0
        var deleted: [String] = []
        var reclaimed: Int64 = 0
        for rec in buildCacheRecords() {
            let id = rec["ID"].string ?? ""
            let size = rec["Size"].int ?? 0
            if rec["InUse"].bool == true { continue }
            if let ids = filters["id"], !ids.contains(where: { id.hasPrefix($0) }) { continue }
            if let types = filters["type"], !types.contains(rec["Type"].string ?? "") { continue }
            if let ds = filters["description"], !ds.contains(where: { (rec["Description"].string ?? "").contains($0) }) { continue }
            if let until, let last = rec["LastUsedAt"].string.flatMap(Timestamp.parse), last.nanos > until.nanos { continue }
            if keepStorage > 0 && kept + size <= keepStorage {
                kept += size
                continue
            }
            let dir = rec["Type"].string == "source.local" ? buildCacheDir + "/contexts" : cacheMountsDir
            guard let name = ((try? FS.list(dir)) ?? []).first(where: { $0.hasPrefix(id) && !$0.hasSuffix(".json") }) else { continue }
            FS.removeAll(dir + "/" + name)
            unlink(dir + "/" + name + ".json")
            localContexts[dir + "/" + name] = nil
            deleted.append(id)
            reclaimed += size
        }
        return (deleted, reclaimed)
    }
}
