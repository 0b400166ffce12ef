import Glibc
import NIOCore

/// A file as an async sequence of 1 MiB buffers: request bodies stream from disk.
struct FileChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let path: String

    struct Iterator: AsyncIteratorProtocol {
        var fd: Int32
        mutating func next() async throws -> ByteBuffer? {
            guard fd >= 0 else { return nil }
            var buf = ByteBuffer()
            buf.reserveCapacity(1 << 20)
            let n = buf.writeWithUnsafeMutableBytes(minimumWritableBytes: 1 << 20) { ptr in
                Swift.max(0, read(fd, ptr.baseAddress, 1 << 20))
            }
            if n == 0 { close(fd); fd = -1; return nil }
            return buf
        }
    }

    func makeAsyncIterator() -> Iterator { Iterator(fd: open(path, O_RDONLY | O_CLOEXEC)) }
}
