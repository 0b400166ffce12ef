import JSON
import Sys

/// The command line of `berth-exec` (Sources/berth-exec) for one OCI process: everything the C
/// helper needs, already reduced to numbers and paths so it parses nothing.
public struct ExecHelperCommand: Sendable, Equatable {
    public var argv: [String]
    /// The process's environment: the helper is started with it and passes it on.
    public var env: [String]

    /// `process` is an OCI runtime-spec process object; `cgroupFiles` are the cgroup.procs files
    /// of the container's init (see `CgroupMembership`).
    public init(
        helper: String, process: JSON, targetPid: Int32, seccompFile: String?, cgroupFiles: [String],
        pidFile: String?
    ) {
        var a = [helper, "--pid", String(targetPid), "--cwd", process["cwd"].string ?? "/"]
        let user = process["user"]
        let groups = (user["additionalGids"].array ?? []).compactMap(\.int).map(String.init)
        a += [
            "--user",
            ([String(user["uid"].int ?? 0), String(user["gid"].int ?? 0)] + (groups.isEmpty ? [] : [groups.joined(separator: ",")])).joined(separator: ":"),
        ]
        let caps = process["capabilities"]
        let masks = ["bounding", "effective", "permitted", "inheritable", "ambient"].map {
            String(LinuxCapabilities.mask(caps[$0].stringArray ?? []), radix: 16)
        }
        a += ["--caps", masks.joined(separator: ":")]
        if process["noNewPrivileges"].bool == true { a.append("--nnp") }
        if let seccompFile { a += ["--seccomp", seccompFile] }
        for f in cgroupFiles { a += ["--cgroup", f] }
        if process["terminal"].bool == true {
            a += ["--tty", "\(process["consoleSize"]["height"].int ?? 0):\(process["consoleSize"]["width"].int ?? 0)"]
        }
        if let oom = process["oomScoreAdj"].int { a += ["--oom", String(oom)] }
        if let pidFile { a += ["--pid-file", pidFile] }
        argv = a + ["--"] + (process["args"].stringArray ?? [])
        env = process["env"].stringArray ?? []
    }
}
