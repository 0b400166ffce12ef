import API
import BerthNet
import BuildKit
import Engine
import Foundation
import Runtime
import Sys

// berthd: the daemon. `-H unix:///path` or `-H tcp://host:port` (several), `--tlsverify
// --tlscacert --tlscert --tlskey`, `--data-root`, `--exec-root`, `--config-file`.
var hostFlags: [String] = []
var tlsVerifyFlag: Bool? = nil
var tlsCACertFlag: String? = nil, tlsCertFlag: String? = nil, tlsKeyFlag: String? = nil
var insecurePlainTCP = false
var dataRootFlag: String? = nil
var execRootFlag: String? = nil
var configFile: String? = nil
var usernsRemapFlag: String? = nil
var addRuntimeFlags: [String] = []
var defaultRuntimeFlag: String? = nil
var favorDynmodsFlag: Bool? = nil
var args = CommandLine.arguments.dropFirst().makeIterator()
while let a = args.next() {
    let (flag, inline): (String, String?) =
        a.contains("=") && a.hasPrefix("--")
        ? (String(a[..<a.firstIndex(of: "=")!]), String(a[a.index(after: a.firstIndex(of: "=")!)...])) : (a, nil)
    switch flag {
    case "--config-file": configFile = inline ?? args.next()
    case "-H", "--host": if let h = inline ?? args.next() { hostFlags.append(h) }
    case "--tlsverify": tlsVerifyFlag = inline.map { $0 != "false" } ?? true
    case "--tlscacert": tlsCACertFlag = inline ?? args.next()
    case "--tlscert": tlsCertFlag = inline ?? args.next()
    case "--tlskey": tlsKeyFlag = inline ?? args.next()
    case "--insecure-plain-tcp": insecurePlainTCP = true
    case "--data-root": dataRootFlag = inline ?? args.next()
    case "--exec-root": execRootFlag = inline ?? args.next()
    case "--userns-remap": usernsRemapFlag = inline ?? args.next()
    case "--add-runtime": if let r = inline ?? args.next() { addRuntimeFlags.append(r) }
    case "--default-runtime": defaultRuntimeFlag = inline ?? args.next()
    case "--cgroup-favordynmods":
        switch inline {
        case nil, "true", "1": favorDynmodsFlag = true
        case "false", "0": favorDynmodsFlag = false
        default:
            FileHandle.standardError.write("berthd: invalid value \"\(inline!)\" for flag --cgroup-favordynmods: expected true or false\n".data(using: .utf8)!)
            exit(2)
        }
    case "-v", "--version": print("Berth version 0.1.0"); exit(0)
    case "-h", "--help":
        print(
            """
            Usage: berthd [-H unix:///run/berth/berth.sock]... [-H tcp://[host]:2376 --tlsverify --tlscacert ca.pem --tlscert cert.pem \
            --tlskey key.pem] [--insecure-plain-tcp] [--data-root /var/lib/berth] [--exec-root /run/berth] [--userns-remap default|user[:group]] [--add-runtime name=path]... [--default-runtime name] [--cgroup-favordynmods=true|false] [--config-file /etc/berth/daemon.json]
            """)
        exit(0)
    default:
        FileHandle.standardError.write("berthd: unknown flag \(a)\n".data(using: .utf8)!)
        exit(2)
    }
}
// Rootless: an ordinary user's berthd restarts itself as a child in its own user, mount and
// network namespaces (Rootless.swift); that child runs the daemon below with the user's paths.
let rootlessState = RootlessParent.childState()
if let failure = rootlessState.failure {
    FileHandle.standardError.write("berthd: rootless: \(failure)\n".data(using: .utf8)!)
    exit(1)
}
if !rootlessState.isChild && geteuid() != 0 { RootlessParent.run(arguments: Array(CommandLine.arguments.dropFirst())) }
var rootlessPaths: RootlessPaths? = nil
if rootlessState.isChild {
    do { rootlessPaths = try RootlessPaths.current() } catch {
        FileHandle.standardError.write("berthd: rootless: \(error)\n".data(using: .utf8)!)
        exit(1)
    }
}
let config: DaemonConfig
var runtimes: [String: OCIRuntime]
let defaultRuntime: String
// Berth's own OCI runtime, installed next to berthd: available as `berth`, and the default.
let berthRuntimeBinary = Proc.executableDirectory() + "/berth-runtime"
let berthRuntime = FS.exists(berthRuntimeBinary) ? OCIRuntime(name: OCIRuntime.berthName, path: berthRuntimeBinary) : nil
do {
    config = try DaemonConfig.load(configFile ?? rootlessPaths?.configFile ?? "/etc/berth/daemon.json", required: configFile != nil)
    // `--add-runtime name=path` joins the file's runtimes; a name in both is a conflict, as in dockerd.
    var all = config.runtimes
    for spec in addRuntimeFlags {
        let kv = spec.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard kv.count == 2 else { throw DaemonConfig.ConfigError("--add-runtime \(spec): expected name=path") }
        if all[kv[0]] != nil { throw DaemonConfig.ConfigError("runtime \(kv[0]) is configured both by the --add-runtime flag and in the configuration file") }
        try DaemonConfig.addRuntime(kv[0], path: kv[1], args: [], to: &all)
    }
    if defaultRuntimeFlag != nil && config.defaultRuntime != nil {
        throw DaemonConfig.ConfigError("the following directives are specified both as a flag and in the configuration file: default-runtime")
    }
    if favorDynmodsFlag != nil && config.cgroupFavorDynmods != nil {
        throw DaemonConfig.ConfigError("the following directives are specified both as a flag and in the configuration file: cgroup-favordynmods")
    }
    (runtimes, defaultRuntime) = try DaemonConfig.resolveRuntimes(all, default: defaultRuntimeFlag ?? config.defaultRuntime, berth: berthRuntime)
} catch {
    FileHandle.standardError.write("berthd: \(error)\n".data(using: .utf8)!)
    exit(1)
}
let hosts = !hostFlags.isEmpty ? hostFlags : !config.hosts.isEmpty ? config.hosts : ["unix://" + (rootlessPaths?.socket ?? "/run/berth/berth.sock")]
var dataRoot = dataRootFlag ?? config.dataRoot ?? rootlessPaths?.dataRoot ?? "/var/lib/berth"
let baseDataRoot = dataRoot
// userns-remap: containers' root is a subordinate id; a remapped daemon keeps its images and
// containers apart (`<data-root>/<uid>.<gid>`), as dockerd does.
var remap: UsernsRemap? = nil
if let setting = usernsRemapFlag ?? config.usernsRemap {
    if rootlessPaths != nil {
        FileHandle.standardError.write(
            "berthd: rootless mode is incompatible with userns-remap (containers already run in the user's namespace)\n".data(using: .utf8)!)
        exit(1)
    }
    do {
        if setting == "default" || setting.hasPrefix("default:") { try UsernsRemap.ensureDefaultUser() }
        remap = try UsernsRemap.resolve(
            setting, subuid: (try? FS.readString("/etc/subuid")) ?? "", subgid: (try? FS.readString("/etc/subgid")) ?? "",
            passwd: (try? FS.readString("/etc/passwd")) ?? "", group: (try? FS.readString("/etc/group")) ?? "")
    } catch {
        FileHandle.standardError.write("berthd: \(error)\n".data(using: .utf8)!)
        exit(1)
    }
    dataRoot += "/" + remap!.dataSubdirectory
}
let execRoot = execRootFlag ?? config.execRoot ?? rootlessPaths?.execRoot ?? "/run/berth"
// Mutual TLS for TCP listeners: all three files, or none (then plain TCP must be asked for).
var tls: Listener.TLSFiles? = nil
if tlsVerifyFlag ?? config.tlsVerify {
    let ca = tlsCACertFlag ?? config.tlsCACert, cert = tlsCertFlag ?? config.tlsCert, key = tlsKeyFlag ?? config.tlsKey
    guard let ca, let cert, let key else {
        FileHandle.standardError.write("berthd: --tlsverify needs --tlscacert, --tlscert and --tlskey\n".data(using: .utf8)!)
        exit(2)
    }
    for f in [ca, cert, key] where !FS.exists(f) {
        FileHandle.standardError.write("berthd: could not load TLS material: open \(f): no such file or directory\n".data(using: .utf8)!)
        exit(1)
    }
    tls = Listener.TLSFiles(caCert: ca, cert: cert, key: key)
}
var listeners: [Listener] = []
for h in hosts {
    do { listeners.append(try Listener.parse(h, tls: tls, allowPlainTCP: insecurePlainTCP)) } catch {
        FileHandle.standardError.write("berthd: \(error)\n".data(using: .utf8)!)
        exit(2)
    }
}
let idleTrimSeconds: Int?
do { idleTrimSeconds = try IdleTrim.seconds(from: Proc.getenv(IdleTrim.variable)) } catch {
    FileHandle.standardError.write("berthd: \(error)\n".data(using: .utf8)!)
    exit(1)
}
// One daemon per store and per runtime state, before anything in either is touched.
var rootLocks: [Int32] = []
do {
    rootLocks.append(try DaemonLock.acquire(dir: baseDataRoot, mode: 0o710, what: "data root"))
    rootLocks.append(try DaemonLock.acquire(dir: execRoot, mode: 0o711, what: "exec root"))
} catch {
    FileHandle.standardError.write("berthd: failed to start daemon: \(error)\n".data(using: .utf8)!)
    exit(1)
}
// Cheap cgroup moves for every container start and exec (CgroupDynamicMods): a host-wide
// cgroup2 option, set unless the operator said not to; a rootless daemon cannot set it.
if rootlessPaths == nil && (favorDynmodsFlag ?? config.cgroupFavorDynmods ?? true) {
    let outcome = CgroupDynamicMods.favor()
    switch outcome {
    case .enabled, .refused: FileHandle.standardError.write("berthd: \(outcome)\n".data(using: .utf8)!)
    case .alreadyEnabled, .noCgroup2: break
    }
}
let socketPaths = listeners.compactMap { if case .unix(let p) = $0 { return p } else { return nil } }
signal(SIGPIPE, SIG_IGN)
setlocale(LC_CTYPE, "C.UTF-8")
var sealedHelper: String? = nil
var sealedRuntime: String? = nil
var sealedShim: String? = nil
do {
    for socketPath in socketPaths { try FS.mkdirAll(String(socketPath[..<(socketPath.lastIndex(of: "/") ?? socketPath.endIndex)])) }
    let shim = Proc.executableDirectory() + "/berth-shim"
    var engineConfig = EngineConfig(dataRoot: dataRoot, execRoot: execRoot, shimPath: shim)
    // The shim too runs from a read-only bind: with berth-runtime linked in, a container's
    // init is a fork of the shim until it execs (the shim checks, and else execs the runtime).
    if let sealed = SealedHelper.readOnlyCopy(of: shim, in: execRoot + "/bin") {
        engineConfig.shimPath = sealed
        sealedShim = sealed
    }
    if let sealed = SealedHelper.readOnlyCopy(of: engineConfig.execHelperPath, in: execRoot + "/bin") {
        engineConfig.execHelperPath = sealed
        sealedHelper = sealed
    } else {
        FileHandle.standardError.write("berthd: warning: could not mount the exec helper read-only; using \(engineConfig.execHelperPath)\n".data(using: .utf8)!)
    }
    if runtimes[OCIRuntime.berthName] != nil {
        // Its `create` runs from a read-only bind (else the runtime seals a memfd copy itself).
        sealedRuntime = SealedHelper.readOnlyCopy(of: berthRuntimeBinary, in: execRoot + "/bin")
        runtimes[OCIRuntime.berthName]?.sealedPath = sealedRuntime
    }
    engineConfig.insecureRegistries = config.insecureRegistries
    engineConfig.runtimes = runtimes
    engineConfig.defaultRuntime = defaultRuntime
    engineConfig.mirrors = config.mirrors
    engineConfig.certsDirs = config.certsDirs
    engineConfig.loopbackIsInsecure = config.loopbackIsInsecure
    engineConfig.uploadChunkSize = config.uploadChunkSize
    engineConfig.remap = remap
    if rootlessPaths != nil {
        // Limits need a cgroup v2 subtree the host delegated to the user; without one the
        // daemon runs degraded: every limit discarded with a warning to the client.
        let (delegation, why) = CgroupDelegation.prepare(selfCgroup: (try? FS.readString("/proc/self/cgroup")) ?? "")
        if delegation == nil {
            FileHandle.standardError.write("berthd: rootless: resource limits disabled: \(why)\n".data(using: .utf8)!)
        }
        engineConfig.rootless = EngineConfig.Rootless(slirpSocket: Proc.getenv("BERTH_ROOTLESS_SLIRP") ?? "", delegation: delegation)
    }
    if let n = config.maxUploadSize { engineConfig.maxUploadSize = n }
    if let n = config.maxConcurrentDownloads { engineConfig.maxConcurrentDownloads = n }
    // Another data root is another daemon: its own bridge and firewall chains, so two berthds
    // (tests, side-by-side setups) never rewrite each other's rules.
    if baseDataRoot != "/var/lib/berth" && rootlessPaths == nil {
        var h: UInt32 = 2_166_136_261
        for b in baseDataRoot.utf8 { h = (h ^ UInt32(b)) &* 16_777_619 }
        let tag = String(String(h, radix: 16).suffix(6))
        engineConfig.firewallTag = tag
        engineConfig.bridgeName = "bt-" + tag
    }
    if let b = config.bridge { engineConfig.bridgeName = b }
    engineConfig.defaultBridgeCIDR = config.bip
    if let p = config.initPath { engineConfig.initPath = p }
    engineConfig.defaultUlimits = config.defaultUlimits
    let engine = try Engine(config: engineConfig)
    await engine.recover()
    // A couple of network namespaces made ahead, so a start binds one instead of making it.
    NamespacePool.shared.refill()
    // A clean stop takes Berth's bridges and rules off the host when no container runs.
    signal(SIGTERM, SIG_IGN)
    signal(SIGINT, SIG_IGN)
    var stopSources: [DispatchSourceSignal] = []
    let helperMount = sealedHelper
    let runtimeMount = sealedRuntime
    let shimMount = sealedShim
    for sig in [SIGTERM, SIGINT] {
        let src = DispatchSource.makeSignalSource(signal: sig, queue: .global())
        src.setEventHandler {
            Task {
                await engine.stopAllForShutdown()
                NamespacePool.shared.drain()
                await engine.shutdownNetworking()
                for p in socketPaths { unlink(p) }
                // The exec helper's read-only mount is the daemon's; the next start makes it again
                // (an exec already running keeps its mapping: the detach is lazy).
                if let helperMount { SealedHelper.release(helperMount) }
                // Shims that outlive us call the runtime by its real path; only create used this.
                if let runtimeMount { SealedHelper.release(runtimeMount) }
                // Running shims keep their (lazily detached) read-only binary; new ones come from the next daemon's.
                if let shimMount { SealedHelper.release(shimMount) }
                exit(0)
            }
        }
        src.resume()
        stopSources.append(src)
    }
    Task { await engine.startPolicyContainers() }
    FileHandle.standardError.write("berthd: listening on \(hosts.joined(separator: ", ")), data root \(dataRoot)\n".data(using: .utf8)!)
    // BuildKit's control API for POST /grpc, on a private socket the API relays to.
    // Clients' sessions (POST /session) are relayed to sockets under sessions/, which the
    // builder dials as their gRPC client.
    let sessions = SessionRegistry()
    let solver = Solver(engine: engine, sessions: sessions, jobs: BuildJobs())
    let grpc = GRPCHost(
        socketPath: execRoot + "/buildkit.sock", sessionDir: execRoot + "/sessions", sessions: sessions, solver: solver,
        services: {
            let control = ControlService(workerID: "berth-" + (Proc.getenv("HOSTNAME") ?? "worker"), solver: solver)
            return [control, GatewayService(solver: solver, control: control)]
        }())
    try await grpc.start()
    let idleTrim = idleTrimSeconds.map(IdleTrim.start(quietSeconds:))
    defer { idleTrim?.cancel() }
    try await APIServer(engine: engine, grpc: grpc).run(listeners: listeners)
} catch {
    if let sealedHelper { SealedHelper.release(sealedHelper) }
    if let sealedRuntime { SealedHelper.release(sealedRuntime) }
    if let sealedShim { SealedHelper.release(sealedShim) }
    FileHandle.standardError.write("berthd: \(error)\n".data(using: .utf8)!)
    exit(1)
}
