import Archive
import Glibc
import Sys

/// Tar streams from images, `load`, `import`, `cp` and build contexts: the reader (headers, pax
/// records, numbers) and the layer unpacker (paths, links, whiteouts) on a scratch root. An
/// entry written anywhere but under that root fails the run.
let scratch: String = {
    // In the fuzzer's working directory (scripts/fuzz removes it after the run).
    let dir = "scratch-\(getpid())"
    mkdir(dir, 0o700)
    return dir
}()

func entries(_ dir: String) -> [String] {
    guard let d = opendir(dir) else { return [] }
    defer { closedir(d) }
    var out: [String] = []
    while let e = readdir(d) {
        let name = withUnsafePointer(to: e.pointee.d_name) { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
        if name != "." && name != ".." { out.append(name) }
    }
    return out.sorted()
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTar(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let tarPath = scratch + "/input.tar"
    let fd = open(tarPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    guard fd >= 0 else { return 0 }
    _ = write(fd, data, size)
    close(fd)
    if let reader = try? ArchiveReader(path: tarPath) {
        var n = 0
        while n < 1000, let e = try? reader.next() {
            _ = (e.path, e.linkTarget, e.size)
            _ = try? reader.readAllData(limit: 1 << 20)
            n += 1
        }
    }
    let root = scratch + "/root"
    mkdir(root, 0o755)
    // The two modes differ only in whiteouts: the second unpack only when the input has one.
    let hasWhiteout = UnsafeBufferPointer(start: data, count: size).indices.contains { i in
        i + 4 <= size && data[i] == 0x2E && data[i + 1] == 0x77 && data[i + 2] == 0x68 && data[i + 3] == 0x2E  // ".wh."
    }
    for layer in hasWhiteout ? [true, false] : [true] {
        _ = try? LayerUnpacker(root: root, layer: layer).unpack(tarPath: tarPath)
        precondition(entries(scratch) == ["input.tar", "root"], "the unpacker wrote outside its root: \(entries(scratch))")
        FS.removeAll(root)
        mkdir(root, 0o755)
    }
    return 0
}
