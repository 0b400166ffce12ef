import CSys
import Glibc
import Sys

/// The exec helper runs inside containers' namespaces, so a container process can reach it
/// through `/proc/<pid>/exe` while it starts a process (CVE-2019-5736's path). berthd runs it from
/// a read-only bind mount of itself in the exec root: whatever a container opens through that
/// link, it cannot write the binary the host executes ("text file busy" was all that stood in
/// the way before). One mount at daemon start; nil when the mount cannot be made.
public enum SealedHelper {
    public static func readOnlyCopy(of binary: String, in dir: String) -> String? {
        let target = dir + "/" + String(binary.split(separator: "/").last ?? "berth-exec")
        guard FS.exists(binary) else { return nil }
        try? FS.mkdirAll(dir, mode: 0o711)
        // A stale mount from an earlier daemon is replaced.
        while umount2(target, Int32(MNT_DETACH)) == 0 {}
        let fd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o500)
        guard fd >= 0 else { return nil }
        close(fd)
        guard mount(binary, target, nil, UInt(MS_BIND), nil) == 0 else { return nil }
        guard mount(nil, target, nil, UInt(MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV), nil) == 0 else {
            umount2(target, Int32(MNT_DETACH))
            return nil
        }
        return target
    }

    /// Takes the mount away again (a daemon that fails to start leaves nothing mounted).
    public static func release(_ target: String) {
        while umount2(target, Int32(MNT_DETACH)) == 0 {}
    }

    /// Whether `path` sits on a read-only mount (what the escape test checks from outside).
    public static func isReadOnly(_ path: String) -> Bool {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        if fd >= 0 { close(fd); return false }
        return errno == EROFS
    }
}
