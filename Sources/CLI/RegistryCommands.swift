import Client
import Glibc
import JSON
import Sys

extension Berth {
    func pull(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(args, [FlagSpec("-q", "--quiet"), FlagSpec("-a", "--all-tags"), FlagSpec("--platform", value: true), ContentTrust.flag])
        guard f.positionals.count == 1 else { throw CLIError("\"pull\" requires exactly 1 argument.") }
        try ContentTrust.requireOff(f, image: f.positionals[0], code: 1)
        try pullImage(f.positionals[0], quiet: f.bool("quiet"), platform: f.platform(), fd: 1, allTags: f.bool("all-tags"))
        return 0
    }

    /// Streams a pull's progress to `fd`; throws on the stream's error. `allTags` (`-a`) sends the
    /// repository without a tag: dockerd's every-tag pull.
    func pullImage(_ image: String, quiet: Bool, platform: String?, fd: Int32, allTags: Bool = false) throws {
        var name = image, tag = ""
        if let at = name.firstIndex(of: "@") {
            tag = String(name[name.index(after: at)...]); name = String(name[..<at])
        } else if let colon = name.lastIndex(of: ":"), !name[colon...].contains("/") {
            tag = String(name[name.index(after: colon)...]); name = String(name[..<colon])
        }
        if allTags && !tag.isEmpty { throw CLIError("tag can't be used with --all-tags/-a") }
        if tag.isEmpty && !image.contains("@") && !allTags { tag = "latest" }
        var q: [(String, String)] = [("fromImage", name), ("tag", tag)]
        if let platform { q.append(("platform", platform)) }
        var headers: [(String, String)] = []
        if let auth = DockerConfig.registryAuthHeader(for: image) { headers.append(("X-Registry-Auth", auth)) }
        var display = ProgressDisplay(fd: fd)
        var split = JSONStreamSplitter()
        try client.stream("POST", "/images/create" + DaemonClient.query(q), headers: headers) { bytes in
            for m in split.feed(bytes) {
                if quiet { if let e = m["error"].string { display.failure = e } } else { display.feed(m) }
            }
            return true
        }
        if let failure = display.failure { throw CLIError("Error response from daemon: " + failure) }
        if quiet {
            let full = image.contains(":") || image.contains("@") ? image : image + ":latest"
            Out.print(
                DockerConfig.registryHost(image) == "docker.io" && !image.hasPrefix("docker.io/")
                    ? "docker.io/" + (image.contains("/") ? "" : "library/") + full : full)
        }
    }

    func push(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(args, [FlagSpec("-q", "--quiet"), FlagSpec("-a", "--all-tags"), ContentTrust.flag])
        guard f.positionals.count == 1 else { throw CLIError("\"push\" requires exactly 1 argument.") }
        // Trust on a push means signing it, which needs the same Notary client.
        try ContentTrust.requireOff(f, image: f.positionals[0], code: 1)
        var name = f.positionals[0], tag = ""
        if let colon = name.lastIndex(of: ":"), !name[colon...].contains("/") { tag = String(name[name.index(after: colon)...]); name = String(name[..<colon]) }
        if f.bool("all-tags") && !tag.isEmpty { throw CLIError("tag can't be used with --all-tags/-a") }
        // Without -a a missing tag means latest; with -a no tag asks the daemon for every tag.
        if tag.isEmpty && !f.bool("all-tags") { tag = "latest" }
        var headers: [(String, String)] = []
        if let auth = DockerConfig.registryAuthHeader(for: name) { headers.append(("X-Registry-Auth", auth)) }
        var display = ProgressDisplay()
        var split = JSONStreamSplitter()
        try client.stream("POST", "/images/\(name)/push" + DaemonClient.query(tag.isEmpty ? [] : [("tag", tag)]), headers: headers) { bytes in
            for m in split.feed(bytes) { if f.bool("quiet") { if let e = m["error"].string { display.failure = e } } else { display.feed(m) } }
            return true
        }
        if let failure = display.failure { throw CLIError(failure) }
        if f.bool("quiet") { Out.print(f.positionals[0]) }
        return 0
    }

    func login(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(args, [FlagSpec("-u", "--username", value: true), FlagSpec("-p", "--password", value: true), FlagSpec("--password-stdin")])
        let server = f.positionals.first ?? "docker.io"
        var password = f.string("password") ?? ""
        if f.bool("password-stdin") {
            guard f.string("password") == nil else { throw CLIError("--password and --password-stdin are mutually exclusive") }
            guard f.string("username") != nil else { throw CLIError("Must provide --username with --password-stdin") }
            password = String(decoding: (try? FS.readAll(fd: 0)) ?? [], as: UTF8.self)
            while password.hasSuffix("\n") || password.hasSuffix("\r") { password.removeLast() }
        } else if f.string("password") != nil {
            Out.err("WARNING! Using --password via the CLI is insecure. Use --password-stdin.")
        }
        var user = f.string("username") ?? ""
        if user.isEmpty || password.isEmpty {
            // The docker CLI's interactive login: prompts on a terminal, an error otherwise.
            guard isatty(0) != 0 else { throw CLIError("Error: Cannot perform an interactive login from a non TTY device") }
            if user.isEmpty {
                user = (Terminal.prompt("Username: ") ?? "").trimmingSpaces()
                guard !user.isEmpty else { throw CLIError("Error: Non-null Username Required") }
            }
            if password.isEmpty {
                password = Terminal.prompt("Password: ", echo: false) ?? ""
                guard !password.isEmpty else { throw CLIError("Error: Password Required") }
            }
        }
        let key = DockerConfig.key(for: server)
        _ = try client.request("POST", "/auth", json: ["username": .string(user), "password": .string(password), "serveraddress": .string(key)])
        var cfg = DockerConfig.load()
        if cfg.object == nil { cfg = [:] }
        var auths = cfg["auths"].object ?? JSONObject()
        if let helper = DockerConfig.helper(for: server, in: cfg) {
            // The secret goes to the helper; config.json keeps an empty entry, as Docker does.
            let payload: JSON = ["ServerURL": .string(key), "Username": .string(user), "Secret": .string(password)]
            let out = try DockerConfig.runHelper(helper, "store", input: payload.serialized())
            guard out.status == 0 else { throw CLIError("Error saving credentials: \(out.stdoutText + out.stderrText)".trimmingSpaces()) }
            auths[key] = [:]
        } else {
            auths[key] = ["auth": .string(Base64.encode(Array("\(user):\(password)".utf8)))]
        }
        cfg["auths"] = .object(auths)
        try DockerConfig.save(cfg)
        Out.print("Login Succeeded")
        return 0
    }

    func logout(_ args: [String]) throws -> Int32 {
        let f = try Flags.parse(args, [])
        let key = DockerConfig.key(for: f.positionals.first ?? "docker.io")
        var cfg = DockerConfig.load()
        if let helper = DockerConfig.helper(for: key, in: cfg) { _ = try? DockerConfig.runHelper(helper, "erase", input: key) }
        guard var auths = cfg["auths"].object, auths[key] != nil else {
            Out.print("Not logged in to \(key)")
            return 0
        }
        Out.print("Removing login credentials for \(key)")
        auths[key] = nil
        cfg["auths"] = .object(auths)
        try DockerConfig.save(cfg)
        return 0
    }
}
