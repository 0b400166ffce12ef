import Glibc
import Sys

/// The docker CLI sends a build context whose last entry is cut short of its 512-byte padding
/// and has no end-of-archive blocks when it adds a Dockerfile from outside the context (its tar
/// rewriting never closes the writer); dockerd's reader accepts that. For an uncompressed tar
/// this completes the padding and appends the end marker so any reader sees a whole archive;
/// a tar that already ends properly only gains zero blocks, which readers ignore.
public enum TarCompletion {
    public static func completeUncompressedTar(at path: String) throws {
        let fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw SysError("open \(path)") }
        defer { close(fd) }
        var magic = [UInt8](repeating: 0, count: 6)
        let n = pread(fd, &magic, 6, 0)
        guard n > 0 else { return }
        // gzip, bzip2, xz, zstd: compressed contexts are left alone.
        if magic.starts(with: [0x1f, 0x8b]) || magic.starts(with: [0x42, 0x5a, 0x68]) || magic.starts(with: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])
            || magic.starts(with: [0x28, 0xb5, 0x2f, 0xfd])
        {
            return
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw SysError("stat \(path)") }
        let pad = Int((512 - st.st_size % 512) % 512) + 1024
        let zeros = [UInt8](repeating: 0, count: pad)
        guard pwrite(fd, zeros, pad, off_t(st.st_size)) == pad else { throw SysError("write \(path)") }
    }
}
