import CSys
import Engine
import Glibc
import Sys
import Testing

/// dockerd's init layer over an image's layers, worked out from their entries (LayerStack):
/// what it adds, what of the image it hides as dockerd does, and the image's directory attributes.
@Suite struct InitLayerTests {
    /// Layer directories (top first) made by `build`, one per closure.
    func layers(_ builds: [(String) throws -> Void]) throws -> (root: String, dirs: [String]) {
        let root = try FS.makeTempDirectory("/tmp/berth-initlayer-")
        var dirs: [String] = []
        for (i, build) in builds.enumerated() {
            let dir = root + "/\(i)"
            try FS.mkdirAll(dir)
            try build(dir)
            dirs.append(dir)
        }
        return (root, dirs)
    }

    func plan(_ dirs: [String]) -> Engine.InitLayerPlan { Engine.initLayerPlan(dirs) ?? Engine.InitLayerPlan(directories: [], entries: []) }
    func entries(_ p: Engine.InitLayerPlan) -> [String] { p.entries.map(\.path) }
    func directories(_ p: Engine.InitLayerPlan) -> [String] { p.directories.map { $0.path + ($0.image == nil ? " new" : " image's") } }

    static let all = ["dev/pts", "dev/shm", "proc", "sys", ".dockerenv", "etc/resolv.conf", "etc/hosts", "etc/hostname", "dev/console", "etc/mtab"]

    @Test func theLookupFollowsOverlaysRules() throws {
        guard getuid() == 0 else { return }
        let (root, dirs) = try layers([
            { _ = mknod($0 + "/gone", S_IFCHR | 0o600, 0) },  // a whiteout over the layer below's
            { dir in
                try FS.mkdirAll(dir + "/opaque/top")
                _ = "y".withCString { setxattr(dir + "/opaque", OverlayXattrs.opaque, $0, 1, 0) }
                symlink("/", dir + "/link")
            },
            {
                try FS.mkdirAll($0 + "/gone")
                try FS.mkdirAll($0 + "/opaque/below")
                try FS.mkdirAll($0 + "/merged/deep")
                try FS.writeAtomic($0 + "/file", "", durable: false)
            },
        ])
        defer { FS.removeAll(root) }
        func kind(_ rel: String) -> mode_t? {
            do { return try LayerStack.lookup(dirs, rel).map { $0.st_mode & S_IFMT } } catch { return 1 }  // 1: the lookup failed
        }
        #expect(kind("gone") == nil)
        #expect(kind("opaque/top") == S_IFDIR && kind("opaque/below") == nil)
        #expect(kind("merged/deep") == S_IFDIR && kind("file") == S_IFREG && kind("file/x") == nil)
        // A layer's link is an entry, never a way: etc/passwd through "link -> /" is not the host's.
        #expect(kind("link") == S_IFLNK && kind("link/etc/passwd") == nil)
        #expect(kind("nothing/here") == nil)
        #expect(throws: SysError.self) { try LayerStack.lookup([root + "/missing"], "etc") }
    }

    /// busybox's layout: /etc, /dev, /proc and /sys are directories of the image. Its /proc and
    /// /sys stay; the rest is dockerd's list, in directories carrying the image's attributes.
    @Test func anImageWithTheUsualDirectories() throws {
        let (root, dirs) = try layers([{ for d in ["etc", "dev", "proc", "sys", "bin"] { try FS.mkdirAll($0 + "/" + d) } }])
        defer { FS.removeAll(root) }
        let p = plan(dirs)
        #expect(entries(p) == Self.all.filter { $0 != "proc" && $0 != "sys" })
        #expect(directories(p) == ["dev image's", "etc image's"])
        #expect(entries(plan([])) == Self.all)
        #expect(directories(plan([])) == ["dev new", "etc new"])
    }

    /// dockerd unlinks a non-directory on the way (an /etc that is a link or a file) and makes its
    /// own directory: the image's /etc is hidden, as a container on dockerd shows.
    @Test func anEtcLinkOrFileIsReplacedByADirectory() throws {
        let (root, dirs) = try layers([{ symlink("usr/etc", $0 + "/etc") }, { try FS.writeAtomic($0 + "/etc", "x", durable: false) }])
        defer { FS.removeAll(root) }
        for d in dirs {
            #expect(entries(plan([d])) == Self.all)
            #expect(directories(plan([d])).contains("etc new"))
        }
    }

    @Test func aDirectoryAboveHidesALinkBelow() throws {
        let (root, dirs) = try layers([{ try FS.mkdirAll($0 + "/etc") }, { symlink("usr/etc", $0 + "/etc") }])
        defer { FS.removeAll(root) }
        #expect(directories(plan(dirs)).contains("etc image's"))
    }

    /// A directory at an entry's own path stays (dockerd's stat finds it); a file there is replaced.
    @Test func aDirectoryAtAnEntryStaysAndAFileIsReplaced() throws {
        let (root, dirs) = try layers([
            { try FS.mkdirAll($0 + "/etc") }, { try FS.mkdirAll($0 + "/etc/mtab") },
            { try FS.writeAtomic($0 + "/.dockerenv", "from an export", durable: false) },
        ])
        defer { FS.removeAll(root) }
        #expect(entries(plan(dirs)) == Self.all.filter { $0 != "etc/mtab" })
        let (root2, dirs2) = try layers([
            {
                try FS.mkdirAll($0 + "/etc")
                try FS.writeAtomic($0 + "/etc/mtab", "", durable: false)
            }
        ])
        defer { FS.removeAll(root2) }
        #expect(entries(plan(dirs2 + dirs)).contains("etc/mtab"))
    }

    @Test func aWhiteoutEndsTheLookup() throws {
        guard getuid() == 0 else { return }
        let (root, dirs) = try layers([{ _ = mknod($0 + "/etc", S_IFCHR | 0o600, 0) }, { try FS.mkdirAll($0 + "/etc/mtab") }])
        defer { FS.removeAll(root) }
        #expect(entries(plan(dirs)) == Self.all)
        #expect(directories(plan(dirs)).contains("etc new"))
    }

    /// The topmost /etc's mode, owner and times go into the init layer's /etc: the merged /etc
    /// shows them, and a change below it copies them up (a fixed 0755 root /etc changed both).
    @Test func theInitLayersEtcIsTheImages() throws {
        guard getuid() == 0 else { return }
        let (root, dirs) = try layers([
            {
                try FS.mkdirAll($0 + "/etc")
                chmod($0 + "/etc", 0o750)
                chown($0 + "/etc", 12, 34)
                let old = [timespec(tv_sec: 1_000_000_000, tv_nsec: 0), timespec(tv_sec: 1_000_000_000, tv_nsec: 0)]
                utimensat(AT_FDCWD, $0 + "/etc", old, 0)
            },
            { try FS.mkdirAll($0 + "/etc") },
        ])
        defer { FS.removeAll(root) }
        #expect(Engine.makeInitLayer(root + "/init", plan(dirs)))
        var st = stat()
        #expect(lstat(root + "/init/etc", &st) == 0)
        #expect(st.st_mode & 0o7777 == 0o750 && st.st_uid == 12 && st.st_gid == 34 && st.st_mtim.tv_sec == 1_000_000_000)
        #expect(try FS.list(root + "/init").sorted() == [".dockerenv", "dev", "etc", "proc", "sys"])
        #expect(try FS.list(root + "/init/etc").sorted() == ["hostname", "hosts", "mtab", "resolv.conf"])
        #expect(lstat(root + "/init/etc/hosts", &st) == 0 && st.st_mode == S_IFREG | 0o755 && st.st_size == 0)
        #expect(lstat(root + "/init/dev", &st) == 0 && st.st_mode == S_IFDIR | 0o755)
        let etcFD = try DirFD.openDirectory(root + "/init/etc")
        defer { close(etcFD) }
        #expect(DirFD.readLink(etcFD, "mtab") == "/proc/mounts")
    }
}
