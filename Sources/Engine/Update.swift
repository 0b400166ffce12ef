import DockerAPI
import Foundation
import JSON
import Sys

extension Engine {
    /// `update`: new limits go into HostConfig and, for a running container, into its live
    /// cgroup. A zero leaves a limit unchanged, as in dockerd; a limit Berth cannot change is
    /// refused rather than stored and ignored.
    public func update(_ ref: String, body: UpdateConfig) throws(EngineError) -> [String] {
        var c = try container(ref)
        var h = c.hostConfig
        var r = body.resources
        let warnings = try ResourceChecks.check(&r, update: true, host: cgroupSupport, cpuCount: ProcessInfo.processInfo.activeProcessorCount)
        if let field = Engine.unsupportedUpdateFields.first(where: { body.fieldsGiven.contains($0.key) && $0.value(r) }) {
            throw .badRequest("Cannot update container \(c.id): updating \(field.key) is not supported by Berth")
        }
        var args: [String] = []
        if r.memory != 0 {
            h.resources.memory = r.memory
            args += ["--memory", String(r.memory)]
            let current = h.resources.memorySwap
            let effective = r.memorySwap != 0 ? r.memorySwap : (current > 0 ? max(current, r.memory) : r.memory * 2)
            h.resources.memorySwap = effective
            args += ["--memory-swap", String(effective)]
        }
        if r.memoryReservation != 0 {
            h.resources.memoryReservation = r.memoryReservation
            args += ["--memory-reservation", String(r.memoryReservation)]
        }
        if r.cpuShares != 0 {
            h.resources.cpuShares = r.cpuShares
            args += ["--cpu-share", String(r.cpuShares)]  // runc spells it in the singular
        }
        if r.nanoCpus != 0 {
            h.resources.nanoCpus = r.nanoCpus
            args += ["--cpu-period", "100000", "--cpu-quota", String(r.nanoCpus * 100_000 / 1_000_000_000)]
        } else {
            if r.cpuQuota != 0 { h.resources.cpuQuota = r.cpuQuota; args += ["--cpu-quota", String(r.cpuQuota)] }
            if r.cpuPeriod != 0 { h.resources.cpuPeriod = r.cpuPeriod; args += ["--cpu-period", String(r.cpuPeriod)] }
        }
        if r.cpuRealtimePeriod != 0 { h.resources.cpuRealtimePeriod = r.cpuRealtimePeriod; args += ["--cpu-rt-period", String(r.cpuRealtimePeriod)] }
        if r.cpuRealtimeRuntime != 0 { h.resources.cpuRealtimeRuntime = r.cpuRealtimeRuntime; args += ["--cpu-rt-runtime", String(r.cpuRealtimeRuntime)] }
        if !r.cpusetCpus.isEmpty { h.resources.cpusetCpus = r.cpusetCpus; args += ["--cpuset-cpus", r.cpusetCpus] }
        if !r.cpusetMems.isEmpty { h.resources.cpusetMems = r.cpusetMems; args += ["--cpuset-mems", r.cpusetMems] }
        if r.blkioWeight != 0 { h.resources.blkioWeight = r.blkioWeight; args += ["--blkio-weight", String(r.blkioWeight)] }
        if let p = r.pidsLimit, p != 0 { h.resources.pidsLimit = p; args += ["--pids-limit", String(p)] }
        if !body.restartPolicy.name.isEmpty {
            try CreateValidation.restartPolicy(body.restartPolicy)
            if c.autoRemove && body.restartPolicy.name != "no" {
                throw .badRequest("Restart policy cannot be updated because AutoRemove is enabled for the container")
            }
            h.restartPolicy = body.restartPolicy
        }
        if c.state.running && !args.isEmpty {
            let out: Proc.Output
            do { out = try Proc.run(runtimeArgv(c) + ["update"] + args + [c.id]) } catch { throw .wrapping(error) }
            guard out.status == 0 else {
                throw .internalError("Cannot update container \(c.id): \(Engine.runtimeErrorMessage(out.stderr) ?? out.stderrText.trimmingSpaces())")
            }
        }
        c.hostConfig = h
        persist(c)
        emit(c, "update")
        return warnings
    }

    /// Resources dockerd can update that Berth does not (yet): refused when set.
    static let unsupportedUpdateFields: [(key: String, value: @Sendable (Resources) -> Bool)] = [
        ("KernelMemory", { $0.kernelMemory != 0 }), ("KernelMemoryTCP", { $0.kernelMemoryTCP != 0 }),
        ("BlkioWeightDevice", { !($0.blkioWeightDevice ?? []).isEmpty }), ("BlkioDeviceReadBps", { !($0.blkioDeviceReadBps ?? []).isEmpty }),
        ("BlkioDeviceWriteBps", { !($0.blkioDeviceWriteBps ?? []).isEmpty }),
        ("BlkioDeviceReadIOps", { !($0.blkioDeviceReadIOps ?? []).isEmpty }),
        ("BlkioDeviceWriteIOps", { !($0.blkioDeviceWriteIOps ?? []).isEmpty }),
        ("Devices", { !($0.devices ?? []).isEmpty }), ("DeviceRequests", { !($0.deviceRequests ?? []).isEmpty }),
        ("Ulimits", { !($0.ulimits ?? []).isEmpty }), ("MemorySwappiness", { $0.memorySwappiness.map { $0 >= 0 } ?? false }),
        ("OomKillDisable", { $0.oomKillDisable == true }), ("CgroupParent", { !$0.cgroupParent.isEmpty }),
    ]
}
