import DockerAPI
import Foundation
import JSON
import Runtime
import Sys

extension Engine {
    /// The OCI runtime a container runs with (HostConfig.Runtime, set at create); the default
    /// when a runtime it names is no longer configured (its commands then fail in its words).
    func runtime(for c: Container) -> OCIRuntime {
        config.runtimes[c.hostConfig.runtime] ?? config.runtimes[config.defaultRuntime] ?? .stock
    }

    func runtimeArgv(_ c: Container) -> [String] { runtime(for: c).argv(execRoot: config.execRoot) }

    /// `pause`/`unpause` through the runtime's cgroup freezer (v1 and v2). The runtime runs off
    /// the actor: a freeze waits until every task has stopped, up to its bound when a container's
    /// tasks sit in uninterruptible sleep, and every other API call would wait with it. One at a
    /// time per container, and stop, kill, rm and connect wait for it (`afterStart`).
    public func pause(_ ref: String, _ pause: Bool) async throws(EngineError) {
        let c = try await afterStart(ref)
        let id = c.id
        guard c.state.running else { throw .conflict("Container \(id) is not running") }
        if pause && c.state.paused { throw .conflict("Container \(id) is already paused") }
        if !pause && !c.state.paused { throw .conflict("Container \(id) is not paused") }
        // Frozen already for a walk of its root (cp, export): the user's pause is a record, and
        // their unpause is carried out when the walk ends (`releaseFrozen`).
        if walkFreezes[id] == nil {
            let argv = runtimeArgv(c) + [pause ? "pause" : "resume", id]
            freezing.insert(id)
            let result = await Self.offActor { try Proc.run(argv) }
            freezing.remove(id)
            let out: Proc.Output
            do { out = try result.get() } catch { throw .wrapping(error) }
            guard out.status == 0 else { throw .internalError(out.stderrText.trimmingSpaces()) }
        }
        // Exited meanwhile: nothing is left to record as paused.
        guard var now = containers[id], now.state.running else { return }
        // A walk began during the unpause, seeing the container paused, so it did not freeze it;
        // it is frozen again for the walk, as `holdFrozen` would have.
        if !pause, walkFreezes[id] != nil { _ = try? Proc.run(runtimeArgv(now) + ["pause", id]) }
        now.state.paused = pause
        persist(now)
        emit(now, pause ? "pause" : "unpause")
    }

    /// Whether the process's cgroup is frozen or freezing (the v1 freezer's state, or v2's
    /// `cgroup.freeze`).
    nonisolated static func isFrozen(pid: Int32, mountinfo: String) -> Bool {
        guard pid > 0, let procCgroup = try? FS.readString("/proc/\(pid)/cgroup") else { return false }
        for file in CgroupMembership.procsFiles(procCgroup: procCgroup, mountinfo: mountinfo) {
            let dir = String(file.dropLast("/cgroup.procs".count))
            if let s = try? FS.readString(dir + "/freezer.state"), s.hasPrefix("FROZEN") || s.hasPrefix("FREEZING") { return true }
            if let s = try? FS.readString(dir + "/cgroup.freeze"), s.hasPrefix("1") { return true }
        }
        return false
    }

    /// Thaws a paused container before signals that must reach it (stop, kill, rm -f); one frozen
    /// for a walk too (the walk goes on, on descriptors, without the freeze).
    func thawIfFrozen(_ id: String) {
        guard var c = containers[id], c.state.paused || walkFreezes[id] != nil else { return }
        walkFreezes[id] = nil
        _ = try? Proc.run(runtimeArgv(c) + ["resume", id])
        guard c.state.paused else { return }
        c.state.paused = false
        persist(c)
    }

    /// Freezes a running container for a walk of its root the user did not ask to pause it for
    /// (cp, export: a container swapping a directory for a link to / mid-walk). Counted, so the
    /// container thaws when the last walk ends, and only if the user has not paused it
    /// meanwhile: the walk's end used to thaw a container `docker pause` had paused during it
    /// (recorded as paused, running), and a second walk's end thawed the first's. false when the
    /// runtime cannot freeze it. The runtime runs off the actor (a freeze waits for every task
    /// to stop), ordered with pause, unpause and the thaw at a walk's end by `freezing`, which
    /// stop, kill and rm also wait for.
    func holdFrozen(_ id: String) async -> Bool {
        for _ in 0..<60_000 where freezing.contains(id) { try? await Task.sleep(nanoseconds: 500_000) }
        guard let c = containers[id], c.state.running, !freezing.contains(id) else { return false }
        if walkFreezes[id] == nil && !c.state.paused {
            let argv = runtimeArgv(c) + ["pause", id]
            freezing.insert(id)
            let result = await Self.offActor { try Proc.run(argv) }
            freezing.remove(id)
            guard case .success(let out) = result, out.status == 0 else { return false }
            // Exited meanwhile: nothing to hold (or thaw later).
            guard containers[id]?.state.running == true else { return false }
        }
        walkFreezes[id, default: 0] += 1
        return true
    }

    /// A walk's end (`holdFrozen`).
    func releaseFrozen(_ id: String) async {
        guard let n = walkFreezes[id] else { return }
        guard n == 1 else {
            walkFreezes[id] = n - 1
            return
        }
        walkFreezes[id] = nil
        guard let c = containers[id], c.state.running, !c.state.paused else { return }
        let argv = runtimeArgv(c) + ["resume", id]
        freezing.insert(id)
        _ = await Self.offActor { try Proc.run(argv) }
        freezing.remove(id)
    }

    /// `releaseFrozen` from wherever the walk ends (the response's writer thread).
    nonisolated func releaser(_ id: String) -> @Sendable () -> Void {
        { Task { await self.releaseFrozen(id) } }
    }

    /// `top`: the container's pids from the runtime, their rows from the host's `ps`. Both run
    /// off the actor: the host's `ps` reads every process's files (tens of milliseconds with many,
    /// longer when a container's processes make /proc slow to read), and every other API call
    /// would wait for it.
    public func top(_ ref: String, psArgs: String) async throws(EngineError) -> TopResponse {
        let c = try container(ref)
        guard c.state.running else { throw .conflict("Container \(c.id) is not running") }
        let runtimePS = runtimeArgv(c) + ["ps", "--format", "json", c.id]
        let args = psArgs.isEmpty ? ["-ef"] : psArgs.split(separator: " ").map(String.init)
        let outputs = await Self.offActor { (try Proc.run(runtimePS), try Proc.run(["ps"] + args)) }
        let pidsOut: Proc.Output
        let ps: Proc.Output
        do { (pidsOut, ps) = try outputs.get() } catch { throw .wrapping(error) }
        let pids = Set(((try? JSON.parse(pidsOut.stdout))?.array ?? []).compactMap { $0.int })
        guard ps.status == 0 else { throw .internalError("ps: \(ps.stderrText.trimmingSpaces())") }
        var lines = ps.stdoutText.split(separator: "\n").map(String.init)
        guard !lines.isEmpty else { throw .internalError("ps printed nothing") }
        let header = lines.removeFirst()
        let titles = header.split(separator: " ").map(String.init)
        guard let pidCol = titles.firstIndex(of: "PID") else { throw .internalError("Couldn't find PID field in ps output") }
        var rows: [[String]] = []
        for line in lines {
            let fields = line.split(separator: " ", maxSplits: titles.count - 1).map(String.init)
            guard fields.count > pidCol, let pid = Int64(fields[pidCol]), pids.contains(pid) else { continue }
            rows.append(fields)
        }
        return TopResponse(titles: titles, processes: rows)
    }
}
