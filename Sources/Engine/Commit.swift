import Archive
import CSys
import Foundation
import JSON
import OCI
import Store
import Sys

extension Engine {
    func lowerDirs(_ c: Container) -> [String] {
        let diffIDs = (try? store.image(id: c.image))?.map { $0.config.diffIDs } ?? []
        return chainIDs(diffIDs).reversed().map { store.snapshotPath($0) }
    }

    /// `docker diff`: A/C/D of the writable layer. The walk is as large as the container made its
    /// layer, so it runs off the actor, which every other request needs meanwhile.
    public func changes(_ ref: String) async throws(EngineError) -> [Change] {
        let c = try container(ref)
        let upper = dir(c.id) + "/upper", lowers = lowerDirs(c)
        switch await Self.offActor({ try TreeTar.changes(upper: upper, lowers: lowers) }) {
        case .success(let list): return list
        case .failure(let error): throw .internalError("\(error)")
        }
    }

    /// The container's whole filesystem as a tar (`export`); a stopped container's layers are
    /// mounted for the duration.
    public func exportRoot(_ ref: String) async throws(EngineError) -> (root: String, release: @Sendable () -> Void, shift: IDShift?) {
        let c = try container(ref)
        let shift = idShift(c.id)
        if c.state.running {
            // Frozen for the whole export, as for cp: a container swapping a directory for a
            // symlink to / mid-walk must not get host files into the archive. No freeze, no export.
            guard await holdFrozen(c.id) else { throw .internalError("cannot export a running container that cannot be frozen") }
            return (rootfs(c.id), releaser(c.id), shift)
        }
        do {
            let diffIDs = try store.image(id: c.image)?.config.diffIDs ?? []
            let root = try mountRootfs(c.id, chains: chainIDs(diffIDs))
            return (root, { umount2(root, Int32(MNT_DETACH)) }, shift)
        } catch { throw .internalError("mounting the container's filesystem: \(error)") }
    }

    /// The container's writable layer as a Docker layer tar (whiteouts restored).
    nonisolated static func writeUpperLayer(_ upper: String, shift: IDShift?, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SysError("open \(path)") }
        defer { close(fd) }
        // A container that never started has no writable layer yet: its layer is empty.
        if !FS.exists(upper) { try FS.mkdirAll(upper, mode: 0o755) }
        let tree = TreeTar(root: upper, layer: true) { try FS.writeAll(fd: fd, $0) }
        tree.shift = shift  // a remapped container's layer goes out in its own ids
        try tree.write()
    }

    /// The container's writable layer made a layer of the store on `parentChain` (commit, a
    /// build step): its diff ID. The tar and its unpacking into a snapshot are as big as the
    /// container made its layer, so they run off the actor, which every other request needs.
    func layerFromWritableLayer(_ id: String, parentChain: Digest?) async throws(EngineError) -> Digest {
        let upper = dir(id) + "/upper", shift = idShift(id), tmp = store.tempPath("layer-tar")
        defer { unlink(tmp) }
        let written = await Self.offActor { try Self.writeUpperLayer(upper, shift: shift, to: tmp) }
        if case .failure(let error) = written { throw .internalError("writing the layer: \(error)") }
        let ingested = await Self.offActor { [self] () throws(EngineError) -> Digest in
            try self.ingestLayer(tmp, parentChain: parentChain, keepInput: true, trusted: true)
        }
        switch ingested {
        case .success(let diffID): return diffID
        case .failure(let error): throw .wrapping(error)
        }
    }

    /// `docker commit`: the writable layer becomes a new layer on the image, the container's
    /// config (with `changes` applied) the new image's config.
    public func commit(
        _ ref: String, repo: String?, tag: String?, comment: String, author: String, changes: [String],
        pause: Bool, overrides: JSON
    ) async throws(EngineError) -> Digest {
        let c = try container(ref)
        var target: Reference? = nil
        if let repo, !repo.isEmpty {
            do { target = try Reference(parsing: repo + ((tag ?? "").isEmpty ? "" : ":" + tag!)).withDefaultTag } catch { throw .badRequest(error.description) }
        }
        guard let base = try? store.image(id: c.image) else { throw .noSuchImage(c.image.description) }
        var pauseIt = pause && c.state.running && !c.state.paused
        if pauseIt {
            do { try await self.pause(c.id, true) } catch {
                // It may have exited between the lookup and the freeze (its exit not yet
                // recorded): with nothing left to freeze, commit what it left, as dockerd does.
                if c.state.pid > 0 && Glibc.kill(c.state.pid, 0) == 0 { throw error }
                pauseIt = false
            }
        }
        let diffID: Digest
        do {
            diffID = try await layerFromWritableLayer(c.id, parentChain: chainIDs(base.config.diffIDs).last)
        } catch {
            if pauseIt { try? await self.pause(c.id, false) }
            throw error
        }
        if pauseIt { try? await self.pause(c.id, false) }
        var containerConfig = c.config.json
        for (k, v) in overrides.object ?? JSONObject() where !v.isNull { containerConfig[k] = v }
        do { containerConfig = try ConfigChanges.apply(changes, to: containerConfig) } catch { throw .badRequest("\(error)") }
        let now = Timestamp.now().goRFC3339Nano
        var cfg = base.config.json
        cfg["parent"] = .string(base.id.description)
        cfg["created"] = .string(now)
        cfg["container"] = .string(c.id)
        cfg["container_config"] = c.config.json
        cfg["config"] = containerConfig
        cfg["docker_version"] = "berth"
        cfg["author"] = .string(author)
        cfg["comment"] = .string(comment)
        cfg["rootfs"] = ["type": "layers", "diff_ids": JSON.strings((base.config.diffIDs + [diffID]).map(\.description))]
        var history = cfg["history"].array ?? []
        var h: JSON = ["created": .string(now), "created_by": .string(([c.path] + c.args).joined(separator: " "))]
        if !author.isEmpty { h["author"] = .string(author) }
        if !comment.isEmpty { h["comment"] = .string(comment) }
        history.append(h)
        cfg["history"] = .array(history)
        do {
            let id = try store.registerImage(config: ImageConfig(json: cfg), tags: target.map { [$0] } ?? [])
            emit(c, "commit", extra: ["comment": comment])
            return id
        } catch { throw .wrapping(error) }
    }
}
