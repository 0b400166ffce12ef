import Engine
import Foundation
import JSON
import Runtime
import Sys

/// `/version` and `/info`.
enum SystemInfo {
    static let version = "0.1.0"

    static func kernel() -> String {
        var u = utsname()
        uname(&u)
        return withUnsafePointer(to: &u.release) { $0.withMemoryRebound(to: CChar.self, capacity: 65) { String(cString: $0) } }
    }

    /// The default runtime's own account of itself, as dockerd reports it: `docker version`
    /// lists it under its configured name, `docker info` gives its commit as RuncCommit.
    static func defaultRuntimeVersion(_ c: EngineConfig) async -> (name: String, version: RuntimeVersion?) {
        (c.defaultRuntime, await RuntimeVersion.of(c.runtimes[c.defaultRuntime] ?? .stock))
    }

    /// As dockerd's RegistryConfig: configured CIDRs then the loopback range (appended last, as
    /// dockerd does), an index entry per configured registry (Docker Hub with its mirrors,
    /// insecure hosts as not secure).
    static func registryConfig(_ c: EngineConfig) -> JSON {
        let cidrs = c.insecureRegistries.filter { $0.contains("/") }
        var index = JSONObject()
        for host in c.insecureRegistries.filter({ !$0.contains("/") }).sorted() {
            index[host] = ["Name": .string(host), "Mirrors": JSON.strings(c.mirrors[host] ?? []), "Secure": false, "Official": false]
        }
        let hub = (c.mirrors["docker.io"] ?? []).map { $0.hasSuffix("/") ? $0 : $0 + "/" }
        index["docker.io"] = ["Name": "docker.io", "Mirrors": JSON.strings(hub), "Secure": true, "Official": true]
        return [
            "AllowNondistributableArtifactsCIDRs": [], "AllowNondistributableArtifactsHostnames": [],
            "InsecureRegistryCIDRs": JSON.strings(cidrs + ["127.0.0.0/8"]), "IndexConfigs": .object(index), "Mirrors": JSON.strings(hub),
        ]
    }

    static func version(_ c: EngineConfig) async -> JSON {
        let k = kernel()
        let runtime = await defaultRuntimeVersion(c)
        var components: [JSON] = [
            [
                "Name": "Engine", "Version": .string(version),
                "Details": [
                    "ApiVersion": .string(APIVersion.current.description), "Arch": "amd64", "BuildTime": "",
                    "Experimental": "false", "GitCommit": "", "GoVersion": "swift6", "KernelVersion": .string(k), "MinAPIVersion": "1.24", "Os": "linux",
                ],
            ]
        ]
        // dockerd leaves out a runtime that cannot be run or whose answer it cannot read.
        if let v = runtime.version {
            components.append(["Name": .string(runtime.name), "Version": .string(v.version), "Details": ["GitCommit": .string(v.commit)]])
        }
        return [
            "Platform": ["Name": "Berth"],
            "Components": .array(components),
            "Version": .string(version), "ApiVersion": .string(APIVersion.current.description), "MinAPIVersion": "1.24", "GitCommit": "", "GoVersion": "swift6",
            "Os": "linux", "Arch": "amd64", "KernelVersion": .string(k), "BuildTime": "",
        ]
    }

    static func cgroupVersion() -> String { FS.exists("/sys/fs/cgroup/cgroup.controllers") ? "2" : "1" }

    static func info(_ engine: Engine) async -> JSON {
        let all = await engine.allContainers()
        let rootful = engine.config.rootless == nil  // rootless: no live restore
        let cg = engine.cgroupSupport  // rootless: only what a delegation gives
        let images = (try? engine.store.allImages().count) ?? 0
        // The default runtime's, as dockerd 20.10 fills it ("N/A" when it cannot be asked).
        let runtimeCommit = await defaultRuntimeVersion(engine.config).version?.commit ?? "N/A"
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, 255)
        let mem =
            (try? FS.readString("/proc/meminfo"))?.split(separator: "\n").first { $0.hasPrefix("MemTotal:") }
            .flatMap { Int64($0.split(separator: " ")[1]) }.map { $0 * 1024 } ?? 0
        let osName =
            ((try? FS.readString("/etc/os-release")) ?? "").split(separator: "\n").first { $0.hasPrefix("PRETTY_NAME=") }
            .map { String($0.dropFirst(12)).trimmingCharacters(in: CharacterSet(charactersIn: "\"")) } ?? "Linux"
        return [
            "ID": "BERTH", "Containers": .int(Int64(all.count)),
            "ContainersRunning": .int(Int64(all.filter { $0.state.running && !$0.state.paused }.count)),
            "ContainersPaused": .int(Int64(all.filter { $0.state.paused }.count)),
            "ContainersStopped": .int(Int64(all.filter { !$0.state.running }.count)),
            "Images": .int(Int64(images)), "Driver": "overlay2",
            "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"], ["Native Overlay Diff", "true"]],
            "Plugins": [
                "Volume": ["local"], "Network": ["bridge", "host", "none"], "Authorization": .null,
                "Log": ["json-file", "none"],
            ],
            // Rootless without cgroups enforces none of them (docker info then warns of each).
            "MemoryLimit": .bool(cg.memory), "SwapLimit": .bool(cg.memory), "KernelMemory": false, "KernelMemoryTCP": false,
            "CpuCfsPeriod": .bool(cg.cpu), "CpuCfsQuota": .bool(cg.cpu), "CPUShares": .bool(cg.cpu), "CPUSet": .bool(cg.cpuset),
            "PidsLimit": .bool(cg.pids), "IPv4Forwarding": true, "BridgeNfIptables": true,
            "BridgeNfIp6tables": true, "Debug": false, "NFd": 0, "OomKillDisable": .bool(cg.memory), "NGoroutines": 0,
            "SystemTime": .string(Timestamp.now().goRFC3339Nano), "LoggingDriver": "json-file",
            "CgroupDriver": cg.limits ? "cgroupfs" : "none",
            "CgroupVersion": .string(cgroupVersion()), "NEventsListener": 0, "KernelVersion": .string(kernel()),
            "OperatingSystem": .string(osName), "OSVersion": "", "OSType": "linux", "Architecture": "x86_64",
            "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": registryConfig(engine.config),
            "NCPU": .int(Int64(ProcessInfo.processInfo.activeProcessorCount)), "MemTotal": .int(mem),
            "GenericResources": .null, "DockerRootDir": .string(engine.config.dataRoot), "HttpProxy": "", "HttpsProxy": "",
            "NoProxy": "", "Name": .string(String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)), "Labels": [],
            "ExperimentalBuild": false,
            "ServerVersion": .string(version), "Runtimes": SystemInfo.runtimesInfo(engine.config),
            "DefaultRuntime": .string(engine.config.defaultRuntime),
            "Swarm": ["NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false, "Error": "", "RemoteManagers": .null],
            "LiveRestoreEnabled": .bool(rootful), "Isolation": "", "InitBinary": "docker-init", "ContainerdCommit": ["ID": "", "Expected": ""],
            "RuncCommit": ["ID": .string(runtimeCommit), "Expected": .string(runtimeCommit)], "InitCommit": ["ID": "", "Expected": ""],
            "SecurityOptions": JSON.strings(
                ["name=seccomp,profile=default"] + (engine.config.remap != nil ? ["name=userns"] : [])
                    + (engine.config.rootless != nil ? ["name=rootless"] : [])),
            "Warnings": .null,
        ]
    }
}

extension SystemInfo {
    /// `docker info`'s Runtimes: each runtime's path and, when it has them, its runtimeArgs.
    static func runtimesInfo(_ config: EngineConfig) -> JSON {
        var out = JSONObject()
        for (name, r) in config.runtimes.sorted(by: { $0.key < $1.key }) {
            var o = JSONObject()
            o["path"] = .string(r.path)
            if !r.args.isEmpty { o["runtimeArgs"] = JSON.strings(r.args) }
            out[name] = .object(o)
        }
        return .object(out)
    }
}
