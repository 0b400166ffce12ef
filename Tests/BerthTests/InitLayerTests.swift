import Engine
import Glibc
import Sys
import Testing

/// Where dockerd's init layer (/.dockerenv, /etc/mtab) may go over an image's layers without
/// hiding what the image has at /etc, and its /etc as the image's.
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

    func fits(_ plan: Engine.InitLayerPlan) -> Bool { plan != .none }

    @Test func fitsAnEtcDirectoryOrNone() throws {
        let (root, dirs) = try layers([{ try FS.mkdirAll($0 + "/etc") }, { try FS.mkdirAll($0 + "/bin") }])
        defer { FS.removeAll(root) }
        #expect(fits(Engine.initLayerPlan(dirs)))
        #expect(Engine.initLayerPlan([dirs[1]]) == .over(etc: nil))
        #expect(Engine.initLayerPlan([]) == .over(etc: nil))
    }

    @Test func doesNotHideAnEtcLinkOrFile() throws {
        let (root, dirs) = try layers([{ symlink("usr/etc", $0 + "/etc") }, { try FS.writeAtomic($0 + "/etc", "x", durable: false) }])
        defer { FS.removeAll(root) }
        #expect(Engine.initLayerPlan([dirs[0]]) == .none)
        #expect(Engine.initLayerPlan([dirs[1]]) == .none)
    }

    @Test func aDirectoryAboveHidesALinkBelow() throws {
        let (root, dirs) = try layers([{ try FS.mkdirAll($0 + "/etc") }, { symlink("usr/etc", $0 + "/etc") }])
        defer { FS.removeAll(root) }
        #expect(fits(Engine.initLayerPlan(dirs)))
    }

    @Test func doesNotHideAnMtabDirectoryAtAnyDepth() throws {
        let (root, dirs) = try layers([
            { try FS.mkdirAll($0 + "/etc") }, { try FS.mkdirAll($0 + "/etc/mtab") },
            { try FS.writeAtomic($0 + "/etc-other", "", durable: false) },
        ])
        defer { FS.removeAll(root) }
        #expect(Engine.initLayerPlan(dirs) == .none)
        // The image's own mtab file above it decides: the link replaces a file, as dockerd's does.
        let (root2, dirs2) = try layers([
            {
                try FS.mkdirAll($0 + "/etc")
                try FS.writeAtomic($0 + "/etc/mtab", "", durable: false)
            }
        ])
        defer { FS.removeAll(root2) }
        #expect(fits(Engine.initLayerPlan(dirs2 + dirs)))
    }

    @Test func aWhiteoutEndsTheLookup() throws {
        guard getuid() == 0 else { return }
        let (root, dirs) = try layers([{ _ = mknod($0 + "/etc", S_IFCHR | 0o600, 0) }, { symlink("usr/etc", $0 + "/etc") }])
        defer { FS.removeAll(root) }
        #expect(Engine.initLayerPlan(dirs) == .over(etc: nil))
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
        guard case .over(let etc?) = Engine.initLayerPlan(dirs) else {
            Issue.record("no /etc found")
            return
        }
        #expect(Engine.makeInitLayer(root + "/init", etc: etc))
        var st = stat()
        #expect(lstat(root + "/init/etc", &st) == 0)
        #expect(st.st_mode & 0o7777 == 0o750 && st.st_uid == 12 && st.st_gid == 34 && st.st_mtim.tv_sec == 1_000_000_000)
        #expect(try FS.list(root + "/init").sorted() == [".dockerenv", "etc"])
        let etcFD = try DirFD.openDirectory(root + "/init/etc")
        defer { close(etcFD) }
        #expect(DirFD.readLink(etcFD, "mtab") == "/proc/mounts")
    }
}
