import JSON
import Synchronization
import Sys

/// The cgroup file system as the runtime uses it; the real one writes under /sys/fs/cgroup, the
/// recording fake in the tests keeps what would have been written.
public protocol CgroupFiles {
    func makeDirectory(_ path: String) throws(RuntimeFailure)
    func write(_ path: String, _ value: String) throws(RuntimeFailure)
    func read(_ path: String) -> String?
    func exists(_ path: String) -> Bool
    /// Removes a cgroup directory (its child cgroups first); true when it is gone, or was never there.
    func removeDirectory(_ path: String) -> Bool
    /// cgroup v2's device rules: a BPF program attached to the directory.
    func attachDeviceFilter(_ dir: String, _ rules: [DeviceRule]) throws(RuntimeFailure)
}

/// One device cgroup rule, as the v1 files and the v2 BPF program take it.
public struct DeviceRule: Sendable, Equatable {
    public enum Kind: Int32, Sendable { case all = 0, block = 1, char = 2 }
    public var kind: Kind
    public var major: Int64  // -1: any
    public var minor: Int64
    public var access: Int32  // 1 mknod, 2 read, 4 write
    public var allow: Bool
    public init(kind: Kind, major: Int64, minor: Int64, access: Int32, allow: Bool) {
        self.kind = kind; self.major = major; self.minor = minor; self.access = access; self.allow = allow
    }
}

/// Where the hierarchies are mounted: each v1 controller's mount point, and the v2 mount. On a
/// v2-only host `unified` carries every controller; on a hybrid one (this VM) the v1 hierarchies
/// do and the v2 tree has none. Parsed from mountinfo: pure.
public struct CgroupLayout: Sendable, Equatable {
    public var v1: [String: String] = [:]
    public var unified: String? = nil
    public var v2Only: Bool { v1.isEmpty && unified != nil }

    public init(mountinfo: String) {
        for line in MountInfo.lines(ofTypes: ["cgroup", "cgroup2"], in: mountinfo).split(separator: "\n") {
            let halves = line.split(separator: " - ", maxSplits: 1)
            guard halves.count == 2 else { continue }
            let pre = halves[0].split(separator: " "), post = halves[1].split(separator: " ")
            guard pre.count >= 5, post.count >= 3 else { continue }
            let point = String(pre[4])
            if post[0] == "cgroup2" {
                if unified == nil { unified = point }
            } else if post[0] == "cgroup" {
                for o in post[2].split(separator: ",") where Self.controllers.contains(String(o)) || o == "name=systemd" {
                    if v1[String(o)] == nil { v1[String(o)] = point }
                }
            }
        }
    }

    public init(v1: [String: String], unified: String?) { self.v1 = v1; self.unified = unified }

    /// This host's layout, read at most once every `freshFor` seconds in a process. mountinfo
    /// grows with every container on the host (its rootfs and namespaces), about 0.35 ms a read
    /// with 50 running; a spare shim reads it while it waits (`warmUp`), and the create that
    /// takes the spare finds it. Cgroup hierarchies are mounted at boot and stay; a layout
    /// older than `freshFor` (a spare that waited long) is read again all the same.
    public static func host(now: Int64 = Timestamp.monotonicNanos()) -> CgroupLayout {
        if let cached = hostCache.withLock({ $0 }), now - cached.readAt < freshFor * 1_000_000_000 { return cached.layout }
        let layout = CgroupLayout(mountinfo: (try? FS.readString("/proc/self/mountinfo")) ?? "")
        hostCache.withLock { $0 = (layout, now) }
        return layout
    }

    static let freshFor: Int64 = 10
    private static let hostCache = Mutex<(layout: CgroupLayout, readAt: Int64)?>(nil)

    static let controllers: Set<String> = [
        "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "hugetlb", "net_cls", "net_prio", "perf_event", "rdma",
        "misc",
    ]
}

/// One container's cgroups: the directories it lives in (per v1 controller, or the one v2 dir).
public struct CgroupPaths: Sendable, Equatable {
    public var byController: [String: String]
    public var unified: String?

    /// For `cgroupsPath` (absolute: below each hierarchy's root; relative: below the calling
    /// process's own cgroup there, as runc's cgroupfs driver does; empty: the container id).
    public init(layout: CgroupLayout, cgroupsPath: String?, id: String, ownCgroup: String) {
        let inner = (cgroupsPath?.isEmpty ?? true) ? id : cgroupsPath!
        let own = Self.parseOwn(ownCgroup)
        // Cleaned as a path of its own before it meets the mount point: `..` stops at the
        // hierarchy's root instead of climbing out of /sys/fs/cgroup.
        func join(_ mount: String, _ key: String) -> String {
            let base = inner.hasPrefix("/") ? "" : (own[key] ?? "/")
            let path = Self.clean(base + "/" + inner)
            return path == "/" ? mount : mount + path
        }
        byController = [:]
        // name=systemd too, as runc's cgroupfs driver: the container leaves its starter's systemd
        // cgroup (on a v1 host, systemd tracks a service's processes there) and sees it mounted.
        for (controller, mount) in layout.v1 { byController[controller] = join(mount, controller) }
        unified = layout.unified.map { join($0, "") }
    }

    public init(byController: [String: String], unified: String?) { self.byController = byController; self.unified = unified }

    /// Every directory, each once (controllers co-mounted share one).
    public var all: [String] {
        var seen: [String] = []
        for p in byController.values.sorted() + (unified.map { [$0] } ?? []) where !seen.contains(p) { seen.append(p) }
        return seen
    }

    static func parseOwn(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let f = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard f.count == 3 else { continue }
            if f[1].isEmpty { out[""] = String(f[2]) }
            for c in f[1].split(separator: ",") { out[String(c)] = String(f[2]) }
        }
        return out
    }

    static func clean(_ p: String) -> String {
        var parts: [Substring] = []
        for c in p.split(separator: "/") where c != "." {
            if c == ".." { _ = parts.popLast() } else { parts.append(c) }
        }
        return "/" + parts.joined(separator: "/")
    }
}

/// `linux.resources` turned into cgroup file writes, in the order they must happen. Pure: the
/// unit tests compare plans, the manager performs them.
public enum CgroupPlan {
    public struct Write: Sendable, Equatable {
        public var controller: String  // v1 controller, or "" for the v2 directory
        public var file: String
        public var value: String
        public init(_ controller: String, _ file: String, _ value: String) { self.controller = controller; self.file = file; self.value = value }
    }

    public static func v1(_ r: JSON) throws(RuntimeFailure) -> [Write] {
        var w: [Write] = []
        let m = r["memory"]
        if let v = m["limit"].int, v != 0 { w.append(Write("memory", "memory.limit_in_bytes", String(v))) }
        if let v = m["swap"].int, v != 0 { w.append(Write("memory", "memory.memsw.limit_in_bytes", String(v))) }
        if let v = m["reservation"].int, v != 0 { w.append(Write("memory", "memory.soft_limit_in_bytes", String(v))) }
        if let v = m["swappiness"].int {
            guard (0...100).contains(v) else { throw RuntimeFailure("invalid value:\(v). valid memory swappiness range is 0-100") }
            w.append(Write("memory", "memory.swappiness", String(v)))
        }
        if m["disableOOMKiller"].bool == true { w.append(Write("memory", "memory.oom_control", "1")) }
        let c = r["cpu"]
        // The spec's shares are unsigned: a negative number (`update --cpu-share -1`) is the
        // uint64 runc would receive, which the kernel clamps and `apply` then reports as runc does.
        if let v = c["shares"].int, v != 0 { w.append(Write("cpu", "cpu.shares", String(UInt64(bitPattern: v)))) }
        if let v = c["period"].int, v != 0 { w.append(Write("cpu", "cpu.cfs_period_us", String(v))) }
        if let v = c["quota"].int, v != 0 { w.append(Write("cpu", "cpu.cfs_quota_us", String(v))) }
        if let v = c["realtimePeriod"].int, v != 0 { w.append(Write("cpu", "cpu.rt_period_us", String(v))) }
        if let v = c["realtimeRuntime"].int, v != 0 { w.append(Write("cpu", "cpu.rt_runtime_us", String(v))) }
        if let v = c["cpus"].string, !v.isEmpty { w.append(Write("cpuset", "cpuset.cpus", v)) }
        if let v = c["mems"].string, !v.isEmpty { w.append(Write("cpuset", "cpuset.mems", v)) }
        if let v = r["pids"]["limit"].int { w.append(Write("pids", "pids.max", v > 0 ? String(v) : "max")) }
        let b = r["blockIO"]
        if let v = b["weight"].int, v != 0 { w.append(Write("blkio", "blkio.weight", String(v))) }
        if let v = b["leafWeight"].int, v != 0 { w.append(Write("blkio", "blkio.leaf_weight", String(v))) }
        for d in b["weightDevice"].array ?? [] {
            let dev = "\(d["major"].int ?? 0):\(d["minor"].int ?? 0)"
            if let v = d["weight"].int { w.append(Write("blkio", "blkio.weight_device", "\(dev) \(v)")) }
            if let v = d["leafWeight"].int { w.append(Write("blkio", "blkio.leaf_weight_device", "\(dev) \(v)")) }
        }
        for (key, file) in [
            ("throttleReadBpsDevice", "blkio.throttle.read_bps_device"), ("throttleWriteBpsDevice", "blkio.throttle.write_bps_device"),
            ("throttleReadIOPSDevice", "blkio.throttle.read_iops_device"), ("throttleWriteIOPSDevice", "blkio.throttle.write_iops_device"),
        ] {
            for d in b[key].array ?? [] { w.append(Write("blkio", file, "\(d["major"].int ?? 0):\(d["minor"].int ?? 0) \(d["rate"].int ?? 0)")) }
        }
        for h in r["hugepageLimits"].array ?? [] {
            guard let size = h["pageSize"].string, let limit = h["limit"].int else { continue }
            w.append(Write("hugetlb", "hugetlb.\(size).limit_in_bytes", String(limit)))
        }
        if let v = r["network"]["classID"].int { w.append(Write("net_cls", "net_cls.classid", String(v))) }
        for p in r["network"]["priorities"].array ?? [] {
            w.append(Write("net_prio", "net_prio.ifpriomap", "\(p["name"].string ?? "") \(p["priority"].int ?? 0)"))
        }
        if let rules = r["devices"].array {
            var written: [(allow: Bool, rule: String)] = []
            for d in rules {
                let rule = try deviceRule(d)
                let allow = d["allow"].bool == true
                if allow && isRepeatedAllow(rule, after: written) { continue }
                written.append((allow, rule))
                w.append(Write("devices", allow ? "devices.allow" : "devices.deny", rule))
            }
        }
        return w
    }

    /// An allow rule written before, with no deny since that could have taken any of it back:
    /// writing it again changes nothing in the kernel's list. Docker's spec allows six devices
    /// that the defaults every runtime adds allow again; each v1 write is a file opened and written
    /// while the container's start waits.
    static func isRepeatedAllow(_ rule: String, after written: [(allow: Bool, rule: String)]) -> Bool {
        guard let last = written.lastIndex(where: { $0.allow && $0.rule == rule }) else { return false }
        let fields = rule.split(separator: " ")
        let type = fields.first.map(String.init) ?? "a"
        let major = fields.count > 1 ? String(fields[1].split(separator: ":").first ?? "*") : "*"
        return !written[(last + 1)...].contains { w in
            guard !w.allow else { return false }
            let f = w.rule.split(separator: " ")
            guard let t = f.first.map(String.init), t != "a", type != "a" else { return true }
            let m = f.count > 1 ? String(f[1].split(separator: ":").first ?? "*") : "*"
            return t == type && (m == "*" || major == "*" || m == major)
        }
    }

    public static func v2(_ r: JSON) throws(RuntimeFailure) -> [Write] {
        var w: [Write] = []
        let m = r["memory"]
        let limit = m["limit"].int
        if let v = limit, v != 0 { w.append(Write("", "memory.max", v < 0 ? "max" : String(v))) }
        if let swap = m["swap"].int, swap != 0 {
            // v1's memsw is memory+swap; v2's swap.max is swap alone.
            if swap < 0 {
                w.append(Write("", "memory.swap.max", "max"))
            } else if let l = limit, l > 0 {
                guard swap >= l else { throw RuntimeFailure("memory+swap limit should be greater than memory limit") }
                w.append(Write("", "memory.swap.max", String(swap - l)))
            }
        }
        if let v = m["reservation"].int, v != 0 { w.append(Write("", "memory.low", String(v))) }
        let c = r["cpu"]
        if let v = c["shares"].int, v != 0 { w.append(Write("", "cpu.weight", String(sharesToWeight(v)))) }
        let quota = c["quota"].int ?? 0, period = c["period"].int ?? 0
        if quota != 0 || period != 0 { w.append(Write("", "cpu.max", "\(quota > 0 ? String(quota) : "max") \(period > 0 ? period : 100_000)")) }
        if let v = c["cpus"].string, !v.isEmpty { w.append(Write("", "cpuset.cpus", v)) }
        if let v = c["mems"].string, !v.isEmpty { w.append(Write("", "cpuset.mems", v)) }
        if let v = r["pids"]["limit"].int { w.append(Write("", "pids.max", v > 0 ? String(v) : "max")) }
        let b = r["blockIO"]
        if let v = b["weight"].int, v != 0 { w.append(Write("", "io.weight", String(1 + (max(10, v) - 10) * 9999 / 990))) }
        for (key, field) in [
            ("throttleReadBpsDevice", "rbps"), ("throttleWriteBpsDevice", "wbps"), ("throttleReadIOPSDevice", "riops"), ("throttleWriteIOPSDevice", "wiops"),
        ] {
            for d in b[key].array ?? [] { w.append(Write("", "io.max", "\(d["major"].int ?? 0):\(d["minor"].int ?? 0) \(field)=\(d["rate"].int ?? 0)")) }
        }
        for h in r["hugepageLimits"].array ?? [] {
            guard let size = h["pageSize"].string, let limit = h["limit"].int else { continue }
            w.append(Write("", "hugetlb.\(size).max", String(limit)))
        }
        for (k, v) in (r["unified"].stringMap ?? [:]).sorted(by: { $0.key < $1.key }) {
            guard !k.contains("/"), k != "..", k != "." else { throw RuntimeFailure("unified resource \"\(k)\" is not a file name") }
            w.append(Write("", k, v))
        }
        return w
    }

    /// `linux.resources.devices` as rules (the same checks as the v1 strings).
    public static func deviceRules(_ r: JSON) throws(RuntimeFailure) -> [DeviceRule] {
        var out: [DeviceRule] = []
        for d in r["devices"].array ?? [] {
            _ = try deviceRule(d)
            let kind: DeviceRule.Kind = d["type"].string == "b" ? .block : d["type"].string == "c" ? .char : .all
            var access: Int32 = 0
            for ch in d["access"].string ?? "rwm" { access |= ch == "m" ? 1 : ch == "r" ? 2 : 4 }
            func num(_ j: JSON) -> Int64 { if let v = j.int, v >= 0, v <= Int64(Int32.max) { return v }; return -1 }
            out.append(DeviceRule(kind: kind, major: num(d["major"]), minor: num(d["minor"]), access: access, allow: d["allow"].bool == true))
        }
        return out
    }

    /// The devices every container may use, appended to the spec's rules as runc does
    /// (mknod of any node; null, zero, full, random, urandom, tty, console, ptmx, the pts, and
    /// tun/tap: VPN images make /dev/net/tun themselves with NET_ADMIN and rely on it, which is
    /// why runc 1.2.4 and crun took it back after dropping it).
    public static let defaultAllowedDevices: [JSON] = [
        ["allow": true, "type": "c", "access": "m"], ["allow": true, "type": "b", "access": "m"],
        ["allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"], ["allow": true, "type": "c", "major": 1, "minor": 8, "access": "rwm"],
        ["allow": true, "type": "c", "major": 1, "minor": 7, "access": "rwm"], ["allow": true, "type": "c", "major": 5, "minor": 0, "access": "rwm"],
        ["allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"], ["allow": true, "type": "c", "major": 1, "minor": 9, "access": "rwm"],
        ["allow": true, "type": "c", "major": 5, "minor": 1, "access": "rwm"], ["allow": true, "type": "c", "major": 136, "access": "rwm"],
        ["allow": true, "type": "c", "major": 5, "minor": 2, "access": "rwm"], ["allow": true, "type": "c", "major": 10, "minor": 200, "access": "rwm"],
    ]

    /// `resources` with the default devices allowed after the spec's own rules.
    public static func withDefaultDevices(_ r: JSON) -> JSON {
        guard let rules = r["devices"].array else { return r }
        var out = r
        out["devices"] = .array(rules + defaultAllowedDevices)
        return out
    }

    /// runc's conversion of cgroup v1 cpu.shares (2–262144) to v2 cpu.weight (1–10000).
    public static func sharesToWeight(_ shares: Int64) -> Int64 {
        let s = min(max(shares, 2), 262_144)
        return 1 + ((s - 2) * 9999) / 262_142
    }

    static func deviceRule(_ d: JSON) throws(RuntimeFailure) -> String {
        let type = d["type"].string ?? "a"
        guard ["a", "b", "c"].contains(type) else { throw RuntimeFailure("invalid device type \(type)") }
        let access = d["access"].string ?? "rwm"
        guard !access.isEmpty, access.allSatisfy({ "rwm".contains($0) }) else { throw RuntimeFailure("invalid device access \(access)") }
        if type == "a" && d["major"].isNull && d["minor"].isNull { return "a" }
        func num(_ j: JSON) -> String { if let v = j.int, v >= 0 { return String(v) }; return "*" }
        return "\(type) \(num(d["major"])):\(num(d["minor"])) \(access)"
    }
}

/// Creates, fills, freezes, lists and removes one container's cgroups.
public struct CgroupManager {
    public let paths: CgroupPaths
    public let files: any CgroupFiles
    public let v2Only: Bool

    public init(paths: CgroupPaths, files: any CgroupFiles, v2Only: Bool) {
        self.paths = paths; self.files = files; self.v2Only = v2Only
    }

    /// Makes every directory (v1: copying cpuset's cpus/mems down from the parent, which a new
    /// v1 cpuset leaves empty; v2: enabling the controllers in each ancestor).
    public func create() throws(RuntimeFailure) {
        for (controller, dir) in paths.byController.sorted(by: { $0.key < $1.key }) {
            if controller == "cpuset" { try createCpuset(dir) } else { try files.makeDirectory(dir) }
        }
        if let u = paths.unified {
            if v2Only { try enableControllers(u) }
            try files.makeDirectory(u)
        }
    }

    func createCpuset(_ dir: String) throws(RuntimeFailure) {
        if files.exists(dir) { return }
        let parent = String(dir[..<(dir.lastIndex(of: "/") ?? dir.startIndex)])
        if !parent.isEmpty && !files.exists(parent + "/cpuset.cpus") { try createCpuset(parent) }
        try files.makeDirectory(dir)
        for f in ["cpuset.cpus", "cpuset.mems"] {
            let mine = files.read(dir + "/" + f)?.trimmedLine ?? ""
            if mine.isEmpty, let up = files.read(parent + "/" + f)?.trimmedLine, !up.isEmpty { try files.write(dir + "/" + f, up) }
        }
    }

    func enableControllers(_ dir: String) throws(RuntimeFailure) {
        var ancestors: [String] = []
        var p = dir
        while let slash = p.lastIndex(of: "/"), slash != p.startIndex {
            p = String(p[..<slash])
            ancestors.insert(p, at: 0)
        }
        for a in ancestors where files.exists(a + "/cgroup.controllers") {
            if !files.exists(a) { try files.makeDirectory(a) }
            let available = (files.read(a + "/cgroup.controllers") ?? "").split(separator: " ").map { $0.trimmedLine }
            let wanted = ["cpuset", "cpu", "io", "memory", "pids", "hugetlb", "rdma", "misc"].filter { available.contains($0) }
            if !wanted.isEmpty { try? files.write(a + "/cgroup.subtree_control", wanted.map { "+" + $0 }.joined(separator: " ")) }
        }
    }

    /// Which of the limits `apply` puts on: the device rules can go on as soon as the init has
    /// made its device nodes, while it still mounts; the rest when it is ready.
    public enum Part: Sendable { case all, devices, allButDevices }

    /// Applies a plan; files of controllers this host lacks are skipped as runc skips them, but a
    /// write the kernel refuses is an error.
    public func apply(_ resources: JSON, _ part: Part = .all) throws(RuntimeFailure) {
        let rules = part == .allButDevices ? [] : try CgroupPlan.deviceRules(resources)
        if v2Only {
            for w in part == .devices ? [] : try CgroupPlan.v2(resources) {
                guard let dir = paths.unified else { break }
                try files.write(dir + "/" + w.file, w.value)
            }
            if let dir = paths.unified, !rules.isEmpty { try files.attachDeviceFilter(dir, rules) }
            return
        }
        // Hybrid hosts: the v1 devices controller enforces the rules, as with runc. (A copy of the
        // program on the v2 directory the container also lives in cost 0.6 ms of every start, in
        // the kernel's verifier, for a second fence around the same rules.)
        var writes = try CgroupPlan.v1(resources).filter { part == .all || ($0.controller == "devices") == (part == .devices) }
        // Raising the memory limit above memory+swap must set memory+swap first (EINVAL otherwise).
        if let limit = writes.firstIndex(where: { $0.file == "memory.limit_in_bytes" }),
            let swap = writes.firstIndex(where: { $0.file == "memory.memsw.limit_in_bytes" }), swap > limit,
            let dir = paths.byController["memory"], let cur = Int64(files.read(dir + "/memory.memsw.limit_in_bytes")?.trimmedLine ?? ""),
            let new = Int64(writes[limit].value), new > cur
        {
            writes.swapAt(limit, swap)
        }
        for w in writes {
            guard let dir = paths.byController[w.controller] else {
                if w.controller == "hugetlb" || w.controller == "net_cls" || w.controller == "net_prio" {
                    throw RuntimeFailure("cgroup controller \(w.controller) is not mounted on this host")
                }
                continue
            }
            if w.file == "memory.memsw.limit_in_bytes" && !files.exists(dir + "/" + w.file) { continue }
            try files.write(dir + "/" + w.file, w.value)
            if w.file == "cpu.shares" { try checkShares(asked: w.value, dir: dir) }
        }
    }

    /// v1 clamps cpu.shares to 2...262144 without an error; runc reads the value back and refuses
    /// one the kernel changed, in these words (Docker's TestRunInvalidCPUShares expects them).
    func checkShares(asked: String, dir: String) throws(RuntimeFailure) {
        guard let want = UInt64(asked), let got = UInt64(files.read(dir + "/cpu.shares")?.trimmedLine ?? "") else { return }
        if want > got { throw RuntimeFailure("the maximum allowed cpu-shares is \(got)") }
        if want < got { throw RuntimeFailure("the minimum allowed cpu-shares is \(got)") }
    }

    /// Moves `pid` ("0": the caller) into every directory.
    public func join(_ pid: String) throws(RuntimeFailure) {
        for dir in paths.all { try files.write(dir + "/cgroup.procs", pid) }
    }

    public func freeze(_ frozen: Bool) throws(RuntimeFailure) {
        if let f = paths.byController["freezer"] {
            try files.write(f + "/freezer.state", frozen ? "FROZEN" : "THAWED")
            // The state reads FREEZING until every task has stopped.
            for _ in 0..<1000 {
                let s = files.read(f + "/freezer.state")?.trimmedLine ?? ""
                if s == (frozen ? "FROZEN" : "THAWED") { return }
                if frozen { try files.write(f + "/freezer.state", "FROZEN") }
                usleepMillis(1)
            }
            throw RuntimeFailure("unable to \(frozen ? "freeze" : "thaw") the container")
        } else if let u = paths.unified, files.exists(u + "/cgroup.freeze") {
            try files.write(u + "/cgroup.freeze", frozen ? "1" : "0")
            for _ in 0..<1000 {
                if (files.read(u + "/cgroup.events") ?? "").contains(frozen ? "frozen 1" : "frozen 0") { return }
                usleepMillis(1)
            }
            throw RuntimeFailure("unable to \(frozen ? "freeze" : "thaw") the container")
        } else {
            throw RuntimeFailure("the freezer cgroup is not available")
        }
    }

    public var isFrozen: Bool {
        if let f = paths.byController["freezer"] { return (files.read(f + "/freezer.state")?.trimmedLine ?? "") == "FROZEN" }
        if let u = paths.unified { return (files.read(u + "/cgroup.events") ?? "").contains("frozen 1") }
        return false
    }

    /// The pids in the container's cgroup (v1: the first hierarchy that has the container).
    public func pids() -> [Int32] {
        let dirs = (["pids", "devices", "memory", "freezer"].compactMap { paths.byController[$0] }) + (paths.unified.map { [$0] } ?? [])
        for d in dirs {
            guard let text = files.read(d + "/cgroup.procs") else { continue }
            return text.split(separator: "\n").compactMap { Int32($0.trimmedLine) }
        }
        return []
    }

    /// Removes the directories (children first); false while a process is still inside.
    public func destroy() -> Bool {
        var ok = true
        // One rmdir each (a missing directory counts as removed), no look first.
        for dir in paths.all where !files.removeDirectory(dir) { ok = false }
        return ok
    }
}

extension Substring {
    var trimmedLine: String { String(self).trimmedLine }
}

extension String {
    var trimmedLine: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\n" || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\n" || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
