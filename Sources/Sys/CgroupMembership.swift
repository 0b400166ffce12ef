/// Where a process sits in the cgroup trees, as files another process writes itself into to join
/// it (exec joins the container's cgroups this way). Pure text in, paths out: unit-testable.
public enum CgroupMembership {
    /// `procCgroup` is `/proc/<pid>/cgroup` (`hierarchy:controllers:path` lines), `mountinfo` is
    /// `/proc/self/mountinfo`. v1 lines map to the cgroup mount carrying those controllers (or
    /// `name=`), the v2 line (`0::path`) to the cgroup2 mount. Unmounted hierarchies are skipped.
    public static func procsFiles(procCgroup: String, mountinfo: String) -> [String] {
        struct Mount { var root: String; var point: String; var v2: Bool; var options: Set<Substring> }
        var mounts: [Mount] = []
        for line in mountinfo.split(separator: "\n") {
            let halves = line.split(separator: " - ", maxSplits: 1)
            guard halves.count == 2 else { continue }
            let pre = halves[0].split(separator: " "), post = halves[1].split(separator: " ")
            guard pre.count >= 5, post.count >= 3, post[0] == "cgroup" || post[0] == "cgroup2" else { continue }
            mounts.append(
                Mount(
                    root: unescape(pre[3]), point: unescape(pre[4]), v2: post[0] == "cgroup2",
                    options: Set(post[2].split(separator: ","))))
        }
        var files: [String] = []
        for line in procCgroup.split(separator: "\n") {
            let f = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard f.count == 3 else { continue }
            let controllers = f[1].split(separator: ",")
            let found =
                controllers.isEmpty
                ? mounts.first { $0.v2 }
                : mounts.first { m in !m.v2 && controllers.allSatisfy { m.options.contains($0) } }
            guard let m = found else { continue }
            var path = String(f[2])
            // A mount of a subtree (nested setups): paths are relative to its root.
            if m.root != "/" {
                guard path == m.root || path.hasPrefix(m.root + "/") else { continue }
                path = String(path.dropFirst(m.root.count))
            }
            let dir = path == "/" || path.isEmpty ? m.point : m.point + path
            let file = dir + "/cgroup.procs"
            if !files.contains(file) { files.append(file) }
        }
        return files
    }

    /// mountinfo escapes space, tab, newline and backslash as octal.
    static func unescape(_ s: Substring) -> String {
        guard s.contains("\\") else { return String(s) }
        var out: [UInt8] = []
        var bytes = Array(s.utf8)[...]
        while let b = bytes.popFirst() {
            if b == UInt8(ascii: "\\"), bytes.count >= 3, let v = UInt8(String(decoding: bytes.prefix(3), as: UTF8.self), radix: 8) {
                out.append(v); bytes = bytes.dropFirst(3)
            } else {
                out.append(b)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
