import JSON

/// The part of an OCI runtime-spec 1.1 `config.json` berth-runtime acts on, decoded and checked
/// once at the edge (as runc's `specconv` does): the rest of the runtime works on these values.
/// Every number from the file is range-checked here; a value out of range is an error, never a trap.
public struct RuntimeConfig: Sendable {
    public struct Mount: Sendable, Equatable {
        public var destination: String
        public var type: String
        public var source: String
        public var options: [String]
    }
    public struct IDMapping: Sendable, Equatable {
        public var containerID: UInt32, hostID: UInt32, size: UInt32
    }
    public struct Namespace: Sendable, Equatable {
        public var type: String
        public var path: String?
    }
    public struct Device: Sendable, Equatable {
        public var path: String
        public var type: String
        public var major: Int64, minor: Int64
        public var fileMode: UInt32?
        public var uid: UInt32?, gid: UInt32?
    }
    public struct Rlimit: Sendable, Equatable {
        public var type: String
        public var soft: UInt64, hard: UInt64
    }
    public struct Hook: Sendable, Equatable {
        public var path: String
        public var args: [String]
        public var env: [String]
        public var timeout: Int?
    }
    public struct Hooks: Sendable, Equatable {
        public var prestart: [Hook] = []
        public var createRuntime: [Hook] = []
        public var createContainer: [Hook] = []
        public var startContainer: [Hook] = []
        public var poststart: [Hook] = []
        public var poststop: [Hook] = []
    }
    public struct Process: Sendable {
        public var terminal = false
        public var consoleRows: UInt16 = 0, consoleCols: UInt16 = 0
        public var uid: UInt32 = 0, gid: UInt32 = 0
        public var umask: UInt32? = nil
        public var additionalGids: [UInt32] = []
        public var args: [String] = []
        public var env: [String] = []
        public var cwd = "/"
        public var bounding: [String] = [], effective: [String] = [], permitted: [String] = []
        public var inheritable: [String] = [], ambient: [String] = []
        public var rlimits: [Rlimit] = []
        public var noNewPrivileges = false
        public var oomScoreAdj: Int? = nil
        public var apparmorProfile = ""
        public var selinuxLabel = ""
    }

    public var ociVersion = ""
    public var rootPath = ""
    public var rootReadonly = false
    public var hostname: String? = nil
    public var domainname: String? = nil
    public var mounts: [Mount] = []
    public var process = Process()
    public var hooks = Hooks()
    public var annotations: [String: String] = [:]
    public var namespaces: [Namespace] = []
    public var uidMappings: [IDMapping] = []
    public var gidMappings: [IDMapping] = []
    public var devices: [Device] = []
    public var cgroupsPath: String? = nil
    /// `linux.resources` as given: the cgroup plan reads it (and `update -r` merges into it).
    public var resources: JSON = .null
    public var sysctl: [String: String] = [:]
    public var seccomp: JSON? = nil
    public var maskedPaths: [String] = []
    public var readonlyPaths: [String] = []
    public var rootfsPropagation = ""
    public var mountLabel = ""

    public struct Invalid: Error, Sendable, CustomStringConvertible {
        public let message: String
        public var description: String { message }
        init(_ m: String) { message = m }
    }

    public init() {}

    /// The namespace of `type` the config asks for, if any.
    public func namespace(_ type: String) -> Namespace? { namespaces.first { $0.type == type } }

    public static func decode(_ j: JSON, bundle: String) throws(Invalid) -> RuntimeConfig {
        guard j.object != nil else { throw Invalid("config.json: not a JSON object") }
        var c = RuntimeConfig()
        c.ociVersion = j["ociVersion"].string ?? ""
        guard !c.ociVersion.isEmpty else { throw Invalid("ociVersion is empty") }
        guard let root = j["root"]["path"].string, !root.isEmpty else { throw Invalid("root.path is empty") }
        c.rootPath = root.hasPrefix("/") ? root : bundle + "/" + root
        c.rootReadonly = j["root"]["readonly"].bool ?? false
        c.hostname = j["hostname"].string
        c.domainname = j["domainname"].string
        for m in j["mounts"].array ?? [] {
            guard let dest = m["destination"].string, dest.hasPrefix("/") else {
                throw Invalid("mount destination \(m["destination"].string ?? "") not absolute")
            }
            c.mounts.append(Mount(destination: dest, type: m["type"].string ?? "", source: m["source"].string ?? "", options: m["options"].stringArray ?? []))
        }
        let p = j["process"]
        if p.object != nil {
            c.process = try decodeProcess(p)
        }
        c.hooks = try decodeHooks(j["hooks"])
        c.annotations = j["annotations"].stringMap ?? [:]
        let l = j["linux"]
        for n in l["namespaces"].array ?? [] {
            let type = n["type"].string ?? ""
            guard Namespaces.flag(type) != nil else { throw Invalid("namespace type \"\(type)\" is unknown") }
            if c.namespaces.contains(where: { $0.type == type }) { throw Invalid("malformed spec file: duplicated ns \"\(type)\"") }
            let path = n["path"].string
            c.namespaces.append(Namespace(type: type, path: (path?.isEmpty ?? true) ? nil : path))
        }
        c.uidMappings = try decodeMappings(l["uidMappings"], "uidMappings")
        c.gidMappings = try decodeMappings(l["gidMappings"], "gidMappings")
        if c.namespace("user") != nil && c.namespace("user")?.path == nil && (c.uidMappings.isEmpty || c.gidMappings.isEmpty) {
            throw Invalid("user namespaces enabled, but no user mapping found")
        }
        if c.namespace("user") == nil && (!c.uidMappings.isEmpty || !c.gidMappings.isEmpty) {
            throw Invalid("user namespaces not enabled in config")
        }
        for d in l["devices"].array ?? [] {
            guard let path = d["path"].string, path.hasPrefix("/dev/") || path.hasPrefix("/") else { throw Invalid("device path must be absolute") }
            let type = d["type"].string ?? ""
            guard ["c", "b", "u", "p"].contains(type) else { throw Invalid("device \(path): invalid type \"\(type)\"") }
            c.devices.append(
                Device(
                    path: path, type: type, major: d["major"].int ?? 0, minor: d["minor"].int ?? 0,
                    fileMode: try optionalU32(d["fileMode"], "fileMode"), uid: try optionalU32(d["uid"], "uid"), gid: try optionalU32(d["gid"], "gid")))
        }
        c.cgroupsPath = l["cgroupsPath"].string
        c.resources = l["resources"]
        c.sysctl = l["sysctl"].stringMap ?? [:]
        if l["seccomp"].object != nil { c.seccomp = l["seccomp"] }
        c.maskedPaths = l["maskedPaths"].stringArray ?? []
        c.readonlyPaths = l["readonlyPaths"].stringArray ?? []
        c.rootfsPropagation = l["rootfsPropagation"].string ?? ""
        if !c.rootfsPropagation.isEmpty && MountOptions.propagation[c.rootfsPropagation] == nil {
            throw Invalid("rootfsPropagation \"\(c.rootfsPropagation)\" is invalid")
        }
        c.mountLabel = l["mountLabel"].string ?? ""
        return c
    }

    static func decodeProcess(_ p: JSON) throws(Invalid) -> Process {
        var pr = Process()
        pr.terminal = p["terminal"].bool ?? false
        if let h = p["consoleSize"]["height"].int, let w = p["consoleSize"]["width"].int {
            pr.consoleRows = UInt16(clamping: max(0, h)); pr.consoleCols = UInt16(clamping: max(0, w))
        }
        pr.uid = try u32(p["user"]["uid"], "user.uid")
        pr.gid = try u32(p["user"]["gid"], "user.gid")
        pr.umask = try optionalU32(p["user"]["umask"], "user.umask")
        for g in p["user"]["additionalGids"].array ?? [] { pr.additionalGids.append(try u32(g, "additionalGids")) }
        guard let args = p["args"].stringArray, !args.isEmpty else { throw Invalid("args must not be empty") }
        pr.args = args
        pr.env = p["env"].stringArray ?? []
        // runc sets each with Go's os.Setenv first, and fails in these words.
        for e in pr.env {
            guard let eq = e.firstIndex(of: "=") else { throw Invalid("invalid environment variable: missing '='") }
            if eq == e.startIndex { throw Invalid("environment variable name can't be empty") }
        }
        pr.cwd = p["cwd"].string ?? ""
        guard pr.cwd.hasPrefix("/") else { throw Invalid("cwd \(pr.cwd) is not an absolute path") }
        let caps = p["capabilities"]
        pr.bounding = caps["bounding"].stringArray ?? []
        pr.effective = caps["effective"].stringArray ?? []
        pr.permitted = caps["permitted"].stringArray ?? []
        pr.inheritable = caps["inheritable"].stringArray ?? []
        pr.ambient = caps["ambient"].stringArray ?? []
        for r in p["rlimits"].array ?? [] {
            let type = r["type"].string ?? ""
            guard Rlimits.number(type) != nil else { throw Invalid("rlimit \"\(type)\" is unknown") }
            if pr.rlimits.contains(where: { $0.type == type }) { throw Invalid("rlimit \"\(type)\" may not be repeated") }
            pr.rlimits.append(Rlimit(type: type, soft: try u64(r["soft"], "rlimit soft"), hard: try u64(r["hard"], "rlimit hard")))
        }
        pr.noNewPrivileges = p["noNewPrivileges"].bool ?? false
        if let o = p["oomScoreAdj"].int {
            guard (-1000...1000).contains(o) else { throw Invalid("oomScoreAdj \(o) is out of range") }
            pr.oomScoreAdj = Int(o)
        }
        pr.apparmorProfile = p["apparmorProfile"].string ?? ""
        pr.selinuxLabel = p["selinuxLabel"].string ?? ""
        return pr
    }

    static func decodeHooks(_ h: JSON) throws(Invalid) -> Hooks {
        func list(_ key: String) throws(Invalid) -> [Hook] {
            var out: [Hook] = []
            for x in h[key].array ?? [] {
                guard let path = x["path"].string, path.hasPrefix("/") else { throw Invalid("hook path \(x["path"].string ?? "") is not absolute") }
                var timeout: Int? = nil
                if let t = x["timeout"].int {
                    guard t > 0 && t <= 86_400 else { throw Invalid("hook timeout \(t) must be positive") }
                    timeout = Int(t)
                }
                out.append(Hook(path: path, args: x["args"].stringArray ?? [path], env: x["env"].stringArray ?? [], timeout: timeout))
            }
            return out
        }
        var hooks = Hooks()
        hooks.prestart = try list("prestart")
        hooks.createRuntime = try list("createRuntime")
        hooks.createContainer = try list("createContainer")
        hooks.startContainer = try list("startContainer")
        hooks.poststart = try list("poststart")
        hooks.poststop = try list("poststop")
        return hooks
    }

    static func decodeMappings(_ j: JSON, _ what: String) throws(Invalid) -> [IDMapping] {
        var out: [IDMapping] = []
        for m in j.array ?? [] {
            out.append(IDMapping(containerID: try u32(m["containerID"], what), hostID: try u32(m["hostID"], what), size: try u32(m["size"], what)))
        }
        return out
    }

    static func u32(_ j: JSON, _ what: String) throws(Invalid) -> UInt32 {
        if j.isNull { return 0 }
        guard let v = j.int, let u = UInt32(exactly: v) else { throw Invalid("\(what): \(j.serialized()) is out of range") }
        return u
    }
    static func optionalU32(_ j: JSON, _ what: String) throws(Invalid) -> UInt32? { j.isNull ? nil : try u32(j, what) }
    static func u64(_ j: JSON, _ what: String) throws(Invalid) -> UInt64 {
        if let v = j.int { return v < 0 ? UInt64.max : UInt64(v) }  // -1 is "unlimited" in Docker's usage
        if let d = j.double, d >= 0, d < 1.8e19 { return UInt64(d) }
        throw Invalid("\(what): \(j.serialized()) is out of range")
    }
}

/// Namespace names of the spec and their clone flags.
public enum Namespaces {
    public static let order = ["user", "cgroup", "ipc", "uts", "network", "pid", "mount", "time"]
    public static func flag(_ type: String) -> Int32? {
        switch type {
        case "mount": return 0x0002_0000
        case "uts": return 0x0400_0000
        case "ipc": return 0x0800_0000
        case "user": return 0x1000_0000
        case "pid": return 0x2000_0000
        case "network": return 0x4000_0000
        case "cgroup": return 0x0200_0000
        case "time": return 0x80
        default: return nil
        }
    }
    /// The name of the namespace under /proc/<pid>/ns.
    public static func procName(_ type: String) -> String {
        switch type {
        case "mount": return "mnt"
        case "network": return "net"
        default: return type
        }
    }
}

/// RLIMIT_* names and numbers (Linux, x86-64 and arm64 alike).
public enum Rlimits {
    static let names = [
        "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE", "RLIMIT_RSS", "RLIMIT_NPROC", "RLIMIT_NOFILE",
        "RLIMIT_MEMLOCK", "RLIMIT_AS", "RLIMIT_LOCKS", "RLIMIT_SIGPENDING", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_RTPRIO",
        "RLIMIT_RTTIME",
    ]
    public static func number(_ name: String) -> Int32? { names.firstIndex(of: name).map { Int32($0) } }
}
