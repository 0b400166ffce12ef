import CSys
import Glibc
import Sys
import Testing

/// `FS.diskUsage` (a container's writable layer, a volume: `ps -s`, `inspect -s`, `system df`,
/// the prunes' reclaimed bytes) on trees a container made: deeper than PATH_MAX, with hard links,
/// links out of the tree and mounts inside.
@Suite struct TreeSizeTests {
    /// `bytes` written to a new file `name` of the directory `dirfd`.
    func write(_ dirfd: Int32, _ name: String, bytes: Int) throws {
        let f = openat(dirfd, name, O_CREAT | O_WRONLY | O_CLOEXEC, 0o644)
        try #require(f >= 0)
        defer { close(f) }
        let data = [UInt8](repeating: 7, count: bytes)
        try #require(Glibc.write(f, data, bytes) == bytes)
    }

    func write(_ dir: String, _ name: String, bytes: Int) throws {
        let fd = try DirFD.openDirectory(dir)
        defer { close(fd) }
        try write(fd, name, bytes: bytes)
    }

    @Test func aFileBelowPathMaxIsCounted() throws {
        let root = try FS.makeTempDirectory("/tmp/berth-du-deep-")
        defer { FS.removeAll(root) }
        // 5000 levels of 3 bytes: 15,000 bytes of path. The path-string walk stopped at PATH_MAX
        // and reported 1000 bytes for this tree (the file at the top only).
        try write(root, "top", bytes: 1000)
        var fd = try DirFD.openDirectory(root)
        for _ in 0..<5000 {
            try #require(mkdirat(fd, "dd", 0o755) == 0)
            let next = openat(fd, "dd", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            close(fd)
            try #require(next >= 0)
            fd = next
        }
        try write(fd, "bottom", bytes: 4321)
        close(fd)
        #expect(FS.diskUsage(root) == 5321)
    }

    @Test func hardLinksCountOnceAndLinksOutAreNotFollowed() throws {
        let root = try FS.makeTempDirectory("/tmp/berth-du-links-")
        defer { FS.removeAll(root) }
        try FS.mkdirAll(root + "/outside")
        try write(root + "/outside", "big", bytes: 100_000)
        try FS.mkdirAll(root + "/tree/a/b")
        let b = try DirFD.openDirectory(root + "/tree/a/b")
        defer { close(b) }
        try write(b, "f", bytes: 300)
        #expect(link(root + "/tree/a/b/f", root + "/tree/a/f2") == 0)
        symlink(root + "/outside", root + "/tree/a/out")
        symlink(root + "/outside/big", root + "/tree/big-link")
        #expect(FS.diskUsage(root + "/tree") == 300)
        #expect(FS.diskUsage(root + "/tree/a/b/f") == 300)
        #expect(FS.diskUsage(root + "/tree/a/out") == 0)
        #expect(FS.diskUsage(root + "/missing") == 0)
    }

    @Test func aMountInsideIsNotEntered() throws {
        guard getuid() == 0 else { return }
        let root = try FS.makeTempDirectory("/tmp/berth-du-mnt-")
        defer {
            umount2(root + "/tree/m", Int32(MNT_DETACH))
            FS.removeAll(root)
        }
        try FS.mkdirAll(root + "/tree/m")
        try write(root + "/tree", "own", bytes: 10)
        try #require(mount("tmpfs", root + "/tree/m", "tmpfs", 0, nil) == 0)
        try write(root + "/tree/m", "inside", bytes: 5000)
        #expect(FS.diskUsage(root + "/tree") == 10)
        // A volume whose data directory is itself a mount (a tmpfs volume in use) is measured.
        #expect(FS.diskUsage(root + "/tree/m") == 5000)
    }
}
