import CSys
import Glibc

/// overlayfs keeps its opaque-directory (and redirect) marks in `trusted.overlay.*` xattrs, which
/// only the initial user namespace's root may set or read. Mounted from inside a user namespace
/// (rootless berthd) it must be told `userxattr` and uses `user.overlay.*` instead; without it a
/// container's `rm -rf` of a lower directory fails with EIO. Berth's layer unpacker writes, and
/// its tree walker reads, the marks under the same prefix as the mounts it makes.
public enum OverlayXattrs {
    /// Whether this process is in the host's user namespace (its uid map is the identity over
    /// every id).
    public static let inInitialUserNamespace: Bool = {
        let map = (try? FS.readString("/proc/self/uid_map")) ?? ""
        return map.split(whereSeparator: \.isWhitespace) == ["0", "0", "4294967295"] || map.isEmpty
    }()

    public static var prefix: String { inInitialUserNamespace ? "trusted.overlay." : "user.overlay." }
    public static var opaque: String { prefix + "opaque" }
    /// Whether the directory carries overlayfs's opaque mark (what was below it is hidden).
    public static func isOpaque(_ dirfd: Int32) -> Bool {
        var v = [CChar](repeating: 0, count: 4)
        return fgetxattr(dirfd, opaque, &v, 4) == 1 && v[0] == CChar(UInt8(ascii: "y"))
    }
    /// Extra overlay mount options for this namespace.
    public static var mountOptions: String { inInitialUserNamespace ? "" : ",userxattr" }
}
