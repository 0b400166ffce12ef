import Glibc
import JSON
import Sys

extension ContainerRuntimeEngine {
    /// The pure part of a `create` (no file written, nothing mounted), run once on runc's default
    /// spec. The Swift runtime resolves a type's metadata and conformances, and the kernel maps
    /// code pages, the first time each is used; each costs microseconds and a `create` uses
    /// hundreds. A spare shim pays for them while it waits, and the create that takes it (and
    /// the container's first stage and init, forks of it) finds them done: about 0.7 ms of every
    /// start.
    public static func warmUp() {
        guard let raw = try? JSON.parse(DefaultSpec.json.serializedBytes()), let config = try? RuntimeConfig.decode(raw, bundle: "/") else { return }
        let engine = ContainerRuntimeEngine(root: "/")
        _ = try? engine.validate(config, id: "warm")
        _ = raw.serializedBytes()
        let layout = CgroupLayout.host()
        let paths = CgroupPaths(layout: layout, cgroupsPath: nil, id: "warm", ownCgroup: (try? FS.readString("/proc/self/cgroup")) ?? "")
        _ = paths.all
        _ = try? CgroupPlan.v1(CgroupPlan.withDefaultDevices(config.resources))
        _ = try? CgroupPlan.deviceRules(CgroupPlan.withDefaultDevices(config.resources))
        for m in config.mounts { _ = MountOptions(m.options, type: m.type) }
        _ = LinuxCapabilities.mask(config.process.bounding)
        for r in config.process.rlimits { _ = Rlimits.number(r.type) }
        var state = ContainerState(
            id: "warm", pid: 1, startTime: 0, bundle: "/", rootfs: config.rootPath, created: Timestamp.now().rfc3339Nano,
            annotations: config.annotations, cgroups: paths, v2Only: layout.v2Only)
        state.hasPoststartHooks = !config.hooks.poststart.isEmpty
        _ = state.json.serialized()
        _ = ContainerState.validID("warm")
    }
}
