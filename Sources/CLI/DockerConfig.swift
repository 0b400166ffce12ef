import Glibc
import JSON
import Sys

/// `~/.docker/config.json` (or `$DOCKER_CONFIG/config.json`), read and written as Docker does,
/// so credentials are shared with the docker CLI. Unknown keys are kept.
struct DockerConfig {
    static var path: String {
        if let d = Proc.getenv("DOCKER_CONFIG"), !d.isEmpty { return d + "/config.json" }
        return (Proc.getenv("HOME") ?? "/root") + "/.docker/config.json"
    }

    static let hubKey = "https://index.docker.io/v1/"

    /// The key Docker uses in `auths` for a registry host.
    static func key(for server: String) -> String {
        var s = server
        for p in ["https://", "http://"] where s.hasPrefix(p) { s.removeFirst(p.count) }
        if s.hasSuffix("/") { s.removeLast() }
        if s.isEmpty || s == "docker.io" || s == "index.docker.io" || s == "index.docker.io/v1" || s == "registry-1.docker.io" { return hubKey }
        return s
    }

    static func load() -> JSON { (try? JSON.parse(FS.read(path))) ?? [:] }

    static func save(_ j: JSON) throws {
        let dir = String(path[..<path.lastIndex(of: "/")!])
        try FS.mkdirAll(dir, mode: 0o700)
        try FS.writeAtomic(path, j.pretty(indent: "\t") + "\n", mode: 0o600)
    }

    /// The credential helper for a server: `credHelpers[server]`, else `credsStore`.
    static func helper(for server: String, in cfg: JSON) -> String? {
        let k = key(for: server)
        if let h = cfg["credHelpers"][k].string ?? cfg["credHelpers"][server].string, !h.isEmpty { return h }
        if let s = cfg["credsStore"].string, !s.isEmpty { return s }
        return nil
    }

    /// Runs `docker-credential-<helper> <action>` with `input` on stdin (the helper protocol).
    static func runHelper(_ helper: String, _ action: String, input: String) throws -> Proc.Output {
        do { return try Proc.run(["docker-credential-" + helper, action], input: Array(input.utf8)) } catch {
            throw CLIError("error getting credentials - err: exec: \"docker-credential-\(helper)\": executable file not found in $PATH")
        }
    }

    static func credentials(for server: String) -> (user: String, password: String)? {
        let cfg = load()
        if let h = helper(for: server, in: cfg), let out = try? runHelper(h, "get", input: key(for: server)), out.status == 0,
            let j = try? JSON.parse(out.stdout), let user = j["Username"].string, let secret = j["Secret"].string
        {
            return (user, secret)
        }
        let auth = cfg["auths"][key(for: server)]
        if let a = auth["auth"].string, let raw = Base64.decode(a) {
            let parts = String(decoding: raw, as: UTF8.self).split(separator: ":", maxSplits: 1).map(String.init)
            if parts.count == 2 { return (parts[0], parts[1]) }
        }
        return nil
    }

    /// The `X-Registry-Auth` header value for a reference's registry (nil when not logged in).
    static func registryAuthHeader(for image: String) -> String? {
        let host = registryHost(image)
        guard let c = credentials(for: host) else { return nil }
        let j: JSON = ["username": .string(c.user), "password": .string(c.password), "serveraddress": .string(host)]
        return Base64.encode(j.bytes, urlSafe: true)
    }

    static func registryHost(_ image: String) -> String {
        let first = image.split(separator: "/").first.map(String.init) ?? ""
        if image.contains("/") && (first.contains(".") || first.contains(":") || first == "localhost") { return first }
        return "docker.io"
    }
}
