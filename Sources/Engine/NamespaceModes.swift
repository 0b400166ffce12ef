import JSON
import Runtime
import Sys

/// HostConfig's namespace modes (`PidMode`, `IpcMode`, `UTSMode`, and the parts of a
/// `container:<id>` network mode the OCI spec carries), `Sysctls` and `OomScoreAdj`, as dockerd
/// turns them into the runtime spec. A mode Berth does not know is refused, never ignored.
enum NamespaceModes {
    /// Docker's allow-list (moby's ValidateSysctl): namespaced sysctls only.
    static let sysctlNames: Set<String> = ["kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
                                           "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"]

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
        switch h["PidMode"].string ?? "" {
        case "": break
        case "host": s.pidNamespace = ""
        case let m where m.hasPrefix("container:"):
            s.pidNamespace = "/proc/\(try namespaceSource(m, kind: "PID namespace").state.pid)/ns/pid"
        case let m: throw .badRequest("invalid PID mode: \(m)")
        }
        switch h["IpcMode"].string ?? "" {
        case "", "private", "shareable", "none": break
        case "host": s.ipcHost = true
        case let m where m.hasPrefix("container:"):
            let other = try namespaceSource(m, kind: "IPC namespace")
            s.ipcNamespace = "/proc/\(other.state.pid)/ns/ipc"
            s.sharedShm = "/proc/\(other.state.pid)/root/dev/shm"
        case let m: throw .badRequest("invalid IPC mode: \(m)")
        }
        switch h["UTSMode"].string ?? "" {
        case "": break
        case "host": s.utsHost = true
        case let m: throw .badRequest("invalid UTS mode: \(m)")
        }
        // `container:<id>` networking: the target's hostname too, and when the target uses the
        // host's network no sysctls for a namespace that is the host's.
        if c.networkMode.hasPrefix("container:"), let other = try? container(String(c.networkMode.dropFirst("container:".count))) {
            s.hostname = other.config["Hostname"].string ?? other.shortID
            s.hostnameFile = dir(other.id) + "/hostname"
            if other.networkMode == "host" { s.defaultNetSysctls = false }
        }
        let sysctls = h["Sysctls"].stringMap ?? [:]
        let netHost = c.networkMode == "host" || !s.defaultNetSysctls
        try NamespaceModes.validateSysctls(sysctls, ipcHost: s.ipcHost, netHost: netHost)
        s.sysctls = sysctls
        if let adj = h["OomScoreAdj"].int, adj != 0 {
            guard (-1000...1000).contains(adj) else { throw .badRequest("Invalid value \(adj), range for oom score adj is [-1000, 1000]") }
            s.oomScoreAdj = Int(adj)
        }
    }
}
