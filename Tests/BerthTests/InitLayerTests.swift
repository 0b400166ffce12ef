import Engine
import Glibc
import Sys
import Testing

/// Where dockerd's init layer (/.dockerenv, /etc/mtab) may go over an image's layers without
/// hiding what the image has at /etc.
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

    @Test func fitsAnEtcDirectoryOrNone() throws {
        let (root, dirs) = try layers([{ try FS.mkdirAll($0 + "/etc") }, { try FS.mkdirAll($0 + "/bin") }])
        defer { FS.removeAll(root) }
        #expect(Engine.initLayerFits(dirs))
        #expect(Engine.initLayerFits([dirs[1]]))
        #expect(Engine.initLayerFits([]))
    }

    @Test func doesNotHideAnEtcLinkOrFile() throws {
        let (root, dirs) = try layers([{ symlink("usr/etc", $0 + "/etc") }, { try FS.writeAtomic($0 + "/etc", "x", durable: false) }])
        defer { FS.removeAll(root) }
        #expect(!Engine.initLayerFits([dirs[0]]))
        #expect(!Engine.initLayerFits([dirs[1]]))
    }

    @Test func aDirectoryAboveHidesALinkBelow() throws {
        let (root, dirs) = try layers([{ try FS.mkdirAll($0 + "/etc") }, { symlink("usr/etc", $0 + "/etc") }])
        defer { FS.removeAll(root) }
        #expect(Engine.initLayerFits(dirs))
    }

    @Test func doesNotHideAnMtabDirectoryAtAnyDepth() throws {
        let (root, dirs) = try layers([
            { try FS.mkdirAll($0 + "/etc") }, { try FS.mkdirAll($0 + "/etc/mtab") }, { try FS.writeAtomic($0 + "/etc-other", "", durable: false) },
        ])
        defer { FS.removeAll(root) }
        #expect(!Engine.initLayerFits(dirs))
        // The image's own mtab file above it decides: the link replaces a file, as dockerd's does.
        let (root2, dirs2) = try layers([
            {
                try FS.mkdirAll($0 + "/etc")
                try FS.writeAtomic($0 + "/etc/mtab", "", durable: false)
            }
        ])
        defer { FS.removeAll(root2) }
        #expect(Engine.initLayerFits(dirs2 + dirs))
    }

    @Test func aWhiteoutEndsTheLookup() throws {
        guard getuid() == 0 else { return }
        let (root, dirs) = try layers([{ _ = mknod($0 + "/etc", S_IFCHR | 0o600, 0) }, { symlink("usr/etc", $0 + "/etc") }])
        defer { FS.removeAll(root) }
        #expect(Engine.initLayerFits(dirs))
    }
}
