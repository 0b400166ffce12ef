import CArchive
import Glibc

public struct ArchiveError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// One header read from a tar stream.
public struct TarEntry: Sendable {
    public enum Kind: Sendable { case file, directory, symlink, hardlink, charDevice, blockDevice, fifo, other }
    public var path: String
    public var kind: Kind
    public var linkTarget: String
    public var mode: UInt32
    public var uid: Int
    public var gid: Int
    public var size: Int64
    public var mtime: Int64
    public var mtimeNanos: Int
    public var devMajor: UInt32
    public var devMinor: UInt32
    public var xattrs: [(String, [UInt8])]
}

/// Sequential reader over a tar file in any compression libarchive knows (gzip, zstd, xz, none).
public final class ArchiveReader {
    private let a: OpaquePointer
    private var entry: OpaquePointer?

    nonisolated(unsafe) private static var localeSet = false

    private var keepAlive: AnyObject?

    /// Opens with a caller-supplied open routine (custom read callbacks); `keepAlive` is held for
    /// as long as libarchive may call back into it.
    init(opening: (OpaquePointer) -> Int32, keepAlive: AnyObject) throws(ArchiveError) {
        ArchiveReader.setUTF8Locale()
        a = archive_read_new()
        self.keepAlive = keepAlive
        if opening(a) != ARCHIVE_OK {
            throw ArchiveError(archive_error_string(a).map { String(cString: $0) } ?? "cannot open archive")
        }
    }

    public init(path: String, raw: Bool = false) throws(ArchiveError) {
        ArchiveReader.setUTF8Locale()
        a = archive_read_new()
        archive_read_support_filter_all(a)
        if raw {
            archive_read_support_format_raw(a)
        } else {
            archive_read_support_format_tar(a)
            archive_read_support_format_gnutar(a)
        }
        if archive_read_open_filename(a, path, 65536) != ARCHIVE_OK {
            // deinit frees `a`: the object is fully initialised even when init throws.
            throw ArchiveError(archive_error_string(a).map { String(cString: $0) } ?? "cannot open archive")
        }
    }

    deinit { archive_read_free(a) }

    /// libarchive needs a UTF-8 locale or non-ASCII names fail (FIELD-NOTES).
    public static func setUTF8Locale() {
        if !localeSet { setlocale(LC_CTYPE, "C.UTF-8"); localeSet = true }
    }

    private var error: ArchiveError { ArchiveError(archive_error_string(a).map { String(cString: $0) } ?? "archive error") }

    public func next() throws(ArchiveError) -> TarEntry? {
        var e: OpaquePointer?
        let rc = archive_read_next_header(a, &e)
        if rc == ARCHIVE_EOF { return nil }
        if rc < ARCHIVE_WARN { throw error }
        guard let e else { return nil }
        entry = e
        let path = archive_entry_pathname_utf8(e).map { String(cString: $0) } ?? archive_entry_pathname(e).map { String(cString: $0) } ?? ""
        var kind: TarEntry.Kind
        let ft = Int(archive_entry_filetype(e))
        switch ft {
        case 0o100000: kind = .file
        case 0o040000: kind = .directory
        case 0o120000: kind = .symlink
        case 0o020000: kind = .charDevice
        case 0o060000: kind = .blockDevice
        case 0o010000: kind = .fifo
        default: kind = .other
        }
        var link = ""
        if let h = archive_entry_hardlink_utf8(e) ?? archive_entry_hardlink(e) {
            kind = .hardlink
            link = String(cString: h)
        } else if kind == .symlink, let s = archive_entry_symlink_utf8(e) ?? archive_entry_symlink(e) {
            link = String(cString: s)
        }
        var xattrs: [(String, [UInt8])] = []
        if archive_entry_xattr_reset(e) > 0 {
            var name: UnsafePointer<CChar>?
            var value: UnsafeRawPointer?
            var size = 0
            while archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK {
                if let name, let value { xattrs.append((String(cString: name), Array(UnsafeRawBufferPointer(start: value, count: size)))) }
            }
        }
        // Every number of a header is the archive author's: range-checked here, so nothing later
        // traps converting it (a pax uid of 2^32 or -1 once crashed the daemon).
        let uid = Int64(archive_entry_uid(e)), gid = Int64(archive_entry_gid(e))
        guard (0..<Int64(UInt32.max)).contains(uid), (0..<Int64(UInt32.max)).contains(gid) else {
            throw ArchiveError("invalid tar entry \"\(path)\": uid/gid out of range (\(uid):\(gid))")
        }
        guard let devMajor = UInt32(exactly: archive_entry_rdevmajor(e)), let devMinor = UInt32(exactly: archive_entry_rdevminor(e)),
            devMajor <= 0xfff_ffff, devMinor <= 0xfff_ffff
        else { throw ArchiveError("invalid tar entry \"\(path)\": device number out of range") }
        let size = Int64(archive_entry_size(e))
        guard size >= 0 else { throw ArchiveError("invalid tar entry \"\(path)\": negative size") }
        let nanos = Int(archive_entry_mtime_nsec(e))
        return TarEntry(
            path: path, kind: kind, linkTarget: link, mode: UInt32(truncatingIfNeeded: archive_entry_perm(e)),
            uid: Int(uid), gid: Int(gid), size: size,
            mtime: Int64(archive_entry_mtime(e)), mtimeNanos: (0..<1_000_000_000).contains(nanos) ? nanos : 0,
            devMajor: devMajor, devMinor: devMinor, xattrs: xattrs)
    }

    /// Streams the current entry's data in blocks.
    public func readData(_ body: (UnsafeRawBufferPointer) throws(ArchiveError) -> Void) throws(ArchiveError) {
        // An owned buffer: the body gets a pointer that is valid for the whole call.
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 17, alignment: 16)
        defer { buf.deallocate() }
        while true {
            let n = archive_read_data(a, buf.baseAddress, buf.count)
            if n < 0 { throw error }
            if n == 0 { return }
            try body(UnsafeRawBufferPointer(rebasing: buf[0..<n]))
        }
    }

    public func readAllData(limit: Int = 64 << 20) throws(ArchiveError) -> [UInt8] {
        var out: [UInt8] = []
        try readData { (b) throws(ArchiveError) in
            out.append(contentsOf: b)
            if out.count > limit { throw ArchiveError("archive entry too large") }
        }
        return out
    }
}
