import CSys
import Glibc
import Sys
import Testing

/// `FS.removeAll` / `DirFD.removeAll` on trees a container or an image made: deeper than
/// PATH_MAX, deeper than the descriptor window, with links out of the tree and mounts inside.
@Suite struct TreeRemovalTests {
    /// A chain of `depth` directories named `name` below `dir`, made one level at a time on
    /// descriptors (as a process inside a container can, whatever PATH_MAX says); a file at the bottom.
    func chain(in dir: String, depth: Int, name: String = "dd") throws {
        var fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        try #require(fd >= 0)
        for _ in 0..<depth {
            try #require(mkdirat(fd, name, 0o755) == 0)
            let next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            close(fd)
            try #require(next >= 0)
            fd = next
        }
        let f = openat(fd, "bottom", O_CREAT | O_WRONLY | O_CLOEXEC, 0o644)
        try #require(f >= 0)
        close(f)
        close(fd)
    }

    @Test func aTreeDeeperThanPathMaxIsRemovedWhole() throws {
        let root = try FS.makeTempDirectory("/tmp/berth-deep-")
        defer { FS.removeAll(root) }
        // 3 bytes a level: 6000 levels are 18,000 bytes of path, four times PATH_MAX, and far
        // more levels than the descriptor window. The path-string walk left all of it on disk.
        try chain(in: root, depth: 6000)
        FS.removeAll(root + "/dd")
        #expect(access(root + "/dd", F_OK) != 0 && errno == ENOENT)
        #expect(try FS.list(root) == [])
    }

    @Test func wideDirectoriesAtEveryLevelAreAllRemoved() throws {
        let root = try FS.makeTempDirectory("/tmp/berth-wide-")
        defer { FS.removeAll(root) }
        // Enough levels to close and reopen directories through `..`, each with siblings left to do.
        var path = root + "/t"
        for level in 0..<80 {
            try FS.mkdirAll(path + "/sub")
            for i in 0..<5 { try FS.writeAtomic(path + "/f\(i)", "x", durable: false) }
            try FS.mkdirAll(path + "/empty\(level)")
            path += "/sub"
        }
        FS.removeAll(root + "/t")
        #expect(try FS.list(root) == [])
    }

    @Test func linksOutOfTheTreeAreRemovedNotFollowed() throws {
        let root = try FS.makeTempDirectory("/tmp/berth-links-")
        defer { FS.removeAll(root) }
        let victim = root + "/victim"
        try FS.mkdirAll(victim + "/keep")
        try FS.writeAtomic(victim + "/keep/file", "precious", durable: false)
        try FS.mkdirAll(root + "/tree/a/b")
        symlink(victim, root + "/tree/a/b/out")
        symlink(victim + "/keep/file", root + "/tree/a/file-link")
        symlink(victim, root + "/tree-link")
        FS.removeAll(root + "/tree")
        FS.removeAll(root + "/tree-link")
        #expect(try FS.list(root) == ["victim"])
        #expect(try FS.readString(victim + "/keep/file") == "precious")
    }

    @Test func aMountInsideIsLeftWithItsContents() throws {
        guard getuid() == 0 else { return }
        let root = try FS.makeTempDirectory("/tmp/berth-mnt-")
        defer {
            umount2(root + "/tree/a/m", Int32(MNT_DETACH))
            FS.removeAll(root)
        }
        try FS.mkdirAll(root + "/tree/a/m")
        try FS.writeAtomic(root + "/tree/a/sibling", "x", durable: false)
        try #require(mount("tmpfs", root + "/tree/a/m", "tmpfs", 0, nil) == 0)
        try FS.writeAtomic(root + "/tree/a/m/inside", "mounted", durable: false)
        let rootFd = try DirFD.openDirectory(root)
        defer { close(rootFd) }
        _ = DirFD.removeAll(rootFd, "tree")
        #expect(access(root + "/tree/a/m", F_OK) == 0)
        #expect(try FS.readString(root + "/tree/a/m/inside") == "mounted")
        #expect(access(root + "/tree/a/sibling", F_OK) != 0)
    }

    @Test func filesAndEmptyPathsBehaveAsRmRf() throws {
        let root = try FS.makeTempDirectory("/tmp/berth-rmrf-")
        defer { FS.removeAll(root) }
        try FS.writeAtomic(root + "/file", "x", durable: false)
        FS.removeAll(root + "/file")
        FS.removeAll(root + "/missing")
        try FS.mkdirAll(root + "/d/e")
        FS.removeAll(root + "/d/")
        #expect(try FS.list(root) == [])
    }
}
