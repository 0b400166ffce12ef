import DockerAPI
import Runtime
import Sys

/// What this host's cgroups can enforce, read once from /sys/fs/cgroup (v1 or v2). A limit the
/// host cannot enforce is discarded with a warning the client shows, as dockerd does; one that
/// Berth does not implement at all is refused.
public struct CgroupSupport: Sendable, Equatable {
    public var cpus = ""  // the CPUs a cpuset may name ("0-1")
    public var mems = ""  // the memory nodes ("0")
    public var blkioWeight = false
    public var blkioThrottle = false
    public var swappiness = false
    public var realtime = false
    /// Whether the daemon can make cgroups at all. Rootless berthd without a delegated cgroup
    /// v2 subtree cannot: every limit is then discarded with dockerd's warning (its "none"
    /// cgroup driver), and containers share the daemon's cgroup.
    public var limits = true
    /// Controllers a rootless daemon may lack (a delegation hands out some); a rootful one has them.
    public var memory = true
    public var pids = true
    public var cpu = true
    public var cpuset = true

    public init(cpus: String = "", mems: String = "", blkioWeight: Bool = false, blkioThrottle: Bool = false, swappiness: Bool = false) {
        self.cpus = cpus; self.mems = mems; self.blkioWeight = blkioWeight; self.blkioThrottle = blkioThrottle; self.swappiness = swappiness
    }

    /// Rootless without delegation: nothing can be enforced.
    public static let none: CgroupSupport = {
        var s = CgroupSupport(cpus: ((try? FS.readString("/sys/devices/system/cpu/online")) ?? "0").trimmingSpaces(), mems: "0")
        s.limits = false
        s.memory = false
        s.pids = false
        s.cpu = false
        s.cpuset = false
        return s
    }()

    public static func probe(root: String = "/sys/fs/cgroup") -> CgroupSupport {
        func read(_ p: String) -> String { ((try? FS.readString(p)) ?? "").trimmingSpaces() }
        var s = CgroupSupport()
        if FS.exists(root + "/cgroup.controllers") {  // v2 only
            let controllers = read(root + "/cgroup.controllers").split(separator: " ")
            s.cpus = read(root + "/cpuset.cpus.effective")
            s.mems = read(root + "/cpuset.mems.effective")
            s.blkioWeight = controllers.contains("io") && (FS.exists(root + "/io.bfq.weight") || FS.exists(root + "/io.weight"))
            s.blkioThrottle = controllers.contains("io")
        } else {
            s.cpus = read(root + "/cpuset/cpuset.cpus")
            s.mems = read(root + "/cpuset/cpuset.mems")
            s.blkioWeight = FS.exists(root + "/blkio/blkio.weight") || FS.exists(root + "/blkio/blkio.bfq.weight")
            s.blkioThrottle = FS.exists(root + "/blkio/blkio.throttle.read_bps_device")
            s.swappiness = FS.exists(root + "/memory/memory.swappiness")
            s.realtime = FS.exists(root + "/cpu/cpu.rt_period_us")
        }
        if s.cpus.isEmpty { s.cpus = read("/sys/devices/system/cpu/online") }
        if s.mems.isEmpty { s.mems = "0" }
        return s
    }
}

/// dockerd's checks of a container's Resources at create and update, in its words. Returns
/// the warnings; `r` loses what the host cannot enforce.
enum ResourceChecks {
    static let minimumMemory: Int64 = 6 * 1024 * 1024

    static func check(_ r: inout Resources, update: Bool, host: CgroupSupport, cpuCount: Int) throws(EngineError) -> [String] {
        var warnings: [String] = []
        warnings += discardUnsupported(&r, host)
        // memory
        if r.memory != 0 && r.memory < minimumMemory { throw .badRequest("Minimum memory limit allowed is 6MB") }
        if r.memory > 0 && r.memorySwap > 0 && r.memorySwap < r.memory {
            throw .badRequest("Minimum memoryswap limit should be larger than memory limit, see usage")
        }
        if r.memory == 0 && r.memorySwap > 0 && !update {
            throw .badRequest("You should always set the Memory limit when using Memoryswap limit, see usage")
        }
        if let s = r.memorySwappiness, s != -1 {
            guard (0...100).contains(s) else { throw .badRequest("Invalid value: \(s), valid memory swappiness range is 0-100") }
            if !host.swappiness {
                warnings.append("Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.")
                r.memorySwappiness = nil
            }
        }
        if r.memoryReservation > 0 && r.memoryReservation < minimumMemory { throw .badRequest("Minimum memory reservation allowed is 6MB") }
        if r.memory > 0 && r.memoryReservation > 0 && r.memory < r.memoryReservation {
            throw .badRequest("Minimum memory limit can not be less than memory reservation limit, see usage")
        }
        if r.kernelMemory != 0 || r.kernelMemoryTCP != 0 {
            warnings.append("Kernel memory limits are deprecated and not enforced by Berth. Limitation discarded.")
            r.kernelMemory = 0
            r.kernelMemoryTCP = 0
        }
        if r.oomKillDisable == true && r.memory == 0 {
            warnings.append("OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.")
        }
        // cpu
        if r.nanoCpus > 0 && r.cpuPeriod > 0 { throw .badRequest("Conflicting options: Nano CPUs and CPU Period cannot both be set") }
        if r.nanoCpus > 0 && r.cpuQuota > 0 { throw .badRequest("Conflicting options: Nano CPUs and CPU Quota cannot both be set") }
        if r.nanoCpus != 0 && (r.nanoCpus < 0 || r.nanoCpus > Int64(cpuCount) * 1_000_000_000) {
            throw .badRequest("Range of CPUs is from 0.01 to \(cpuCount).00, as there are only \(cpuCount) CPUs available")
        }
        if r.cpuPeriod != 0 && (r.cpuPeriod < 1000 || r.cpuPeriod > 1_000_000) {
            throw .badRequest("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)")
        }
        if r.cpuQuota > 0 && r.cpuQuota < 1000 { throw .badRequest("CPU cfs quota can not be less than 1ms (i.e. 1000)") }
        // As dockerd: accepted where the kernel has the real-time group scheduler; the parent
        // cgroup needs a real-time budget for a start to succeed (runc says so if not).
        if r.cpuRealtimePeriod > 0 && !host.realtime { throw .badRequest("Your kernel does not support cgroup cpu real-time period") }
        if r.cpuRealtimeRuntime > 0 && !host.realtime { throw .badRequest("Your kernel does not support cgroup cpu real-time runtime") }
        if r.cpuRealtimePeriod != 0 && r.cpuRealtimeRuntime != 0 && r.cpuRealtimeRuntime > r.cpuRealtimePeriod {
            throw .badRequest("cpu real-time runtime cannot be higher than cpu real-time period")
        }
        if r.cpuPercent > 0 { warnings.append("linux does not support CPU percent. Percent discarded."); r.cpuPercent = 0 }
        if r.cpuCount > 0 { warnings.append("linux does not support CPU count. Count discarded."); r.cpuCount = 0 }
        // cpuset
        if !r.cpusetCpus.isEmpty {
            guard let wanted = parseList(r.cpusetCpus) else {
                throw .badRequest("Invalid value \(r.cpusetCpus) for cpuset cpus: invalid format: \(r.cpusetCpus)")
            }
            guard wanted.isSubset(of: parseList(host.cpus) ?? []) else {
                throw .badRequest("Requested CPUs are not available - requested \(r.cpusetCpus), available: \(host.cpus)")
            }
        }
        if !r.cpusetMems.isEmpty {
            guard let wanted = parseList(r.cpusetMems) else {
                throw .badRequest("Invalid value \(r.cpusetMems) for cpuset mems: invalid format: \(r.cpusetMems)")
            }
            guard wanted.isSubset(of: parseList(host.mems) ?? []) else {
                throw .badRequest("Requested memory nodes are not available - requested \(r.cpusetMems), available: \(host.mems)")
            }
        }
        // blkio
        if r.blkioWeight > 0 && !host.blkioWeight {
            warnings.append("Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.")
            r.blkioWeight = 0
        }
        if r.blkioWeight > 0 && (r.blkioWeight < 10 || r.blkioWeight > 1000) { throw .badRequest("Range of blkio weight is from 10 to 1000") }
        if r.ioMaximumBandwidth != 0 || r.ioMaximumIOps != 0 {
            throw .badRequest("Invalid QoS settings: linux does not support Maximum IO Bandwidth or Maximum IO IOps")
        }
        if !(r.blkioWeightDevice ?? []).isEmpty && !host.blkioWeight {
            warnings.append("Your kernel does not support Block I/O weight_device or the cgroup is not mounted. Weight-device discarded.")
            r.blkioWeightDevice = []
        }
        let throttles = [r.blkioDeviceReadBps, r.blkioDeviceWriteBps, r.blkioDeviceReadIOps, r.blkioDeviceWriteIOps]
        if throttles.contains(where: { !($0 ?? []).isEmpty }) && !host.blkioThrottle {
            warnings.append("Your kernel does not support Block I/O throttling or the cgroup is not mounted. Block I/O limits discarded.")
            r.blkioDeviceReadBps = []; r.blkioDeviceWriteBps = []; r.blkioDeviceReadIOps = []; r.blkioDeviceWriteIOps = []
        }
        for d in (r.blkioWeightDevice ?? []).map(\.path) + throttles.flatMap({ ($0 ?? []).map(\.path) }) {
            guard let dev = HostDevices.device(at: d), dev.type == "b" else {
                throw .badRequest("error gathering device information for \"\(d)\": not a block device")
            }
        }
        for w in r.blkioWeightDevice ?? [] where w.weight < 10 || w.weight > 1000 {
            throw .badRequest("invalid weight for device: \(w.path):\(w.weight)")
        }
        // devices by driver (GPUs): none here
        if let req = r.deviceRequests?.first {
            let caps = (req.capabilities ?? []).map { "[" + $0.joined(separator: " ") + "]" }.joined(separator: " ")
            throw .badRequest("could not select device driver \"\(req.driver)\" with capabilities: [\(caps)]")
        }
        return warnings
    }

    /// Limits whose controller the daemon cannot use (rootless: none, or what a delegation
    /// lacks) are dropped with dockerd's words (daemon_unix.go's verifyPlatformContainerResources
    /// when sysinfo lacks the controller).
    static func discardUnsupported(_ r: inout Resources, _ host: CgroupSupport) -> [String] {
        var w: [String] = []
        if !host.memory { w += discardMemory(&r) }
        if !host.pids, let p = r.pidsLimit {
            if p > 0 { w.append("Your kernel does not support PIDs limit capabilities or the cgroup is not mounted. PIDs limit discarded.") }
            r.pidsLimit = nil
        }
        if !host.cpu { w += discardCPU(&r) }
        if !host.cpuset && (!r.cpusetCpus.isEmpty || !r.cpusetMems.isEmpty) {
            w.append("Your kernel does not support cpuset or the cgroup is not mounted. Cpuset discarded.")
            r.cpusetCpus = ""
            r.cpusetMems = ""
        }
        return w
    }

    static func discardMemory(_ r: inout Resources) -> [String] {
        var w: [String] = []
        if r.memory > 0 {
            w.append("Your kernel does not support memory limit capabilities or the cgroup is not mounted. Limitation discarded.")
            r.memory = 0
            r.memorySwap = 0
        }
        if r.memorySwap > 0 {
            w.append("Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.")
            r.memorySwap = 0
        }
        if r.memoryReservation > 0 {
            w.append("Your kernel does not support memory soft limit capabilities or the cgroup is not mounted. Limitation discarded.")
            r.memoryReservation = 0
        }
        if let s = r.memorySwappiness, s != -1 {
            w.append("Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.")
            r.memorySwappiness = nil
        }
        if r.oomKillDisable == true { w.append("Your kernel does not support OomKillDisable. OomKillDisable discarded.") }
        r.oomKillDisable = nil
        return w
    }

    static func discardCPU(_ r: inout Resources) -> [String] {
        var w: [String] = []
        if r.cpuShares > 0 {
            w.append("Your kernel does not support CPU shares or the cgroup is not mounted. Shares discarded.")
            r.cpuShares = 0
        }
        if r.cpuPeriod != 0 || r.cpuQuota != 0 {
            w.append("Your kernel does not support CPU CFS scheduler. CPU period/quota discarded.")
            r.cpuPeriod = 0
            r.cpuQuota = 0
        }
        if r.nanoCpus > 0 {
            w.append("Your kernel does not support CPU CFS scheduler. NanoCPUs discarded.")
            r.nanoCpus = 0
        }
        return w
    }

    /// A cpuset list (`0-2,4`) as numbers; nil when malformed.
    static func parseList(_ text: String) -> Set<Int>? {
        var out = Set<Int>()
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
            guard (1...2).contains(bounds.count), let lo = Int(bounds[0]), lo >= 0, lo < 65536 else { return nil }
            let hi = bounds.count == 2 ? Int(bounds[1]) : lo
            guard let hi, hi >= lo, hi < 65536 else { return nil }
            out.formUnion(lo...hi)
        }
        return out
    }

    /// The host-level options of HostConfig dockerd checks besides Resources.
    static func checkHost(_ h: HostConfig, runtimes: Set<String>) throws(EngineError) {
        if !h.isolation.isEmpty && h.isolation != "default" {
            throw .badRequest("Invalid isolation: \"\(h.isolation)\" - linux only supports 'default'")
        }
        if !h.runtime.isEmpty && !runtimes.contains(h.runtime) { throw .badRequest("Unknown runtime specified \(h.runtime)") }
        if h.shmSize < 0 { throw .badRequest("SHM size can not be less than 0") }
    }

    /// The cgroup a container lives in: Berth's own tree unless the client named a parent
    /// (Kubernetes' pod cgroups through cri-dockerd).
    static func cgroupParent(_ r: Resources) -> String {
        let p = r.cgroupParent
        if p.isEmpty { return "/berth" }
        // Clean it so it cannot climb out of the hierarchy it names.
        var parts: [Substring] = []
        for c in p.split(separator: "/") where c != "." && !c.isEmpty {
            if c == ".." { _ = parts.popLast() } else { parts.append(c) }
        }
        return parts.isEmpty ? "" : "/" + parts.joined(separator: "/")
    }
}

extension Engine {
    /// The cgroup a container goes under: Berth's tree (rootful) or the delegated subtree
    /// (rootless), a client's parent confined beneath the latter.
    nonisolated func cgroupParent(_ r: Resources) -> String {
        guard let d = config.rootless?.delegation else { return ResourceChecks.cgroupParent(r) }
        return r.cgroupParent.isEmpty ? d.containersPath : d.containersPath + ResourceChecks.cgroupParent(r)
    }
}
