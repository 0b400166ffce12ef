import Client
import JSON
import Sys

/// The `berth` command line: Docker's commands and flags, talking only to the Engine API.
public struct Berth {
    let client: DaemonClient

    public static func main(_ argv: [String]) -> Int32 {
        var args = Array(argv.dropFirst())
        var host: String? = nil
        var contextName: String? = nil
        var tlsFlags = DaemonClient.TLSFlags()
        // Global flags come before the command.
        while let a = args.first, a.hasPrefix("-") {
            args.removeFirst()
            if a == "-H" || a == "--host" {
                host = args.isEmpty ? nil : args.removeFirst()
            } else if a.hasPrefix("--host=") {
                host = String(a.dropFirst(7))
            } else if a == "-c" || a == "--context" {
                contextName = args.isEmpty ? nil : args.removeFirst()
            } else if a.hasPrefix("--context=") {
                contextName = String(a.dropFirst(10))
            } else if a == "-v" || a == "--version" {
                Out.print("Berth version 0.1.0"); return 0
            } else if a == "--help" || a == "-h" {
                usage(); return 0
            } else if a == "-D" || a == "--debug" {
                continue
            } else if a == "--tls" || a == "--tls=true" {
                tlsFlags.tls = true
            } else if a == "--tlsverify" || a == "--tlsverify=true" || a == "--tlsverify=false" {
                tlsFlags.verify = a != "--tlsverify=false"
            } else if ["--tlscacert", "--tlscert", "--tlskey"].contains(where: { a == $0 || a.hasPrefix($0 + "=") }) {
                let value = a.contains("=") ? String(a[a.index(after: a.firstIndex(of: "=")!)...]) : (args.isEmpty ? "" : args.removeFirst())
                if a.hasPrefix("--tlscacert") { tlsFlags.ca = value } else if a.hasPrefix("--tlscert") { tlsFlags.cert = value } else { tlsFlags.key = value }
            } else {
                Out.err("unknown flag: \(a)\nSee 'berth --help'."); return 125
            }
        }
        guard let cmd = args.first else { usage(); return 0 }
        args.removeFirst()
        do {
            if host != nil && contextName != nil {
                throw CLIError("conflicting options: either specify --host or --context, not both", code: 1)
            }
            // `context` manages the store itself; everything else connects where it says.
            let endpoint = cmd == "context" ? (host: host, tlsDir: nil, skipVerify: false) : try ContextStore.endpoint(hostFlag: host, contextFlag: contextName)
            let b = Berth(client: try DaemonClient(host: endpoint.host, tlsDir: endpoint.tlsDir, skipVerify: endpoint.skipVerify, tlsFlags: tlsFlags))
            return try b.dispatch(cmd, args)
        } catch let e as CLIError {
            Out.err((e.code == 125 || e.code == 126 || e.code == 127 ? "berth: " : "") + e.description)
            return e.code
        } catch let e as ClientError {
            Out.err(e.message)
            return 1
        } catch {
            Out.err("\(error)")
            return 1
        }
    }

    func dispatch(_ cmd: String, _ args: [String]) throws -> Int32 {
        switch cmd {
        case "run": return try run(args)
        case "create": return try create(args)
        case "start": return try start(args)
        case "stop": return try stop(args)
        case "restart": return try stop(args, restart: true)
        case "kill": return try kill(args)
        case "rm": return try rm(args)
        case "rename": return try rename(args)
        case "wait": return try wait(args)
        case "logs": return try logs(args)
        case "ps": return try ps(args)
        case "inspect": return try inspect(args, kind: nil)
        case "images": return try images(args)
        case "tag": return try tag(args)
        case "rmi": return try rmi(args)
        case "import": return try importImage(args)
        case "save": return try save(args)
        case "load": return try load(args)
        case "exec": return try exec(args)
        case "pause": return try pause(args, true)
        case "unpause": return try pause(args, false)
        case "top": return try top(args)
        case "events": return try events(args)
        case "diff": return try diff(args)
        case "cp": return try cp(args)
        case "stats": return try stats(args)
        case "update": return try update(args)
        case "attach": return try attach(args)
        case "export": return try export(args)
        case "commit": return try commit(args)
        case "pull": return try pull(args)
        case "history": return try history(args)
        case "search": return try search(args)
        case "push": return try push(args)
        case "login": return try login(args)
        case "logout": return try logout(args)
        case "version": return try version(args)
        case "info": return try info(args)
        case "volume": return try volume(args)
        case "network": return try network(args)
        case "port": return try port(args)
        case "build": return try build(args)
        case "context": return try context(args)
        case "machine": return try machine(args)
        case "system":
            switch args.first {
            case "df": return try systemDF(Array(args.dropFirst()))
            case "prune": return try systemPrune(Array(args.dropFirst()))
            case "info": return try info(Array(args.dropFirst()))
            case "events": return try events(Array(args.dropFirst()))
            case "dial-stdio": return try systemDialStdio(Array(args.dropFirst()))
            default: throw CLIError("usage: berth system (df|prune|info|events|dial-stdio)")
            }
        case "container", "image":
            guard let sub = args.first else { Berth.usage(); return 0 }
            let rest = Array(args.dropFirst())
            switch (cmd, sub) {
            case ("container", "ls"), ("container", "list"): return try ps(rest)
            case ("container", "inspect"): return try inspect(rest, kind: "container")
            case ("container", "prune"): return try containerPrune(rest)
            case ("container", "diff"): return try diff(rest)
            case ("container", "cp"): return try cp(rest)
            case ("container", "export"): return try export(rest)
            case ("container", "commit"): return try commit(rest)
            case ("image", "ls"), ("image", "list"): return try images(rest)
            case ("image", "inspect"): return try inspect(rest, kind: "image")
            case ("image", "rm"): return try rmi(rest)
            case ("image", "import"): return try importImage(rest)
            case ("image", "save"): return try save(rest)
            case ("image", "load"): return try load(rest)
            case ("image", "tag"): return try tag(rest)
            case ("image", "pull"): return try pull(rest)
            case ("image", "history"): return try history(rest)
            case ("image", "prune"): return try imagePrune(rest)
            case ("image", "push"): return try push(rest)
            default: return try dispatch(sub, rest)
            }
        default:
            throw CLIError("berth: '\(cmd)' is not a berth command.\nSee 'berth --help'")
        }
    }

    static func usage() {
        Out.print(
            """
            Usage:  berth [OPTIONS] COMMAND

            A Docker-compatible container engine

            Options:
              -H, --host string    Daemon socket to connect to (default unix:///run/berth/berth.sock; DOCKER_HOST, BERTH_HOST)

            Commands:
              run, create, start, stop, restart, kill, rm, rename, wait, logs, ps, inspect, exec, pause, unpause, top, events, diff, export, commit, cp, stats, update, attach
              images, tag, rmi, import, save, load, pull, push, login, logout, history, search, version, info
              system (df|prune|info|events), container (ls|inspect|prune|...), image (ls|inspect|rm|import|save|load|tag|pull|push|history|prune)
            """)
    }

    func version(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(args, [FlagSpec("-f", "--format", value: true)])
        let v = try client.request("GET", "/version").json
        if let format = f.string("format") {
            // types.Version's Go field names: APIVersion answers for the "ApiVersion" key.
            let clientInfo: JSON = [
                "Platform": ["Name": ""], "Version": "0.1.0", "ApiVersion": .string(client.apiVersion),
                "DefaultAPIVersion": .string(DaemonClient.newestVersion),
                "GitCommit": "", "GoVersion": "", "Os": "linux", "Arch": "amd64", "BuildTime": "",
                "Context": "default",
            ]
            Out.raw(1, Array(try Formatter.plain(format, ["Client": clientInfo, "Server": v], aliases: ["APIVersion": "ApiVersion"]).utf8))
            return 0
        }
        // As the docker CLI shows a negotiated version; the server's own name (dockerd's may be empty).
        let downgraded = client.apiVersion == DaemonClient.newestVersion ? "" : " (downgraded from \(DaemonClient.newestVersion))"
        let serverName = v["Platform"]["Name"].string ?? ""
        Out.print(
            """
            Client:
             Version:           0.1.0
             API version:       \(client.apiVersion)\(downgraded)
             OS/Arch:           linux/amd64

            Server:\(serverName.isEmpty ? "" : " " + serverName)
             Engine:
              Version:          \(v["Version"].string ?? "")
              API version:      \(v["ApiVersion"].string ?? "") (minimum version \(v["MinAPIVersion"].string ?? ""))
              OS/Arch:          \(v["Os"].string ?? "")/\(v["Arch"].string ?? "")
              Kernel Version:   \(v["KernelVersion"].string ?? "")
            """)
        return 0
    }

    func info(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(args, [FlagSpec("-f", "--format", value: true)])
        let i = try client.request("GET", "/info").json
        if let format = f.string("format") { Out.raw(1, Array(try Formatter.plain(format, i).utf8)); return 0 }
        Out.print(
            """
            Server:
             Containers: \(i["Containers"].int ?? 0)
              Running: \(i["ContainersRunning"].int ?? 0)
              Paused: \(i["ContainersPaused"].int ?? 0)
              Stopped: \(i["ContainersStopped"].int ?? 0)
             Images: \(i["Images"].int ?? 0)
             Server Version: \(i["ServerVersion"].string ?? "")
             Storage Driver: \(i["Driver"].string ?? "")
             Logging Driver: \(i["LoggingDriver"].string ?? "")
             Cgroup Driver: \(i["CgroupDriver"].string ?? "")
             Cgroup Version: \(i["CgroupVersion"].string ?? "")
             Runtimes: \((i["Runtimes"].object?.keys ?? []).sorted().joined(separator: " "))
             Default Runtime: \(i["DefaultRuntime"].string ?? "")
             Kernel Version: \(i["KernelVersion"].string ?? "")
             Operating System: \(i["OperatingSystem"].string ?? "")
             CPUs: \(i["NCPU"].int ?? 0)
             Total Memory: \(Out.humanSize(i["MemTotal"].int ?? 0))
             Name: \(i["Name"].string ?? "")
             Docker Root Dir: \(i["DockerRootDir"].string ?? "")
            """)
        return 0
    }
}
