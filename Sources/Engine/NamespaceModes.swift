import CSys
import Glibc
import JSON
import Runtime
import Sys

/// HostConfig's namespace modes (`PidMode`, `IpcMode`, `UTSMode`, and the parts of a
/// `container:<id>` network mode the OCI spec carries), `Sysctls` and `OomScoreAdj`, as dockerd
/// turns them into the runtime spec. A mode Berth does not know is refused, never ignored.
enum NamespaceModes {
    /// Docker's allow-list (moby's ValidateSysctl): namespaced sysctls only.
    static let sysctlNames: Set<String> = [
        "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
        "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
    ]

    /// Lowering an OOM score below the daemon's own needs CAP_SYS_RESOURCE, which some hosts
    /// withhold even from root (this VM does): there the value is raised to the daemon's own,
    /// the lowest the kernel allows, rather than failing every start (Kubernetes' sandboxes ask
    /// for -998). Create reports it as a warning.
    static func applicableOomScoreAdj(_ wanted: Int) -> Int {
        guard wanted < 0, !LinuxCapabilities.bounding().contains("CAP_SYS_RESOURCE") else { return wanted }
        let own = Int(((try? FS.readString("/proc/self/oom_score_adj")) ?? "0").trimmingSpaces()) ?? 0
        return max(wanted, own)
    }

    static func validateSysctls(_ sysctls: [String: String], ipcHost: Bool, netHost: Bool) throws(EngineError) {
        for key in sysctls.keys.sorted() {
            let ipc = sysctlNames.contains(key) || key.hasPrefix("fs.mqueue.")
            if ipc {
                if ipcHost { throw .badRequest("sysctl '\(key)' not allowed in host IPC namespace") }
                continue
            }
            if key.hasPrefix("net.") {
                if netHost { throw .badRequest("sysctl '\(key)' not allowed in host network namespace") }
                continue
            }
            throw .badRequest("sysctl '\(key)' is not whitelisted")
        }
    }
}

extension Engine {
    func shmPath(_ id: String) -> String { dir(id) + "/mounts/shm" }

    /// A `shareable` container's /dev/shm: a tmpfs on the host, bound into it and into the
    /// containers that join its IPC namespace; unmounted when it stops.
    func mountShareableShm(_ c: Container, size: Int64) throws(EngineError) -> String {
        let path = shmPath(c.id)
        if FS.isMountPoint(path) { return path }
        do { try FS.mkdirAll(path, mode: 0o700) } catch { throw .wrapping(error) }
        guard mount("shm", path, "tmpfs", UInt(MS_NOSUID | MS_NODEV | MS_NOEXEC), "mode=1777,size=\(size)") == 0 else {
            throw .internalError("mounting /dev/shm for \(c.shortID): \(SysError("mount"))")
        }
        return path
    }

    /// At a stop or removal: the shareable /dev/shm goes (lazily, in case a joiner still has it).
    func unmountShareableShm(_ id: String) {
        if FS.isMountPoint(shmPath(id)) { umount2(shmPath(id), Int32(MNT_DETACH)) }
    }

    /// Another container whose namespaces a mode names (`container:<name or id>`): it must run.
    func namespaceSource(_ mode: String, kind: String) throws(EngineError) -> Container {
        let ref = String(mode.dropFirst("container:".count))
        let other = try container(ref)
        guard other.state.running, other.state.pid > 0 else {
            throw .conflict("cannot join \(kind) of a non running container: \(other.id)")
        }
        return other
    }

    func applyNamespaceModes(_ s: inout BundleSpec, _ c: Container) throws(EngineError) {
        let h = c.hostConfig
        switch h.pidMode {
        case "": break
        case "host": s.pidNamespace = ""
        case let m where m.hasPrefix("container:"):
            s.pidNamespace = "/proc/\(try namespaceSource(m, kind: "PID namespace").state.pid)/ns/pid"
        case let m: throw .badRequest("invalid PID mode: \(m)")
        }
        switch h.ipcMode {
        case "", "private", "none": break
        case "shareable":
            // As dockerd: the /dev/shm others may join lives on the host, mounted here.
            s.sharedShm = try mountShareableShm(c, size: s.shmSize)
        case "host": s.ipcHost = true
        case let m where m.hasPrefix("container:"):
            let other = try namespaceSource(m, kind: "IPC namespace")
            // A donor on the host's IPC namespace passes that on (Kubernetes' hostIPC pods).
            if other.hostConfig.ipcMode == "host" {
                s.ipcHost = true
                break
            }
            guard other.hostConfig.ipcMode == "shareable", FS.isMountPoint(shmPath(other.id)) else {
                throw .badRequest("cannot join IPC of container \(other.id): non-shareable IPC (hint: use IpcMode:shareable for the donor container)")
            }
            s.ipcNamespace = "/proc/\(other.state.pid)/ns/ipc"
            s.sharedShm = shmPath(other.id)
        case let m: throw .badRequest("invalid IPC mode: \(m)")
        }
        switch h.utsMode {
        case "": break
        case "host": s.utsHost = true
        case let m: throw .badRequest("invalid UTS mode: \(m)")
        }
        // `container:<id>` networking: the target's hostname too, and when the target uses the
        // host's network no sysctls for a namespace that is the host's.
        if c.networkMode.hasPrefix("container:"), let other = try? container(String(c.networkMode.dropFirst("container:".count))) {
            s.hostname = other.config.hostname.isEmpty ? other.shortID : other.config.hostname
            s.hostnameFile = dir(other.id) + "/hostname"
            if other.networkMode == "host" { s.defaultNetSysctls = false }
        }
        let sysctls = h.sysctls ?? [:]
        let netHost = c.networkMode == "host" || !s.defaultNetSysctls
        try NamespaceModes.validateSysctls(sysctls, ipcHost: s.ipcHost, netHost: netHost)
        s.sysctls = sysctls
        if case let adj = h.oomScoreAdj, adj != 0 {
            guard (-1000...1000).contains(adj) else { throw .badRequest("Invalid value \(adj), range for oom score adj is [-1000, 1000]") }
            s.oomScoreAdj = NamespaceModes.applicableOomScoreAdj(adj)
        }
    }
}
