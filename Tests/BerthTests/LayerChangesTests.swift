import Archive
import CSys
import Glibc
import Sys
import Testing

/// `docker diff`'s A/C/D: a writable layer against the image's layers, with overlay's rules for
/// what the image has (whiteouts, opaque directories, links on the way), and never a look at the
/// host through a layer's link.
@Suite struct LayerChangesTests {
    /// A scratch tree of `upper` and layer directories (top first), each made by its closure.
    func tree(upper: (String) throws -> Void, layers: [(String) throws -> Void]) throws -> (root: String, upper: String, lowers: [String]) {
        let root = try FS.makeTempDirectory("/tmp/berth-changes-")
        try FS.mkdirAll(root + "/upper")
        try upper(root + "/upper")
        var lowers: [String] = []
        for (i, make) in layers.enumerated() {
            let dir = root + "/l\(i)"
            try FS.mkdirAll(dir)
            try make(dir)
            lowers.append(dir)
        }
        return (root, root + "/upper", lowers)
    }

    func render(_ changes: [Change]) -> [String] {
        changes.map { ["C", "A", "D"][$0.kind.rawValue] + " " + $0.path }
    }

    @Test func addedAndChangedAgainstTheMergedImage() throws {
        let (root, upper, lowers) = try tree(
            upper: {
                try FS.mkdirAll($0 + "/etc")
                try FS.writeAtomic($0 + "/etc/passwd", "new", durable: false)
                try FS.writeAtomic($0 + "/etc/new", "", durable: false)
                try FS.mkdirAll($0 + "/srv/app")
            },
            layers: [
                { try FS.mkdirAll($0 + "/etc") },
                {
                    try FS.mkdirAll($0 + "/etc")
                    try FS.writeAtomic($0 + "/etc/passwd", "root", durable: false)
                },
            ])
        defer { FS.removeAll(root) }
        #expect(render(try TreeTar.changes(upper: upper, lowers: lowers)) == ["C /etc", "A /etc/new", "C /etc/passwd", "A /srv", "A /srv/app"])
    }

    /// A layer's `etc -> /` link: the lookup of etc/passwd below it must not reach the host's
    /// /etc/passwd (which a path-string lstat followed: "C" told the container the host has it).
    @Test func aLinkInALayerIsNeverFollowed() throws {
        let (root, upper, lowers) = try tree(
            upper: {
                try FS.mkdirAll($0 + "/etc")
                try FS.writeAtomic($0 + "/etc/passwd", "x", durable: false)
            },
            layers: [{ try FS.mkdirAll($0 + "/etc") }, { symlink("/etc", $0 + "/etc") }])
        defer { FS.removeAll(root) }
        #expect(render(try TreeTar.changes(upper: upper, lowers: lowers)) == ["C /etc", "A /etc/passwd"])
    }

    /// What a whiteout or an opaque directory in the image hides was never the image's: the
    /// container's file there is added, not changed.
    @Test func whiteoutsAndOpaqueDirectoriesHideWhatIsBelow() throws {
        guard getuid() == 0 else { return }
        let (root, upper, lowers) = try tree(
            upper: {
                try FS.mkdirAll($0 + "/gone")
                try FS.writeAtomic($0 + "/gone/f", "", durable: false)
                try FS.mkdirAll($0 + "/opq")
                try FS.writeAtomic($0 + "/opq/f", "", durable: false)
                try FS.writeAtomic($0 + "/opq/top", "", durable: false)
            },
            layers: [
                { dir in
                    _ = mknod(dir + "/gone", S_IFCHR | 0o600, 0)
                    try FS.mkdirAll(dir + "/opq")
                    try FS.writeAtomic(dir + "/opq/top", "", durable: false)
                    _ = "y".withCString { setxattr(dir + "/opq", OverlayXattrs.opaque, $0, 1, 0) }
                },
                { dir in
                    for d in ["gone", "opq"] {
                        try FS.mkdirAll(dir + "/" + d)
                        try FS.writeAtomic(dir + "/" + d + "/f", "", durable: false)
                    }
                },
            ])
        defer { FS.removeAll(root) }
        #expect(render(try TreeTar.changes(upper: upper, lowers: lowers)) == ["A /gone", "A /gone/f", "C /opq", "A /opq/f", "C /opq/top"])
    }

    /// A directory the container removed and made again (opaque in the upper layer): what it has
    /// again is changed, what it has no more is deleted — dockerd's diff after `rm -rf /usr/bin;
    /// mkdir /usr/bin; touch /usr/bin/ar /usr/bin/zzz` lists C ar, A zzz and D for the rest.
    @Test func aDirectoryMadeAnewDeletesWhatItNoLongerHas() throws {
        guard getuid() == 0 else { return }
        let (root, upper, lowers) = try tree(
            upper: { dir in
                try FS.mkdirAll(dir + "/data")
                try FS.writeAtomic(dir + "/data/f", "", durable: false)
                try FS.writeAtomic(dir + "/data/new", "", durable: false)
                _ = "y".withCString { setxattr(dir + "/data", OverlayXattrs.opaque, $0, 1, 0) }
            },
            layers: [
                {
                    try FS.mkdirAll($0 + "/data")
                    for f in ["f", "old", "older"] { try FS.writeAtomic($0 + "/data/" + f, "", durable: false) }
                }
            ])
        defer { FS.removeAll(root) }
        #expect(render(try TreeTar.changes(upper: upper, lowers: lowers)) == ["C /data", "C /data/f", "A /data/new", "D /data/old", "D /data/older"])
    }
}
