import DockerAPI
import JSON
import Sys

/// One mount of a container, as decided at create: where it comes from and where it goes.
/// `Mounts` in inspect and the OCI runtime's mount list are both made from these.
public struct MountPoint: Sendable, Equatable {
    public enum Kind: String, Sendable { case bind, volume, tmpfs }
    public var type: Kind
    public var name = ""  // volumes
    public var source = ""  // host path (binds; volumes once resolved)
    public var destination: String
    public var driver = ""
    public var mode = ""  // Docker's `Mode` text: "ro", "z", "" ...
    public var rw = true
    public var propagation = ""
    public var noCopy = false
    /// `--mount …,bind-nonrecursive`: the source alone, not the mounts under it.
    public var nonRecursive = false
    /// Anonymous volumes go with the container (`rm -v`, `--rm`); named ones stay.
    public var anonymous = false
    public var tmpfsOptions: [String] = []
    /// From `--tmpfs`: an OCI mount but not listed in inspect's `Mounts` (as Docker).
    public var hidden = false

    public init(type: Kind, destination: String) { self.type = type; self.destination = destination }

    var document: JSON {
        [
            "Type": .string(type.rawValue), "Name": .string(name), "Source": .string(source), "Destination": .string(destination),
            "Driver": .string(driver), "Mode": .string(mode), "RW": .bool(rw), "Propagation": .string(propagation),
            "NoCopy": .bool(noCopy), "Anonymous": .bool(anonymous), "TmpfsOptions": JSON.strings(tmpfsOptions), "Hidden": .bool(hidden),
            "NonRecursive": .bool(nonRecursive),
        ]
    }

    init?(document d: JSON) {
        guard let t = d["Type"].string.flatMap(Kind.init(rawValue:)), let dest = d["Destination"].string else { return nil }
        type = t; destination = dest
        name = d["Name"].string ?? ""; source = d["Source"].string ?? ""; driver = d["Driver"].string ?? ""
        mode = d["Mode"].string ?? ""; rw = d["RW"].bool ?? true; propagation = d["Propagation"].string ?? ""
        noCopy = d["NoCopy"].bool ?? false; anonymous = d["Anonymous"].bool ?? false
        tmpfsOptions = d["TmpfsOptions"].stringArray ?? []; hidden = d["Hidden"].bool ?? false
        nonRecursive = d["NonRecursive"].bool ?? false
    }

    /// inspect's and ps's `Mounts` entry.
    public var response: MountPointResponse {
        var m = MountPointResponse()
        m.type = type.rawValue
        if type == .volume { m.name = name; m.driver = driver }
        m.source = source
        m.destination = destination
        m.mode = mode
        m.rw = rw
        m.propagation = propagation
        return m
    }

    /// The OCI runtime mount (dockerd: `rbind` plus `ro` and the propagation for binds).
    public var ociJSON: JSON {
        if type == .tmpfs {
            var opts = ["noexec", "nosuid", "nodev", "rprivate"] + tmpfsOptions
            if !rw { opts.append("ro") }
            return ["destination": .string(destination), "type": "tmpfs", "source": "tmpfs", "options": JSON.strings(opts)]
        }
        var opts = [nonRecursive ? "bind" : "rbind"]
        if !rw { opts.append("ro") }
        if !propagation.isEmpty { opts.append(propagation) }
        return ["destination": .string(destination), "type": "bind", "source": .string(source), "options": JSON.strings(opts)]
    }
}

/// Docker's mount syntax: `-v` binds, `--mount` objects, `--tmpfs`, `Config.Volumes`, and
/// `--volumes-from`, turned into mount points. Pure: volumes are named, not yet created.
public enum MountParser {
    public struct Failure: Error, Sendable { public let message: String }
    static let propagations: Set<String> = ["private", "rprivate", "shared", "rshared", "slave", "rslave"]

    static func isAbsolute(_ p: String) -> Bool { p.hasPrefix("/") }

    public static func validVolumeName(_ n: String) -> Bool {
        guard n.count >= 2, let f = n.unicodeScalars.first, f.isASCII, f.properties.isAlphabetic || ("0"..."9").contains(f) else { return false }
        return n.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "_.-".unicodeScalars.contains($0)) }
    }

    static func clean(_ p: String) -> String {
        var parts: [Substring] = []
        for c in p.split(separator: "/") where c != "." {
            if c == ".." { if !parts.isEmpty { parts.removeLast() } } else { parts.append(c) }
        }
        return "/" + parts.joined(separator: "/")
    }

    /// One `-v` / `HostConfig.Binds` entry: `src:dst[:opts]` or `dst`.
    public static func bind(_ spec: String) throws(Failure) -> MountPoint {
        let parts = spec.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        func invalid() -> Failure { Failure(message: "invalid volume specification: '\(spec)'") }
        var src = "", dst = "", opts = ""
        switch parts.count {
        case 1: dst = parts[0]
        case 2:
            if isAbsolute(parts[0]) && !isAbsolute(parts[1]) && isModeList(parts[1]) { dst = parts[0]; opts = parts[1] } else { src = parts[0]; dst = parts[1] }
        case 3: src = parts[0]; dst = parts[1]; opts = parts[2]
        default: throw invalid()
        }
        if dst.isEmpty { throw invalid() }
        guard isAbsolute(dst) else {
            throw Failure(
                message:
                    "invalid volume specification: '\(spec)': invalid mount config for type \"\(src.isEmpty || !isAbsolute(src) ? "volume" : "bind")\": invalid mount path: '\(dst)' mount path must be absolute"
            )
        }
        if dst == "/" {
            throw Failure(
                message: "invalid volume specification: '\(spec)': invalid mount config for type \"bind\": invalid specification: destination can't be '/'")
        }
        var m: MountPoint
        if src.isEmpty {
            m = MountPoint(type: .volume, destination: clean(dst))
            m.anonymous = true
            m.driver = "local"
        } else if isAbsolute(src) {
            m = MountPoint(type: .bind, destination: clean(dst))
            m.source = clean(src)
            m.propagation = "rprivate"
        } else {
            guard validVolumeName(src) else {
                throw Failure(
                    message:
                        "create \(src): \"\(src)\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
                )
            }
            m = MountPoint(type: .volume, destination: clean(dst))
            m.name = src
            m.driver = "local"
        }
        var modes: [String] = []
        for o in opts.split(separator: ",").map(String.init) where !o.isEmpty {
            switch o {
            case "ro": m.rw = false; modes.append(o)
            case "rw": m.rw = true; modes.append(o)
            case "z", "Z": modes.append(o)
            case "nocopy": guard m.type == .volume else { throw invalid() }; m.noCopy = true; modes.append(o)
            case _ where propagations.contains(o):
                guard m.type == .bind else { throw invalid() }
                m.propagation = o; modes.append(o)
            case "consistent", "cached", "delegated": modes.append(o)
            default: throw invalid()
            }
        }
        m.mode = modes.joined(separator: ",")
        // dockerd reports "z" for volumes given without a mode.
        if m.type == .volume && m.mode.isEmpty { m.mode = "z" }
        return m
    }

    static func isModeList(_ s: String) -> Bool {
        s.split(separator: ",").allSatisfy { ["ro", "rw", "z", "Z", "nocopy"].contains(String($0)) || propagations.contains(String($0)) }
    }

    /// One `HostConfig.Mounts` object (`--mount`).
    public static func mount(_ j: Mount) throws(Failure) -> MountPoint {
        let type = j.type
        let target = j.target
        func invalid(_ why: String) -> Failure { Failure(message: "invalid mount config for type \"\(type)\": \(why)") }
        guard let kind = MountPoint.Kind(rawValue: type) else {
            throw Failure(message: "mount type unknown: \"\(type)\"")
        }
        guard !target.isEmpty else { throw invalid("field Target must not be empty") }
        guard isAbsolute(target) else { throw invalid("invalid mount path: '\(target)' mount path must be absolute") }
        var m = MountPoint(type: kind, destination: clean(target))
        m.rw = !j.readOnly
        let src = j.source
        // Options of another type are refused, as dockerd refuses them (they were ignored).
        if kind != .bind, j.bindOptions != nil { throw invalid("field BindOptions must not be specified") }
        if kind != .volume, j.volumeOptions != nil { throw invalid("field VolumeOptions must not be specified") }
        if kind != .tmpfs, j.tmpfsOptions != nil { throw invalid("field TmpfsOptions must not be specified") }
        switch kind {
        case .bind:
            guard !src.isEmpty else { throw invalid("field Source must not be empty") }
            guard isAbsolute(src) else { throw invalid("invalid mount path: '\(src)' mount path must be absolute") }
            // API 1.42's CreateMountpoint makes a missing source, as `-v` does.
            guard FS.exists(src) || j.bindOptions?.createMountpoint == true else { throw invalid("bind source path does not exist: \(src)") }
            m.source = clean(src)
            m.propagation = (j.bindOptions?.propagation).flatMap { $0.isEmpty ? nil : $0 } ?? "rprivate"
            m.nonRecursive = j.bindOptions?.nonRecursive ?? false
        case .volume:
            if src.isEmpty {
                if j.readOnly { throw invalid("must not set ReadOnly mode when using anonymous volumes") }
                m.anonymous = true
            } else {
                guard validVolumeName(src) else {
                    throw Failure(
                        message:
                            "create \(src): \"\(src)\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
                    )
                }
                m.name = src
            }
            m.driver = (j.volumeOptions?.driverName).flatMap { $0.isEmpty ? nil : $0 } ?? "local"
            m.noCopy = j.volumeOptions?.noCopy ?? false
            m.mode = "z"
        case .tmpfs:
            guard src.isEmpty else { throw invalid("field Source must not be specified") }
            if let size = j.tmpfsOptions?.sizeBytes, size > 0 { m.tmpfsOptions.append("size=\(size / 1024)k") }
            if let mode = j.tmpfsOptions?.mode, mode > 0 { m.tmpfsOptions.append("mode=" + String(mode, radix: 8)) }
        }
        return m
    }

    /// `HostConfig.Tmpfs` (`--tmpfs /run:size=1m`): hidden from inspect's Mounts, as in Docker.
    public static func tmpfs(_ dest: String, _ opts: String) throws(Failure) -> MountPoint {
        guard isAbsolute(dest) else {
            throw Failure(message: "invalid mount config for type \"tmpfs\": invalid mount path: '\(dest)' mount path must be absolute")
        }
        var m = MountPoint(type: .tmpfs, destination: clean(dest))
        m.hidden = true
        for o in opts.split(separator: ",").map(String.init) where !o.isEmpty {
            if o == "ro" { m.rw = false } else if o != "rw" { m.tmpfsOptions.append(o) }
        }
        return m
    }

    /// All of a create request's mounts, in Docker's precedence: explicit binds and mounts, then
    /// `--volumes-from` (given as resolved mount points), then `Config.Volumes` left uncovered
    /// become anonymous volumes. Duplicate destinations are refused.
    public static func resolve(
        binds: [String], mounts: [Mount], tmpfs: [String: String], volumes: [String],
        volumesFrom: [(MountPoint, readOnly: Bool?)]
    ) throws(Failure) -> [MountPoint] {
        var out: [MountPoint] = []
        func add(_ m: MountPoint) throws(Failure) {
            if out.contains(where: { $0.destination == m.destination }) { throw Failure(message: "Duplicate mount point: \(m.destination)") }
            out.append(m)
        }
        for b in binds { try add(try bind(b)) }
        for j in mounts { try add(try mount(j)) }
        for k in tmpfs.keys.sorted() { try add(try MountParser.tmpfs(k, tmpfs[k]!)) }
        for (m, ro) in volumesFrom where !out.contains(where: { $0.destination == m.destination }) {
            var copy = m
            if let ro { copy.rw = !ro; copy.mode = ro ? "ro" : "rw" }
            copy.anonymous = false  // the other container owns it
            out.append(copy)
        }
        for v in volumes {
            let dest = clean(v)
            if out.contains(where: { $0.destination == dest }) { continue }
            var m = MountPoint(type: .volume, destination: dest)
            m.anonymous = true
            m.driver = "local"
            m.mode = ""
            out.append(m)
        }
        return out
    }

    /// `--volumes-from other[:ro|rw]` → (container, readOnly override).
    public static func volumesFrom(_ spec: String) throws(Failure) -> (String, Bool?) {
        let p = spec.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        if p.count == 1 { return (p[0], nil) }
        guard p.count == 2, p[1] == "ro" || p[1] == "rw" else { throw Failure(message: "invalid mode: \(p.dropFirst().joined(separator: ":"))") }
        return (p[0], p[1] == "ro")
    }
}
