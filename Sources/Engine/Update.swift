import JSON
import Sys

extension Engine {
    /// `update`: new limits go into HostConfig and, for a running container, into its live cgroup.
    public func update(_ ref: String, body: JSON) throws(EngineError) -> [String] {
        var c = try container(ref)
        var h = c.hostConfig
        var args: [String] = []
        if let m = body["Memory"].int, m != 0 {
            h["Memory"] = .int(m)
            args += ["--memory", String(m)]
            let swap = body["MemorySwap"].int ?? 0
            let effective = swap != 0 ? swap : ((h["MemorySwap"].int ?? 0) > 0 ? max(h["MemorySwap"].int!, m) : m * 2)
            h["MemorySwap"] = .int(effective)
            args += ["--memory-swap", String(effective)]
        }
        if let s = body["CpuShares"].int, s != 0 {
            h["CpuShares"] = .int(s)
            args += ["--cpu-share", String(s)]  // runc spells it in the singular
        }
        if let n = body["NanoCpus"].int, n != 0 {
            h["NanoCpus"] = .int(n)
            args += ["--cpu-period", "100000", "--cpu-quota", String(n * 100_000 / 1_000_000_000)]
        } else {
            if let q = body["CpuQuota"].int, q != 0 { h["CpuQuota"] = .int(q); args += ["--cpu-quota", String(q)] }
            if let p = body["CpuPeriod"].int, p != 0 { h["CpuPeriod"] = .int(p); args += ["--cpu-period", String(p)] }
        }
        if let p = body["PidsLimit"].int, p != 0 { h["PidsLimit"] = .int(p); args += ["--pids-limit", String(p)] }
        if let name = body["RestartPolicy"]["Name"].string, !name.isEmpty {
            if c.autoRemove && name != "no" { throw .badRequest("Restart policy cannot be updated because AutoRemove is enabled for the container") }
            h["RestartPolicy"] = body["RestartPolicy"]
        }
        if c.state.running && !args.isEmpty {
            let out: Proc.Output
            do { out = try Proc.run(runtimeArgv + ["update"] + args + [c.id]) } catch { throw .wrapping(error) }
            guard out.status == 0 else {
                throw .internalError("Cannot update container \(c.id): \(Engine.runtimeErrorMessage(out.stderr) ?? out.stderrText.trimmingSpaces())")
            }
        }
        c.hostConfig = h
        persist(c)
        emit(c, "update")
        return []
    }
}
