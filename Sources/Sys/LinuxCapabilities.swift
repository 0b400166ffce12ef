/// Linux capability numbers by name (`CAP_` prefix optional), for capset and the bounding set.
public enum LinuxCapabilities {
    public static let names = [
        "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
        "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
        "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
        "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
        "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
        "CHECKPOINT_RESTORE",
    ]

    /// The set as a bit mask; unknown names are ignored (as runc ignores them with a warning).
    public static func mask(_ list: [String]) -> UInt64 {
        var m: UInt64 = 0
        for name in list {
            let n = name.uppercased()
            if let i = names.firstIndex(of: n.hasPrefix("CAP_") ? String(n.dropFirst(4)) : n) { m |= 1 << UInt64(i) }
        }
        return m
    }

    /// The capabilities this process may still hold (its bounding set): "all capabilities" on
    /// this host, where asking runc for more would fail (some VMs withhold one or two from root).
    public static func bounding() -> [String] {
        let status = (try? FS.readString("/proc/self/status")) ?? ""
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("CapBnd:") }),
            let mask = UInt64(String(line.dropFirst(7)).trimmingSpaces(), radix: 16)
        else { return names.map { "CAP_" + $0 } }
        return names.enumerated().filter { mask & (1 << UInt64($0.offset)) != 0 }.map { "CAP_" + $0.element }
    }
}
