import API
import Engine
import Foundation
import Sys

// berthd: the daemon. `-H unix:///path`, `--data-root`, `--exec-root`.
var host = "unix:///run/berth/berth.sock"
var dataRoot = "/var/lib/berth"
var execRoot = "/run/berth"
var args = CommandLine.arguments.dropFirst().makeIterator()
while let a = args.next() {
    let (flag, inline): (String, String?) = a.contains("=") && a.hasPrefix("--")
        ? (String(a.split(separator: "=", maxSplits: 1)[0]), String(a.split(separator: "=", maxSplits: 1)[1])) : (a, nil)
    switch flag {
    case "-H", "--host": host = inline ?? args.next() ?? host
    case "--data-root": dataRoot = inline ?? args.next() ?? dataRoot
    case "--exec-root": execRoot = inline ?? args.next() ?? execRoot
    case "-v", "--version": print("Berth version 0.1.0"); exit(0)
    case "-h", "--help":
        print("Usage: berthd [-H unix:///run/berth/berth.sock] [--data-root /var/lib/berth] [--exec-root /run/berth]")
        exit(0)
    default:
        FileHandle.standardError.write("berthd: unknown flag \(a)\n".data(using: .utf8)!)
        exit(2)
    }
}
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
    let engine = try Engine(config: EngineConfig(dataRoot: dataRoot, execRoot: execRoot, shimPath: shim))
    await engine.recover()
    FileHandle.standardError.write("berthd: listening on \(socketPath), data root \(dataRoot)\n".data(using: .utf8)!)
    try await APIServer(engine: engine).run(socketPath: socketPath)
} catch {
    FileHandle.standardError.write("berthd: \(error)\n".data(using: .utf8)!)
    exit(1)
}
