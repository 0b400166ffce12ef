import Foundation
import JSON
import Runtime
import Sys

/// `/etc/berth/daemon.json` (or `--config-file`): Docker's daemon.json keys where they exist
/// (`data-root`, `exec-root`, `hosts`, `insecure-registries`, `registry-mirrors` for Docker Hub,
/// `max-concurrent-downloads`, `bridge`, `bip`, `init-path`), plus Berth's `mirrors` (any registry → its mirrors, in order),
/// `certs-dir` and `loopback-is-insecure`.
struct DaemonConfig {
    var dataRoot: String?
    var execRoot: String?
    var hosts: [String] = []
    var tlsVerify = false
    var tlsCACert: String? = nil, tlsCert: String? = nil, tlsKey: String? = nil
    var insecureRegistries: [String] = []
    var mirrors: [String: [String]] = [:]
    var maxConcurrentDownloads: Int?
    var certsDirs: [String] = ["/etc/berth/certs.d", "/etc/docker/certs.d"]
    var loopbackIsInsecure = true
    var uploadChunkSize: Int64 = 32 << 20
    /// Berth's `max-upload-size` (bytes): the most an uploaded archive (build context, `load`,
    /// `import`, `cp` into a container) may be; beyond it the request is refused and its spool
    /// file removed, so one client cannot fill the disk under the data root.
    var maxUploadSize: Int64? = nil
    /// Docker's `userns-remap`: `default`, `user`, `user:group`, `uid[:gid]`.
    var usernsRemap: String? = nil
    /// Docker's `bridge` (the default bridge's device) and `bip` (its gateway/prefix).
    var bridge: String? = nil
    var bip: String? = nil
    /// Docker's `init-path`: the binary `run --init` puts at /sbin/docker-init.
    var initPath: String? = nil
    /// Docker's `default-ulimits`: `{"nofile": {"Name": "nofile", "Soft": 1024, "Hard": 2048}}`.
    var defaultUlimits: [(name: String, soft: Int64, hard: Int64)] = []
    /// Docker's `runtimes` (`{"name": {"path": "/usr/bin/crun", "runtimeArgs": [...]}}`) and
    /// `default-runtime`; runc is always there.
    var runtimes: [String: OCIRuntime] = [:]
    var defaultRuntime: String? = nil
    /// Berth's `cgroup-favordynmods` (default true): set the cgroup2 mount option that makes
    /// moving a process into a cgroup cheap (see `CgroupDynamicMods`); false leaves the host's
    /// mount as it is.
    var cgroupFavorDynmods: Bool? = nil

    /// A runtime as daemon.json or `--add-runtime name=path` gives it, checked as dockerd does.
    static func addRuntime(_ name: String, path: String, args: [String], to runtimes: inout [String: OCIRuntime]) throws {
        if OCIRuntime.reservedNames.contains(name) { throw ConfigError("runtime name '\(name)' is reserved") }
        guard OCIRuntime.validName(name) else { throw ConfigError("runtime name \(String(reflecting: name)) is not valid") }
        guard !path.isEmpty else { throw ConfigError("runtime \(name): either a runtimeType or a path must be configured") }
        runtimes[name] = OCIRuntime(name: name, path: path, args: args)
    }

    /// The runtimes with runc (and Berth's own where installed, then the default), and the
    /// default checked to be one of them.
    static func resolveRuntimes(_ configured: [String: OCIRuntime], default name: String?, berth: OCIRuntime? = nil) throws -> (
        [String: OCIRuntime], String
    ) {
        var all = configured
        all[OCIRuntime.stockName] = .stock
        if let berth { all[OCIRuntime.berthName] = berth }
        let d = name.flatMap { $0.isEmpty ? nil : $0 } ?? (berth == nil ? OCIRuntime.stockName : OCIRuntime.berthName)
        guard all[d] != nil else { throw ConfigError("specified default runtime '\(d)' does not exist") }
        return (all, d)
    }

    static func load(_ path: String, required: Bool) throws -> DaemonConfig {
        var c = DaemonConfig()
        guard FS.exists(path) else {
            if required { throw SysError("open \(path)", errno: ENOENT) }
            return c
        }
        let j: JSON
        do { j = try JSON.parse(FS.read(path)) } catch {
            throw ConfigError("unable to configure the daemon with file \(path): \(error)")
        }
        guard let keys = j.object?.keys else { throw ConfigError("unable to configure the daemon with file \(path): not a JSON object") }
        // A key Berth does not act on is refused, never ignored: an operator who writes
        // `userns-remap` must not believe containers are remapped.
        let unsupported = keys.filter { DaemonConfig.dockerOnlyKeys.contains($0) }.sorted()
        if !unsupported.isEmpty {
            throw ConfigError("unable to configure the daemon with file \(path): not supported by Berth: \(unsupported.joined(separator: ", "))")
        }
        let unknown = keys.filter { !DaemonConfig.keys.contains($0) }.sorted()
        if !unknown.isEmpty {
            throw ConfigError(
                "unable to configure the daemon with file \(path): the following directives don't match any configuration option: \(unknown.joined(separator: ", "))"
            )
        }
        c.dataRoot = j["data-root"].string
        c.execRoot = j["exec-root"].string
        c.hosts = j["hosts"].stringArray ?? []
        c.tlsVerify = j["tlsverify"].bool ?? false
        c.tlsCACert = j["tlscacert"].string
        c.tlsCert = j["tlscert"].string
        c.tlsKey = j["tlskey"].string
        c.insecureRegistries = j["insecure-registries"].stringArray ?? []
        if let hub = j["registry-mirrors"].stringArray { c.mirrors["docker.io"] = hub }
        for (k, v) in j["mirrors"].object ?? JSONObject() { c.mirrors[k] = v.stringArray ?? [] }
        c.maxConcurrentDownloads = j["max-concurrent-downloads"].int.map { Int($0) }
        // Berth's own keys: where per-registry TLS material lives (Docker's certs.d layout), and
        // whether loopback registries count as insecure (Docker: always).
        if let dir = j["certs-dir"].string { c.certsDirs = [dir] + c.certsDirs }
        if let b = j["loopback-is-insecure"].bool { c.loopbackIsInsecure = b }
        if let n = j["upload-chunk-size"].int { c.uploadChunkSize = n }
        if let n = j["max-upload-size"].int {
            guard n > 0 else { throw ConfigError("max-upload-size must be a positive number of bytes, not \(n)") }
            c.maxUploadSize = n
        }
        c.usernsRemap = j["userns-remap"].string.flatMap { $0.isEmpty ? nil : $0 }
        c.bridge = j["bridge"].string
        c.bip = j["bip"].string
        c.initPath = j["init-path"].string
        for (name, u) in (j["default-ulimits"].object ?? JSONObject()).sorted(by: { $0.0 < $1.0 }) {
            let soft = u["Soft"].int ?? 0, hard = u["Hard"].int ?? 0
            guard soft <= hard else { throw ConfigError("default-ulimits \(name): soft limit \(soft) is above the hard limit \(hard)") }
            c.defaultUlimits.append((u["Name"].string ?? name, soft, hard))
        }
        for (name, r) in (j["runtimes"].object ?? JSONObject()).sorted(by: { $0.0 < $1.0 }) {
            guard r.object != nil else { throw ConfigError("runtime \(name): expected an object with a path") }
            // containerd shims (runtimeType) are not something berthd can drive: refused by name.
            if r["runtimeType"].string.map({ !$0.isEmpty }) == true || r["options"].object != nil {
                throw ConfigError(
                    "runtime \(name): runtimeType and options (containerd shims) are not supported by Berth: give a path to a runc-compatible runtime")
            }
            try addRuntime(name, path: r["path"].string ?? "", args: r["runtimeArgs"].stringArray ?? [], to: &c.runtimes)
        }
        c.defaultRuntime = j["default-runtime"].string
        if j["cgroup-favordynmods"] != .null {
            guard let b = j["cgroup-favordynmods"].bool else { throw ConfigError("cgroup-favordynmods must be true or false") }
            c.cgroupFavorDynmods = b
        }
        return c
    }

    /// The keys Berth reads.
    static let keys: Set<String> = [
        "max-upload-size", "userns-remap",
        "data-root", "exec-root", "hosts", "insecure-registries", "registry-mirrors", "mirrors",
        "max-concurrent-downloads", "certs-dir", "loopback-is-insecure", "upload-chunk-size", "bridge", "bip",
        "init-path", "default-ulimits", "tlsverify", "tlscacert", "tlscert", "tlskey", "runtimes", "default-runtime",
        "cgroup-favordynmods",
    ]
    /// dockerd's daemon.json keys that Berth does not implement.
    static let dockerOnlyKeys: Set<String> = [
        "allow-nondistributable-artifacts", "api-cors-header", "authorization-plugins", "builder", "cgroup-parent", "cluster-advertise",
        "cluster-store", "cluster-store-opts", "containerd", "containerd-namespace", "containerd-plugin-namespace", "cpu-rt-period",
        "cpu-rt-runtime", "data-root-opts", "debug", "default-address-pools", "default-cgroupns-mode", "default-gateway",
        "default-gateway-v6", "default-ipc-mode", "default-shm-size", "dns", "dns-opts", "dns-search", "exec-opts",
        "exec-root-opts", "experimental", "features", "fixed-cidr", "fixed-cidr-v6", "group", "host-gateway-ip", "hosts-opts", "icc",
        "init", "ip", "ip-forward", "ip-masq", "ip6tables", "iptables", "ipv6", "labels", "live-restore", "log-driver", "log-format",
        "log-level", "log-opts", "max-concurrent-uploads", "max-download-attempts", "metrics-addr", "mtu", "no-new-privileges",
        "node-generic-resources", "oom-score-adjust", "pidfile", "raw-logs", "seccomp-profile", "selinux-enabled",
        "shutdown-timeout", "storage-driver", "storage-opts", "swarm-default-advertise-addr", "tls",
        "userland-proxy", "userland-proxy-path",
    ]

    struct ConfigError: Error, CustomStringConvertible { let description: String; init(_ d: String) { description = d } }
}
