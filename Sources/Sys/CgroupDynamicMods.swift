import CSys
import Glibc

/// Moving a process into a cgroup (every container's first stage, every exec, writing
/// `cgroup.procs`) takes the kernel's global threadgroup lock for writing, and by default a
/// writer first waits for an RCU grace period unless another move happened a moment before.
/// Measured on this project's hosts (kernel 6.18, 2 vCPUs, hybrid v1 + v2): 6-7 ms of every
/// container start and every `exec` spent waiting, a third of a `run --rm`. The cgroup2 mount
/// option `favordynmods` is the kernel's documented switch for hosts that move tasks often (the
/// lock stays ready for writers; since 6.18 a per-process lock is used instead): the same move
/// takes 0.07 ms. Its documented cost is on forks and exits, which then take the lock's slower
/// read side (a memory barrier more); berthd's `--cgroup-favordynmods=false` leaves the host as
/// it is.
///
/// The option belongs to the one cgroup2 hierarchy the kernel has (every cgroup2 mount shows the
/// same superblock), so it is set once, host-wide, with every option the mount already had kept.
/// On 6.18 and later the kernel keeps the per-process lock once the option was on, even if it is
/// turned off again; berthd never turns it off (another daemon may rely on it).
public enum CgroupDynamicMods {
    public static let option = "favordynmods"

    public enum Outcome: Equatable, Sendable, CustomStringConvertible {
        /// Set now on the cgroup2 mount at this path.
        case enabled(String)
        /// The mount had it already (the host's choice, or an earlier daemon's).
        case alreadyEnabled(String)
        /// No cgroup2 hierarchy is mounted (a v1-only host): nothing to set.
        case noCgroup2
        /// The kernel refused (older than 6.0, not in the initial cgroup namespace, no privilege).
        case refused(String)

        public var description: String {
            switch self {
            case .enabled(let p): return "cgroup2 at \(p): \(CgroupDynamicMods.option) set (fast cgroup moves)"
            case .alreadyEnabled(let p): return "cgroup2 at \(p): \(CgroupDynamicMods.option) already set"
            case .noCgroup2: return "no cgroup2 mount: \(CgroupDynamicMods.option) not set"
            case .refused(let why): return "\(CgroupDynamicMods.option) not set: \(why)"
            }
        }
    }

    /// The kernel calls this needs, behind a protocol so the logic is tested with a recording fake.
    public protocol Kernel {
        func mountInfo() throws(SysError) -> String
        /// The superblock at `mountPoint` reconfigured with exactly these flags.
        func reconfigure(mountPoint: String, flags: [String]) throws(SysError)
    }

    public struct Host: Kernel {
        public init() {}
        public func mountInfo() throws(SysError) -> String { try FS.readString("/proc/self/mountinfo") }
        public func reconfigure(mountPoint: String, flags: [String]) throws(SysError) {
            var strings = flags.map { strdup($0) }
            defer { for s in strings { free(s) } }
            let rc = strings.withUnsafeMutableBufferPointer { buffer in
                buffer.withMemoryRebound(to: UnsafePointer<CChar>?.self) { berth_reconfigure_flags(mountPoint, $0.baseAddress, Int32($0.count)) }
            }
            guard rc == 0 else { throw SysError("reconfigure \(mountPoint)") }
        }
    }

    /// Turns the option on where it is off; never throws (a start of berthd does not depend on it).
    public static func favor(_ kernel: some Kernel = Host()) -> Outcome {
        let text: String
        do { text = try kernel.mountInfo() } catch { return .refused("\(error)") }
        guard let mount = cgroup2Mount(in: text) else { return .noCgroup2 }
        if mount.options.contains(option) { return .alreadyEnabled(mount.path) }
        do { try kernel.reconfigure(mountPoint: mount.path, flags: flags(keeping: mount.options)) } catch { return .refused("\(error)") }
        return .enabled(mount.path)
    }

    /// The flags to reconfigure with: the superblock's own (a reconfigure sets exactly those it is
    /// given, so `nsdelegate` or `memory_recursiveprot` left out would be turned off), then ours.
    /// `rw`/`ro` are the superblock's access, not a cgroup2 option.
    static func flags(keeping options: [String]) -> [String] {
        options.filter { $0 != "rw" && $0 != "ro" && !$0.isEmpty } + [option]
    }

    /// The first cgroup2 mount (its point and superblock options) in mountinfo's text.
    static func cgroup2Mount(in mountinfo: String) -> (path: String, options: [String])? {
        for line in MountInfo.lines(ofTypes: ["cgroup2"], in: mountinfo).split(separator: "\n") {
            let halves = line.split(separator: " - ", maxSplits: 1)
            guard halves.count == 2 else { continue }
            let pre = halves[0].split(separator: " "), post = halves[1].split(separator: " ")
            guard pre.count >= 5, post.count >= 3, post[0] == "cgroup2" else { continue }
            return (CgroupMembership.unescape(pre[4]), post[2].split(separator: ",").map(String.init))
        }
        return nil
    }
}
