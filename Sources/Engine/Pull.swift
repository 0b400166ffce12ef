import Archive
import Foundation
import JSON
import OCI
import Registry
import Store
import Sys

extension Engine {
    /// A manifest reduced to what a pull needs.
    struct ImageManifest {
        var config: (digest: Digest, size: Int64)
        var layers: [(digest: Digest, size: Int64, mediaType: String)]
    }

    static func parseManifest(_ bytes: [UInt8]) throws(EngineError) -> ImageManifest {
        guard let j = try? JSON.parse(bytes), let cd = j["config"]["digest"].string.flatMap(Digest.init(parsing:)) else {
            throw .internalError("invalid image manifest")
        }
        var layers: [(Digest, Int64, String)] = []
        for l in j["layers"].array ?? [] {
            guard let d = l["digest"].string.flatMap(Digest.init(parsing:)) else { throw .internalError("invalid layer descriptor") }
            layers.append((d, l["size"].int ?? 0, l["mediaType"].string ?? MediaType.dockerLayer))
        }
        return ImageManifest(config: (cd, j["config"]["size"].int ?? 0), layers: layers)
    }

    /// `docker pull`: manifest (resolving lists for the platform), config, layers in parallel
    /// (already-present ones skipped), each verified against its digest and the config's diff IDs,
    /// registered only when all is there. Partial downloads stay in ingest/ and resume.
    /// `POST /images/create?fromImage=name` without a tag (`docker pull -a`): every tag of the
    /// repository, one after another, then one status line for the repository, as dockerd.
    public nonisolated func pullAllTags(_ text: String, credentials: Credentials?, platform: String? = nil, progress: @escaping ProgressSink)
        async throws(EngineError)
    {
        let repo: Reference
        do { repo = try Reference(parsing: text) } catch { throw .badRequest(error.description) }
        let tags: [String]
        do { tags = try await registry.tags(repo, credentials: credentials).sorted() } catch let e as RegistryError {
            throw e.status == 404 || e.status == 401 ? .notFound(e.message) : .internalError(e.message)
        } catch { throw .wrapping(error) }
        var updated = false
        for tag in tags {
            var r = repo
            r.tag = tag
            let (_, newer) = try await pullOne(r.description, credentials: credentials, platform: platform, finalStatus: false, progress: progress)
            updated = updated || newer
        }
        await progress(
            Progress.status(
                updated
                    ? "Status: Downloaded newer image for \(repo.familiarRepository)"
                    : "Status: Image is up to date for \(repo.familiarRepository)"))
    }

    public nonisolated func pull(_ text: String, credentials: Credentials?, platform: String? = nil, progress: @escaping ProgressSink) async throws(EngineError)
        -> Digest
    {
        try await pullOne(text, credentials: credentials, platform: platform, finalStatus: true, progress: progress).id
    }

    /// One image; `newer` says whether anything was downloaded or retagged.
    nonisolated func pullOne(
        _ text: String, credentials: Credentials?, platform: String?, finalStatus: Bool,
        progress: @escaping ProgressSink
    ) async throws(EngineError) -> (id: Digest, newer: Bool) {
        let ref: Reference
        do { ref = try Reference(parsing: text).withDefaultTag } catch { throw .badRequest(error.description) }
        let shown = ref.tag ?? ref.digest!.description
        await progress(Progress.status("Pulling from \(ref.path)", id: shown))
        do {
            var m = try await registry.manifest(ref, reference: ref.digest?.description ?? ref.tag!, credentials: credentials)
            let topDigest = m.digest
            if m.mediaType == MediaType.dockerManifestList || m.mediaType == MediaType.ociIndex {
                let (os, arch) = Engine.platform(platform)
                let list = (try? JSON.parse(m.bytes))?["manifests"].array ?? []
                guard let pick = list.first(where: { $0["platform"]["os"].string == os && $0["platform"]["architecture"].string == arch }),
                    let d = pick["digest"].string
                else {
                    throw EngineError.notFound("no matching manifest for \(os)/\(arch) in the manifest list entries")
                }
                m = try await registry.manifest(ref, reference: d, credentials: credentials)
            }
            let manifest = try Engine.parseManifest(m.bytes)
            let cfgFile = store.ingestPath(manifest.config.digest)
            // The config is read whole: its descriptor's size, at most 64 MiB, is all it may be.
            let configLimit: Int64 = manifest.config.size > 0 ? min(manifest.config.size, 64 << 20) : 64 << 20
            try await registry.fetchBlob(ref, digest: manifest.config.digest, to: cfgFile, credentials: credentials, limit: configLimit) { _ in }
            let config = try ImageConfig(raw: try FS.read(cfgFile))
            unlink(cfgFile)
            let diffIDs = config.diffIDs
            guard diffIDs.count == manifest.layers.count else { throw EngineError.internalError("image config and manifest disagree on the number of layers") }
            let chains = chainIDs(diffIDs)
            var needed: [Int] = []
            for (i, l) in manifest.layers.enumerated() {
                if try store.hasLayer(chains[i]) {
                    await progress(Progress.status("Already exists", id: l.digest.short))
                } else {
                    needed.append(i)
                    await progress(Progress.status("Pulling fs layer", id: l.digest.short))
                }
            }
            let downloads = startDownloads(ref, manifest, needed, credentials: credentials, progress: progress)
            defer { for t in downloads.values { t.cancel() } }
            // Layers are applied in order, each as soon as it is down, while later ones download.
            for i in needed {
                try await downloads[i]!.value
                let l = manifest.layers[i]
                await progress(Progress.status("Extracting", id: l.digest.short))
                let file = store.ingestPath(l.digest)
                _ = try ingestLayer(file, expected: diffIDs[i], parentChain: i > 0 ? chains[i - 1] : nil, keepInput: false)
                try store.adoptBlob(file: file, digest: l.digest)
                try store.recordCompressed(diffID: diffIDs[i], CompressedLayer(digest: l.digest, mediaType: l.mediaType, size: l.size))
                try store.addBlobSource(l.digest, repository: ref.repository)
                await progress(Progress.status("Pull complete", id: l.digest.short))
            }
            // dockerd's "newer": something was downloaded, or the tag now points elsewhere (or anew).
            let taggedBefore = ref.tag == nil ? config.id : (try? store.imageID(forTag: ref)) ?? nil
            let hadImage = (try? store.image(id: config.id)) != nil && taggedBefore == config.id
            let id = try store.registerImage(config: config, tags: ref.tag == nil ? [] : [ref])
            try store.addRepoDigest(ref.repository + "@" + topDigest.description, image: id)
            await progress(Progress.status("Digest: \(topDigest)"))
            emitImage("pull", ref.tag == nil ? ref.familiarRepository + "@" + topDigest.description : ref.familiar)
            let name = ref.tag == nil ? ref.familiarRepository + "@" + topDigest.description : ref.familiar
            let newer = !(hadImage && needed.isEmpty)
            if finalStatus {
                await progress(Progress.status(newer ? "Status: Downloaded newer image for \(name)" : "Status: Image is up to date for \(name)"))
            }
            return (id, newer)
        } catch let e as EngineError {
            throw e
        } catch let e as RegistryError {
            if e.status == 404 || e.status == 401 { throw .notFound(e.message) }
            throw .internalError(e.message)
        } catch {
            throw .wrapping(error)
        }
    }

    static func platform(_ p: String?) -> (String, String) {
        guard let p, !p.isEmpty else { return ("linux", "amd64") }
        let parts = p.split(separator: "/").map(String.init)
        return (parts[0], parts.count > 1 ? parts[1] : "amd64")
    }

    /// One task per layer; at most `maxConcurrentDownloads` (Docker's default: 3) run at once.
    nonisolated func startDownloads(
        _ ref: Reference, _ m: ImageManifest, _ needed: [Int], credentials: Credentials?,
        progress: @escaping ProgressSink
    ) -> [Int: Task<Void, Error>] {
        let registry = self.registry
        let store = self.store
        let slots = Slots(max(1, maxConcurrentDownloads))
        var tasks: [Int: Task<Void, Error>] = [:]
        for (n, i) in needed.enumerated() {
            let l = m.layers[i]
            let queued = n >= maxConcurrentDownloads
            tasks[i] = Task {
                let id = l.digest.short
                if queued { await progress(Progress.status("Waiting", id: id)) }
                await slots.acquire()
                do {
                    let limit: Int64 = l.size > 0 ? l.size : 64 << 30
                    try await registry.fetchBlob(ref, digest: l.digest, to: store.ingestPath(l.digest), credentials: credentials, limit: limit) { done in
                        await progress(Progress.bar("Downloading", id: id, current: done, total: l.size))
                    }
                } catch {
                    await slots.release()
                    throw error
                }
                await slots.release()
                await progress(Progress.status("Verifying Checksum", id: id))
                await progress(Progress.status("Download complete", id: id))
            }
        }
        return tasks
    }
}

/// A counting semaphore for async tasks.
actor Slots {
    private var free: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []
    init(_ n: Int) { free = n }
    func acquire() async {
        if free > 0 { free -= 1; return }
        await withCheckedContinuation { waiters.append($0) }
    }
    func release() {
        if waiters.isEmpty { free += 1 } else { waiters.removeFirst().resume() }
    }
}
