import CZlib
import Glibc

/// gzip between two open files, streamed a block at a time: json-file's `compress` option
/// (the shim compresses a log it has rotated; berthd reads it back). Foundation-free and
/// libarchive-free, so the static shim pulls in zlib's deflate alone.
public enum GzipFile {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        init(_ d: String) { description = d }
    }

    static let block = 1 << 16

    /// Compresses all of `source` (read from its current offset) into `destination`.
    public static func compress(from source: Int32, to destination: Int32, level: Int32 = 1) throws(Failure) {
        var z = z_stream()
        // 15 + 16: a gzip header and trailer around the deflate stream (what `gzip -d` reads).
        guard deflateInit2_(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw Failure("deflateInit2 failed")
        }
        defer { deflateEnd(&z) }
        var input = [UInt8](repeating: 0, count: block)
        var output = [UInt8](repeating: 0, count: block)
        var finished = false
        while !finished {
            let n = try readSome(source, &input)
            finished = n == 0
            try input.withUnsafeMutableBufferPointer { inBuf throws(Failure) in
                z.next_in = inBuf.baseAddress
                z.avail_in = UInt32(n)
                repeat {
                    let produced = output.withUnsafeMutableBufferPointer { outBuf -> Int in
                        z.next_out = outBuf.baseAddress
                        z.avail_out = UInt32(block)
                        _ = deflate(&z, finished ? Z_FINISH : Z_NO_FLUSH)
                        return block - Int(z.avail_out)
                    }
                    try writeAll(destination, output, produced)
                } while z.avail_out == 0
            }
        }
    }

    /// Decompresses `source` into `destination`, stopping with an error past `limit` bytes of
    /// output: a compressed file is small on disk whatever it expands to.
    public static func decompress(from source: Int32, to destination: Int32, limit: Int64) throws(Failure) {
        var z = z_stream()
        guard inflateInit2_(&z, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { throw Failure("inflateInit2 failed") }
        defer { inflateEnd(&z) }
        var input = [UInt8](repeating: 0, count: block)
        var output = [UInt8](repeating: 0, count: block)
        var total: Int64 = 0
        var ended = false
        while !ended {
            let n = try readSome(source, &input)
            if n == 0 { throw Failure("unexpected end of compressed data") }
            try input.withUnsafeMutableBufferPointer { inBuf throws(Failure) in
                z.next_in = inBuf.baseAddress
                z.avail_in = UInt32(n)
                while true {
                    var status: Int32 = Z_OK
                    let produced = output.withUnsafeMutableBufferPointer { outBuf -> Int in
                        z.next_out = outBuf.baseAddress
                        z.avail_out = UInt32(block)
                        status = inflate(&z, Z_NO_FLUSH)
                        return block - Int(z.avail_out)
                    }
                    guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else { throw Failure("corrupt compressed data") }
                    total += Int64(produced)
                    if total > limit { throw Failure("decompressed data larger than \(limit) bytes") }
                    try writeAll(destination, output, produced)
                    if status == Z_STREAM_END { ended = true; return }
                    // Room left in the output: this input is used up (or can give nothing more).
                    if z.avail_out != 0 || produced == 0 { return }
                }
            }
        }
    }

    static func readSome(_ fd: Int32, _ buffer: inout [UInt8]) throws(Failure) -> Int {
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n >= 0 { return n }
            if errno != EINTR { throw Failure("read: \(String(cString: strerror(errno)))") }
        }
    }

    static func writeAll(_ fd: Int32, _ buffer: [UInt8], _ count: Int) throws(Failure) {
        var done = 0
        while done < count {
            let n = buffer.withUnsafeBytes { write(fd, $0.baseAddress! + done, count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure("write: \(String(cString: strerror(errno)))")
            }
            done += n
        }
    }
}
