import Glibc
import JSON

/// Seccomp profiles as the runtime takes them (OCI `linux.seccomp`), made from Docker's format:
/// the default profile for a container's capabilities, or a profile a client sent inline
/// (`--security-opt seccomp=<file>`: the docker CLI sends the file's content).
public enum SeccompProfile {
    /// Syscalls Docker's default profile allows only with a capability (its `includes.caps`
    /// rules); the default capability set's are already in `DefaultSeccomp`.
    static let byCapability: [String: [String]] = [
        "CAP_SYS_ADMIN": [
            "bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick", "lookup_dcookie", "mount",
            "mount_setattr", "move_mount", "name_to_handle_at", "open_tree", "perf_event_open", "quotactl", "quotactl_fd",
            "setdomainname", "sethostname", "setns", "syslog", "umount", "umount2", "unshare",
        ],
        "CAP_BPF": ["bpf"],
        "CAP_PERFMON": ["perf_event_open"],
        "CAP_DAC_READ_SEARCH": ["open_by_handle_at"],
        "CAP_SYSLOG": ["syslog"],
        "CAP_SYS_BOOT": ["reboot"],
        "CAP_SYS_MODULE": ["delete_module", "init_module", "finit_module"],
        "CAP_SYS_NICE": ["get_mempolicy", "mbind", "set_mempolicy"],
        "CAP_SYS_PACCT": ["acct"],
        "CAP_SYS_PTRACE": ["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"],
        "CAP_SYS_RAWIO": ["iopl", "ioperm"],
        "CAP_SYS_TIME": ["settimeofday", "stime", "clock_settime", "clock_settime64"],
        "CAP_SYS_TTY_CONFIG": ["vhangup"],
    ]

    /// Docker's default profile for a container holding `caps`.
    public static func defaultProfile(capabilities caps: [String]) -> JSON {
        guard var profile = try? JSON.parse(DefaultSeccomp.json) else { return .null }
        let extra = caps.flatMap { byCapability[$0] ?? [] }
        guard !extra.isEmpty else { return profile }
        var rules = profile["syscalls"].array ?? []
        if caps.contains("CAP_SYS_ADMIN") {
            // With CAP_SYS_ADMIN clone and clone3 are allowed outright: the argument-filtered
            // clone rule and the clone3 refusal of the default set give way, as in Docker's.
            rules.removeAll { r in
                let names = r["names"].stringArray ?? []
                return (names == ["clone"] && r["args"].array?.isEmpty == false) || (names == ["clone3"] && r["action"].string != "SCMP_ACT_ALLOW")
            }
        }
        var seen = Set<String>()
        let names = extra.filter { seen.insert($0).inserted }
        rules.append(["names": JSON.strings(names), "action": "SCMP_ACT_ALLOW"])
        profile["syscalls"] = .array(rules)
        return profile
    }

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    /// A profile in Docker's format (or already in OCI's) resolved for this host and `caps`:
    /// `archMap` → the host's architectures, rules kept or dropped by `includes`/`excludes`
    /// (capabilities, architectures, minimum kernel).
    public static func resolve(_ profile: JSON, capabilities caps: [String], kernel: String = kernelRelease()) throws(Invalid) -> JSON {
        guard case .object = profile, let defaultAction = profile["defaultAction"].string, !defaultAction.isEmpty else {
            throw Invalid(description: "invalid seccomp profile: defaultAction is required")
        }
        var out: JSON = ["defaultAction": .string(defaultAction)]
        if let e = profile["defaultErrnoRet"].int { out["defaultErrnoRet"] = .int(e) }
        var arches = profile["architectures"].stringArray ?? []
        for m in profile["archMap"].array ?? [] where m["architecture"].string == "SCMP_ARCH_X86_64" {
            arches = ["SCMP_ARCH_X86_64"] + (m["subArchitectures"].stringArray ?? [])
        }
        if !arches.isEmpty { out["architectures"] = JSON.strings(arches) }
        let hostArches: Set<String> = ["amd64", "x86_64", "x32", "386", "x86"]
        let capSet = Set(caps)
        var rules: [JSON] = []
        for r in profile["syscalls"].array ?? [] {
            let inc = r["includes"], exc = r["excludes"]
            if let need = inc["caps"].stringArray, !need.isEmpty, !need.allSatisfy(capSet.contains) { continue }
            if let need = inc["arches"].stringArray, !need.isEmpty, !need.contains(where: hostArches.contains) { continue }
            if let min = inc["minKernel"].string, !min.isEmpty, compareKernel(kernel, min) < 0 { continue }
            if let not = exc["caps"].stringArray, not.contains(where: capSet.contains) { continue }
            if let not = exc["arches"].stringArray, not.contains(where: hostArches.contains) { continue }
            var names = r["names"].stringArray ?? []
            if let one = r["name"].string, names.isEmpty { names = [one] }
            guard !names.isEmpty, let action = r["action"].string else {
                throw Invalid(description: "invalid seccomp profile: a rule needs names and an action")
            }
            var rule: JSON = ["names": JSON.strings(names), "action": .string(action)]
            if let args = r["args"].array, !args.isEmpty { rule["args"] = .array(args) }
            if let e = r["errnoRet"].int { rule["errnoRet"] = .int(e) }
            rules.append(rule)
        }
        out["syscalls"] = .array(rules)
        return out
    }

    public static func kernelRelease() -> String {
        var u = utsname()
        uname(&u)
        return withUnsafeBytes(of: &u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    static func compareKernel(_ a: String, _ b: String) -> Int {
        func parts(_ s: String) -> [Int] { s.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) } }
        let x = parts(a), y = parts(b)
        for i in 0..<max(x.count, y.count) {
            let l = i < x.count ? x[i] : 0, r = i < y.count ? y[i] : 0
            if l != r { return l < r ? -1 : 1 }
        }
        return 0
    }
}
