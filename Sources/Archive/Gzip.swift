import CArchive
import Glibc
import OCI
import Sys

/// gzip-compresses a file (libarchive's raw format with the gzip filter), hashing the output.
public enum Gzip {
    public static func compress(from src: String, to dst: String) throws -> (digest: Digest, size: Int64) {
        ArchiveReader.setUTF8Locale()
        guard let w = archive_write_new() else { throw ArchiveError("archive_write_new") }
        defer { archive_write_free(w) }
        archive_write_add_filter_gzip(w)
        archive_write_set_format_raw(w)
        archive_write_set_bytes_in_last_block(w, 1)
        guard archive_write_open_filename(w, dst) == ARCHIVE_OK else { throw ArchiveError(String(cString: archive_error_string(w))) }
        let entry = archive_entry_new()
        defer { archive_entry_free(entry) }
        archive_entry_set_filetype(entry, UInt32(0o100000))
        archive_entry_set_pathname(entry, "layer")
        archive_entry_set_size(entry, FS.size(src) ?? 0)
        archive_write_header(w, entry)
        let fd = open(src, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SysError("open \(src)") }
        var buf = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, 1 << 20) }
            if n <= 0 { break }
            _ = buf.withUnsafeBytes { archive_write_data(w, $0.baseAddress, n) }
        }
        close(fd)
        guard archive_write_close(w) == ARCHIVE_OK else { throw ArchiveError(String(cString: archive_error_string(w))) }
        return try Gzip.digest(of: dst)
    }

    /// SHA-256 and size of a file, read in blocks.
    public static func digest(of path: String) throws -> (digest: Digest, size: Int64) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SysError("open \(path)") }
        defer { close(fd) }
        let h = SHA256()
        var total: Int64 = 0
        var buf = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, 1 << 20) }
            if n <= 0 { break }
            buf.withUnsafeBytes { h.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            total += Int64(n)
        }
        return (h.finalize(), total)
    }
}
