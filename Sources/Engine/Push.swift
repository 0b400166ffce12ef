import Archive
import Foundation
import JSON
import OCI
import Registry
import Store
import Sys

extension Engine {
    /// `docker push`: layers the registry has are skipped (HEAD), the rest uploaded (compressed
    /// once and remembered), then the config, then the manifest. Returns the manifest digest.
    /// `POST /images/{name}/push` without a tag (`docker push -a`): every local tag of the
    /// repository, in order, under one "The push refers to repository" line, as dockerd.
    public nonisolated func pushAllTags(_ name: String, credentials: Credentials?, progress: @escaping ProgressSink) async throws(EngineError) {
        let repo: Reference
        do { repo = try Reference(parsing: name) } catch { throw .badRequest(error.description) }
        let images: [ImageRecord]
        do { images = try store.allImages() } catch { throw .wrapping(error) }
        let tags = images.flatMap(\.tags).filter { $0.repository == repo.repository }.compactMap(\.tag).sorted()
        guard !tags.isEmpty else { throw .notFound("An image does not exist locally with the tag: \(repo.familiarRepository)") }
        for (i, tag) in tags.enumerated() {
            _ = try await push(name, tag: tag, credentials: credentials, announce: i == 0, progress: progress)
        }
    }

    public nonisolated func push(
        _ name: String, tag: String?, credentials: Credentials?, announce: Bool = true,
        progress: @escaping ProgressSink
    ) async throws(EngineError) -> Digest {
        var text = name
        if let tag, !tag.isEmpty { text += ":" + tag }
        let ref: Reference
        do { ref = try Reference(parsing: text).withDefaultTag } catch { throw .badRequest(error.description) }
        let img: ImageRecord
        do { img = try resolveImage(ref.description) } catch {
            throw .notFound("An image does not exist locally with the tag: \(ref.familiarRepository)")
        }
        if announce { await progress(Progress.status("The push refers to repository [\(ref.repository)]")) }
        do {
            var layers: [JSON] = []
            let diffIDs = img.config.diffIDs
            for d in diffIDs.reversed() { await progress(Progress.status("Preparing", id: d.short)) }
            for d in diffIDs {
                let c = try compressedLayer(d)
                let sources = try store.blobSources(c.digest).filter { $0 != ref.repository && $0.hasPrefix(ref.domain + "/") }
                if try await registry.blobExists(ref, digest: c.digest, credentials: credentials) {
                    await progress(Progress.status("Layer already exists", id: d.short))
                } else if let from = await firstMount(ref, c.digest, sources, credentials) {
                    await progress(Progress.status("Mounted from \(from)", id: d.short))
                } else {
                    await progress(Progress.bar("Pushing", id: d.short, current: 0, total: c.size))
                    try await registry.uploadBlob(ref, digest: c.digest, file: store.blobPath(c.digest), credentials: credentials)
                    await progress(Progress.status("Pushed", id: d.short))
                }
                try store.addBlobSource(c.digest, repository: ref.repository)
                layers.append(["mediaType": .string(MediaType.dockerLayer), "size": .int(c.size), "digest": .string(c.digest.description)])
            }
            if !(try await registry.blobExists(ref, digest: img.id, credentials: credentials)) {
                try await registry.uploadBlob(ref, digest: img.id, file: store.blobPath(img.id), credentials: credentials)
            }
            let manifest: JSON = [
                "schemaVersion": 2, "mediaType": .string(MediaType.dockerManifest),
                "config": ["mediaType": .string(MediaType.dockerConfig), "size": .int(Int64(img.config.raw.count)), "digest": .string(img.id.description)],
                "layers": .array(layers),
            ]
            let bytes = Array(manifest.pretty(indent: "   ").utf8)
            let digest = Digest.of(bytes)
            try await registry.putManifest(ref, tag: ref.tag ?? "latest", bytes: bytes, mediaType: MediaType.dockerManifest, credentials: credentials)
            try store.addRepoDigest(ref.repository + "@" + digest.description, image: img.id)
            await progress(Progress.status("\(ref.tag ?? "latest"): digest: \(digest) size: \(bytes.count)"))
            emitImage("push", ref.familiar)
            await progress([
                "progressDetail": [:], "aux": ["Tag": .string(ref.tag ?? "latest"), "Digest": .string(digest.description), "Size": .int(Int64(bytes.count))],
            ])
            return digest
        } catch let e as EngineError {
            throw e
        } catch let e as RegistryError {
            throw .internalError(e.message)
        } catch {
            throw .wrapping(error)
        }
    }

    /// Tries mounting a blob from repositories known to hold it; returns the one that worked.
    nonisolated func firstMount(_ ref: Reference, _ d: Digest, _ sources: [String], _ credentials: Credentials?) async -> String? {
        for s in sources {
            let path = String(s.dropFirst(ref.domain.count + 1))
            if (try? await registry.mountBlob(ref, digest: d, from: path, credentials: credentials)) == true { return path }
        }
        return nil
    }

    /// The gzip form of a layer: remembered from a pull, or made once and remembered.
    nonisolated func compressedLayer(_ diffID: Digest) throws -> CompressedLayer {
        if let c = try store.compressed(diffID: diffID) { return c }
        let tmp = store.tempPath("gz")
        let (digest, size) = try Gzip.compress(from: store.blobPath(diffID), to: tmp)
        try store.adoptBlob(file: tmp, digest: digest)
        let c = CompressedLayer(digest: digest, mediaType: MediaType.dockerLayer, size: size)
        try store.recordCompressed(diffID: diffID, c)
        return c
    }
}
