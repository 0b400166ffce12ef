/// An OCI mount's `options` split the way mount(8) and runc do: flags for mount(2), propagation
/// changes applied after it, and the rest as the filesystem's data string. Pure: unit-tested.
public struct MountOptions: Sendable, Equatable {
    public var flags: UInt = 0
    /// Flags the options clear (`rw`, `suid`, …): for a bind's read-only remount.
    public var cleared: UInt = 0
    public var propagation: [UInt] = []
    public var data: [String] = []
    public var bind: Bool { flags & MountFlags.bind != 0 }
    public var recursive: Bool { flags & MountFlags.rec != 0 }

    public init(_ options: [String], type: String = "") {
        for o in options {
            if let (set, flag) = Self.table[o] {
                if set { flags |= flag } else { flags &= ~flag; cleared |= flag }
            } else if let p = Self.propagation[o] {
                propagation.append(p)
            } else if o == "tmpcopyup" || o.hasPrefix("x-") {
                continue  // runc's own extension; user-space hints
            } else {
                data.append(o)
            }
        }
        if type == "bind" { flags |= MountFlags.bind }
    }

    public var dataString: String { data.joined(separator: ",") }

    /// Flags that need a remount after a bind (a bind ignores them on the first mount(2)).
    public var remountFlags: UInt {
        flags
            & (MountFlags.rdonly | MountFlags.nosuid | MountFlags.nodev | MountFlags.noexec | MountFlags.noatime | MountFlags.nodiratime
                | MountFlags.relatime | MountFlags.strictatime)
    }

    static let table: [String: (Bool, UInt)] = [
        "async": (false, MountFlags.synchronous), "atime": (false, MountFlags.noatime), "bind": (true, MountFlags.bind),
        "defaults": (false, 0), "dev": (false, MountFlags.nodev), "diratime": (false, MountFlags.nodiratime),
        "dirsync": (true, MountFlags.dirsync), "exec": (false, MountFlags.noexec), "mand": (true, MountFlags.mandlock),
        "noatime": (true, MountFlags.noatime), "nodev": (true, MountFlags.nodev), "nodiratime": (true, MountFlags.nodiratime),
        "noexec": (true, MountFlags.noexec), "nomand": (false, MountFlags.mandlock), "norelatime": (false, MountFlags.relatime),
        "nostrictatime": (false, MountFlags.strictatime), "nosuid": (true, MountFlags.nosuid),
        "rbind": (true, MountFlags.bind | MountFlags.rec), "relatime": (true, MountFlags.relatime), "remount": (true, MountFlags.remount),
        "ro": (true, MountFlags.rdonly), "rw": (false, MountFlags.rdonly), "strictatime": (true, MountFlags.strictatime),
        "suid": (false, MountFlags.nosuid), "sync": (true, MountFlags.synchronous),
    ]

    public static let propagation: [String: UInt] = [
        "private": MountFlags.`private`, "rprivate": MountFlags.`private` | MountFlags.rec,
        "shared": MountFlags.shared, "rshared": MountFlags.shared | MountFlags.rec,
        "slave": MountFlags.slave, "rslave": MountFlags.slave | MountFlags.rec,
        "unbindable": MountFlags.unbindable, "runbindable": MountFlags.unbindable | MountFlags.rec,
    ]
}

/// mount(2)'s MS_* flags.
public enum MountFlags {
    public static let rdonly: UInt = 1
    public static let nosuid: UInt = 2
    public static let nodev: UInt = 4
    public static let noexec: UInt = 8
    public static let synchronous: UInt = 16
    public static let remount: UInt = 32
    public static let mandlock: UInt = 64
    public static let dirsync: UInt = 128
    public static let noatime: UInt = 1024
    public static let nodiratime: UInt = 2048
    public static let bind: UInt = 4096
    public static let move: UInt = 8192
    public static let rec: UInt = 16384
    public static let silent: UInt = 32768
    public static let unbindable: UInt = 1 << 17
    public static let `private`: UInt = 1 << 18
    public static let slave: UInt = 1 << 19
    public static let shared: UInt = 1 << 20
    public static let relatime: UInt = 1 << 21
    public static let strictatime: UInt = 1 << 24
}
