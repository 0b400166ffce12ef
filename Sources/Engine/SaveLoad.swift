import Archive
import Foundation
import JSON
import OCI
import Store
import Sys

/// What a docker-archive for some images contains: config blobs, layer blobs, manifest.json.
public struct SavePlan: Sendable {
    public var files: [(name: String, bytes: [UInt8])]
    /// Each layer's uncompressed tar, resolved once (pulled layers are decompressed into tmp/).
    public var layers: [(name: String, path: String, temporary: Bool)]

    /// Removes the temporary layer tars; call when the archive has been streamed (or abandoned).
    public func cleanup() { for l in layers where l.temporary { unlink(l.path) } }
}

extension Engine {
    /// The archive is both a docker-archive (`manifest.json`, read by every docker load) and an
    /// OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/…`), as Docker 25+ writes it.
    public nonisolated func savePlan(_ names: [String]) throws(EngineError) -> SavePlan {
        var manifest: [JSON] = []
        var index: [JSON] = []
        var repositories = JSONObject()
        var files: [(String, [UInt8])] = [("oci-layout", (["imageLayoutVersion": "1.0.0"] as JSON).bytes)]
        var layers: [(name: String, path: String, temporary: Bool)] = []
        var tars: [Digest: (path: String, temporary: Bool)] = [:]
        func tar(_ d: Digest) throws(EngineError) -> (path: String, temporary: Bool) {
            if let t = tars[d] { return t }
            do {
                let t = try layerTar(d)
                tars[d] = t
                return t
            } catch {
                for t in tars.values where t.temporary { unlink(t.path) }
                throw .wrapping(error)
            }
        }
        var seen = Set<String>()
        func blob(_ d: Digest) -> String { "blobs/sha256/" + d.hex }
        for n in names {
            let img = try resolveImage(n)
            var tags: [Reference] = []
            if let r = try? Reference(parsing: n), !img.id.hex.hasPrefix(n), r.digest == nil { tags = [r.withDefaultTag] }
            if !n.contains(":"), let r = try? Reference(parsing: n), !img.id.hex.hasPrefix(n) {
                tags = img.tags.filter { $0.repository == r.repository }
            }
            if seen.insert(img.id.hex).inserted { files.append((blob(img.id), img.config.raw)) }
            var layerNames: [String] = []
            var descriptors: [JSON] = []
            for d in img.config.diffIDs {
                layerNames.append(blob(d))
                let t = try tar(d)
                descriptors.append(["mediaType": .string(MediaType.ociLayer), "digest": .string(d.description), "size": .int(FS.size(t.path) ?? 0)])
                if seen.insert(d.hex).inserted { layers.append((blob(d), t.path, t.temporary)) }
            }
            let ociManifest: JSON = [
                "schemaVersion": 2, "mediaType": .string(MediaType.ociManifest),
                "config": ["mediaType": .string(MediaType.ociConfig), "digest": .string(img.id.description), "size": .int(Int64(img.config.raw.count))],
                "layers": .array(descriptors),
            ]
            let mbytes = ociManifest.bytes
            let mdigest = Digest.of(mbytes)
            if seen.insert(mdigest.hex).inserted { files.append((blob(mdigest), mbytes)) }
            let refs = tags.isEmpty ? [nil] : tags.map { Optional($0) }
            for t in refs {
                var desc: JSON = ["mediaType": .string(MediaType.ociManifest), "digest": .string(mdigest.description), "size": .int(Int64(mbytes.count))]
                if let t {
                    desc["annotations"] = ["io.containerd.image.name": .string(t.description), "org.opencontainers.image.ref.name": .string(t.tag ?? "latest")]
                }
                index.append(desc)
            }
            manifest.append([
                "Config": .string(blob(img.id)), "RepoTags": tags.isEmpty ? .null : JSON.strings(tags.map(\.familiar)),
                "Layers": JSON.strings(layerNames),
            ])
            for t in tags {
                var m = repositories[t.familiarRepository]?.object ?? JSONObject()
                m[t.tag ?? "latest"] = .string(img.config.diffIDs.last?.hex ?? "")
                repositories[t.familiarRepository] = .object(m)
            }
        }
        files.append(("index.json", (["schemaVersion": 2, "mediaType": .string(MediaType.ociIndex), "manifests": .array(index)] as JSON).bytes))
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
        } catch { throw .wrapping(error) }

        func path(_ rel: String) throws(EngineError) -> String {
            guard let clean = SafePath.clean(rel) else { throw .badRequest("invalid path in manifest: \(rel)") }
            if let link = try? FS.readString(work + "/" + clean + ".link") { return work + "/" + link }
            return work + "/" + clean
        }
        let manifest: [JSON]
        if let mbytes = try? FS.read(work + "/manifest.json"), let m = (try? JSON.parse(mbytes))?.array {
            manifest = m
        } else if let ibytes = try? FS.read(work + "/index.json"), let idx = try? JSON.parse(ibytes) {
            manifest = try Engine.dockerManifest(fromOCIIndex: idx, root: work)
        } else {
            throw .badRequest("invalid archive: neither manifest.json (docker-archive) nor index.json (OCI image layout) found")
        }
        var out: [String] = []
        for entry in manifest {
            guard let cfgPath = entry["Config"].string, let raw = try? FS.read(try path(cfgPath)),
                let config = try? ImageConfig(raw: raw)
            else { throw .badRequest("invalid archive: image config missing") }
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
            do { _ = try store.registerImage(config: config, tags: tags) } catch { throw .wrapping(error) }
            if tags.isEmpty { out.append("Loaded image ID: \(config.id)") }
            for t in tags { out.append("Loaded image: \(t.familiar)") }
        }
        return out
    }
}

extension Engine {
    /// An OCI image layout's index as docker-archive manifest entries (config and layer paths,
    /// tags from the ref-name annotations), so one loader serves both formats.
    static func dockerManifest(fromOCIIndex index: JSON, root: String) throws(EngineError) -> [JSON] {
        var out: [JSON] = []
        func blobPath(_ d: String) -> String { "blobs/sha256/" + d.dropFirst(7) }
        var pending = index["manifests"].array ?? []
        while !pending.isEmpty {
            let desc = pending.removeFirst()
            guard let d = desc["digest"].string, Digest(parsing: d) != nil,
                let m = try? JSON.parse(FS.read(root + "/" + blobPath(d)))
            else { throw .badRequest("invalid OCI layout: missing manifest") }
            if let nested = m["manifests"].array {  // an index inside the index
                pending += nested.filter { $0["platform"]["architecture"].string.map { $0 == "amd64" } ?? true }
                continue
            }
            guard let cfg = m["config"]["digest"].string else { throw .badRequest("invalid OCI layout: manifest without config") }
            var tags: [String] = []
            if let full = desc["annotations"]["io.containerd.image.name"].string {
                tags.append(full)
            } else if let tag = desc["annotations"]["org.opencontainers.image.ref.name"].string, (try? Reference(parsing: tag)) != nil,
                tag.contains("/") || tag.contains(":")
            {
                tags.append(tag)
            }
            out.append([
                "Config": .string(blobPath(cfg)), "RepoTags": JSON.strings(tags),
                "Layers": JSON.strings((m["layers"].array ?? []).compactMap { $0["digest"].string.map(blobPath) }),
            ])
        }
        return out
    }
}

/// Streams a SavePlan as a tar, layer blobs read from the store in blocks.
public enum ArchiveStreamer {
    public static func stream(_ plan: SavePlan, write: @escaping @Sendable ([UInt8]) async -> Bool) async throws {
        var pending: [UInt8] = []
        let tar = TarWriter { pending += $0 }
        let now = Timestamp.now().seconds
        var dirs = Set<String>()
        for f in plan.files {
            var prefix = ""
            for comp in f.name.split(separator: "/").dropLast() {
                prefix += (prefix.isEmpty ? "" : "/") + comp
                if dirs.insert(prefix).inserted { try tar.addDirectory(prefix, mtime: now) }
            }
            try tar.addFile(f.name, f.bytes, mtime: now)
        }
        for l in plan.layers {
            let path = l.path
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
