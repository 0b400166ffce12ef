import CSeccomp
import CSys
import Glibc
import JSON
import Sys

/// Compiles an OCI `linux.seccomp` profile into the classic-BPF program the kernel loads, with
/// libseccomp and the rules runc applies (so an exec'd process gets the container's filter).
public enum SeccompCompiler {
    /// Changes whenever the same profile would compile to another program (2: FilterCompactor),
    /// so caches keyed by the profile never hand out what an older daemon compiled.
    public static let outputVersion = 2

    public struct Failure: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    /// The filter as `struct sock_filter[]` bytes; `compacted` (FilterCompactor) unless a test
    /// asks for libseccomp's own program to compare with.
    public static func compile(_ profile: JSON, compacted: Bool = true) throws(Failure) -> [UInt8] {
        let defaultErrno = profile["defaultErrnoRet"].int.map { UInt32(truncatingIfNeeded: $0) } ?? UInt32(EPERM)
        guard let defaultAction = action(profile["defaultAction"].string ?? "", errno: defaultErrno) else {
            throw Failure(message: "seccomp: unsupported default action \(profile["defaultAction"].string ?? "")")
        }
        guard let ctx = seccomp_init(defaultAction) else { throw Failure(message: "seccomp: cannot initialise a filter") }
        defer { seccomp_release(ctx) }
        for name in profile["architectures"].stringArray ?? [] {
            let arch = seccomp_arch_resolve_name(archName(name))
            // Adding the native architecture again is EEXIST; an unknown one is skipped as runc does.
            if arch != 0 { _ = seccomp_arch_add(ctx, arch) }
        }
        for rule in profile["syscalls"].array ?? [] {
            let errno = rule["errnoRet"].int.map { UInt32(truncatingIfNeeded: $0) } ?? UInt32(EPERM)
            guard let act = action(rule["action"].string ?? "", errno: errno) else { continue }
            if act == defaultAction { continue }  // libseccomp refuses a rule that repeats the default
            let conditions = (rule["args"].array ?? []).compactMap(condition)
            // Several conditions on one argument cannot be ANDed: each becomes a rule of its own (runc).
            let indexes = conditions.map(\.arg)
            let separate = Set(indexes).count != indexes.count
            var names = rule["names"].stringArray ?? []
            if let single = rule["name"].string { names.append(single) }
            for name in names {
                let nr = seccomp_syscall_resolve_name(name)
                if nr == __NR_SCMP_ERROR { continue }  // unknown to this libseccomp: runc skips it too
                if separate {
                    for c in conditions { try add(ctx, act, nr, [c], name) }
                } else {
                    try add(ctx, act, nr, conditions, name)
                }
            }
        }
        let program = try export(ctx)
        return compacted ? FilterCompactor.compact(program) : program
    }

    static func add(_ ctx: scmp_filter_ctx, _ act: UInt32, _ nr: Int32, _ conds: [scmp_arg_cmp], _ name: String) throws(Failure) {
        let rc = conds.withUnsafeBufferPointer { seccomp_rule_add_array(ctx, act, nr, UInt32($0.count), $0.baseAddress) }
        if rc < 0 { throw Failure(message: "seccomp: adding a rule for \(name): \(String(cString: strerror(-rc)))") }
    }

    static func export(_ ctx: scmp_filter_ctx) throws(Failure) -> [UInt8] {
        var fds: [Int32] = [0, 0]
        guard berth_pipe(&fds) == 0 else { throw Failure(message: "seccomp: pipe failed") }
        defer { close(fds[0]) }
        // A profile compiles to tens of KiB: enlarge the pipe (F_SETPIPE_SZ) so export never blocks.
        _ = fcntl(fds[1], 1031, Int32(1 << 20))
        let rc = seccomp_export_bpf(ctx, fds[1])
        close(fds[1])
        if rc < 0 { throw Failure(message: "seccomp: export failed: \(String(cString: strerror(-rc)))") }
        do { return try FS.readAll(fd: fds[0]) } catch { throw Failure(message: "seccomp: reading the filter: \(error)") }
    }

    static func archName(_ oci: String) -> String {
        (oci.hasPrefix("SCMP_ARCH_") ? String(oci.dropFirst(10)) : oci).lowercased()
    }

    static func action(_ name: String, errno: UInt32) -> UInt32? {
        switch name {
        case "SCMP_ACT_ALLOW": return 0x7fff_0000
        case "SCMP_ACT_ERRNO": return 0x0005_0000 | (errno & 0xffff)
        case "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD": return 0
        case "SCMP_ACT_KILL_PROCESS": return 0x8000_0000
        case "SCMP_ACT_TRAP": return 0x0003_0000
        case "SCMP_ACT_TRACE": return 0x7ff0_0000 | (errno & 0xffff)
        case "SCMP_ACT_LOG": return 0x7ffc_0000
        default: return nil
        }
    }

    static func condition(_ arg: JSON) -> scmp_arg_cmp? {
        let ops: [String: scmp_compare] = [
            "SCMP_CMP_NE": SCMP_CMP_NE, "SCMP_CMP_LT": SCMP_CMP_LT, "SCMP_CMP_LE": SCMP_CMP_LE,
            "SCMP_CMP_EQ": SCMP_CMP_EQ, "SCMP_CMP_GE": SCMP_CMP_GE, "SCMP_CMP_GT": SCMP_CMP_GT,
            "SCMP_CMP_MASKED_EQ": SCMP_CMP_MASKED_EQ,
        ]
        guard let index = arg["index"].int, let op = ops[arg["op"].string ?? ""] else { return nil }
        return scmp_arg_cmp(
            arg: UInt32(index), op: op, datum_a: UInt64(truncatingIfNeeded: arg["value"].int ?? 0),
            datum_b: UInt64(truncatingIfNeeded: arg["valueTwo"].int ?? 0))
    }
}
