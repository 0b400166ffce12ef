import Foundation
import JSON
import Sys

/// Reads a container's cgroup (v1 controllers or the v2 unified tree) into Docker's stats shape.
public struct CgroupReader: Sendable {
    public let base: String  // /sys/fs/cgroup
    public let path: String  // /berth/<id>
    public let v2: Bool

    public init(path: String, base: String = "/sys/fs/cgroup") {
        self.base = base
        self.path = path
        v2 = FS.exists(base + "/cgroup.controllers")
    }

    func read(_ controller: String, _ file: String) -> String? {
        let p = v2 ? "\(base)\(path)/\(file)" : "\(base)/\(controller)\(path)/\(file)"
        return try? FS.readString(p)
    }
    func int(_ controller: String, _ file: String) -> Int64? { read(controller, file).flatMap { Int64($0.trimmingSpaces()) } }

    /// `key value` lines (memory.stat, cpu.stat).
    static func keyed(_ text: String?) -> [String: Int64] {
        var out: [String: Int64] = [:]
        for line in (text ?? "").split(separator: "\n") {
            let p = line.split(separator: " ")
            if p.count == 2, let v = Int64(p[1]) { out[String(p[0])] = v }
        }
        return out
    }

    public func cpu() -> JSON {
        if v2 {
            let s = CgroupReader.keyed(read("", "cpu.stat"))
            return [
                "cpu_usage": [
                    "total_usage": .int((s["usage_usec"] ?? 0) * 1000), "usage_in_kernelmode": .int((s["system_usec"] ?? 0) * 1000),
                    "usage_in_usermode": .int((s["user_usec"] ?? 0) * 1000),
                ],
                "throttling_data": [
                    "periods": .int(s["nr_periods"] ?? 0), "throttled_periods": .int(s["nr_throttled"] ?? 0),
                    "throttled_time": .int((s["throttled_usec"] ?? 0) * 1000),
                ],
            ]
        }
        let percpu = (read("cpuacct", "cpuacct.usage_percpu") ?? "").split(separator: " ").compactMap { Int64(String($0).trimmingSpaces()) }
        let s = CgroupReader.keyed(read("cpuacct", "cpuacct.stat"))
        let t = CgroupReader.keyed(read("cpu", "cpu.stat"))
        return [
            "cpu_usage": [
                "total_usage": .int(int("cpuacct", "cpuacct.usage") ?? 0), "percpu_usage": .array(percpu.map { .int($0) }),
                "usage_in_kernelmode": .int((s["system"] ?? 0) * 10_000_000), "usage_in_usermode": .int((s["user"] ?? 0) * 10_000_000),
            ],
            "throttling_data": [
                "periods": .int(t["nr_periods"] ?? 0), "throttled_periods": .int(t["nr_throttled"] ?? 0),
                "throttled_time": .int(t["throttled_time"] ?? 0),
            ],
        ]
    }

    public func memory(hostTotal: Int64) -> JSON {
        if v2 {
            let stat = CgroupReader.keyed(read("", "memory.stat"))
            let limitText = read("", "memory.max")?.trimmingSpaces() ?? "max"
            var st = JSONObject(); for (k, v) in stat.sorted(by: { $0.key < $1.key }) { st[k] = .int(v) }
            return [
                "usage": .int(int("", "memory.current") ?? 0), "stats": .object(st),
                "limit": .int(Int64(limitText) ?? hostTotal),
            ]
        }
        let stat = CgroupReader.keyed(read("memory", "memory.stat"))
        var st = JSONObject(); for (k, v) in stat.sorted(by: { $0.key < $1.key }) { st[k] = .int(v) }
        let limit = int("memory", "memory.limit_in_bytes") ?? hostTotal
        return [
            "usage": .int(int("memory", "memory.usage_in_bytes") ?? 0), "max_usage": .int(int("memory", "memory.max_usage_in_bytes") ?? 0),
            "stats": .object(st), "limit": .int(min(limit, hostTotal)),
        ]
    }

    public func pids() -> JSON {
        let maxText = read("pids", "pids.max")?.trimmingSpaces() ?? "max"
        var j: JSON = ["current": .int(int("pids", "pids.current") ?? 0)]
        if let m = Int64(maxText) { j["limit"] = .int(m) }
        return j
    }

    public func blkio() -> JSON {
        var entries: [JSON] = []
        if v2 {
            for line in (read("", "io.stat") ?? "").split(separator: "\n") {
                let p = line.split(separator: " ")
                guard let dev = p.first?.split(separator: ":"), dev.count == 2 else { continue }
                let kv = CgroupReader.keyed(p.dropFirst().map { $0.replacing("=", with: " ") }.joined(separator: "\n"))
                for (op, key) in [("read", "rbytes"), ("write", "wbytes")] {
                    entries.append(["major": .int(Int64(dev[0]) ?? 0), "minor": .int(Int64(dev[1]) ?? 0), "op": .string(op), "value": .int(kv[key] ?? 0)])
                }
            }
        } else {
            for line in (read("blkio", "blkio.throttle.io_service_bytes_recursive") ?? "").split(separator: "\n") {
                let p = line.split(separator: " ")
                guard p.count == 3, let dev = p.first?.split(separator: ":"), dev.count == 2 else { continue }
                entries.append([
                    "major": .int(Int64(dev[0]) ?? 0), "minor": .int(Int64(dev[1]) ?? 0), "op": .string(p[1].lowercased()), "value": .int(Int64(p[2]) ?? 0),
                ])
            }
        }
        return [
            "io_service_bytes_recursive": .array(entries), "io_serviced_recursive": .null, "io_queue_recursive": .null,
            "io_service_time_recursive": .null, "io_wait_time_recursive": .null, "io_merged_recursive": .null,
            "io_time_recursive": .null, "sectors_recursive": .null,
        ]
    }
}

extension Engine {
    static func systemCPUNanos() -> Int64 {
        guard let line = (try? FS.readString("/proc/stat"))?.split(separator: "\n").first else { return 0 }
        let ticks = line.split(separator: " ").dropFirst().compactMap { Int64($0) }.reduce(0, +)
        return ticks * 10_000_000  // USER_HZ 100
    }

    static func networks(pid: Int32) -> JSON {
        var o = JSONObject()
        for line in ((try? FS.readString("/proc/\(pid)/net/dev")) ?? "").split(separator: "\n").dropFirst(2) {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let f = parts[1].split(separator: " ").compactMap { Int64($0) }
            guard f.count >= 16 else { continue }
            o[String(parts[0]).trimmingSpaces()] = [
                "rx_bytes": .int(f[0]), "rx_packets": .int(f[1]), "rx_errors": .int(f[2]), "rx_dropped": .int(f[3]),
                "tx_bytes": .int(f[8]), "tx_packets": .int(f[9]), "tx_errors": .int(f[10]), "tx_dropped": .int(f[11]),
            ]
        }
        return .object(o)
    }

    /// One sample; `previous` fills `precpu_stats` (Docker's CLI computes CPU % from the pair).
    public func statsSample(_ ref: String, previous: JSON?) throws(EngineError) -> JSON {
        let c = try container(ref)
        let cg = CgroupReader(path: cgroupParent(c.hostConfig.resources) + "/" + c.id)
        let hostTotal =
            ((try? FS.readString("/proc/meminfo"))?.split(separator: "\n").first { $0.hasPrefix("MemTotal:") }
                .flatMap { Int64($0.split(separator: " ")[1]) } ?? 0) * 1024
        let running = c.state.running
        var cpu = running ? cg.cpu() : ["cpu_usage": ["total_usage": 0]]
        cpu["system_cpu_usage"] = .int(Engine.systemCPUNanos())
        cpu["online_cpus"] = .int(Int64(ProcessInfo.processInfo.activeProcessorCount))
        var j: JSON = [
            "read": .string(Timestamp.now().goRFC3339Nano),
            "preread": previous?["read"] ?? "0001-01-01T00:00:00Z",
            "pids_stats": running ? cg.pids() : [:],
            "blkio_stats": running ? cg.blkio() : CgroupReader(path: "").blkio(),
            "num_procs": 0, "storage_stats": [:],
            "cpu_stats": cpu,
            "precpu_stats": previous?["cpu_stats"] ?? [
                "cpu_usage": ["total_usage": 0], "throttling_data": ["periods": 0, "throttled_periods": 0, "throttled_time": 0],
            ],
            "memory_stats": running ? cg.memory(hostTotal: hostTotal) : [:],
            "name": .string("/" + c.name), "id": .string(c.id),
        ]
        if running && c.state.pid > 0 { j["networks"] = Engine.networks(pid: c.state.pid) }
        return j
    }
}
