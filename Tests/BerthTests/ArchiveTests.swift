import Archive
import Foundation
import OCI
import Sys
import Testing

/// Hostile and ordinary layer tars, made with our own TarWriter, unpacked into a temp dir.
@Suite struct ArchiveTests {
    func makeTar(_ build: (TarWriter) throws -> Void) throws -> String {
        let path = NSTemporaryDirectory() + "berth-test-\(UUID().uuidString).tar"
        var bytes: [UInt8] = []
        let w = TarWriter { bytes += $0 }
        try build(w)
        try w.finish()
        try FS.writeAtomic(path, bytes)
        return path
    }

    func freshDir() throws -> String {
        let d = NSTemporaryDirectory() + "berth-unpack-\(UUID().uuidString)"
        try FS.mkdirAll(d)
        return d
    }

    @Test func unpacksFilesLinksAndDirectories() throws {
        let tar = try makeTar { w in
            try w.addDirectory("bin")
            try w.addFile("bin/tool", Array("#!/bin/sh\n".utf8), mode: 0o755)
            try w.addHardlink("bin/alias", target: "bin/tool")
            try w.addSymlink("bin/sh", target: "/bin/tool")
            try w.addFile("etc/deep/conf", Array("x".utf8))
        }
        let root = try freshDir()
        try LayerUnpacker(root: root).unpack(tarPath: tar)
        #expect(try FS.readString(root + "/bin/alias") == "#!/bin/sh\n")
        var st = stat()
        #expect(stat(root + "/bin/tool", &st) == 0 && st.st_mode & 0o777 == 0o755 && st.st_nlink == 2)
        var buf = [CChar](repeating: 0, count: 64)
        let n = readlink(root + "/bin/sh", &buf, 63)
        #expect(String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) == "/bin/tool")
        #expect(try FS.readString(root + "/etc/deep/conf") == "x")
    }

    @Test(arguments: ["../escape", "a/../../escape", "/etc/abs"])
    func refusesEscapingNames(_ name: String) throws {
        let tar = try makeTar { try $0.addFile(name, Array("bad".utf8)) }
        let root = try freshDir()
        #expect(throws: ArchiveError.self) { try LayerUnpacker(root: root).unpack(tarPath: tar) }
        #expect(!FS.exists(root + "/../escape"))
    }

    @Test func refusesWritingThroughASymlink() throws {
        let outside = try freshDir()
        let tar = try makeTar { w in
            try w.addSymlink("evil", target: outside)
            try w.addFile("evil/owned", Array("bad".utf8))
        }
        let root = try freshDir()
        #expect(throws: ArchiveError.self) { try LayerUnpacker(root: root).unpack(tarPath: tar) }
        #expect(!FS.exists(outside + "/owned"))
    }

    @Test func refusesRelativeSymlinkOutOfRoot() throws {
        let tar = try makeTar { try $0.addSymlink("a/link", target: "../../../etc") }
        #expect(throws: ArchiveError.self) { try LayerUnpacker(root: try freshDir()).unpack(tarPath: tar) }
    }

    @Test func refusesHardlinkOutOfRoot() throws {
        let tar = try makeTar { try $0.addHardlink("pw", target: "../../etc/passwd") }
        #expect(throws: ArchiveError.self) { try LayerUnpacker(root: try freshDir()).unpack(tarPath: tar) }
    }

    @Test func whiteoutsBecomeOverlayWhiteouts() throws {
        let tar = try makeTar { w in
            try w.addFile("dir/.wh.gone", [])
        }
        let root = try freshDir()
        try LayerUnpacker(root: root, layer: true).unpack(tarPath: tar)
        var st = stat()
        #expect(lstat(root + "/dir/gone", &st) == 0)
        #expect(st.st_mode & S_IFMT == S_IFCHR && st.st_rdev == 0)
    }

    /// Only image layers have whiteouts: in any other tar (`cp`, contexts) a `.wh.` name is a
    /// file, and `.wh...` (a whiteout of the parent) once deleted files outside the target.
    @Test func whiteoutNamesOutsideLayersAreFilesAndBadWhiteoutsAreRefused() throws {
        let outer = try freshDir()
        let root = outer + "/dest"
        try FS.mkdirAll(root)
        try FS.writeAtomic(outer + "/precious", "keep")
        try FS.writeAtomic(root + "/victim", "keep")
        let tar = try makeTar { w in
            try w.addFile(".wh...", Array("x".utf8))
            try w.addFile(".wh.victim", [])
        }
        try LayerUnpacker(root: root).unpack(tarPath: tar)
        #expect(FS.exists(outer + "/precious") && FS.exists(root + "/victim"))
        #expect(FS.exists(root + "/.wh...") && FS.exists(root + "/.wh.victim"))
        let layerRoot = outer + "/layer"
        try FS.mkdirAll(layerRoot)
        let bad = try makeTar { try $0.addFile(".wh...", []) }
        #expect(throws: ArchiveError.self) { try LayerUnpacker(root: layerRoot, layer: true).unpack(tarPath: bad) }
        #expect(FS.exists(outer + "/precious"))
    }

    @Test func longNamesRoundTripThroughPAX() throws {
        let long = String(repeating: "d/", count: 70) + "file"
        let tar = try makeTar { try $0.addFile(long, Array("ok".utf8)) }
        let r = try ArchiveReader(path: tar)
        let e = try r.next()
        #expect(e?.path == long)
        #expect(try r.readAllData() == Array("ok".utf8))
    }

    @Test func safePathRules() {
        #expect(SafePath.clean("./a//b/") == "a/b")
        #expect(SafePath.clean("a/../b") == "b")
        #expect(SafePath.clean("../a") == nil)
        #expect(SafePath.clean("/a") == nil)
        #expect(SafePath.symlinkStaysInside(entryPath: "a/b/l", target: "../c"))
        #expect(!SafePath.symlinkStaysInside(entryPath: "a/l", target: "../../c"))
        #expect(SafePath.symlinkStaysInside(entryPath: "l", target: "/anything"))
    }
}

@Suite struct StreamingUnpackTests {
    func tarBytes() throws -> [UInt8] {
        var bytes: [UInt8] = []
        let w = TarWriter { bytes += $0 }
        try w.addFile("a/b", Array(repeating: 7, count: 300_000))
        try w.finish()
        return bytes
    }

    func unpack(_ data: [UInt8]) throws -> (OCI.Digest, String) {
        let file = NSTemporaryDirectory() + "layer-\(UUID().uuidString)"
        try FS.writeAtomic(file, data)
        let root = NSTemporaryDirectory() + "root-\(UUID().uuidString)"
        try FS.mkdirAll(root)
        return (try LayerUnpacker(root: root).unpack(streaming: file), root)
    }

    func gzip(_ data: [UInt8]) throws -> [UInt8] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/gzip")
        p.arguments = ["-c"]
        let inPipe = Pipe(), outPipe = Pipe()
        p.standardInput = inPipe; p.standardOutput = outPipe
        try p.run()
        inPipe.fileHandleForWriting.write(Data(data)); try inPipe.fileHandleForWriting.close()
        let out = outPipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Array(out)
    }

    @Test func diffIDIsTheDigestOfTheUncompressedTar() throws {
        let tar = try tarBytes()
        let (plain, root) = try unpack(tar)
        #expect(plain == OCI.Digest.of(tar))
        #expect(FS.size(root + "/a/b") == 300_000)
        #expect(try unpack(gzip(tar)).0 == OCI.Digest.of(tar))
        // concatenated gzip members are one stream
        let half = tar.count / 2
        #expect(try unpack(gzip(Array(tar[..<half])) + gzip(Array(tar[half...]))).0 == OCI.Digest.of(tar))
    }

    @Test func truncatedGzipFails() throws {
        let gz = try gzip(try tarBytes())
        #expect(throws: ArchiveError.self) { try unpack(Array(gz.prefix(gz.count / 2))) }
    }
}

/// The unpacker and the tree walker hold directories by descriptor: a path swapped for a
/// symlink after it was opened (what a running container can do to a `cp` destination or
/// source) does not redirect them. The path-string versions followed the new link.
@Suite struct DescriptorAnchoringTests {
    func freshDir() throws -> String {
        let d = NSTemporaryDirectory() + "berth-fd-\(UUID().uuidString)"
        try FS.mkdirAll(d)
        return d
    }

    @Test func unpackingIntoADescriptorIgnoresASwappedPath() throws {
        let base = try freshDir(), outside = try freshDir()
        try FS.mkdirAll(base + "/dest")
        let fd = open(base + "/dest", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { close(fd) }
        // The destination is moved away and a link to "outside" takes its name.
        #expect(rename(base + "/dest", base + "/moved") == 0)
        #expect(symlink(outside, base + "/dest") == 0)
        var bytes: [UInt8] = []
        let w = TarWriter { bytes += $0 }
        try w.addFile("sub/planted", Array("x".utf8))
        try w.finish()
        try FS.writeAtomic(base + "/in.tar", bytes)
        try LayerUnpacker(rootFD: fd).unpack(tarPath: base + "/in.tar")
        #expect(try FS.readString(base + "/moved/sub/planted") == "x")
        #expect(try FS.list(outside).isEmpty)
    }

    @Test func aDirectorySwappedForALinkIsNotFollowedByTheWalk() throws {
        let root = try freshDir(), outside = try freshDir()
        try FS.writeAtomic(outside + "/secret", "host")
        try FS.mkdirAll(root + "/a")
        try FS.writeAtomic(root + "/a/mine", "ctr")
        let fd = open(root + "/a", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { close(fd) }
        #expect(rename(root + "/a", root + "/b") == 0)
        #expect(symlink(outside, root + "/a") == 0)
        var bytes: [UInt8] = []
        try TreeTar(rootFD: fd, layer: false) { bytes += $0 }.write(directoryAs: "a")
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains("a/mine") && text.contains("ctr"))
        #expect(!text.contains("secret") && !text.contains("host"))
        // And a link met inside the tree goes out as a link, never walked into.
        var linked: [UInt8] = []
        try TreeTar(root: root, layer: false) { linked += $0 }.write()
        #expect(!String(decoding: linked, as: UTF8.self).contains("secret"))
    }

    @Test func mkdirAllStaysInTheRootAndRemoveAllDoesNotFollow() throws {
        let root = try freshDir(), outside = try freshDir()
        try FS.writeAtomic(outside + "/keep", "k")
        // A link that climbs: inside the root, /../../<outside> is <root>/<outside>.
        try FS.mkdirAll(root + outside)
        #expect(symlink("/../../" + outside, root + "/up") == 0)
        let rootfd = try DirFD.openDirectory(root, flags: DirFD.pathOnly)
        defer { close(rootfd) }
        let made = try DirFD.mkdirAll(rootfd, "up/new", .container)
        close(made)
        #expect(FS.isDirectory(root + outside + "/new"))
        #expect(!FS.exists(outside + "/new"))
        #expect(symlink(outside, root + "/link") == 0)
        let dirfd = try DirFD.openDirectory(root)
        DirFD.removeAll(dirfd, "link")
        close(dirfd)
        #expect(FS.exists(outside + "/keep"))
    }
}
