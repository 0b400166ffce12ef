import Archive
import Client
import Glibc
import JSON
import OCI
import Sys

/// Docker CLI contexts, stored exactly as the docker CLI stores them so that a context made by
/// one is used by the other: `<config dir>/contexts/meta/<sha256(name)>/meta.json` and the TLS
/// files in `<config dir>/contexts/tls/<sha256(name)>/docker/{ca,cert,key}.pem`; the current one
/// is `currentContext` in config.json.
struct ContextStore {
    static var configDir: String { String(DockerConfig.path[..<DockerConfig.path.lastIndex(of: "/")!]) }
    static func id(_ name: String) -> String { Digest.of(name).hex }
    static func metaDir(_ name: String) -> String { configDir + "/contexts/meta/" + id(name) }
    static func tlsDir(_ name: String) -> String { configDir + "/contexts/tls/" + id(name) + "/docker" }

    struct Context {
        var name: String
        var description: String
        var host: String
        var skipTLSVerify: Bool
        var hasTLS: Bool
    }

    static func validName(_ n: String) -> Bool {
        guard let f = n.unicodeScalars.first, f.properties.isAlphabetic || ("0"..."9").contains(f) else { return false }
        return n != "default"
            && n.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "_.+-".unicodeScalars.contains($0)) }
    }

    static func load(_ name: String) -> Context? {
        guard let j = try? JSON.parse(FS.read(metaDir(name) + "/meta.json")) else { return nil }
        return Context(
            name: j["Name"].string ?? name, description: j["Metadata"]["Description"].string ?? "",
            host: j["Endpoints"]["docker"]["Host"].string ?? "", skipTLSVerify: j["Endpoints"]["docker"]["SkipTLSVerify"].bool ?? false,
            hasTLS: FS.exists(tlsDir(name) + "/ca.pem") || FS.exists(tlsDir(name) + "/cert.pem"))
    }

    static func all() -> [Context] {
        ((try? FS.list(configDir + "/contexts/meta")) ?? []).compactMap { dir in
            (try? JSON.parse(FS.read(configDir + "/contexts/meta/" + dir + "/meta.json")))?["Name"].string.flatMap(load)
        }.sorted { $0.name < $1.name }
    }

    static var current: String { DockerConfig.load()["currentContext"].string.flatMap { $0.isEmpty ? nil : $0 } ?? "default" }

    /// What the client connects to: -H, then --context, then DOCKER_HOST, then DOCKER_CONTEXT, then
    /// the current context (the docker CLI's order); nil host means the default socket.
    static func endpoint(hostFlag: String?, contextFlag: String?) throws -> (host: String?, tlsDir: String?, skipVerify: Bool) {
        if let hostFlag { return (hostFlag, nil, false) }
        var name = contextFlag
        if name == nil, let h = Proc.getenv("DOCKER_HOST"), !h.isEmpty { return (h, nil, false) }
        if name == nil, let c = Proc.getenv("DOCKER_CONTEXT"), !c.isEmpty { name = c }
        let n = name ?? current
        if n == "default" { return (nil, nil, false) }
        guard let c = load(n) else { throw CLIError("context \"\(n)\" does not exist", code: 1) }
        return (c.host, c.hasTLS ? tlsDir(n) : nil, c.skipTLSVerify)
    }
}

extension Berth {
    func context(_ args: [String]) throws -> Int32 {
        let rest = Array(args.dropFirst())
        switch args.first {
        case "create": return try contextCreate(rest)
        case "ls", "list": return try contextList(rest)
        case "inspect": return try contextInspect(rest)
        case "use": return try contextUse(rest)
        case "rm", "remove": return try contextRemove(rest)
        case "export": return try contextExport(rest)
        case "import": return try contextImport(rest)
        case "show":
            Out.print(Proc.getenv("DOCKER_CONTEXT").flatMap { $0.isEmpty ? nil : $0 } ?? ContextStore.current)
            return 0
        default: throw CLIError("usage: berth context (create|ls|inspect|use|rm|show|export|import)", code: 1)
        }
    }

    func contextCreate(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(args, [FlagSpec("--docker", value: true), FlagSpec("--description", value: true)])
        guard f.positionals.count == 1 else { throw CLIError("\"berth context create\" requires exactly 1 argument.", code: 1) }
        let name = f.positionals[0]
        guard ContextStore.validName(name) else {
            throw CLIError("context name \"\(name)\" is invalid, names are validated against regexp \"^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$\"", code: 1)
        }
        if ContextStore.load(name) != nil { throw CLIError("context \"\(name)\" already exists", code: 1) }
        // `--docker host=tcp://…,ca=…,cert=…,key=…,skip-tls-verify=true`
        var opts: [String: String] = [:]
        for part in (f.string("docker") ?? "").split(separator: ",") {
            let kv = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard kv.count == 2, ["host", "ca", "cert", "key", "skip-tls-verify"].contains(kv[0]) else {
                throw CLIError("unable to create docker endpoint config: unrecognized config key: \(kv[0])", code: 1)
            }
            opts[kv[0]] = kv[1]
        }
        let host = opts["host"] ?? Proc.getenv("DOCKER_HOST") ?? "unix:///run/berth/berth.sock"
        let meta: JSON = [
            "Name": .string(name), "Metadata": ["Description": .string(f.string("description") ?? "")],
            "Endpoints": ["docker": ["Host": .string(host), "SkipTLSVerify": .bool(opts["skip-tls-verify"] == "true")]],
        ]
        try FS.mkdirAll(ContextStore.metaDir(name), mode: 0o755)
        try FS.writeAtomic(ContextStore.metaDir(name) + "/meta.json", meta.serialized(), mode: 0o644)
        for (key, file) in [("ca", "ca.pem"), ("cert", "cert.pem"), ("key", "key.pem")] {
            guard let src = opts[key] else { continue }
            guard let bytes = try? FS.read(src) else {
                throw CLIError("unable to create docker endpoint config: open \(src): no such file or directory", code: 1)
            }
            try FS.mkdirAll(ContextStore.tlsDir(name), mode: 0o700)
            try FS.writeAtomic(ContextStore.tlsDir(name) + "/" + file, bytes, mode: key == "key" ? 0o600 : 0o644)
        }
        Out.print(name)
        Out.err("Successfully created context \"\(name)\"")
        return 0
    }

    /// `context export NAME [FILE|-]`: the docker CLI's tar (`meta.json`, `tls/docker/*.pem`),
    /// to `<NAME>.dockercontext` by default.
    func contextExport(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(args, [])
        guard (1...2).contains(f.positionals.count) else {
            throw CLIError("\"berth context export\" requires at least 1 and at most 2 arguments.", code: 1)
        }
        let name = f.positionals[0]
        guard ContextStore.load(name) != nil, let meta = try? FS.read(ContextStore.metaDir(name) + "/meta.json") else {
            throw CLIError("context \"\(name)\": context not found: open \(ContextStore.metaDir(name))/meta.json: no such file or directory", code: 1)
        }
        var bytes: [UInt8] = []
        let tar = TarWriter { bytes += $0 }
        try tar.addFile("meta.json", meta, mode: 0o644)
        let pems = ["ca.pem", "cert.pem", "key.pem"].filter { FS.exists(ContextStore.tlsDir(name) + "/" + $0) }
        if !pems.isEmpty {
            try tar.addDirectory("tls", mode: 0o700)
            try tar.addDirectory("tls/docker", mode: 0o700)
            for p in pems { try tar.addFile("tls/docker/" + p, try FS.read(ContextStore.tlsDir(name) + "/" + p), mode: 0o600) }
        }
        try tar.finish()
        let dest = f.positionals.count > 1 ? f.positionals[1] : name + ".dockercontext"
        if dest == "-" {
            try FS.writeAll(fd: 1, bytes)
        } else {
            try FS.writeAtomic(dest, bytes, mode: 0o600)
            Out.err("Written file \"\(dest)\"")
        }
        return 0
    }

    /// `context import NAME FILE|-`: a context someone exported; only its meta.json and the three
    /// TLS files are taken (each at most 1 MiB), anything else in the archive is refused.
    func contextImport(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(args, [])
        guard f.positionals.count == 2 else { throw CLIError("\"berth context import\" requires exactly 2 arguments.", code: 1) }
        let (name, src) = (f.positionals[0], f.positionals[1])
        guard ContextStore.validName(name) else {
            throw CLIError("context name \"\(name)\" is invalid, names are validated against regexp \"^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$\"", code: 1)
        }
        if ContextStore.load(name) != nil { throw CLIError("context \"\(name)\" already exists", code: 1) }
        // The docker CLI writes its export without the last entry's padding or the end-of-archive
        // blocks: read a copy with zeros after it (at most 8 MiB is taken, a context is small).
        var input: [UInt8] = []
        let fd = src == "-" ? 0 : open(src, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CLIError("open \(src): no such file or directory", code: 1) }
        var buf = [UInt8](repeating: 0, count: 65536)
        while input.count <= 8 << 20 {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, 65536) }
            if n <= 0 { break }
            input += buf[0..<n]
        }
        if fd != 0 { close(fd) }
        let path = (Proc.getenv("TMPDIR") ?? "/tmp") + "/berth-context-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).tar"
        try FS.writeAtomic(path, input + [UInt8](repeating: 0, count: 1536), mode: 0o600)
        defer { unlink(path) }
        var meta: JSON? = nil
        var pems: [String: [UInt8]] = [:]
        do {
            let reader = try ArchiveReader(path: path)
            while let e = try reader.next() {
                let n = e.path.hasPrefix("./") ? String(e.path.dropFirst(2)) : e.path
                switch n {
                case "tls", "tls/", "tls/docker", "tls/docker/": continue
                case "meta.json": meta = try JSON.parse(reader.readAllData(limit: 1 << 20))
                case "tls/docker/ca.pem", "tls/docker/cert.pem", "tls/docker/key.pem":
                    pems[String(n.dropFirst("tls/docker/".count))] = try reader.readAllData(limit: 1 << 20)
                default: throw CLIError("invalid context archive: unexpected entry \"\(e.path)\"", code: 1)
                }
            }
        } catch let e as CLIError { throw e } catch { throw CLIError("invalid context archive: \(error)", code: 1) }
        guard var m = meta, m["Endpoints"]["docker"]["Host"].string != nil else {
            throw CLIError("invalid context archive: no docker endpoint in meta.json", code: 1)
        }
        m["Name"] = .string(name)
        try FS.mkdirAll(ContextStore.metaDir(name), mode: 0o755)
        try FS.writeAtomic(ContextStore.metaDir(name) + "/meta.json", m.serialized(), mode: 0o644)
        for (file, bytes) in pems.sorted(by: { $0.key < $1.key }) {
            try FS.mkdirAll(ContextStore.tlsDir(name), mode: 0o700)
            try FS.writeAtomic(ContextStore.tlsDir(name) + "/" + file, bytes, mode: 0o600)
        }
        Out.print(name)
        Out.err("Successfully imported context \"\(name)\"")
        return 0
    }

    func contextList(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(args, [FlagSpec("-q", "--quiet"), FlagSpec("--format", value: true)])
        let current = Proc.getenv("DOCKER_CONTEXT").flatMap { $0.isEmpty ? nil : $0 } ?? ContextStore.current
        let defaultHost = Proc.getenv("DOCKER_HOST").flatMap { $0.isEmpty ? nil : $0 } ?? "unix:///run/berth/berth.sock"
        var rows = [("default", "Current DOCKER_HOST based configuration", defaultHost)]
        rows += ContextStore.all().map { ($0.name, $0.description, $0.host) }
        if f.bool("quiet") {
            for r in rows { Out.print(r.0) }
            return 0
        }
        var table = [["NAME", "DESCRIPTION", "DOCKER ENDPOINT"]]
        for r in rows { table.append([r.0 == current ? r.0 + " *" : r.0, r.1, r.2]) }
        Out.table(table)
        return 0
    }

    func contextInspect(_ args: [String]) throws -> Int32 {
        let names = args.isEmpty ? [ContextStore.current] : args
        var out: [JSON] = []
        for n in names {
            if n == "default" {
                out.append([
                    "Name": "default", "Metadata": [:],
                    "Endpoints": ["docker": ["Host": .string(Proc.getenv("DOCKER_HOST") ?? "unix:///run/berth/berth.sock"), "SkipTLSVerify": false]],
                    "TLSMaterial": [:], "Storage": ["MetadataPath": "<IN MEMORY>", "TLSPath": "<IN MEMORY>"],
                ])
                continue
            }
            guard let c = ContextStore.load(n) else { throw CLIError("context \"\(n)\" does not exist", code: 1) }
            let files = ["ca.pem", "cert.pem", "key.pem"].filter { FS.exists(ContextStore.tlsDir(n) + "/" + $0) }
            out.append([
                "Name": .string(c.name), "Metadata": ["Description": .string(c.description)],
                "Endpoints": ["docker": ["Host": .string(c.host), "SkipTLSVerify": .bool(c.skipTLSVerify)]],
                "TLSMaterial": files.isEmpty ? [:] : ["docker": JSON.strings(files)],
                "Storage": ["MetadataPath": .string(ContextStore.metaDir(n)), "TLSPath": .string(String(ContextStore.tlsDir(n).dropLast("/docker".count)))],
            ])
        }
        Out.print(JSON.array(out).pretty())
        return 0
    }

    func contextUse(_ args: [String]) throws -> Int32 {
        guard args.count == 1 else { throw CLIError("\"berth context use\" requires exactly 1 argument.", code: 1) }
        let n = args[0]
        if n != "default" && ContextStore.load(n) == nil { throw CLIError("context \"\(n)\" does not exist", code: 1) }
        var cfg = DockerConfig.load()
        cfg["currentContext"] = n == "default" ? nil : .string(n)
        if n == "default", case .object = cfg { cfg = cfg.removing("currentContext") }
        try DockerConfig.save(cfg)
        Out.print(n)
        Out.err("Current context is now \"\(n)\"")
        return 0
    }

    func contextRemove(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(args, [FlagSpec("-f", "--force")])
        for n in f.positionals {
            guard ContextStore.load(n) != nil else { throw CLIError("context \"\(n)\" does not exist", code: 1) }
            if n == ContextStore.current && !f.bool("force") {
                throw CLIError("context \"\(n)\" is in use, set -f flag to force remove", code: 1)
            }
            FS.removeAll(ContextStore.metaDir(n))
            FS.removeAll(String(ContextStore.tlsDir(n).dropLast("/docker".count)))
            if n == ContextStore.current { try DockerConfig.save(DockerConfig.load().removing("currentContext")) }
            Out.print(n)
        }
        return 0
    }
}
