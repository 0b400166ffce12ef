import Archive
import DockerAPI
import Foundation
import JSON
import OCI
import Store
import Sys

extension Engine {
    // MARK: lookup

    /// A tag (`busybox`, `busybox:1`, `docker.io/library/busybox:latest`), a full or short ID.
    /// Direct lookups (this is on every create): a tag, a `name@digest` pulled earlier, or a
    /// unique ID prefix.
    public nonisolated func resolveImage(_ ref: String) throws(EngineError) -> ImageRecord {
        let hex = ref.hasPrefix("sha256:") ? String(ref.dropFirst(7)) : ref
        do {
            if let parsed = try? Reference(parsing: ref) {
                let r = parsed.withDefaultTag
                if r.digest == nil, let id = try store.imageID(forTag: r), let img = try store.image(id: id) { return img }
                if let d = r.digest, let id = try store.imageID(forRepoDigest: r.repository + "@" + d.description),
                    let img = try store.image(id: id)
                {
                    return img
                }
            }
            if hex.count >= 4, hex.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) {
                let m = try store.imageIDs(withPrefix: hex)
                if m.count == 1, let img = try store.image(id: m[0]) { return img }
            }
        } catch let e as EngineError { throw e } catch { throw .wrapping(error) }
        if let parsed = try? Reference(parsing: ref), parsed.tag == nil, parsed.digest == nil { throw .noSuchImage(parsed.withDefaultTag.familiar) }
        // Neither a reference nor an ID: dockerd's 400 in the parser's words (`UPPER`: "must be lowercase").
        if !(hex.count >= 1 && hex.allSatisfy { $0.isHexDigit && !$0.isUppercase }) {
            do { _ = try Reference(parsing: ref) } catch { throw .badRequest(error.description) }
        }
        throw .noSuchImage(ref)
    }

    public func listImages(all: Bool, filter: ImageListFilter = ImageListFilter()) throws(EngineError) -> [ImageSummaryResponse] {
        let images: [ImageRecord]
        do { images = try store.allImages() } catch { throw .wrapping(error) }
        let dangling = filter.dangling, references = filter.references, labels = filter.labels
        // dockerd's bounds: created before the oldest `before` image and every `until` time,
        // after the newest `since` image (an image that does not exist is an error).
        func created(_ ref: String) throws(EngineError) -> Timestamp { Timestamp.parse(try resolveImage(ref).config.created) ?? .zero }
        var upper: Timestamp? = filter.until.min()
        for ref in filter.before {
            let t = try created(ref)
            if upper.map({ t < $0 }) ?? true { upper = t }
        }
        var lower: Timestamp? = nil
        for ref in filter.since {
            let t = try created(ref)
            if lower.map({ t > $0 }) ?? true { lower = t }
        }
        var usage: [Digest: Int64] = [:]
        for c in containers.values { usage[c.image, default: 0] += 1 }
        // Untagged images that other images were built on (the legacy builder's steps) are
        // intermediate: listed only with `-a`, as dockerd does.
        let parents = Set(images.compactMap { ImageOps.parent(of: $0) })
        return images.sorted { ($0.config.created, $0.id.hex) > ($1.config.created, $1.id.hex) }.compactMap { img in
            let tagged = img.tags.contains { $0.tag != nil }
            if !all && !tagged && parents.contains(img.id) { return nil }
            if let dangling, dangling == tagged { return nil }
            if !references.isEmpty {
                guard
                    img.tags.contains(where: { t in
                        references.contains { pattern in Glob.match(pattern, t.familiar) || Glob.match(pattern, t.familiarRepository) }
                    })
                else { return nil }
            }
            if !DockerShapes.matchLabels(img.config.labels, labels) { return nil }
            if upper != nil || lower != nil {
                let t = Timestamp.parse(img.config.created) ?? .zero
                if let upper, !(t < upper) { return nil }
                if let lower, !(t > lower) { return nil }
            }
            var out = DockerShapes.imageSummary(img, containers: usage[img.id] ?? 0, digests: familiarDigests(img.id))
            if !references.isEmpty {
                let kept = img.tags.filter { t in references.contains { Glob.match($0, t.familiar) || Glob.match($0, t.familiarRepository) } }
                out.repoTags = kept.map(\.familiar).sorted()
            }
            return out
        }
    }

    /// `busybox@sha256:…` as Docker shows RepoDigests.
    func familiarDigests(_ id: Digest) -> [String] {
        ((try? store.repoDigests(image: id)) ?? []).map { r in
            guard let at = r.firstIndex(of: "@"), let ref = try? Reference(parsing: String(r[..<at])) else { return r }
            return ref.familiarRepository + r[at...]
        }
    }

    public func inspectImage(_ ref: String) throws(EngineError) -> ImageInspectResponse {
        let img = try resolveImage(ref)
        let lowers = chainIDs(img.config.diffIDs).reversed().map { store.snapshotPath($0) }
        return DockerShapes.imageInspect(img, lowerDirs: lowers, digests: familiarDigests(img.id))
    }

    /// Each container's writable layer size and that plus its image's (`SizeRw`, `SizeRootFs`),
    /// by id. The layers are walked off the actor: a container decides how big and how deep its
    /// layer is, and every other request would wait for the walk.
    public func containerSizes(_ list: [Container]) async -> [String: (rw: Int64, root: Int64)] {
        let layers = list.map { c in (c.id, dir(c.id) + "/upper", (try? store.image(id: c.image))??.size ?? 0) }
        let sizes = await Self.offActor { layers.map { id, upper, image in (id, FS.diskUsage(upper), image) } }
        var out: [String: (rw: Int64, root: Int64)] = [:]
        for (id, rw, image) in (try? sizes.get()) ?? [] { out[id] = (rw, rw + image) }
        return out
    }

    /// With `SizeRw` and `SizeRootFs` (`size`) after `GraphDriver`, where dockerd puts them.
    public func inspectContainer(_ ref: String, size: Bool) async throws(EngineError) -> ContainerInspectResponse {
        var r = try inspectContainer(ref)
        guard size, let c = containers[r.id] else { return r }
        if let (rw, root) = await containerSizes([c])[c.id] {
            r.sizeRw = rw
            r.sizeRootFs = root
        }
        return r
    }

    public func inspectContainer(_ ref: String) throws(EngineError) -> ContainerInspectResponse {
        let c = try container(ref)
        let lower: String
        if let cached = lowerDirCache[c.image] {
            lower = cached
        } else {
            let chains = (try? store.image(id: c.image))?.map { chainIDs($0.config.diffIDs) } ?? []
            lower = chains.reversed().map { store.snapshotPath($0) }.joined(separator: ":")
            if !chains.isEmpty { lowerDirCache[c.image] = lower }
        }
        var r = DockerShapes.inspect(c, dir: dir(c.id), logPath: logPath(c.id), lower: lower, health: c.state.running ? health[c.id] : nil)
        r.networkSettings = networkSettings(c)
        if c.networkMode == "host" {
            r.hostsPath = "/etc/hosts"
            r.resolvConfPath = "/etc/resolv.conf"
        }
        return r
    }

    // MARK: tag / rmi

    public func tag(_ source: String, repo: String, tag: String?) throws(EngineError) {
        let img = try resolveImage(source)
        var text = repo
        if let tag, !tag.isEmpty { text += ":" + tag }
        let ref: Reference
        do { ref = try Reference(parsing: text) } catch { throw .badRequest(error.description) }
        if ref.digest != nil { throw .badRequest("refusing to create a tag with a digest reference") }
        do { try store.tag(ref.withDefaultTag, image: img.id) } catch { throw .wrapping(error) }
        emitImage("tag", img.id.description, name: ref.withDefaultTag.familiar)
    }

    /// `rmi`: untags a tag reference while other tags remain; deletes the image when its last
    /// tag goes or when addressed by ID. Refused while a container uses it (unless forced).
    public func removeImage(_ ref: String, force: Bool, prune: Bool = true) throws(EngineError) -> [JSON] {
        let img = try resolveImage(ref)
        var out: [JSON] = []
        let byTag: Reference? = {
            guard let r = try? Reference(parsing: ref), !img.id.hex.hasPrefix(ref), "sha256:" + img.id.hex != ref else { return nil }
            return r.withDefaultTag
        }()
        let users = containers.values.filter { $0.image == img.id }
        do {
            if let byTag, img.tags.count > 1 || (!users.isEmpty && force) {
                _ = try store.untag(byTag)
                emitImage("untag", img.id.description, name: byTag.familiar)
                return [["Untagged": .string(byTag.familiar)]]
            }
            if byTag == nil && img.tags.count > 1 && !force {
                throw EngineError.conflict("conflict: unable to delete \(img.id.short) (must be forced) - image is referenced in multiple repositories")
            }
            if let user = users.first {
                if user.state.running && byTag == nil {
                    throw EngineError.conflict(
                        "conflict: unable to delete \(img.id.short) (cannot be forced) - image is being used by running container \(user.shortID)")
                }
                if !force {
                    if let byTag {
                        throw EngineError.conflict(
                            "conflict: unable to remove repository reference \"\(byTag.familiar)\" (must force) - container \(user.shortID) is using its referenced image \(img.id.short)"
                        )
                    }
                    throw EngineError.conflict(
                        "conflict: unable to delete \(img.id.short) (must be forced) - image is being used by stopped container \(user.shortID)")
                }
            }
            for t in img.tags { out.append(["Untagged": .string(t.familiar)]) }
            try store.deleteImage(img.id)
            out.append(["Deleted": .string(img.id.description)])
            for o in out { if let u = o["Untagged"].string { emitImage("untag", img.id.description, name: u) } }
            emitImage("delete", img.id.description)
            // As dockerd (unless noprune): the untagged parents nothing else uses go too, each
            // with its own `Deleted` line.
            if prune {
                var next = ImageOps.parent(of: img)
                while let pid = next, let parent = try store.image(id: pid), parent.tags.isEmpty,
                    !containers.values.contains(where: { $0.image == pid }),
                    !(try store.allImages()).contains(where: { ImageOps.parent(of: $0) == pid })
                {
                    try store.deleteImage(pid)
                    out.append(["Deleted": .string(pid.description)])
                    emitImage("delete", pid.description)
                    next = ImageOps.parent(of: parent)
                }
                try store.pruneLayers()
            }
        } catch let e as EngineError {
            throw e
        } catch {
            throw .wrapping(error)
        }
        return out
    }

    // MARK: import

    /// `docker import`: a filesystem tarball (any compression) becomes a one-layer image.
    /// `changes` are Dockerfile instructions (CMD, ENV, ...) applied to the config.
    public nonisolated func importImage(
        tarFile: String, repo: String?, tag: String?, message: String, changes: [String], platform: PlatformSpec? = nil
    ) throws(EngineError) -> Digest {
        var target: Reference? = nil
        if let repo, !repo.isEmpty {
            do { target = try Reference(parsing: repo + (tag.map { $0.isEmpty ? "" : ":" + $0 } ?? "")).withDefaultTag } catch {
                throw .badRequest(error.description)
            }
        }
        var cfgJSON: JSON = ["Env": .null, "Cmd": .null]
        do { cfgJSON = try ConfigChanges.apply(changes, to: DockerShapes.emptyContainerConfig) } catch { throw .badRequest("\(error)") }
        let diffID = try ingestLayer(tarFile)
        let now = Timestamp.now().goRFC3339Nano
        var history: JSON = ["created": .string(now)]
        history["comment"] = .string(message.isEmpty ? "Imported from -" : message)
        var config: JSON = [
            "architecture": .string(platform?.architecture ?? PlatformSpec.hostArchitecture),
            "comment": .string(message.isEmpty ? "Imported from -" : message), "config": cfgJSON,
            "container_config": DockerShapes.emptyContainerConfig, "created": .string(now), "docker_version": "berth", "history": [history],
            "os": .string(platform?.os ?? "linux"), "rootfs": ["type": "layers", "diff_ids": [.string(diffID.description)]],
        ]
        if let variant = platform?.variant, !variant.isEmpty { config["variant"] = .string(variant) }
        do {
            let id = try store.registerImage(config: ImageConfig(json: config), tags: target.map { [$0] } ?? [])
            emitImage("import", id.description, name: target?.familiar)
            return id
        } catch { throw .wrapping(error) }
    }

    /// Unpacks a layer file as a snapshot, verifying its diff ID when known. gzip and plain tars
    /// stream in one pass; with `keepInput` the file itself becomes the layer's blob (plain: under
    /// its diff ID; gzip: under its own digest, remembered as the layer's compressed form). Other
    /// compressions go through an uncompressed copy. Hostile entries abort before anything lands.
    nonisolated func ingestLayer(
        _ file: String, expected: Digest? = nil, parentChain: Digest? = nil, keepInput: Bool = true,
        trusted: Bool = false
    ) throws(EngineError) -> Digest {
        do {
            if trusted || HashingSource.handles(file) {
                let diffID = try store.createSnapshot(streaming: file, expected: expected, parentChain: parentChain, trusted: trusted)
                if keepInput {
                    if isGzip(file) {
                        let (gz, size) = try Gzip.digest(of: file)
                        try store.adoptBlob(file: file, digest: gz)
                        try store.recordCompressed(diffID: diffID, CompressedLayer(digest: gz, mediaType: MediaType.dockerLayer, size: size))
                    } else if !store.hasBlob(diffID) {
                        try store.adoptBlob(file: file, digest: diffID)
                    }
                }
                return diffID
            }
            let tmp = store.tempPath("layer")
            defer { unlink(tmp) }
            let diffID = try Decompressor.copy(from: file, to: tmp)
            if let expected, expected != diffID { throw ArchiveError("invalid diffID for layer: expected \(expected), got \(diffID)") }
            let chain = parentChain.map { Digest.of("\($0) \(diffID)") } ?? diffID
            try store.createSnapshot(chain: chain, diffID: diffID, tarPath: tmp)
            if !store.hasBlob(diffID) { try store.adoptBlob(file: tmp, digest: diffID) }
            return diffID
        } catch let e as ArchiveError {
            if e.message.hasPrefix("invalid diffID") { throw .badRequest(e.message) }
            throw .badRequest("Error processing tar file: \(e.message)")
        } catch let e as EngineError {
            throw e
        } catch { throw .wrapping(error) }
    }

    nonisolated func isGzip(_ file: String) -> Bool {
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var m = [UInt8](repeating: 0, count: 2)
        return pread(fd, &m, 2, 0) == 2 && m == [0x1F, 0x8B]
    }

    /// An uncompressed tar of a layer for `save`: the stored one, or the compressed blob
    /// decompressed into a temporary file (`temporary` says whether the caller removes it).
    public nonisolated func layerTar(_ diffID: Digest) throws -> (path: String, temporary: Bool) {
        if store.hasBlob(diffID) { return (store.blobPath(diffID), false) }
        guard let c = try store.compressed(diffID: diffID) else { throw EngineError.internalError("layer \(diffID) has no stored content") }
        let tmp = store.tempPath("save")
        _ = try Decompressor.copy(from: store.blobPath(c.digest), to: tmp)
        return (tmp, true)
    }
}

/// Streams a possibly compressed file into an uncompressed one, hashing as it goes.
enum Decompressor {
    static func copy(from src: String, to dst: String) throws -> Digest {
        let reader = try ArchiveReader(path: src, raw: true)
        let fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SysError("open \(dst)") }
        defer { close(fd) }
        let hasher = SHA256()
        var total = 0
        if try reader.next() != nil {
            try reader.readData { (b) throws(ArchiveError) in
                hasher.update(b)
                total += b.count
                do { try FS.writeAll(fd: fd, b) } catch { throw ArchiveError("write: \(error)") }
            }
        }
        if total == 0 { throw ArchiveError("empty archive") }
        return hasher.finalize()
    }
}

/// Shell-style globs for `reference=` filters (`*` does not cross `/`).
enum Glob {
    static func match(_ pattern: String, _ s: String) -> Bool {
        let p = Array(pattern), t = Array(s)
        func m(_ i: Int, _ j: Int) -> Bool {
            if i == p.count { return j == t.count }
            if p[i] == "*" {
                var k = j
                while true {
                    if m(i + 1, k) { return true }
                    if k == t.count || t[k] == "/" { return false }
                    k += 1
                }
            }
            if j < t.count && (p[i] == "?" || p[i] == t[j]) { return m(i + 1, j + 1) }
            return false
        }
        return m(0, 0)
    }
}

enum ImageOps {
    /// The image a builder recorded this one was made from (`parent` in its config).
    static func parent(of img: ImageRecord) -> Digest? { img.config.json["parent"].string.flatMap(Digest.init(parsing:)) }
}
