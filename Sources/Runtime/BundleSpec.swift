import JSON
import Sys

/// Everything the OCI runtime config is made from; filled by the engine from the container's
/// Config and HostConfig.
public struct BundleSpec: Sendable {
    public var id: String
    public var rootfs: String
    public var args: [String]
    public var env: [String]
    public var cwd: String
    public var user: ResolvedUser
    public var hostname: String
    public var terminal = false
    /// Initial TTY size (rows, columns); 0 leaves it to the first resize.
    public var consoleSize: (rows: Int, cols: Int) = (0, 0)
    public var readonlyRootfs = false
    public var resolvConf: String
    public var hostsFile: String
    public var hostnameFile: String
    public var memory: Int64 = 0
    public var memorySwap: Int64 = 0
    public var cpuShares: Int64 = 0
    public var cpuQuota: Int64 = 0
    public var cpuPeriod: Int64 = 0
    public var pidsLimit: Int64 = 0
    public var memoryReservation: Int64 = 0
    public var memorySwappiness: Int64? = nil
    public var oomKillDisable = false
    public var cpusetCpus = ""
    public var cpuRealtimePeriod: Int64 = 0
    public var cpuRealtimeRuntime: Int64 = 0
    public var cpusetMems = ""
    public var blkioWeight: UInt16 = 0
    public var blkioWeightDevices: [(major: Int64, minor: Int64, weight: UInt16)] = []
    /// OCI blockIO key (`throttleReadBpsDevice`, …) → (major, minor, rate).
    public var blkioThrottles: [String: [(major: Int64, minor: Int64, rate: UInt64)]] = [:]
    /// The OCI spec's annotations (HostConfig.Annotations, API 1.43).
    public var annotations: [String: String] = [:]
    public var privileged = false
    /// For `privileged`: what "all capabilities" means here (the daemon's bounding set) and the
    /// host's devices, which runc creates in the container's /dev.
    public var allCapabilities: [String] = []
    public var hostDevices: [HostDevices.Device] = []
    /// `--init`: this binary is bind-mounted at /sbin/docker-init and runs the command.
    public var initBinary: String? = nil
    public var capAdd: [String] = []
    public var capDrop: [String] = []
    public var shmSize: Int64 = 67_108_864
    public var cgroupParent = "/berth"
    /// False where the daemon cannot create cgroups (rootless without delegation): no path and
    /// no resources, so runc, rootless, skips the cgroups it may not make instead of failing.
    public var cgroups = true
    /// The network namespace to join (a path); nil with `hostNetwork` false: a fresh one.
    public var networkNamespace: String? = nil
    public var hostNetwork = false
    /// `--pid`: nil a new namespace, "" the host's, otherwise a namespace path to join.
    public var pidNamespace: String? = nil
    /// `--ipc host` (the host's IPC namespace and /dev/shm), `--uts host` (its hostname).
    public var ipcHost = false
    public var utsHost = false
    /// `--ipc container:<id>`: that container's IPC namespace, and its /dev/shm (a host path).
    public var ipcNamespace: String? = nil
    public var sharedShm: String? = nil
    /// The sysctls dockerd sets in a container's own network namespace; off when the network
    /// namespace is the host's (directly or through a container that uses it).
    public var defaultNetSysctls = true
    /// `--sysctl` (validated by the engine), `--oom-score-adj`.
    public var sysctls: [String: String] = [:]
    public var oomScoreAdj: Int? = nil
    /// `--security-opt no-new-privileges`, `seccomp=unconfined`, `systempaths=unconfined`.
    public var noNewPrivileges = false
    public var seccompUnconfined = false
    /// A profile the client sent (Docker's format, resolved when the spec is built).
    public var seccompProfile: JSON? = nil
    /// `HostConfig.MaskedPaths`/`ReadonlyPaths` when the client sent them (nil: Docker's lists).
    public var maskedPathsOverride: [String]? = nil
    public var readonlyPathsOverride: [String]? = nil
    /// `--ulimit`: (RLIMIT_* name, soft, hard).
    public var rlimits: [(type: String, soft: Int64, hard: Int64)] = []
    /// `--device`: host devices created in the container, with their cgroup permissions.
    public var devices: [(device: HostDevices.Device, access: String)] = []
    /// `--device-cgroup-rule`: `c|b|a major:minor perms` allowed in the device cgroup.
    public var deviceRules: [JSON] = []
    /// `--cgroupns private`.
    public var cgroupNamespace = false
    /// Binds, volumes and tmpfs mounts (OCI mount objects), after the standard ones.
    public var extraMounts: [JSON] = []
    /// daemon `userns-remap`: the container gets its own user namespace with this mapping.
    public var userNamespace: UsernsRemap? = nil
    /// The highest group id the daemon's own user namespace maps (rootless), nil in the host's.
    public var daemonGroupTop: UInt32? = nil
    /// ...joined at this nsfs path (the one its network namespace belongs to).
    public var userNamespacePath: String? = nil

    public init(
        id: String, rootfs: String, args: [String], env: [String], cwd: String, user: ResolvedUser, hostname: String,
        resolvConf: String, hostsFile: String, hostnameFile: String
    ) {
        self.id = id; self.rootfs = rootfs; self.args = args; self.env = env; self.cwd = cwd; self.user = user
        self.hostname = hostname; self.resolvConf = resolvConf; self.hostsFile = hostsFile; self.hostnameFile = hostnameFile
    }
}

/// Builds the runtime `config.json`, matching what dockerd 20.10 generates (see
/// shared/reference/docker-20.10-captured/oci-config/default.json).
public enum OCISpecBuilder {
    public static let defaultCapabilities = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
    ]
    public static let initPathInContainer = "/sbin/docker-init"
    public static let allCapabilities = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID",
        "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
        "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
        "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
        "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
        "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    ]
    public static let maskedPaths = [
        "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
    ]
    public static let readonlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

    public static func capabilities(add: [String], drop: [String], all: [String] = allCapabilities) -> [String] {
        func norm(_ c: String) -> String { let u = c.uppercased(); return u.hasPrefix("CAP_") ? u : "CAP_" + u }
        let dropSet = Set(drop.map(norm))
        let addSet = add.map(norm)
        // `--cap-add ALL`: every capability this host grants; drops still apply after it.
        var caps = addSet.contains("CAP_ALL") ? all : dropSet.contains("CAP_ALL") ? [] : defaultCapabilities
        caps = caps.filter { !dropSet.contains($0) || addSet.contains($0) }
        for c in addSet where c != "CAP_ALL" && !caps.contains(c) { caps.append(c) }
        return caps
    }

    /// Capability names as `--cap-add`/`--cap-drop` take them: known ones or `ALL`.
    public static func unknownCapability(_ names: [String]) -> String? {
        names.first { n in
            let u = n.uppercased()
            let c = u.hasPrefix("CAP_") ? u : "CAP_" + u
            return c != "CAP_ALL" && !LinuxCapabilities.names.contains(String(c.dropFirst(4)))
        }
    }

    public static func build(_ s: BundleSpec) -> JSON {
        // Privileged: every capability (cap-add/drop do not apply, as in dockerd 20.10).
        let caps = JSON.strings(
            s.privileged
                ? (s.allCapabilities.isEmpty ? allCapabilities : s.allCapabilities)
                : capabilities(
                    add: s.capAdd, drop: s.capDrop,
                    all: s.allCapabilities.isEmpty ? allCapabilities : s.allCapabilities))
        // Privileged containers get /sys and the cgroup tree writable.
        let sysOptions: JSON = s.privileged ? ["nosuid", "noexec", "nodev"] : ["nosuid", "noexec", "nodev", "ro"]
        let cgroupOptions: JSON = s.privileged ? ["nosuid", "noexec", "nodev"] : ["ro", "nosuid", "noexec", "nodev"]
        var process: JSON = [
            "terminal": .bool(s.terminal),
            "user": [
                "uid": .int(Int64(s.user.uid)), "gid": .int(Int64(s.user.gid)),
                "additionalGids": .array(s.user.additionalGids.map { .int(Int64($0)) }),
            ],
            "args": JSON.strings((s.initBinary == nil ? [] : [OCISpecBuilder.initPathInContainer, "--"]) + s.args),
            "env": JSON.strings(s.env),
            "cwd": .string(s.cwd.isEmpty ? "/" : s.cwd),
            "capabilities": ["bounding": caps, "effective": caps, "permitted": caps],
            "oomScoreAdj": .int(Int64(s.oomScoreAdj ?? 0)),
        ]
        if !s.terminal { process["terminal"] = nil }
        if s.noNewPrivileges { process["noNewPrivileges"] = true }
        if !s.rlimits.isEmpty {
            process["rlimits"] = .array(s.rlimits.map { ["type": .string($0.type), "hard": .int($0.hard), "soft": .int($0.soft)] })
        }
        if s.terminal && s.consoleSize.rows > 0 && s.consoleSize.cols > 0 {
            process["consoleSize"] = ["height": .int(Int64(s.consoleSize.rows)), "width": .int(Int64(s.consoleSize.cols))]
        }
        var mounts: [JSON] = [
            ["destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]],
            ["destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]],
            [
                "destination": "/dev/pts", "type": "devpts", "source": "devpts",
                "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
            ],
            ["destination": "/sys", "type": "sysfs", "source": "sysfs", "options": sysOptions],
            ["destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": cgroupOptions],
            ["destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]],
        ]
        if let shared = s.sharedShm {
            mounts.append(["destination": "/dev/shm", "type": "bind", "source": .string(shared), "options": ["rbind", "rprivate"]])
        } else if !s.ipcHost {
            mounts.append([
                "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                "options": ["nosuid", "noexec", "nodev", "mode=1777", .string("size=\(s.shmSize)")],
            ])
        }
        if let initBinary = s.initBinary {
            mounts.append(["destination": .string(initPathInContainer), "type": "bind", "source": .string(initBinary), "options": ["bind", "ro"]])
        }
        // dockerd's order: binds and volumes, the three /etc files, then tmpfs mounts.
        mounts += s.extraMounts.filter { $0["type"].string != "tmpfs" }
        for (dest, src) in [("/etc/resolv.conf", s.resolvConf), ("/etc/hostname", s.hostnameFile), ("/etc/hosts", s.hostsFile)]
        where !s.extraMounts.contains(where: { $0["destination"].string == dest }) {
            mounts.append(["destination": .string(dest), "type": "bind", "source": .string(src), "options": ["rbind", "rprivate"]])
        }
        mounts += s.extraMounts.filter { $0["type"].string == "tmpfs" }
        // The host's IPC namespace comes with the host's /dev/shm (last, where dockerd puts it).
        if s.ipcHost { mounts.append(["destination": "/dev/shm", "type": "bind", "source": "/dev/shm", "options": ["rbind", "rprivate"]]) }
        var resources: JSON = [
            "devices": [
                ["allow": false, "access": "rwm"],
                ["allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"],
                ["allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"],
                ["allow": true, "type": "c", "major": 1, "minor": 9, "access": "rwm"],
                ["allow": true, "type": "c", "major": 1, "minor": 8, "access": "rwm"],
                ["allow": true, "type": "c", "major": 5, "minor": 0, "access": "rwm"],
                ["allow": true, "type": "c", "major": 5, "minor": 1, "access": "rwm"],
                ["allow": false, "type": "c", "major": 10, "minor": 229, "access": "rwm"],
            ],
            "memory": ["disableOOMKiller": .bool(s.oomKillDisable)],
            "cpu": ["shares": .int(s.cpuShares)],
            "blockIO": ["weight": .int(Int64(s.blkioWeight))],
        ]
        if s.memoryReservation > 0 { resources["memory"]["reservation"] = .int(s.memoryReservation) }
        if let swappiness = s.memorySwappiness { resources["memory"]["swappiness"] = .int(swappiness) }
        if !s.cpusetCpus.isEmpty { resources["cpu"]["cpus"] = .string(s.cpusetCpus) }
        if !s.cpusetMems.isEmpty { resources["cpu"]["mems"] = .string(s.cpusetMems) }
        if s.cpuRealtimePeriod > 0 { resources["cpu"]["realtimePeriod"] = .int(s.cpuRealtimePeriod) }
        if s.cpuRealtimeRuntime != 0 { resources["cpu"]["realtimeRuntime"] = .int(s.cpuRealtimeRuntime) }
        if !s.blkioWeightDevices.isEmpty {
            resources["blockIO"]["weightDevice"] = .array(
                s.blkioWeightDevices.map {
                    ["major": .int($0.major), "minor": .int($0.minor), "weight": .int(Int64($0.weight))]
                })
        }
        for (key, list) in s.blkioThrottles.sorted(by: { $0.key < $1.key }) {
            resources["blockIO"][key] = .array(list.map { ["major": .int($0.major), "minor": .int($0.minor), "rate": .int(Int64(clamping: $0.rate))] })
        }
        if s.privileged {
            resources["devices"] = [["allow": true, "access": "rwm"]]
        } else if !s.devices.isEmpty || !s.deviceRules.isEmpty {
            var rules = resources["devices"].array ?? []
            for d in s.devices {
                rules.append([
                    "allow": true, "type": .string(d.device.type), "major": .int(Int64(d.device.major)),
                    "minor": .int(Int64(d.device.minor)), "access": .string(d.access),
                ])
            }
            rules += s.deviceRules
            resources["devices"] = .array(rules)
        }
        if s.memory > 0 {
            resources["memory"]["limit"] = .int(s.memory)
            // Docker's default: swap allowance equal to the memory limit (total = 2x).
            resources["memory"]["swap"] = .int(s.memorySwap != 0 ? s.memorySwap : s.memory * 2)
        }
        if s.cpuQuota > 0 {
            resources["cpu"]["quota"] = .int(s.cpuQuota)
            resources["cpu"]["period"] = .int(s.cpuPeriod > 0 ? s.cpuPeriod : 100_000)
        }
        if s.pidsLimit > 0 { resources["pids"] = ["limit": .int(s.pidsLimit)] }
        // dockerd's order: mount, network, uts, pid, ipc — each left out when the host's is shared.
        var namespaces: [JSON] = [["type": "mount"]]
        if !s.hostNetwork { namespaces.append(s.networkNamespace.map { ["type": "network", "path": .string($0)] } ?? ["type": "network"]) }
        if !s.utsHost { namespaces.append(["type": "uts"]) }
        switch s.pidNamespace {
        case nil: namespaces.append(["type": "pid"])
        case let path? where !path.isEmpty: namespaces.append(["type": "pid", "path": .string(path)])
        default: break
        }
        if let path = s.ipcNamespace { namespaces.append(["type": "ipc", "path": .string(path)]) } else if !s.ipcHost { namespaces.append(["type": "ipc"]) }
        if s.cgroupNamespace { namespaces.append(["type": "cgroup"]) }
        if s.userNamespace != nil { namespaces.append(s.userNamespacePath.map { ["type": "user", "path": .string($0)] } ?? ["type": "user"]) }
        var sysctl: JSONObject = JSONObject()
        if s.defaultNetSysctls && !s.hostNetwork {
            sysctl["net.ipv4.ip_unprivileged_port_start"] = "0"
            // Inside a user namespace only its mapped groups can be named.
            sysctl["net.ipv4.ping_group_range"] = .string(
                s.userNamespace.map { "0 \($0.size - 1)" } ?? s.daemonGroupTop.map { "0 \($0)" } ?? "0 2147483647")
        }
        for (k, v) in s.sysctls.sorted(by: { $0.key < $1.key }) { sysctl[k] = .string(v) }
        var linux: JSON = [
            "sysctl": sysctl.isEmpty ? .null : .object(sysctl),
            "resources": s.cgroups ? resources : .null,
            "cgroupsPath": s.cgroups ? .string(s.cgroupParent + "/" + s.id) : .null,
            "namespaces": .array(namespaces),
        ]
        if !s.cgroups { linux["resources"] = nil; linux["cgroupsPath"] = nil }
        if let remap = s.userNamespace {
            func maps(_ m: [(container: UInt32, host: UInt32, size: UInt32)]) -> JSON {
                .array(m.map { ["containerID": .int(Int64($0.container)), "hostID": .int(Int64($0.host)), "size": .int(Int64($0.size))] })
            }
            linux["uidMappings"] = maps(remap.ociUIDMappings)
            linux["gidMappings"] = maps(remap.ociGIDMappings)
        }
        // dockerd sets no net.* sysctls in the host's namespace (runc refuses them there).
        if linux["sysctl"].isNull { linux["sysctl"] = nil }
        // A shared (or slave) bind needs the container's root mount to propagate likewise, or
        // runc makes it a slave of a private root and mounts never travel back (dockerd does this).
        let propagations = Set(s.extraMounts.flatMap { $0["options"].stringArray ?? [] })
        if propagations.contains("rshared") || propagations.contains("shared") {
            linux["rootfsPropagation"] = "shared"
        } else if propagations.contains("rslave") || propagations.contains("slave") {
            linux["rootfsPropagation"] = "slave"
        }
        if !s.devices.isEmpty {
            linux["devices"] = .array(
                s.devices.map { d in
                    [
                        "path": .string(d.device.path), "type": .string(d.device.type), "major": .int(Int64(d.device.major)),
                        "minor": .int(Int64(d.device.minor)), "fileMode": .int(Int64(d.device.mode)), "uid": .int(Int64(d.device.uid)),
                        "gid": .int(Int64(d.device.gid)),
                    ]
                })
        }
        if s.privileged && !s.hostDevices.isEmpty {
            linux["devices"] = .array(
                s.hostDevices.map {
                    [
                        "path": .string($0.path), "type": .string($0.type), "major": .int(Int64($0.major)), "minor": .int(Int64($0.minor)),
                        "fileMode": .int(Int64($0.mode)), "uid": .int(Int64($0.uid)), "gid": .int(Int64($0.gid)),
                    ]
                })
        }
        if !s.privileged {
            if !s.seccompUnconfined {
                let held = capabilities(add: s.capAdd, drop: s.capDrop, all: s.allCapabilities.isEmpty ? allCapabilities : s.allCapabilities)
                if let custom = s.seccompProfile, let resolved = try? SeccompProfile.resolve(custom, capabilities: held) {
                    linux["seccomp"] = resolved
                } else {
                    linux["seccomp"] = SeccompProfile.defaultProfile(capabilities: held)
                }
            }
            linux["maskedPaths"] = JSON.strings(s.maskedPathsOverride ?? maskedPaths)
            linux["readonlyPaths"] = JSON.strings(s.readonlyPathsOverride ?? readonlyPaths)
        }
        var spec: JSON = [
            "ociVersion": "1.0.2-dev",
            "process": process,
            "root": ["path": .string(s.rootfs), "readonly": .bool(s.readonlyRootfs)],
            "hostname": .string(s.hostname),
            "mounts": .array(mounts),
            "linux": linux,
        ]
        // Without a UTS namespace of its own there is no hostname to set (runc would refuse).
        if s.utsHost { spec["hostname"] = nil }
        if !s.annotations.isEmpty { spec["annotations"] = JSON.stringMap(s.annotations) }
        return spec
    }
}
