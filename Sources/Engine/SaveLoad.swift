import Archive
import Foundation
import JSON
import OCI
import Store
import Sys

/// What a docker-archive for some images contains: config blobs, layer blobs, manifest.json.
public struct SavePlan: Sendable {
    public var files: [(name: String, bytes: [UInt8])]
    public var layers: [(name: String, blob: Digest)]
}

extension Engine {
    public nonisolated func savePlan(_ names: [String]) throws(EngineError) -> SavePlan {
        var manifest: [JSON] = []
        var repositories = JSONObject()
        var files: [(String, [UInt8])] = []
        var layers: [(String, Digest)] = []
        var seenLayers = Set<Digest>(), seenConfigs = Set<Digest>()
        for n in names {
            let img = try resolveImage(n)
            var tags: [Reference] = []
            if let r = try? Reference(parsing: n), !img.id.hex.hasPrefix(n), r.digest == nil { tags = [r.withDefaultTag] }
            if !n.contains(":"), let r = try? Reference(parsing: n), !img.id.hex.hasPrefix(n) {
                tags = img.tags.filter { $0.repository == r.repository }
            }
            if !seenConfigs.contains(img.id) {
                seenConfigs.insert(img.id)
                files.append(("\(img.id.hex).json", img.config.raw))
            }
            var layerNames: [String] = []
            for d in img.config.diffIDs {
                let name = "\(d.hex)/layer.tar"
                layerNames.append(name)
                if seenLayers.insert(d).inserted {
                    files.append(("\(d.hex)/VERSION", Array("1.0".utf8)))
                    files.append(("\(d.hex)/json", (["id": .string(d.hex)] as JSON).bytes))
                    layers.append((name, d))
                }
            }
            manifest.append(["Config": .string("\(img.id.hex).json"), "RepoTags": tags.isEmpty ? .null : JSON.strings(tags.map(\.familiar)),
                             "Layers": JSON.strings(layerNames)])
            for t in tags {
                var m = repositories[t.familiarRepository]?.object ?? JSONObject()
                m[t.tag ?? "latest"] = .string(img.config.diffIDs.last?.hex ?? "")
                repositories[t.familiarRepository] = .object(m)
            }
        }
        files.append(("manifest.json", JSON.array(manifest).bytes))
        if !repositories.isEmpty { files.append(("repositories", JSON.object(repositories).bytes)) }
        return SavePlan(files: files, layers: layers)
    }

    /// `docker load`: reads manifest.json (docker-archive, also Docker 25+'s OCI-flavoured one),
    /// verifies every layer against the config's diff IDs, and only then registers the images.
    public nonisolated func loadArchive(_ file: String) throws(EngineError) -> [String] {
        let work = store.tempPath("load")
        defer { FS.removeAll(work) }
        do {
            try FS.mkdirAll(work)
            let reader = try ArchiveReader(path: file)
            while let e = try reader.next() {
                guard e.kind == .file || e.kind == .directory || e.kind == .symlink else { continue }
                guard let rel = SafePath.clean(e.path), !rel.isEmpty else { throw ArchiveError("invalid archive entry \"\(e.path)\"") }
                if e.kind == .directory { try FS.mkdirAll(work + "/" + rel); continue }
                let parent = rel.split(separator: "/").dropLast().joined(separator: "/")
                if !parent.isEmpty { try FS.mkdirAll(work + "/" + parent) }
                if e.kind == .symlink {
                    // docker save links duplicate layers; resolve inside the archive only.
                    guard !e.linkTarget.hasPrefix("/"), let t = SafePath.clean(parent.isEmpty ? e.linkTarget : parent + "/" + e.linkTarget) else {
                        throw ArchiveError("invalid symlink in archive: \(e.path)")
                    }
                    try FS.writeAtomic(work + "/" + rel + ".link", t)
                    continue
                }
                let fd = open(work + "/" + rel, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
                guard fd >= 0 else { throw SysError("create \(rel)") }
                defer { close(fd) }
                try reader.readData { (b) throws(ArchiveError) in
                    do { try FS.writeAll(fd: fd, b) } catch { throw ArchiveError("\(error)") }
                }
            }
        } catch let e as ArchiveError {
            throw .badRequest("Error processing tar file: \(e.message)")
        } catch { throw .internalError("\(error)") }

        func path(_ rel: String) throws(EngineError) -> String {
            guard let clean = SafePath.clean(rel) else { throw .badRequest("invalid path in manifest: \(rel)") }
            if let link = try? FS.readString(work + "/" + clean + ".link") { return work + "/" + link }
            return work + "/" + clean
        }
        guard let mbytes = try? FS.read(work + "/manifest.json"), let manifest = (try? JSON.parse(mbytes))?.array else {
            throw .badRequest("invalid archive: manifest.json missing or malformed (only the docker-archive format is supported)")
        }
        var out: [String] = []
        for entry in manifest {
            guard let cfgPath = entry["Config"].string, let raw = try? FS.read(try path(cfgPath)),
                  let config = try? ImageConfig(raw: raw) else { throw .badRequest("invalid archive: image config missing") }
            let layerFiles = entry["Layers"].stringArray ?? []
            let diffIDs = config.diffIDs
            guard layerFiles.count == diffIDs.count else { throw .badRequest("invalid archive: layer count does not match the image config") }
            var parent: Digest? = nil
            for (i, lf) in layerFiles.enumerated() {
                let chain = parent.map { Digest.of("\($0) \(diffIDs[i])") } ?? diffIDs[i]
                if !((try? store.hasLayer(chain)) ?? false) {
                    _ = try ingestLayer(try path(lf), expected: diffIDs[i], parentChain: parent)
                }
                parent = chain
            }
            var tags: [Reference] = []
            for t in entry["RepoTags"].stringArray ?? [] {
                guard let r = try? Reference(parsing: t) else { throw .badRequest("invalid reference in archive: \(t)") }
                tags.append(r.withDefaultTag)
            }
            // A tag moving to the new image leaves the old one dangling, as Docker does.
            do { _ = try store.registerImage(config: config, tags: tags) } catch { throw .internalError("\(error)") }
            if tags.isEmpty { out.append("Loaded image ID: \(config.id)") }
            for t in tags { out.append("Loaded image: \(t.familiar)") }
        }
        return out
    }
}

/// Streams a SavePlan as a tar, layer blobs read from the store in blocks.
public enum ArchiveStreamer {
    public static func stream(_ plan: SavePlan, engine: Engine, write: @escaping @Sendable ([UInt8]) async -> Bool) async throws {
        var pending: [UInt8] = []
        let tar = TarWriter { pending += $0 }
        let now = Timestamp.now().seconds
        var dirs = Set<String>()
        for f in plan.files {
            if let slash = f.name.firstIndex(of: "/") {
                let d = String(f.name[..<slash])
                if dirs.insert(d).inserted { try tar.addDirectory(d, mtime: now) }
            }
            try tar.addFile(f.name, f.bytes, mtime: now)
        }
        for l in plan.layers {
            let (path, temporary) = try engine.layerTar(l.blob)
            defer { if temporary { unlink(path) } }
            let size = FS.size(path) ?? 0
            try tar.beginFile(l.name, size: size, mtime: now)
            if !(await write(pending)) { return }
            pending = []
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw SysError("open \(path)") }
            var buf = [UInt8](repeating: 0, count: 1 << 20)
            while true {
                let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, 1 << 20) }
                if n <= 0 { break }
                if !(await write(Array(buf[0..<n]))) { close(fd); return }
            }
            close(fd)
            try tar.pad(size)
        }
        try tar.finish()
        _ = await write(pending)
    }
}
