import Engine

/// Endpoints of Docker features Berth does not run (swarm mode, managed plugins), answered the
/// way dockerd answers them while the feature is unused: clients probe them (docker-py's test
/// teardown leaves the swarm, test frameworks list plugins first) and expect those answers, not
/// a 404 for a path the API defines. Anything that would turn the feature on is refused.
enum InactiveFeatures {
    static let notManager =
        "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again."
    static let notInSwarm = "This node is not part of a swarm"

    /// `/swarm…`, `/services…`, `/nodes…`, `/tasks…`, `/secrets…`, `/configs…`.
    static func swarm(_ section: String, _ rest: [String]) -> EngineError {
        switch (section, rest.first) {
        case ("swarm", "leave"): return .unavailable(notInSwarm)
        case ("swarm", "init"), ("swarm", "join"):
            return .notImplemented("swarm mode is not supported by Berth")
        default: return .unavailable(notManager)
        }
    }

    static let swarmSections: Set<String> = ["swarm", "services", "nodes", "tasks", "secrets", "configs"]

    /// `/plugins…`: none installed, and none can be.
    static func plugins(_ method: String, _ rest: [String]) -> Result<[String], EngineError> {
        switch (method, rest.count) {
        case ("GET", 0): return .success([])
        case ("GET", 1) where rest[0] == "privileges": return .success([])
        case (_, 2...)
        where rest.last == "json" || rest.last == "enable" || rest.last == "disable" || rest.last == "push"
            || rest.last == "set" || rest.last == "upgrade":
            return .failure(.notFound("plugin \"\(rest.dropLast().joined(separator: "/"))\" not found"))
        case ("DELETE", 1...): return .failure(.notFound("plugin \"\(rest.joined(separator: "/"))\" not found"))
        default: return .failure(.notImplemented("plugins are not supported by Berth"))
        }
    }
}
