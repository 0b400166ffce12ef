import CSys
import Glibc
import OCI
import Sys

/// dockerd's init layer: what every container sees that is neither its image's nor its own.
/// `/.dockerenv` (scripts, and tools such as systemd-detect-virt, look for it to know they run
/// under Docker) and `/etc/mtab` as a link to `/proc/mounts` (what `mount` and `df` read in older
/// images). One read-only directory per data root, below each container's writable layer and
/// above its image: `diff`, `commit` and build steps, which read the writable layer, never see
/// it; the container, `export` and `cp` do, as with dockerd.
extension Engine {
    /// The init layer's directory, made on first use: built aside and renamed into place, so it
    /// is whole or absent. nil when it cannot be made (containers then start without it).
    func initLayer() -> String? {
        let path = config.dataRoot + "/init-layer"
        if initLayerReady { return path }
        if access(path, F_OK) != 0 {
            let tmp = path + ".tmp-\(getpid())"
            FS.removeAll(tmp)
            guard Self.makeInitLayer(tmp), Glibc.rename(tmp, path) == 0 || access(path, F_OK) == 0 else {
                FS.removeAll(tmp)
                return nil
            }
            FS.removeAll(tmp)  // left only when another daemon's rename won
        }
        initLayerReady = true
        return path
    }

    /// The init layer's entries, in `dir` (new): dockerd's modes, the marker file 0755, /etc 0755.
    nonisolated static func makeInitLayer(_ dir: String) -> Bool {
        guard mkdir(dir, 0o755) == 0, chmod(dir, 0o755) == 0 else { return false }
        let fd = open(dir + "/.dockerenv", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o755)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return fchmod(fd, 0o755) == 0 && mkdir(dir + "/etc", 0o755) == 0 && chmod(dir + "/etc", 0o755) == 0
            && symlink("/proc/mounts", dir + "/etc/mtab") == 0
    }

    /// Whether the init layer may go over an image's layers (`layers`: directories, top first).
    /// Only where the image's `/etc` is a directory or absent and its `/etc/mtab` is not a
    /// directory: the init layer's `/etc` directory would hide an `/etc` that is a link (dockerd
    /// writes through it) or a file, and its link would hide an mtab directory (dockerd leaves
    /// one). Such images start without it.
    public nonisolated static func initLayerFits(_ layers: [String]) -> Bool {
        var etcIsDirectory = false
        for layer in layers {
            guard let fd = try? DirFD.openDirectory(layer) else { return false }
            defer { close(fd) }
            guard let etc = DirFD.lstat(fd, "etc") else { continue }
            let kind = etc.st_mode & S_IFMT
            if kind == S_IFCHR && etc.st_rdev == 0 { return true }  // a whiteout: nothing below counts
            // A non-directory below a directory above is hidden by it: the merged /etc ends there.
            guard kind == S_IFDIR else { return etcIsDirectory }
            etcIsDirectory = true
            if let mtab = DirFD.lstat(fd, "etc/mtab") { return (mtab.st_mode & S_IFMT) != S_IFDIR }
            let etcFD = openat(fd, "etc", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard etcFD >= 0 else { return false }
            defer { close(etcFD) }
            var mark: [CChar] = [0, 0]
            if fgetxattr(etcFD, OverlayXattrs.opaque, &mark, 2) == 1 && mark[0] == CChar(UInt8(ascii: "y")) { return true }
        }
        return true
    }

    /// The lower directories of a container's root (top first): the init layer over the image's
    /// layers where it fits.
    func rootLowers(_ chains: [Digest]) -> [String] {
        let layers = chains.reversed().map { store.snapshotPath($0) }
        guard let top = chains.last else { return layers }
        let fits: Bool
        if let known = initLayerFit[top] {
            fits = known
        } else {
            fits = Self.initLayerFits(layers)
            initLayerFit[top] = fits
        }
        guard fits, let initDir = initLayer() else { return layers }
        return [initDir] + layers
    }
}
