import DockerAPI
import Foundation
import JSON
import Sys

/// Docker's restart policies: `no`, `on-failure[:N]`, `always`, `unless-stopped`, with its
/// backoff (100 ms doubling per consecutive restart, at most a minute, reset after 10 s of run).
struct RestartPolicy {
    var name: String
    var maxRetries: Int

    init(_ hostConfig: HostConfig) {
        name = hostConfig.restartPolicy.name.isEmpty ? "no" : hostConfig.restartPolicy.name
        maxRetries = hostConfig.restartPolicy.maximumRetryCount
    }

    func shouldRestart(exitCode: Int32, restartCount: Int, manuallyStopped: Bool) -> Bool {
        if manuallyStopped { return false }
        switch name {
        case "always", "unless-stopped": return true
        case "on-failure": return exitCode != 0 && (maxRetries == 0 || restartCount < maxRetries)
        default: return false
        }
    }

    /// Whether a daemon start should bring the container back.
    func startsWithDaemon(manuallyStopped: Bool) -> Bool {
        (name == "always" || name == "unless-stopped") && !manuallyStopped
    }

    static func delay(restartCount: Int, ranFor seconds: Double) -> Double {
        if seconds >= 10 { return 0.1 }
        return min(60, 0.1 * pow(2, Double(min(restartCount, 10))))
    }
}

extension Engine {
    /// Called after an exit has been recorded.
    func applyRestartPolicy(_ id: String) {
        guard var c = containers[id], !c.autoRemove else { return }
        let policy = RestartPolicy(c.hostConfig)
        guard policy.shouldRestart(exitCode: c.state.exitCode, restartCount: c.restartCount, manuallyStopped: c.state.manuallyStopped) else { return }
        let ran = Double(c.state.finishedAt.nanos - c.state.startedAt.nanos) / 1e9
        let delay = RestartPolicy.delay(restartCount: c.restartCount, ranFor: ran)
        // Counted when the restart is decided, and "restarting" until the next run is up, as
        // dockerd does: a client polling the state never sees the new count with "exited".
        c.restartCount += 1
        c.state.restarting = true
        persist(c)
        Task {
            try? await Task.sleep(nanoseconds: UInt64(delay * 1e9))
            await self.restartAfterBackoff(id)
        }
    }

    func restartAfterBackoff(_ id: String) async {
        // A user's start or stop meanwhile has cleared `restarting` (or is under way).
        guard let c = containers[id], c.state.restarting, !starting.contains(id) else { return }
        do { try await start(c.id, keepRestartCount: true) } catch {
            if var now = containers[id] { now.state.error = "\(error)"; persist(now) }
        }
    }

    /// At daemon start: containers whose policy wants them running, and that are not.
    public func startPolicyContainers() async {
        for c in containers.values where !c.state.running {
            if RestartPolicy(c.hostConfig).startsWithDaemon(manuallyStopped: c.state.manuallyStopped) || c.state.restarting {
                if var now = containers[c.id] { now.state.restarting = false; persist(now) }
                try? await start(c.id, keepRestartCount: true)
            }
        }
    }
}
