import Glibc

/// The host's device nodes as runc's HostDevices lists them (what a privileged container gets):
/// character and block devices under /dev, recursively, except the per-instance trees (pts, shm,
/// fd, mqueue, LXC/LXD/udev state) and the console; symlinks are not followed.
public enum HostDevices {
    public struct Device: Sendable, Equatable {
        public var path: String
        public var type: String  // "c" or "b"
        public var major: UInt32, minor: UInt32
        public var mode: UInt32, uid: UInt32, gid: UInt32
        public init(path: String, type: String, major: UInt32, minor: UInt32, mode: UInt32, uid: UInt32, gid: UInt32) {
            self.path = path; self.type = type; self.major = major; self.minor = minor; self.mode = mode; self.uid = uid; self.gid = gid
        }
    }

    public static func list(_ dir: String = "/dev") -> [Device] {
        var out: [Device] = []
        for name in ((try? FS.list(dir)) ?? []).sorted() {
            let path = dir + "/" + name
            var st = stat()
            guard lstat(path, &st) == 0 else { continue }
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                if !["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"].contains(name) { out += list(path) }
            case S_IFCHR, S_IFBLK:
                if name == "console" { continue }
                out.append(
                    Device(
                        path: path, type: (st.st_mode & S_IFMT) == S_IFCHR ? "c" : "b",
                        major: major(UInt64(st.st_rdev)), minor: minor(UInt64(st.st_rdev)),
                        mode: UInt32(st.st_mode & 0o7777), uid: st.st_uid, gid: st.st_gid))
            default: continue
            }
        }
        return out
    }

    // glibc's dev_t encoding (the macros do not import into Swift).
    static func major(_ d: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: ((d >> 8) & 0xfff) | ((d >> 32) & ~0xfff)) }
    static func minor(_ d: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: (d & 0xff) | ((d >> 12) & ~0xff)) }
}

extension HostDevices {
    /// One device node (following a symlink such as /dev/disk/by-id/…), nil when the path is not
    /// a character or block device.
    public static func device(at path: String) -> Device? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        let kind = st.st_mode & S_IFMT
        guard kind == S_IFCHR || kind == S_IFBLK else { return nil }
        return Device(
            path: path, type: kind == S_IFCHR ? "c" : "b", major: major(UInt64(st.st_rdev)), minor: minor(UInt64(st.st_rdev)),
            mode: UInt32(st.st_mode & 0o7777), uid: st.st_uid, gid: st.st_gid)
    }
}
