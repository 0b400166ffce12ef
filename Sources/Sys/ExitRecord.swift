import Glibc

/// What a shim records when its container exits — the exit code, when, and whether the kernel's
/// OOM killer struck in the container's memory cgroup (Docker's `State.OOMKilled` and `oom`
/// event) — as the text of the exit file and of the `exited` frame: "<code> <nanos>[ oom]".
/// Shims from before the OOM field wrote the first two only; both parse.
public struct ExitRecord: Sendable, Equatable {
    public var code: Int32
    public var nanos: Int64
    public var oomKilled: Bool

    public init(code: Int32, nanos: Int64, oomKilled: Bool = false) {
        self.code = code; self.nanos = nanos; self.oomKilled = oomKilled
    }

    public var text: String { "\(code) \(nanos)" + (oomKilled ? " oom" : "") }

    /// What the daemon believes of a shim's record: 255 when there is none or it is unreadable
    /// (the monitor died), and now when it names no time.
    public static func settled(_ text: String?) -> ExitRecord {
        var r = text.flatMap { ExitRecord($0) } ?? ExitRecord(code: 255, nanos: -1)
        if r.nanos < 0 { r.nanos = Timestamp.now().nanos }
        return r
    }

    /// Nil when the code is missing or not a number; a missing time is nil too (the caller
    /// supplies "now"), so only what was written is believed.
    public init?(_ text: String) {
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard let first = parts.first, let code = Int32(first) else { return nil }
        self.code = code
        nanos = parts.count > 1 ? Int64(parts[1]) ?? -1 : -1
        oomKilled = parts.dropFirst(2).contains("oom")
    }
}

/// The kernel's count of OOM kills in one process's memory cgroup: `oom_kill` in v1's
/// `memory.oom_control`, or in v2's `memory.events`. Pure parsing of /proc/<pid>/cgroup and
/// the reader's mountinfo (unit-tested), and a bounded read of the counter.
public enum OOMKills {
    /// The counter file for the process whose /proc/<pid>/cgroup is `procCgroup`, as seen from
    /// mount namespace `mountinfo` describes; nil when neither hierarchy has the memory controller.
    public static func counterFile(procCgroup: String, mountinfo: String) -> String? {
        var v1Memory: String? = nil
        var v2: String? = nil
        for line in procCgroup.split(separator: "\n") {
            let f = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard f.count == 3 else { continue }
            if f[0] == "0" && f[1].isEmpty { v2 = String(f[2]) } else if f[1].split(separator: ",").contains("memory") { v1Memory = String(f[2]) }
        }
        for line in MountInfo.lines(ofTypes: ["cgroup", "cgroup2"], in: mountinfo).split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard let dash = fields.firstIndex(of: "-"), dash >= 5, fields.count > dash + 3 else { continue }
            let root = String(fields[3]), mountPoint = String(fields[4]), type = fields[dash + 1]
            let options = fields[dash + 3].split(separator: ",")
            if type == "cgroup", options.contains("memory"), let path = v1Memory, let rel = relative(path, to: root) {
                return mountPoint + rel + "/memory.oom_control"
            }
            if type == "cgroup2", v1Memory == nil, let path = v2, let rel = relative(path, to: root) {
                return mountPoint + rel + "/memory.events"
            }
        }
        return nil
    }

    /// The same file for a cgroup whose directories are known: the v1 memory controller's
    /// when there is one, else the v2 directory's.
    public static func counterFile(memoryV1: String?, unified: String?) -> String? {
        if let m = memoryV1 { return m + "/memory.oom_control" }
        return unified.map { $0 + "/memory.events" }
    }

    /// `path` below the mount's root (a cgroup namespace's mount shows only its part).
    static func relative(_ path: String, to root: String) -> String? {
        if root == "/" { return path == "/" ? "" : path }
        if path == root { return "" }
        return path.hasPrefix(root + "/") ? String(path.dropFirst(root.count)) : nil
    }

    /// The `oom_kill` line's number (0 when absent or malformed).
    public static func count(_ contents: String) -> Int {
        for line in contents.split(separator: "\n") {
            let f = line.split(separator: " ")
            if f.count == 2, f[0] == "oom_kill", let n = Int(f[1]), n >= 0 { return n }
        }
        return 0
    }

    /// The counter's current value, read through at most 4 KiB; 0 when the file cannot be read.
    public static func read(_ file: String) -> Int {
        let fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        return n > 0 ? count(String(decoding: buf[0..<n], as: UTF8.self)) : 0
    }
}
