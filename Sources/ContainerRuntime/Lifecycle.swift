import CRuntime
import Glibc
import JSON
import Sys

extension ContainerRuntimeEngine {
    func manager(_ s: ContainerState) -> CgroupManager? {
        s.cgroups.map { CgroupManager(paths: $0, files: HostCgroupFiles(), v2Only: s.v2Only) }
    }

    /// `start`: opens the exec fifo, which lets the init execve the program.
    public func start(_ id: String) throws(RuntimeFailure) {
        let s = try store.load(id)
        switch store.status(s) {
        case .created: break
        case .stopped: throw RuntimeFailure("cannot start a container that has stopped")
        default: throw RuntimeFailure("cannot start an already running container")
        }
        // Non-blocking: a blocking open would hang forever if the init died meanwhile.
        let fd = open(store.fifo(id), O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw RuntimeFailure.errno("open the exec fifo") }
        defer { close(fd) }
        // Waits in poll(2): a reader that never had a writer sees neither data nor hangup until the
        // init opens its end and writes, so the byte is read the moment it comes. The init's
        // death is looked for between waits; 10 s in all, as before.
        var byte: UInt8 = 0
        var got = false
        for _ in 0..<200 {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&p, 1, 50)
            if ready < 0 && errno != EINTR { throw RuntimeFailure.errno("poll the exec fifo") }
            if ready > 0 {
                let n = read(fd, &byte, 1)
                if n == 1 { got = true; break }
                // A writer that went without writing: hangup until the next one opens; no spin.
                if n == 0 { usleep(1000) }
            }
            if store.status(s) == .stopped { break }
        }
        unlink(store.fifo(id))
        guard got else { throw RuntimeFailure("cannot start a container that has stopped") }
        if s.hasPoststartHooks, let c = store.config(id), !c.hooks.poststart.isEmpty {
            do throws(RuntimeFailure) {
                try HookRunner.run(c.hooks.poststart, kind: "poststart", state: hookState(s, c, "running"))
            } catch {
                // The spec: a failing poststart hook is a warning; the container carries on.
                warn(error.message)
            }
        }
    }

    func hookState(_ s: ContainerState, _ c: RuntimeConfig, _ status: String) -> JSON {
        [
            "ociVersion": .string(Self.ociVersion), "id": .string(s.id), "status": .string(status), "pid": .int(Int64(s.pid)),
            "bundle": .string(s.bundle), "annotations": JSON.stringMap(c.annotations),
        ]
    }

    public func kill(_ id: String, signal: Int32, all: Bool) throws(RuntimeFailure) {
        let s = try store.load(id)
        let status = store.status(s)
        guard status != .stopped else { throw RuntimeFailure("container not running") }
        if all, let m = manager(s) {
            for p in m.pids() { Glibc.kill(p, signal) }
            if status == .paused { try? m.freeze(false) }
            return
        }
        if Glibc.kill(s.pid, signal) != 0 { throw RuntimeFailure.errno("kill \(s.pid)") }
    }

    /// `delete`: a stopped (or only created) container's cgroups and state go, poststop hooks run.
    public func delete(_ id: String, force: Bool) throws(RuntimeFailure) {
        let s: ContainerState
        do { s = try store.load(id) } catch {
            guard ContainerState.validID(id) else { throw error }
            FS.removeAll(store.dir(id))
            if force { return }
            throw error
        }
        let status = store.status(s)
        // runtime-spec: deleting a container that is not stopped is an error (runc kills a merely
        // created one; callers that mean that, as Berth's shim, pass --force).
        if status != .stopped && !force {
            throw RuntimeFailure("cannot delete container \(id) that is not stopped: \(status.rawValue)")
        }
        let m = manager(s)
        if status != .stopped {
            Glibc.kill(s.pid, SIGKILL)
        }
        if let m {
            for p in m.pids() { Glibc.kill(p, SIGKILL) }
            if status == .paused { try? m.freeze(false) }
        }
        // The init is not our child: wait until it is gone (or a zombie its parent will reap).
        for _ in 0..<5000 where s.pid > 0 {
            guard let start = processStartTime(s.pid), start == s.startTime, processStateLetter(s.pid) != "Z" else { break }
            usleep(1000)
        }
        if let m {
            var removed = false
            for _ in 0..<500 {
                if m.destroy() { removed = true; break }
                for p in m.pids() { Glibc.kill(p, SIGKILL) }
                usleep(2000)
            }
            if !removed { warn("cgroups of \(id) could not be removed") }
        }
        if s.hasPoststopHooks, let c = store.config(id), !c.hooks.poststop.isEmpty {
            do throws(RuntimeFailure) {
                try HookRunner.run(c.hooks.poststop, kind: "poststop", state: hookState(s, c, "stopped"))
            } catch {
                warn(error.message)
            }
        }
        FS.removeAll(store.dir(id))
    }

    public func pause(_ id: String, _ frozen: Bool) throws(RuntimeFailure) {
        let s = try store.load(id)
        let status = store.status(s)
        if frozen && status != .running && status != .created { throw RuntimeFailure("container not running") }
        if !frozen && status != .paused { throw RuntimeFailure("container not paused") }
        guard let m = manager(s) else { throw RuntimeFailure("the container has no cgroups") }
        try m.freeze(frozen)
    }

    public func pids(_ id: String) throws(RuntimeFailure) -> [Int32] {
        let s = try store.load(id)
        guard let m = manager(s) else { return store.status(s) == .stopped ? [] : [s.pid] }
        return m.pids()
    }

    /// `update`: new limits written to the cgroups of a created, running or paused container.
    public func update(_ id: String, resources: JSON) throws(RuntimeFailure) {
        let s = try store.load(id)
        guard store.status(s) != .stopped else { throw RuntimeFailure("container not running") }
        guard let m = manager(s) else { throw RuntimeFailure("the container has no cgroups") }
        try m.apply(resources)
    }

    /// `events --stats`' data, from the cgroup files (runc's types.Stats subset).
    public func stats(_ id: String) throws(RuntimeFailure) -> JSON {
        let s = try store.load(id)
        guard store.status(s) != .stopped else { throw RuntimeFailure("container not running") }
        guard let cg = s.cgroups else { return [:] }
        let f = HostCgroupFiles()
        func num(_ p: String?) -> Int64 { p.flatMap { f.read($0) }.flatMap { Int64($0.trimmedLine) } ?? 0 }
        func keyed(_ p: String?) -> [String: Int64] {
            var out: [String: Int64] = [:]
            for line in (p.flatMap { f.read($0) } ?? "").split(separator: "\n") {
                let kv = line.split(separator: " ")
                if kv.count == 2, let v = Int64(kv[1]) { out[String(kv[0])] = v }
            }
            return out
        }
        var cpu: JSON = [:], memory: JSON = [:], pids: JSON = [:]
        if s.v2Only, let u = cg.unified {
            let c = keyed(u + "/cpu.stat")
            cpu = [
                "usage": [
                    "total": .int((c["usage_usec"] ?? 0) * 1000), "kernel": .int((c["system_usec"] ?? 0) * 1000), "user": .int((c["user_usec"] ?? 0) * 1000),
                ]
            ]
            let maxText = f.read(u + "/memory.max")?.trimmedLine ?? "max"
            memory = [
                "usage": ["usage": .int(num(u + "/memory.current")), "limit": .int(Int64(maxText) ?? Int64.max)],
                "raw": .object(keyed(u + "/memory.stat").reduce(into: JSONObject()) { $0[$1.key] = .int($1.value) }),
            ]
            pids = ["current": .int(num(u + "/pids.current")), "limit": .int(Int64(f.read(u + "/pids.max")?.trimmedLine ?? "") ?? 0)]
        } else {
            let acct = cg.byController["cpuacct"]
            let percpu = (acct.flatMap { f.read($0 + "/cpuacct.usage_percpu") } ?? "").split(separator: " ").compactMap { Int64($0.trimmedLine) }
            cpu = ["usage": ["total": .int(num(acct.map { $0 + "/cpuacct.usage" })), "percpu": .array(percpu.map { .int($0) })]]
            let mem = cg.byController["memory"]
            memory = [
                "usage": [
                    "usage": .int(num(mem.map { $0 + "/memory.usage_in_bytes" })), "max": .int(num(mem.map { $0 + "/memory.max_usage_in_bytes" })),
                    "limit": .int(num(mem.map { $0 + "/memory.limit_in_bytes" })), "failcnt": .int(num(mem.map { $0 + "/memory.failcnt" })),
                ],
                "raw": .object(keyed(mem.map { $0 + "/memory.stat" }).sorted { $0.key < $1.key }.reduce(into: JSONObject()) { $0[$1.key] = .int($1.value) }),
            ]
            let p = cg.byController["pids"]
            pids = ["current": .int(num(p.map { $0 + "/pids.current" })), "limit": .int(Int64(p.flatMap { f.read($0 + "/pids.max") }?.trimmedLine ?? "") ?? 0)]
        }
        return ["cpu": cpu, "memory": memory, "pids": pids, "blkio": [:], "hugetlb": [:]]
    }
}

func warn(_ message: String) {
    let line = Array("time=\"\(Timestamp.now().rfc3339Nano)\" level=warning msg=\"\(message.replacing("\"", with: "\\\""))\"\n".utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}
