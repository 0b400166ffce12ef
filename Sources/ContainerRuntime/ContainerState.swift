import Glibc
import JSON
import Sys

/// What berth-runtime remembers of one container, in `<root>/<id>/state.json` (written once at
/// create, atomically; read by every later command). The spec itself is kept beside it, so
/// poststop hooks and `update` work after the bundle has gone.
public struct ContainerState: Sendable {
    public var id: String
    public var pid: Int32
    /// /proc/<pid>/stat's start time: a recycled pid is not taken for the container.
    public var startTime: UInt64
    public var bundle: String
    public var rootfs: String
    public var created: String
    public var annotations: [String: String]
    public var cgroups: CgroupPaths?
    public var v2Only: Bool
    /// Whether the spec has poststart hooks, so `start` reads and decodes the spec only then
    /// (true for a state written before this field: the spec is read as it always was).
    public var hasPoststartHooks = true
    /// The same for `delete` and poststop hooks.
    public var hasPoststopHooks = true

    public enum Status: String, Sendable { case creating, created, running, paused, stopped }

    public static func validID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 1024 && id != "." && id != ".."
            && id.utf8.allSatisfy { c in
                (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == UInt8(ascii: "_") || c == UInt8(ascii: "-")
                    || c == UInt8(ascii: ".") || c == UInt8(ascii: "+")
            }
    }

    public var json: JSON {
        var cg: JSON = .null
        if let c = cgroups {
            var by = JSONObject()
            for (k, v) in c.byController.sorted(by: { $0.key < $1.key }) { by[k] = .string(v) }
            cg = ["byController": .object(by), "unified": c.unified.map { .string($0) } ?? .null]
        }
        return [
            "id": .string(id), "pid": .int(Int64(pid)), "startTime": .int(Int64(startTime)), "bundle": .string(bundle),
            "rootfs": .string(rootfs), "created": .string(created), "annotations": JSON.stringMap(annotations), "cgroups": cg,
            "v2Only": .bool(v2Only), "poststartHooks": .bool(hasPoststartHooks),
            "poststopHooks": .bool(hasPoststopHooks),
        ]
    }

    public init(
        id: String, pid: Int32, startTime: UInt64, bundle: String, rootfs: String, created: String, annotations: [String: String],
        cgroups: CgroupPaths?, v2Only: Bool
    ) {
        self.id = id; self.pid = pid; self.startTime = startTime; self.bundle = bundle; self.rootfs = rootfs; self.created = created
        self.annotations = annotations; self.cgroups = cgroups; self.v2Only = v2Only
    }

    public init?(_ j: JSON) {
        guard let id = j["id"].string, let pid = j["pid"].int, let p = Int32(exactly: pid) else { return nil }
        self.id = id
        self.pid = p
        startTime = UInt64(max(0, j["startTime"].int ?? 0))
        bundle = j["bundle"].string ?? ""
        rootfs = j["rootfs"].string ?? ""
        created = j["created"].string ?? ""
        annotations = j["annotations"].stringMap ?? [:]
        v2Only = j["v2Only"].bool ?? false
        hasPoststartHooks = j["poststartHooks"].bool ?? true
        hasPoststopHooks = j["poststopHooks"].bool ?? true
        if j["cgroups"].object != nil {
            cgroups = CgroupPaths(byController: j["cgroups"]["byController"].stringMap ?? [:], unified: j["cgroups"]["unified"].string)
        } else {
            cgroups = nil
        }
    }
}

/// The runtime's state directory (`--root`): one directory per container.
public struct StateStore: Sendable {
    public let root: String
    public init(root: String) { self.root = root }

    public func dir(_ id: String) -> String { root + "/" + id }
    public func fifo(_ id: String) -> String { dir(id) + "/exec.fifo" }

    public func load(_ id: String) throws(RuntimeFailure) -> ContainerState {
        guard ContainerState.validID(id) else { throw RuntimeFailure("invalid container id format: \(id)") }
        guard let bytes = try? FS.read(dir(id) + "/state.json") else { throw RuntimeFailure("container does not exist") }
        guard let j = try? JSON.parse(bytes), let s = ContainerState(j) else { throw RuntimeFailure("container state of \(id) is corrupt") }
        return s
    }

    public func config(_ id: String) -> RuntimeConfig? {
        guard let bytes = try? FS.read(dir(id) + "/config.json"), let j = try? JSON.parse(bytes) else { return nil }
        return try? RuntimeConfig.decode(j, bundle: (try? load(id))?.bundle ?? "/")
    }

    public func save(_ s: ContainerState) throws(RuntimeFailure) {
        do { try FS.writeAtomic(dir(s.id) + "/state.json", s.json.serialized(), mode: 0o600, durable: false) } catch {
            throw RuntimeFailure("writing the container's state: \(error)")
        }
    }

    public func ids() -> [String] {
        ((try? FS.list(root)) ?? []).filter { FS.exists(root + "/" + $0 + "/state.json") }.sorted()
    }

    /// The container's status now, from its init process, the exec fifo and the freezer.
    public func status(_ s: ContainerState) -> ContainerState.Status {
        guard s.pid > 0, let start = processStartTime(s.pid), start == s.startTime, processStateLetter(s.pid) != "Z" else { return .stopped }
        if FS.exists(fifo(s.id)) { return .created }
        if let cg = s.cgroups, CgroupManager(paths: cg, files: HostCgroupFiles(), v2Only: s.v2Only).isFrozen { return .paused }
        return .running
    }

    /// `runc state`'s JSON.
    public func stateJSON(_ s: ContainerState, ociVersion: String) -> JSON {
        let st = status(s)
        var o: JSON = [
            "ociVersion": .string(ociVersion), "id": .string(s.id), "pid": .int(st == .stopped ? 0 : Int64(s.pid)), "status": .string(st.rawValue),
            "bundle": .string(s.bundle), "rootfs": .string(s.rootfs), "created": .string(s.created), "owner": "",
        ]
        if !s.annotations.isEmpty { o = o.inserting([("annotations", JSON.stringMap(s.annotations))], after: "owner") }
        return o
    }
}
