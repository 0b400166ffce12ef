import Glibc
import OCI
import Sys

/// dockerd's init layer: what every container's root has, whatever its image: `/.dockerenv`
/// (scripts, and tools such as systemd-detect-virt, look for it to know they run under Docker),
/// `/etc/mtab` as a link to `/proc/mounts` (what `mount` and `df` read in older images), and the
/// mount points the runtime mounts on (`/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf`, `/proc`,
/// `/sys`, `/dev/...`) — which the runtime otherwise made in each container's writable layer, a
/// copy-up of `/etc` and three new files on every start (1.2 ms of a `run --rm`, measured). One
/// read-only directory per image top layer, below each container's writable layer and above its
/// image: `diff`, `commit` and build steps, which read the writable layer, never see it; the
/// container, `export` and `cp` do, as with dockerd.
///
/// It holds what dockerd's `initlayer.Setup` leaves, worked out from the image's layers
/// (`LayerStack`): an entry replaces whatever non-directory the image has at its path or on the
/// way to it (dockerd unlinks those), and a directory the image has there stays. A directory it
/// adds where the image has one carries that directory's mode, owner and times (dockerd's gets
/// them by copy-up), so the merged directory shows them and a change below it copies them up.
extension Engine {
    public enum InitEntryKind: Equatable, Sendable {
        case directory
        case file
        case link(String)
    }

    /// dockerd's list (daemon/initlayer/setup_unix.go).
    static let initLayerEntries: [(path: String, kind: InitEntryKind)] = [
        ("dev/pts", .directory), ("dev/shm", .directory), ("proc", .directory), ("sys", .directory), (".dockerenv", .file),
        ("etc/resolv.conf", .file), ("etc/hosts", .file), ("etc/hostname", .file), ("dev/console", .file),
        ("etc/mtab", .link("/proc/mounts")),
    ]

    /// What the init layer over an image holds.
    public struct InitLayerPlan: Equatable, Sendable {
        public struct Directory: Equatable, Sendable {
            public var path: String
            /// The image's directory there (nil: it has none, and the layer's is dockerd's 0755 root).
            public var image: DirectoryAttributes?
        }
        public struct Entry: Equatable, Sendable {
            public var path: String
            public var kind: InitEntryKind
        }
        /// The directories that hold the entries, parents first.
        public var directories: [Directory] = []
        public var entries: [Entry] = []

        public init(directories: [Directory] = [], entries: [Entry] = []) {
            self.directories = directories
            self.entries = entries
        }
    }

    public struct DirectoryAttributes: Equatable, Sendable {
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

        public static func == (a: DirectoryAttributes, b: DirectoryAttributes) -> Bool {
            a.mode == b.mode && a.uid == b.uid && a.gid == b.gid && a.modified.tv_sec == b.modified.tv_sec
                && a.modified.tv_nsec == b.modified.tv_nsec
        }
    }

    /// The init layer over an image's layers (`layers`: directories, top first); nil when a layer
    /// cannot be read (the container then starts without one).
    public nonisolated static func initLayerPlan(_ layers: [String]) -> InitLayerPlan? {
        var plan = InitLayerPlan()
        do {
            for (path, kind) in initLayerEntries {
                if let st = try LayerStack.lookup(layers, path), (st.st_mode & S_IFMT) == S_IFDIR { continue }  // dockerd's stat finds it: left as it is
                var parent = ""
                for name in path.split(separator: "/").dropLast() {
                    parent = parent.isEmpty ? String(name) : parent + "/" + name
                    if plan.directories.contains(where: { $0.path == parent }) { continue }
                    let image = try LayerStack.lookup(layers, parent).flatMap { ($0.st_mode & S_IFMT) == S_IFDIR ? DirectoryAttributes($0) : nil }
                    plan.directories.append(.init(path: parent, image: image))
                }
                plan.entries.append(.init(path: path, kind: kind))
            }
        } catch { return nil }
        return plan
    }

    /// Makes the planned layer in `dir` (new): dockerd's modes (0755 root, files included), the
    /// image's attributes on the directories it has.
    public nonisolated static func makeInitLayer(_ dir: String, _ plan: InitLayerPlan) -> Bool {
        guard mkdir(dir, 0o755) == 0, chmod(dir, 0o755) == 0 else { return false }
        for d in plan.directories { guard mkdir(dir + "/" + d.path, 0o755) == 0 else { return false } }
        for e in plan.entries {
            let path = dir + "/" + e.path
            switch e.kind {
            case .directory:
                guard mkdir(path, 0o755) == 0, chmod(path, 0o755) == 0 else { return false }
            case .file:
                let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o755)
                guard fd >= 0 else { return false }
                defer { close(fd) }
                guard fchmod(fd, 0o755) == 0 else { return false }
            case .link(let target):
                guard symlink(target, path) == 0 else { return false }
            }
        }
        // Attributes last, deepest first: making the entries changed the directories' times.
        for d in plan.directories.reversed() {
            let path = dir + "/" + d.path
            guard let a = d.image else {
                guard chmod(path, 0o755) == 0 else { return false }
                continue
            }
            guard lchown(path, a.uid, a.gid) == 0, chmod(path, a.mode) == 0,
                utimensat(AT_FDCWD, path, [a.accessed, a.modified], AT_SYMLINK_NOFOLLOW) == 0
            else { return false }
        }
        return true
    }

    var initLayersDir: String { config.dataRoot + "/init-layers" }

    /// The lower directories of a container's root (top first): the image's init layer over its
    /// layers (made on first use: built aside and renamed into place, so it is whole or absent;
    /// without it the container starts with the image's layers alone).
    func rootLowers(_ chains: [Digest]) -> [String] {
        let layers = chains.reversed().map { store.snapshotPath($0) }
        guard let top = chains.last else { return layers }
        if let known = initLayers[top] { return known.map { [$0] + layers } ?? layers }
        var made: String? = nil
        let path = initLayersDir + "/" + top.hex + Self.initLayerVersion
        if access(path, F_OK) == 0 {
            made = path
        } else if let plan = Self.initLayerPlan(layers), (try? FS.mkdirAll(initLayersDir)) != nil {
            let tmp = path + ".tmp"
            FS.removeAll(tmp)
            if Self.makeInitLayer(tmp, plan) && Glibc.rename(tmp, path) == 0 { made = path }
            FS.removeAll(tmp)
        }
        initLayers[top] = made
        return made.map { [$0] + layers } ?? layers
    }

    /// Suffix of the current layout's directories: those of an earlier one (no suffix: only
    /// `/.dockerenv`, `/etc` and `/etc/mtab`) stay while containers may use them, new ones are made.
    static let initLayerVersion = "-2"

    /// At start: init layers whose image layer is gone (no container can be using them), and
    /// half-made ones.
    func sweepInitLayers() {
        for name in (try? FS.list(initLayersDir)) ?? [] {
            let hex = String(name.prefix(64))
            let current = name == hex || name == hex + Self.initLayerVersion
            let inUse = current && Digest(parsing: "sha256:" + hex).map { FS.exists(store.snapshotPath($0)) } ?? false
            if !inUse { FS.removeAll(initLayersDir + "/" + name) }
        }
    }
}
