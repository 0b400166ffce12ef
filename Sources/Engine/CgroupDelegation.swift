import Glibc
import Sys

/// Rootless berthd on a cgroup v2 host that delegated the user a cgroup (systemd's user
/// manager does for its services: the cgroup and its files belong to the user): Berth takes its
/// own cgroup as the top of its tree, as Podman and dockerd-rootless do. The daemon's processes
/// (berthd's two halves, slirp4netns) move to a `daemon` leaf, since v2 lets only a cgroup
/// without processes hand controllers to children; the controllers delegated are enabled for
/// children; containers go under `containers/`. Where any of this is missing (cgroup v1 or a
/// hybrid host like this project's, no delegation) there is none: limits are discarded with a
/// warning.
public struct CgroupDelegation: Sendable, Equatable {
    /// Where containers' cgroups go, as a path of the hierarchy (`cgroupsPath`'s parent).
    public var containersPath: String
    /// The controllers enabled for containers (`memory`, `pids`, `cpu`, `io`, `cpuset`).
    public var controllers: Set<String>

    public init(containersPath: String, controllers: Set<String>) {
        self.containersPath = containersPath
        self.controllers = controllers
    }

    /// The controllers Berth asks for, in the order they are enabled.
    static let wanted = ["cpuset", "cpu", "io", "memory", "pids"]

    /// Sets the tree up under `root` (the cgroup2 mount) for the process whose
    /// `/proc/self/cgroup` is `selfCgroup`; nil (and nothing changed) when the host gives none.
    /// `why` says what was missing, for the daemon's warning.
    public static func prepare(root: String = "/sys/fs/cgroup", selfCgroup: String) -> (CgroupDelegation?, why: String) {
        guard FS.exists(root + "/cgroup.controllers") else { return (nil, "the host does not use cgroup v2 alone (cgroup v1 or hybrid)") }
        guard let line = selfCgroup.split(separator: "\n").first(where: { $0.hasPrefix("0::") }) else {
            return (nil, "no cgroup v2 entry in /proc/self/cgroup")
        }
        var own = String(line.dropFirst(3))
        // Restarted inside an earlier run's leaf: the tree is the leaf's parent.
        if own.hasSuffix("/daemon") { own = String(own.dropLast("/daemon".count)) }
        guard own.hasPrefix("/"), !own.split(separator: "/").contains(".."), own != "/" else {
            return (nil, "the daemon is in the root cgroup")
        }
        let dir = root + own
        guard access(dir + "/cgroup.procs", W_OK) == 0, access(dir + "/cgroup.subtree_control", W_OK) == 0 else {
            return (nil, "\(own) is not delegated to this user (systemd: Delegate=yes, or a user session's service)")
        }
        let available = Set(((try? FS.readString(dir + "/cgroup.controllers")) ?? "").split(whereSeparator: \.isWhitespace).map(String.init))
        guard !available.isDisjoint(with: ["memory", "pids", "cpu"]) else {
            return (nil, "\(own) has none of the memory, pids and cpu controllers delegated")
        }
        // Every process of the cgroup into the leaf, then the controllers for its children.
        do { try FS.mkdirAll(dir + "/daemon") } catch { return (nil, "\(error)") }
        let pids = ((try? FS.readString(dir + "/cgroup.procs")) ?? "").split(separator: "\n")
        for pid in pids { try? FS.writeExisting(dir + "/daemon/cgroup.procs", String(pid)) }
        var enabled = Set<String>()
        for c in wanted where available.contains(c) {
            if (try? FS.writeExisting(dir + "/cgroup.subtree_control", "+" + c)) != nil { enabled.insert(c) }
        }
        do { try FS.mkdirAll(dir + "/containers") } catch { return (nil, "\(error)") }
        var forContainers = Set<String>()
        for c in wanted where enabled.contains(c) {
            if (try? FS.writeExisting(dir + "/containers/cgroup.subtree_control", "+" + c)) != nil { forContainers.insert(c) }
        }
        guard !forContainers.isDisjoint(with: ["memory", "pids", "cpu"]) else {
            return (nil, "\(own): the controllers could not be enabled for children")
        }
        return (CgroupDelegation(containersPath: own + "/containers", controllers: forContainers), "")
    }

    /// What containers under the delegated tree can be held to.
    public func support(root: String = "/sys/fs/cgroup") -> CgroupSupport {
        let dir = root + containersPath
        func read(_ p: String) -> String { ((try? FS.readString(p)) ?? "").trimmingSpaces() }
        var s = CgroupSupport()
        s.memory = controllers.contains("memory")
        s.pids = controllers.contains("pids")
        s.cpu = controllers.contains("cpu")
        s.cpuset = controllers.contains("cpuset")
        s.cpus = read(dir + "/cpuset.cpus.effective")
        s.mems = read(dir + "/cpuset.mems.effective")
        if s.cpus.isEmpty { s.cpus = read("/sys/devices/system/cpu/online") }
        if s.mems.isEmpty { s.mems = "0" }
        s.blkioWeight = controllers.contains("io") && FS.exists(dir + "/io.weight")
        s.blkioThrottle = controllers.contains("io")
        return s
    }
}
