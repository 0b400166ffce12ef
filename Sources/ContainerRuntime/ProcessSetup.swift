import CRuntime
import Glibc
import Sys

/// The last steps of a container process before execve, in runc's order: rlimits, no_new_privs,
/// seccomp (before the capabilities go when it needs CAP_SYS_ADMIN, else as late as possible),
/// capabilities and user, the program looked up as Go's exec.LookPath does.
struct ProcessSetup {
    let process: RuntimeConfig.Process
    let seccompFilter: [UInt8]?

    func applyRlimits() throws(RuntimeFailure) {
        for r in process.rlimits {
            guard let n = Rlimits.number(r.type) else { continue }
            if brt_setrlimit(n, r.soft, r.hard) != 0 { throw RuntimeFailure.errno("error setting rlimit type \(n)") }
        }
    }

    func applyOOMScore() throws(RuntimeFailure) {
        if let o = process.oomScoreAdj { try writeExisting("/proc/self/oom_score_adj", String(o)) }
    }

    func applyAppArmor() throws(RuntimeFailure) {
        guard !process.apparmorProfile.isEmpty else { return }
        let enabled = (try? FS.readString("/sys/module/apparmor/parameters/enabled"))?.hasPrefix("Y") ?? false
        guard enabled else { throw RuntimeFailure("apparmor profile \(process.apparmorProfile) specified but AppArmor is disabled on this host") }
        let attr = FS.exists("/proc/self/attr/apparmor/exec") ? "/proc/self/attr/apparmor/exec" : "/proc/self/attr/exec"
        try writeExisting(attr, "exec " + process.apparmorProfile)
    }

    func loadSeccomp() throws(RuntimeFailure) {
        guard let f = seccompFilter, !f.isEmpty else { return }
        let rc = f.withUnsafeBytes { brt_load_seccomp($0.baseAddress, Int32($0.count)) }
        if rc != 0 { throw RuntimeFailure.errno("error loading seccomp filter") }
    }

    /// Bounding set, user, groups, then the other capability sets (runc's finalizeNamespace).
    func becomeUser() throws(RuntimeFailure) {
        let bounding = LinuxCapabilities.mask(process.bounding)
        for cap in 0..<64 where bounding & (1 << UInt64(cap)) == 0 {
            if brt_prctl(PR_CAPBSET_DROP_, UInt(cap), 0, 0, 0) != 0 {
                if errno == EINVAL { break }  // past the kernel's last capability
                throw RuntimeFailure.errno("drop bounding capability \(cap)")
            }
        }
        // What this host lets us hold: asking for more would be refused.
        var eff: UInt64 = 0, perm: UInt64 = ~0, inh: UInt64 = 0
        _ = brt_capget(&eff, &perm, &inh)
        if brt_prctl(PR_SET_KEEPCAPS_, 1, 0, 0, 0) != 0 { throw RuntimeFailure.errno("keepcaps") }
        let groups = process.additionalGids.map { gid_t($0) }
        if groups.withUnsafeBufferPointer({ setgroups($0.count, $0.baseAddress) }) != 0 {
            // In a user namespace whose setgroups is denied, an empty list is fine.
            if !(errno == EPERM && groups.isEmpty) { throw RuntimeFailure.errno("setgroups") }
        }
        if brt_setresgid(process.gid) != 0 { throw RuntimeFailure.errno("setgid \(process.gid)") }
        if brt_setresuid(process.uid) != 0 { throw RuntimeFailure.errno("setuid \(process.uid)") }
        _ = brt_prctl(PR_SET_KEEPCAPS_, 0, 0, 0, 0)
        let e = LinuxCapabilities.mask(process.effective) & perm
        let p = LinuxCapabilities.mask(process.permitted) & perm
        let i = LinuxCapabilities.mask(process.inheritable) & perm
        if brt_capset(e, p, i) != 0 { throw RuntimeFailure.errno("capset") }
        let ambient = LinuxCapabilities.mask(process.ambient)
        for cap in 0..<64 where ambient & (1 << UInt64(cap)) != 0 {
            _ = brt_prctl(PR_CAP_AMBIENT_, 2, UInt(cap), 0, 0)
        }
    }

    /// CVE-2024-21626: a cwd such as /proc/self/fd/N naming a descriptor of ours that points
    /// outside the container would leave the process in the host's tree. getcwd(2) then fails
    /// (the directory is not below our root), which is refused.
    static func checkWorkingDirectoryInside() throws(RuntimeFailure) {
        var buf = [CChar](repeating: 0, count: 4097)
        if getcwd(&buf, 4096) == nil || buf.first != CChar(UInt8(ascii: "/")) {
            throw RuntimeFailure("current working directory is outside of container mount namespace root -- possible container breakout detected")
        }
    }

    /// The process's environment's PATH.
    var pathVariable: String {
        process.env.last { $0.hasPrefix("PATH=") }.map { String($0.dropFirst(5)) } ?? ""
    }

    /// Go's exec.LookPath with runc's error texts.
    func lookPath() throws(RuntimeFailure) -> String {
        let file = process.args[0]
        func check(_ path: String) -> Int32 {
            var st = stat()
            if stat(path, &st) != 0 { return errno }
            if (st.st_mode & S_IFMT) == S_IFDIR || st.st_mode & 0o111 == 0 { return EACCES }
            return 0
        }
        if file.contains("/") {
            let e = check(file)
            if e == ENOENT { throw RuntimeFailure("exec: \"\(file)\": stat \(file): no such file or directory") }
            if e != 0 { throw RuntimeFailure("exec: \"\(file)\": \(goErrorText(e))") }
            return file
        }
        for dir in pathVariable.split(separator: ":", omittingEmptySubsequences: false) {
            let candidate = (dir.isEmpty ? "." : String(dir)) + "/" + file
            if check(candidate) == 0 { return candidate }
        }
        throw RuntimeFailure("exec: \"\(file)\": executable file not found in $PATH")
    }

    func exec(_ path: String) -> Int32 {
        brt_reset_signals()
        let argv = process.args, env = process.env
        return withCStrings(argv) { a in withCStrings(env) { e in execve(path, a, e) } }
    }
}

let PR_SET_DUMPABLE_: Int32 = 4
let PR_SET_KEEPCAPS_: Int32 = 8
let PR_CAPBSET_DROP_: Int32 = 24
let PR_CAP_AMBIENT_: Int32 = 47
let PR_SET_NO_NEW_PRIVS_: Int32 = 38
let PR_SET_CHILD_SUBREAPER_: Int32 = 36
let PR_SET_PDEATHSIG_: Int32 = 1
