import CArchive
import CZlib
import Glibc
import OCI
import Sys

/// Feeds libarchive a layer's *uncompressed* bytes while hashing them: gzip is inflated here
/// (zlib), plain tar passes through. One pass over the data yields the unpacked layer and its
/// diff ID, where decompress-to-file, hash, then untar would read and write it three times.
public final class HashingSource {
    private let fd: Int32
    private var gzip = false
    private var z = z_stream()
    private var inBuf = [UInt8](repeating: 0, count: 1 << 20)
    private var outBuf = [UInt8](repeating: 0, count: 1 << 20)
    private let hasher = SHA256()
    private var inputDone = false
    private var streamDone = false
    private var memberEnded = false
    public private(set) var uncompressedSize: Int64 = 0

    public init(path: String) throws(ArchiveError) {
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ArchiveError("open \(path): \(SysError("open"))") }
        var magic = [UInt8](repeating: 0, count: 2)
        if pread(fd, &magic, 2, 0) == 2, magic == [0x1F, 0x8B] {
            gzip = true
            // 15 + 16: zlib window with gzip framing.
            if inflateInit2_(&z, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) != Z_OK { throw ArchiveError("inflateInit failed") }
        }
    }

    deinit {
        if gzip { inflateEnd(&z) }
        close(fd)
    }

    /// Whether the file is something this source can stream (plain tar or gzip).
    public static func handles(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var magic = [UInt8](repeating: 0, count: 262)
        let n = pread(fd, &magic, 262, 0)
        if n >= 2, magic[0] == 0x1F, magic[1] == 0x8B { return true }
        return n >= 262 && magic[257..<262] == [0x75, 0x73, 0x74, 0x61, 0x72]  // "ustar"
    }

    /// The next block of uncompressed data; empty at the end.
    func nextBlock() throws(ArchiveError) -> UnsafeRawBufferPointer {
        if streamDone { return UnsafeRawBufferPointer(start: nil, count: 0) }
        if !gzip {
            let n = inBuf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 { throw ArchiveError("read: \(SysError("read"))") }
            if n == 0 { streamDone = true; return UnsafeRawBufferPointer(start: nil, count: 0) }
            return take(inBuf, n)
        }
        while true {
            if z.avail_in == 0 && !inputDone {
                let n = inBuf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n < 0 { throw ArchiveError("read: \(SysError("read"))") }
                if n == 0 { inputDone = true } else { z.avail_in = uInt(n) }
                z.next_in = inBuf.withUnsafeMutableBytes { $0.baseAddress!.assumingMemoryBound(to: Bytef.self) }
            }
            if memberEnded {
                // A gzip member ended: the stream is over unless another member follows.
                if z.avail_in == 0 && inputDone { streamDone = true; return UnsafeRawBufferPointer(start: nil, count: 0) }
                if z.avail_in == 0 { continue }
                inflateReset(&z)
                memberEnded = false
            }
            let produced: Int = outBuf.withUnsafeMutableBytes { out in
                z.next_out = out.baseAddress!.assumingMemoryBound(to: Bytef.self)
                z.avail_out = uInt(out.count)
                let rc = inflate(&z, Z_NO_FLUSH)
                if rc == Z_STREAM_END { memberEnded = true } else if rc != Z_OK && rc != Z_BUF_ERROR { return -1 }
                return out.count - Int(z.avail_out)
            }
            if produced < 0 { throw ArchiveError("gzip: invalid compressed data") }
            if produced > 0 { return take(outBuf, produced) }
            if memberEnded { continue }
            if inputDone && z.avail_in == 0 { throw ArchiveError("gzip: unexpected end of data") }
        }
    }

    private func take(_ buf: [UInt8], _ n: Int) -> UnsafeRawBufferPointer {
        let p = buf.withUnsafeBytes { UnsafeRawBufferPointer(rebasing: $0[0..<n]) }
        hasher.update(p)
        uncompressedSize += Int64(n)
        return p
    }

    /// Reads what libarchive left (tar end padding) and returns the diff ID.
    public func finish() throws(ArchiveError) -> Digest {
        while try nextBlock().count > 0 {}
        return hasher.finalize()
    }

    /// An ArchiveReader over this source's uncompressed stream.
    public func reader() throws(ArchiveError) -> ArchiveReader {
        try ArchiveReader(source: self)
    }
}

extension ArchiveReader {
    convenience init(source: HashingSource) throws(ArchiveError) {
        try self.init(
            opening: { a in
                archive_read_support_format_tar(a)
                archive_read_support_format_gnutar(a)
                let ctx = Unmanaged.passUnretained(source).toOpaque()
                return archive_read_open(
                    a, ctx, nil,
                    { _, ctx, out in
                        let src = Unmanaged<HashingSource>.fromOpaque(ctx!).takeUnretainedValue()
                        guard let block = try? src.nextBlock() else { return -1 }
                        out?.pointee = block.baseAddress
                        return block.count
                    }, nil)
            }, keepAlive: source)
    }
}
