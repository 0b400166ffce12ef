import CSys
import Client
import Glibc
import JSON
import Sys

/// `berth build --secret …` / `--ssh …`: secrets and agents travel over a BuildKit session,
/// which the berth-buildkit helper serves (gRPC stays out of the CLI); the CLI parses and checks
/// the flags as buildx does, hands the helper the build as JSON, and draws its events.
enum SessionFlags {
    struct Secret: Equatable {
        var id: String
        var file: String? = nil
        var env: String? = nil
    }

    /// `--secret id=…[,src=…|,env=…][,type=file|env]`, buildx's rules: with neither a source nor
    /// an environment variable, the variable named by the id if it is set, else the file.
    static func secret(_ value: String, lookup: (String) -> String? = Proc.getenv) throws -> Secret {
        var s = Secret(id: "")
        var type: String? = nil
        for field in value.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
            let kv = field.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard kv.count == 2 else { throw CLIError("invalid field '\(field)' must be a key=value pair") }
            switch kv[0].lowercased() {
            case "type":
                guard kv[1] == "file" || kv[1] == "env" else { throw CLIError("unsupported secret type \"\(kv[1])\"") }
                type = kv[1]
            case "id": s.id = kv[1]
            case "source", "src": s.file = kv[1]
            case "env": s.env = kv[1]
            default: throw CLIError("unexpected key '\(kv[0].lowercased())' in '\(field)'")
            }
        }
        if type == "env" && s.env == nil {
            s.env = s.file
            s.file = nil
        }
        if s.id.isEmpty {
            // buildx takes the id from the file's name when only a source is given.
            guard let f = s.file, let base = f.split(separator: "/").last else { throw CLIError("secret ID missing") }
            s.id = String(base)
        }
        if s.file != nil && s.env != nil { throw CLIError("can't set both source and env") }
        if s.file == nil && s.env == nil {
            if lookup(s.id) != nil { s.env = s.id } else { s.file = s.id }
        }
        return s
    }

    /// `--ssh default|<id>[=<socket>]`: an agent socket (`default` is SSH_AUTH_SOCK's). Key files
    /// need an agent of the CLI's own, which berth does not have: refused, not ignored.
    static func agent(_ value: String, lookup: (String) -> String? = Proc.getenv) throws -> (id: String, path: String) {
        let kv = value.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let id = kv[0].isEmpty ? "default" : kv[0]
        var path = kv.count == 2 ? kv[1] : ""
        if path.isEmpty {
            path = lookup("SSH_AUTH_SOCK") ?? ""
            guard !path.isEmpty else { throw CLIError("invalid empty ssh agent socket: make sure SSH_AUTH_SOCK is set") }
        }
        if path.contains(",") { throw CLIError("--ssh \(value): ssh key files are not supported by berth build: give an agent's socket") }
        var st = stat()
        guard stat(path, &st) == 0 else { throw CLIError("failed to stat \(path): \(SysError("stat"))") }
        guard st.st_mode & S_IFMT == S_IFSOCK else {
            throw CLIError("--ssh \(value): \(path) is not an agent socket (ssh key files are not supported by berth build)")
        }
        return (id, Berth.absolute(path))
    }
}

extension Berth {
    /// The build over a session: the context must be a directory (a tar on stdin has no
    /// session to serve it from).
    func sessionBuild(_ f: Flags, style: BuildKitStyleProgress?, quiet: Bool) throws -> Int32 {
        guard !client.socketPath.isEmpty else {
            throw CLIError("--secret and --ssh need the daemon's unix socket: berth build does not open a BuildKit session over tcp:// or ssh:// yet")
        }
        guard f.positionals.count == 1 else { throw CLIError("\"build\" requires exactly 1 argument.") }
        let contextArg = f.positionals[0]
        guard contextArg != "-" else { throw CLIError("--secret and --ssh need a context directory, not a context on stdin") }
        guard FS.isDirectory(contextArg) else { throw CLIError("unable to prepare context: path \"\(contextArg)\" not found") }
        let context = Berth.absolute(contextArg)
        var secrets: [JSON] = []
        var seen = Set<String>()
        for v in f.list("secret") {
            let s = try SessionFlags.secret(v)
            guard seen.insert(s.id).inserted else { throw CLIError("duplicate secret \"\(s.id)\"") }
            if let env = s.env {
                guard let value = Proc.getenv(env) else { throw CLIError("secret \(s.id): environment variable \(env) is not set") }
                secrets.append(["id": .string(s.id), "value": .string(Base64.encode(Array(value.utf8)))])
            } else if let file = s.file {
                var st = stat()
                guard stat(file, &st) == 0 else { throw CLIError("failed to stat \(file): \(SysError("stat"))") }
                secrets.append(["id": .string(s.id), "file": .string(Berth.absolute(file))])
            }
        }
        var agents: [JSON] = []
        for v in f.list("ssh") {
            let a = try SessionFlags.agent(v)
            agents.append(["id": .string(a.id), "path": .string(a.path)])
        }
        // The Dockerfile's directory is served as "dockerfile"; `-f -` is written to a private one.
        var dockerfile = f.string("file") ?? ""
        var scratch: String? = nil
        defer { if let scratch { FS.removeAll(scratch) } }
        if dockerfile == "-" {
            let dir: String
            do { dir = try FS.makeTempDirectory("/tmp/berth-dockerfile-") } catch {
                throw CLIError("creating a directory for the Dockerfile: \(error)")
            }
            scratch = dir
            try FS.writeAtomic(dir + "/Dockerfile", (try? FS.readAll(fd: 0)) ?? [], mode: 0o600)
            dockerfile = dir + "/Dockerfile"
        } else if dockerfile.isEmpty {
            dockerfile = context + "/Dockerfile"
        } else {
            dockerfile = Berth.absolute(dockerfile)
        }
        let slash = dockerfile.lastIndex(of: "/")!
        let dfDir = slash == dockerfile.startIndex ? "/" : String(dockerfile[..<slash])
        let dfName = String(dockerfile[dockerfile.index(after: slash)...])

        var query: [JSON] = []
        func add(_ k: String, _ v: String) { query.append([.string(k), .string(v)]) }
        for t in f.list("tag") { add("t", t) }
        add("dockerfile", dfName)
        if let t = f.string("target") { add("target", t) }
        if f.bool("no-cache") { add("nocache", "1") }
        if f.bool("pull") { add("pull", "1") }
        if let n = f.string("network") { add("networkmode", n) }
        if let p = f.platform() { add("platform", p) }
        var buildArgs = JSONObject()
        for a in f.list("build-arg") {
            let kv = a.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            if kv.count == 2 { buildArgs[kv[0]] = .string(kv[1]) } else if let v = Proc.getenv(kv[0]) { buildArgs[kv[0]] = .string(v) }
        }
        if !buildArgs.isEmpty { add("buildargs", JSON.object(buildArgs).serialized()) }
        if !f.list("label").isEmpty { add("labels", Berth.keyValues(f.list("label")).serialized()) }
        let spec: JSON = [
            "host": .string("unix://" + client.socketPath), "sharedKey": .string("berth:" + context),
            "directories": ["context": .string(context), "dockerfile": .string(dfDir)],
            "secrets": .array(secrets), "ssh": .array(agents), "query": .array(query),
        ]
        return try runHelper(spec, style: style ?? BuildKitStyleProgress(tty: isatty(2) != 0), quiet: quiet, iidfile: f.string("iidfile"))
    }

    private func runHelper(_ spec: JSON, style: BuildKitStyleProgress, quiet: Bool, iidfile: String?) throws -> Int32 {
        let helper = Proc.executableDirectory() + "/berth-buildkit"
        guard access(helper, X_OK) == 0 else { throw CLIError("\(helper) is missing: berth build --secret/--ssh needs it") }
        var inPipe: [Int32] = [0, 0], outPipe: [Int32] = [0, 0]
        guard berth_pipe(&inPipe) == 0, berth_pipe(&outPipe) == 0 else { throw CLIError("pipe: \(SysError("pipe"))") }
        let pid: pid_t
        do { pid = try Proc.spawn([helper], stdin: inPipe[0], stdout: outPipe[1], stderr: 2) } catch {
            throw CLIError("starting \(helper): \(error)")
        }
        close(inPipe[0])
        close(outPipe[1])
        _ = try? FS.writeAll(fd: inPipe[1], Array(spec.serialized().utf8))
        close(inPipe[1])
        var render = quiet ? nil : style
        var split = JSONStreamSplitter()
        var imageID = ""
        var failure: CLIError? = nil
        var buf = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = buf.withUnsafeMutableBytes { read(outPipe[0], $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            for m in split.feed(Array(buf[0..<n])) {
                render?.event(m)
                if let id = m["aux"]["ID"].string { imageID = id }
                if let e = m["error"].string { failure = CLIError(e, code: 1) }
            }
        }
        close(outPipe[0])
        let status = Proc.wait(pid)
        render?.finish(error: failure?.description)
        if let failure { throw failure }
        if status != 0 { throw CLIError("berth-buildkit ended with status \(status)", code: status) }
        if quiet { Out.print(imageID) }
        if let iidfile { try FS.writeAtomic(iidfile, imageID) }
        return 0
    }
}
