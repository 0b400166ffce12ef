import DockerAPI
import JSON

/// Legacy container links (`--link name:alias`, HostConfig.Links) on the default bridge, as
/// dockerd keeps them: stored as `/target:/self/alias`, giving the linking container the
/// target's address under the alias in /etc/hosts and `ALIAS_*` variables at start, and the
/// target an extra name `/self/alias` in `GET /containers/json`. On user networks a link is a
/// DNS alias for the linking container only (network-scoped links).
struct LegacyLink: Equatable, Sendable {
    var target: String  // the linked container's name, without "/"
    var alias: String

    /// `name:alias` or `name` (the alias is then the name), as clients send it; also the
    /// stored `/name:/self/alias` form.
    init?(_ spec: String) {
        let parts = spec.split(separator: ":", maxSplits: 1).map(String.init)
        guard let first = parts.first, !first.isEmpty else { return nil }
        target = first.hasPrefix("/") ? String(first.dropFirst()) : first
        var a = parts.count > 1 ? parts[1] : target
        if let slash = a.lastIndex(of: "/") { a = String(a[a.index(after: slash)...]) }
        guard !a.isEmpty, !target.isEmpty else { return nil }
        alias = a
    }

    init(target: String, alias: String) { self.target = target; self.alias = alias }

    func stored(by name: String) -> String { "/\(target):/\(name)/\(alias)" }

    /// The variables dockerd gives a linking container for each link (its `links` package):
    /// the link's name, each exposed port in several forms, the target's own environment.
    static func environment(alias: String, linkName: String, ip: String, exposed: [(port: Int, proto: String)], targetEnv: [String]) -> [String] {
        let prefix = alias.uppercased().map { $0.isLetter || $0.isNumber ? $0 : "_" }.map(String.init).joined()
        var env = ["\(prefix)_NAME=\(linkName)"]
        let ports = exposed.sorted { ($0.port, $0.proto) < ($1.port, $1.proto) }
        if let first = ports.first { env.append("\(prefix)_PORT=\(first.proto)://\(ip):\(first.port)") }
        for p in ports {
            let key = "\(prefix)_PORT_\(p.port)_\(p.proto.uppercased())"
            env += ["\(key)=\(p.proto)://\(ip):\(p.port)", "\(key)_ADDR=\(ip)", "\(key)_PORT=\(p.port)", "\(key)_PROTO=\(p.proto)"]
        }
        for kv in targetEnv {
            let parts = kv.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            // As dockerd: only set variables, and not the ones every image has.
            guard parts.count == 2, parts[0] != "HOME", parts[0] != "PATH" else { continue }
            env.append("\(prefix)_ENV_\(parts[0])=\(parts[1])")
        }
        return env
    }
}

extension Engine {
    func legacyLinks(_ c: Container) -> [LegacyLink] { (c.hostConfig.links ?? []).compactMap(LegacyLink.init) }

    /// At create: every link names an existing container; stored in dockerd's form.
    func normalizedLinks(_ specs: [String], selfName: String) throws(EngineError) -> [String] {
        var out: [String] = []
        for spec in specs {
            guard let link = LegacyLink(spec) else { throw .badRequest("invalid link specification: \(spec)") }
            // A 400 as dockerd's: a 404 from create sends the docker CLI pulling the image.
            guard let target = try? container(link.target) else {
                throw .badRequest("could not get container for \(link.target): No such container: \(link.target)")
            }
            out.append(LegacyLink(target: target.name, alias: link.alias).stored(by: selfName))
        }
        return out
    }

    /// For the start of a container on the default bridge: its links' variables and hosts
    /// lines (`alias shortid name:ip`). A link to a container that is not running fails the start.
    func linkContext(_ c: Container) throws(EngineError) -> (env: [String], hosts: [String]) {
        var env: [String] = [], hosts: [String] = []
        for link in legacyLinks(c) {
            guard let t = try? container(link.target), t.state.running else {
                throw .conflict("Cannot link to a non running container: /\(link.target) AS /\(c.name)/\(link.alias)")
            }
            guard let ip = t.endpoints.first(where: { networks[$0.networkID]?.isDefaultBridge == true })?.ip else {
                throw .conflict("Cannot link to /\(t.name), as it does not belong to the default network")
            }
            let exposed = (t.config.exposedPorts ?? []).compactMap { PortPlan.parseKey($0) }.map { (port: $0.0, proto: $0.1) }
            env += LegacyLink.environment(
                alias: link.alias, linkName: "/\(c.name)/\(link.alias)", ip: ip.description, exposed: exposed,
                targetEnv: t.config.env ?? [])
            var names = [link.alias]
            if link.alias != t.shortID { names.append(t.shortID) }
            if link.alias != t.name { names.append(t.name) }
            hosts.append(names.joined(separator: " ") + ":" + ip.description)
        }
        return (env, hosts)
    }

    /// The extra names other containers' links give each container (`/parent/alias`).
    func linkNames() -> [String: [String]] {
        var out: [String: [String]] = [:]
        let byName = Dictionary(containers.values.map { ($0.name, $0.id) }, uniquingKeysWith: { a, _ in a })
        for c in containers.values {
            for link in legacyLinks(c) { if let id = byName[link.target] { out[id, default: []].append("/\(c.name)/\(link.alias)") } }
        }
        return out.mapValues { $0.sorted() }
    }

    /// `DELETE /containers/{parent}/{alias}?link=1`: forgets the link, leaves both containers.
    public func removeLink(_ ref: String) throws(EngineError) {
        let parts = ref.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard parts.count == 2 else { throw .internalError("Conflict, cannot remove the default link name of the container") }
        guard var parent = try? container(parts[0]) else { throw .noSuchContainer(ref) }
        var links = parent.hostConfig.links ?? []
        guard let i = links.firstIndex(where: { LegacyLink($0)?.alias == parts[1] }) else { throw .noSuchContainer(ref) }
        links.remove(at: i)
        parent.hostConfig.links = links.isEmpty ? nil : links
        persist(parent)
    }
}
