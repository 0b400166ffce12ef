import API
import Engine
import Foundation
import Runtime
import Sys

// berthd: the daemon. `-H unix:///path`, `--data-root`, `--exec-root`.
var hostFlag: String? = nil
var dataRootFlag: String? = nil
var execRootFlag: String? = nil
var configFile: String? = nil
var args = CommandLine.arguments.dropFirst().makeIterator()
while let a = args.next() {
    let (flag, inline): (String, String?) =
        a.contains("=") && a.hasPrefix("--")
        ? (String(a.split(separator: "=", maxSplits: 1)[0]), String(a.split(separator: "=", maxSplits: 1)[1])) : (a, nil)
    switch flag {
    case "--config-file": configFile = inline ?? args.next()
    case "-H", "--host": hostFlag = inline ?? args.next()
    case "--data-root": dataRootFlag = inline ?? args.next()
    case "--exec-root": execRootFlag = inline ?? args.next()
    case "-v", "--version": print("Berth version 0.1.0"); exit(0)
    case "-h", "--help":
        print("Usage: berthd [-H unix:///run/berth/berth.sock] [--data-root /var/lib/berth] [--exec-root /run/berth] [--config-file /etc/berth/daemon.json]")
        exit(0)
    default:
        FileHandle.standardError.write("berthd: unknown flag \(a)\n".data(using: .utf8)!)
        exit(2)
    }
}
let config: DaemonConfig
do { config = try DaemonConfig.load(configFile ?? "/etc/berth/daemon.json", required: configFile != nil) } catch {
    FileHandle.standardError.write("berthd: \(error)\n".data(using: .utf8)!)
    exit(1)
}
let host = hostFlag ?? config.host ?? "unix:///run/berth/berth.sock"
let dataRoot = dataRootFlag ?? config.dataRoot ?? "/var/lib/berth"
let execRoot = execRootFlag ?? config.execRoot ?? "/run/berth"
guard host.hasPrefix("unix://") else {
    FileHandle.standardError.write("berthd: only unix:// hosts are supported\n".data(using: .utf8)!)
    exit(2)
}
let socketPath = String(host.dropFirst("unix://".count))
signal(SIGPIPE, SIG_IGN)
setlocale(LC_CTYPE, "C.UTF-8")
do {
    try FS.mkdirAll(String(socketPath[..<(socketPath.lastIndex(of: "/") ?? socketPath.endIndex)]))
    let shim = Proc.executableDirectory() + "/berth-shim"
    var engineConfig = EngineConfig(dataRoot: dataRoot, execRoot: execRoot, shimPath: shim)
    if let sealed = SealedHelper.readOnlyCopy(of: engineConfig.execHelperPath, in: execRoot + "/bin") {
        engineConfig.execHelperPath = sealed
    } else {
        FileHandle.standardError.write("berthd: warning: could not mount the exec helper read-only; using \(engineConfig.execHelperPath)\n".data(using: .utf8)!)
    }
    engineConfig.insecureRegistries = config.insecureRegistries
    engineConfig.mirrors = config.mirrors
    engineConfig.certsDirs = config.certsDirs
    engineConfig.loopbackIsInsecure = config.loopbackIsInsecure
    engineConfig.uploadChunkSize = config.uploadChunkSize
    if let n = config.maxConcurrentDownloads { engineConfig.maxConcurrentDownloads = n }
    // Another data root is another daemon: its own bridge and firewall chains, so two berthds
    // (tests, side-by-side setups) never rewrite each other's rules.
    if dataRoot != "/var/lib/berth" {
        var h: UInt32 = 2_166_136_261
        for b in dataRoot.utf8 { h = (h ^ UInt32(b)) &* 16_777_619 }
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
    // A clean stop takes Berth's bridges and rules off the host when no container runs.
    signal(SIGTERM, SIG_IGN)
    signal(SIGINT, SIG_IGN)
    var stopSources: [DispatchSourceSignal] = []
    for sig in [SIGTERM, SIGINT] {
        let src = DispatchSource.makeSignalSource(signal: sig, queue: .global())
        src.setEventHandler {
            Task {
                await engine.shutdownNetworking()
                unlink(socketPath)
                exit(0)
            }
        }
        src.resume()
        stopSources.append(src)
    }
    Task { await engine.startPolicyContainers() }
    FileHandle.standardError.write("berthd: listening on \(socketPath), data root \(dataRoot)\n".data(using: .utf8)!)
    try await APIServer(engine: engine).run(socketPath: socketPath)
} catch {
    FileHandle.standardError.write("berthd: \(error)\n".data(using: .utf8)!)
    exit(1)
}
