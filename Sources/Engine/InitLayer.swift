import Glibc
import OCI
import Sys

/// dockerd's init layer: what every container sees that is neither its image's nor its own.
/// `/.dockerenv` (scripts, and tools such as systemd-detect-virt, look for it to know they run
/// under Docker) and `/etc/mtab` as a link to `/proc/mounts` (what `mount` and `df` read in older
/// images). One read-only directory per image top layer, below each container's writable layer
/// and above its image: `diff`, `commit` and build steps, which read the writable layer, never
/// see it; the container, `export` and `cp` do, as with dockerd. Its `/etc` carries the image's
/// `/etc` mode, owner and times, as dockerd's (made by writing through the image's) does: the
/// merged `/etc` shows them, and a change below `/etc` copies them up into the writable layer.
extension Engine {
    /// What an image's layers say of the init layer: whether it fits and, if so, the image's
    /// topmost `/etc` (nil when the image has none).
    public enum InitLayerPlan: Equatable, Sendable {
        case none
        case over(etc: EtcAttributes?)
    }

    public struct EtcAttributes: Equatable, Sendable {
        public var mode: mode_t
        public var uid: uid_t
        public var gid: gid_t
        public var accessed: timespec
        public var modified: timespec

        init(_ st: stat) {
            mode = st.st_mode & 0o7777
            uid = st.st_uid
            gid = st.st_gid
            accessed = st.st_atim
            modified = st.st_mtim
        }

        public static func == (a: EtcAttributes, b: EtcAttributes) -> Bool {
            a.mode == b.mode && a.uid == b.uid && a.gid == b.gid && a.modified.tv_sec == b.modified.tv_sec
                && a.modified.tv_nsec == b.modified.tv_nsec
        }
    }

    /// Where the init layer may go over an image's layers (`layers`: directories, top first).
    /// Only where the image's `/etc` is a directory or absent and its `/etc/mtab` is not a
    /// directory: the init layer's `/etc` directory would hide an `/etc` that is a link (dockerd
    /// writes through it) or a file, and its link would hide an mtab directory (dockerd leaves
    /// one). Such images start without it.
    public nonisolated static func initLayerPlan(_ layers: [String]) -> InitLayerPlan {
        var topEtc: EtcAttributes? = nil
        for layer in layers {
            guard let fd = try? DirFD.openDirectory(layer) else { return .none }
            defer { close(fd) }
            guard let etc = DirFD.lstat(fd, "etc") else { continue }
            let kind = etc.st_mode & S_IFMT
            if kind == S_IFCHR && etc.st_rdev == 0 { return .over(etc: topEtc) }  // a whiteout: nothing below counts
            // A non-directory below a directory above is hidden by it: the merged /etc ends there.
            guard kind == S_IFDIR else { return topEtc == nil ? .none : .over(etc: topEtc) }
            if topEtc == nil { topEtc = EtcAttributes(etc) }
            if let mtab = DirFD.lstat(fd, "etc/mtab") { return (mtab.st_mode & S_IFMT) == S_IFDIR ? .none : .over(etc: topEtc) }
            let etcFD = openat(fd, "etc", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard etcFD >= 0 else { return .none }
            defer { close(etcFD) }
            if OverlayXattrs.isOpaque(etcFD) { return .over(etc: topEtc) }
        }
        return .over(etc: topEtc)
    }

    /// The init layer's entries, in `dir` (new): dockerd's modes (the marker file 0755), and
    /// `/etc` as the image has it (0755 root when it has none).
    public nonisolated static func makeInitLayer(_ dir: String, etc: EtcAttributes?) -> Bool {
        guard mkdir(dir, 0o755) == 0, chmod(dir, 0o755) == 0 else { return false }
        let fd = open(dir + "/.dockerenv", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o755)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        guard fchmod(fd, 0o755) == 0, mkdir(dir + "/etc", 0o755) == 0, symlink("/proc/mounts", dir + "/etc/mtab") == 0 else { return false }
        guard let etc else { return chmod(dir + "/etc", 0o755) == 0 }
        // Times last: making the link changed the directory's.
        let times = [etc.accessed, etc.modified]
        return lchown(dir + "/etc", etc.uid, etc.gid) == 0 && chmod(dir + "/etc", etc.mode) == 0
            && utimensat(AT_FDCWD, dir + "/etc", times, AT_SYMLINK_NOFOLLOW) == 0
    }

    var initLayersDir: String { config.dataRoot + "/init-layers" }

    /// The lower directories of a container's root (top first): the image's init layer over its
    /// layers where it fits (made on first use: built aside and renamed into place, so it is whole
    /// or absent; without it the container starts with the image's layers alone).
    func rootLowers(_ chains: [Digest]) -> [String] {
        let layers = chains.reversed().map { store.snapshotPath($0) }
        guard let top = chains.last else { return layers }
        if let known = initLayers[top] { return known.map { [$0] + layers } ?? layers }
        var made: String? = nil
        if case .over(let etc) = Self.initLayerPlan(layers) {
            let path = initLayersDir + "/" + top.hex
            if access(path, F_OK) == 0 {
                made = path
            } else if (try? FS.mkdirAll(initLayersDir)) != nil {
                let tmp = path + ".tmp"
                FS.removeAll(tmp)
                if Self.makeInitLayer(tmp, etc: etc) && Glibc.rename(tmp, path) == 0 { made = path }
                FS.removeAll(tmp)
            }
        }
        initLayers[top] = made
        return made.map { [$0] + layers } ?? layers
    }

    /// At start: init layers whose image layer is gone (no container can be using them).
    func sweepInitLayers() {
        for name in (try? FS.list(initLayersDir)) ?? [] {
            let inUse = Digest(parsing: "sha256:" + name).map { FS.exists(store.snapshotPath($0)) } ?? false
            if !inUse { FS.removeAll(initLayersDir + "/" + name) }
        }
    }
}
