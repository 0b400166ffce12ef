import CSys
import DockerAPI
import Foundation
import JSON
import Sys

/// A local volume: `<data-root>/volumes/<name>/_data`, its metadata beside it in `meta.json`
/// (written atomically, so a crash leaves the old or the new, never half).
public struct Volume: Sendable {
    public var name: String
    public var driver = "local"
    public var labels: [String: String] = [:]
    public var options: [String: String] = [:]
    public var created: Timestamp
    public var anonymous = false

    var document: JSON {
        [
            "Name": .string(name), "Driver": .string(driver), "Labels": JSON.stringMap(labels), "Options": JSON.stringMap(options),
            "CreatedAt": .int(created.nanos), "Anonymous": .bool(anonymous),
        ]
    }

    init(name: String, created: Timestamp) { self.name = name; self.created = created }

    init?(document d: JSON) {
        guard let n = d["Name"].string else { return nil }
        name = n
        driver = d["Driver"].string ?? "local"
        labels = d["Labels"].stringMap ?? [:]
        options = d["Options"].stringMap ?? [:]
        created = Timestamp(nanos: d["CreatedAt"].int ?? 0)
        anonymous = d["Anonymous"].bool ?? false
    }
}

extension Engine {
    nonisolated var volumesDir: String { config.dataRoot + "/volumes" }
    nonisolated func volumeDir(_ name: String) -> String { volumesDir + "/" + name }
    nonisolated func volumeData(_ name: String) -> String { volumeDir(name) + "/_data" }

    nonisolated func loadVolume(_ name: String) -> Volume? {
        guard let bytes = try? FS.read(volumeDir(name) + "/meta.json"), let j = try? JSON.parse(bytes) else { return nil }
        return Volume(document: j)
    }

    public nonisolated func allVolumes() -> [Volume] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: volumesDir)) ?? []
        return names.sorted().compactMap { loadVolume($0) }
    }

    /// IDs of containers mounting the volume.
    func volumeUsers(_ name: String) -> [String] {
        containers.values.filter { c in c.mounts.contains { $0.type == .volume && $0.name == name } }.map(\.id).sorted()
    }

    public func volumeInUse(_ name: String) -> Bool { !volumeUsers(name).isEmpty }

    /// The bytes in each volume, by name, walked off the actor (a volume is its containers' to fill).
    func volumeSizes(_ list: [Volume]) async -> [String: Int64] {
        let dirs = list.map { ($0.name, volumeData($0.name)) }
        let sizes = await Self.offActor { dirs.map { name, data in (name, FS.diskUsage(data)) } }
        return Dictionary((try? sizes.get()) ?? [], uniquingKeysWith: { a, _ in a })
    }

    public func volumeResponse(_ v: Volume) -> VolumeResponse {
        var r = VolumeResponse()
        r.createdAt = Timestamp(nanos: v.created.nanos - v.created.nanos % 1_000_000_000).rfc3339
        r.driver = v.driver
        r.labels = v.labels.isEmpty ? nil : v.labels
        r.mountpoint = volumeData(v.name)
        r.name = v.name
        r.options = v.options.isEmpty ? nil : v.options
        return r
    }

    /// Creates the volume, or returns the existing one of that name (Docker's create is idempotent).
    @discardableResult
    public func createVolume(
        name requested: String?, driver: String?, labels: [String: String], options: [String: String],
        anonymous: Bool = false
    ) throws(EngineError) -> Volume {
        let name = (requested ?? "").isEmpty ? Names.newID() : requested!
        if let d = driver, !d.isEmpty, d != "local" { throw .notFound("plugin \"\(d)\" not found") }
        guard MountParser.validVolumeName(name) else {
            throw .badRequest(
                "create \(name): \"\(name)\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
            )
        }
        if let existing = loadVolume(name) { return existing }
        for k in options.keys where !["type", "device", "o", "size"].contains(k) {
            throw .badRequest("create \(name): invalid option key: \"\(k)\"")
        }
        // The local driver's pairs, as dockerd's: a type or mount options mean nothing without a
        // device (the volume was made, and its mount failed at the first container's start).
        for (option, required) in [("device", "type"), ("type", "device"), ("o", "device")] where options[option] != nil && options[required] == nil {
            throw .badRequest("create \(name): missing required option: \"\(required)\"")
        }
        var v = Volume(name: name, created: .now())
        v.labels = labels
        v.options = options
        // A volume created without a name is anonymous (dockerd labels it so): `volume prune`
        // takes it by default from API 1.42.
        v.anonymous = anonymous || (requested ?? "").isEmpty
        do {
            try FS.mkdirAll(volumeData(name), mode: 0o755)
            // A remapping daemon's volumes belong to the remapped root, as with dockerd.
            if let r = config.remap { chown(volumeData(name), r.uid, r.gid) }
            try FS.writeAtomic(volumeDir(name) + "/meta.json", v.document.serialized())
        } catch {
            FS.removeAll(volumeDir(name))
            throw .internalError("create \(name): \(error)")
        }
        events.publish(Event(type: "volume", action: "create", actorID: name, attributes: ["driver": "local"], from: nil, time: .now()))
        return v
    }

    public func volume(_ name: String) throws(EngineError) -> Volume {
        guard let v = loadVolume(name) else { throw .notFound("get \(name): no such volume") }
        return v
    }

    public func removeVolume(_ name: String, force: Bool) throws(EngineError) {
        guard loadVolume(name) != nil else {
            if force { return }
            throw .notFound("get \(name): no such volume")
        }
        let users = volumeUsers(name)
        if !users.isEmpty { throw .conflict("remove \(name): volume is in use - [\(users.joined(separator: ", "))]") }
        unmountVolume(name)
        // Rename first so a half-deleted volume never looks like a volume.
        let trash = config.dataRoot + "/tmp/volume-" + Names.newID()
        try? FS.mkdirAll(config.dataRoot + "/tmp")
        if Glibc.rename(volumeDir(name), trash) != 0 { throw .internalError("remove \(name): \(SysError("rename"))") }
        FS.removeAll(trash)
        events.publish(Event(type: "volume", action: "destroy", actorID: name, attributes: ["driver": "local"], from: nil, time: .now()))
    }

    /// `volume prune`: unused local volumes (`anonymousOnly`: just the anonymous ones, the
    /// default from API 1.42), with label filters.
    public func pruneVolumes(labels: LabelFilter, anonymousOnly: Bool = false) async -> (names: [String], reclaimed: Int64) {
        let unused = allVolumes().filter {
            volumeUsers($0.name).isEmpty && labels.matches($0.labels) && (!anonymousOnly || $0.anonymous)
        }
        let sizes = await volumeSizes(unused)
        var names: [String] = []
        var reclaimed: Int64 = 0
        // removeVolume checks again that no container took the volume meanwhile.
        for v in unused where (try? removeVolume(v.name, force: false)) != nil {
            names.append(v.name)
            reclaimed += sizes[v.name] ?? 0
        }
        return (names, reclaimed)
    }

    /// `--opt type=tmpfs|… device=… o=…`: the local driver mounts the volume's data dir at use.
    func mountVolumeIfNeeded(_ v: Volume) throws {
        guard let type = v.options["type"], !type.isEmpty else { return }
        let data = volumeData(v.name)
        if FS.isMountPoint(data) { return }
        let device = v.options["device"] ?? type
        var opts = v.options["o"] ?? ""
        var flags: UInt = 0
        if type == "none" || opts.split(separator: ",").contains("bind") { flags |= UInt(MS_BIND) }
        opts = opts.split(separator: ",").filter { $0 != "bind" }.joined(separator: ",")
        if let size = v.options["size"], type == "tmpfs" { opts += (opts.isEmpty ? "" : ",") + "size=\(size)" }
        guard mount(device, data, type == "none" ? "" : type, flags, opts.isEmpty ? nil : opts) == 0 else {
            throw EngineError.internalError("error while mounting volume '\(data)': \(SysError("mount"))")
        }
    }

    nonisolated func unmountVolume(_ name: String) {
        let data = volumeData(name)
        if FS.isMountPoint(data) { umount2(data, Int32(MNT_DETACH)) }
    }
}

extension Engine {
    /// dockerd's volume events around a container's run: `mount` for each volume as it starts
    /// (destination, mode), `unmount` when it has stopped.
    func emitVolumeEvents(_ c: Container, _ action: String) {
        for m in c.mounts where m.type == .volume && !m.name.isEmpty {
            var attrs = ["container": c.id, "driver": m.driver.isEmpty ? "local" : m.driver]
            if action == "mount" {
                attrs["destination"] = m.destination
                attrs["propagation"] = m.propagation
                attrs["read/write"] = m.rw ? "true" : "false"
            }
            events.publish(Event(type: "volume", action: action, actorID: m.name, attributes: attrs, from: nil, time: .now()))
        }
    }
}
