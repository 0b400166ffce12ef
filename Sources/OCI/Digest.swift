import CCrypto
import Glibc

/// `sha256:<64 hex>`: the address of every blob, image config and layer.
public struct Digest: Sendable, Hashable, CustomStringConvertible, Comparable {
    public let hex: String
    public var description: String { "sha256:" + hex }
    public var short: String { String(hex.prefix(12)) }

    public init(hex: String) { self.hex = hex }

    /// Accepts `sha256:<hex>`; nil for anything else.
    public init?(parsing s: String) {
        guard s.hasPrefix("sha256:") else { return nil }
        let h = String(s.dropFirst(7))
        guard Digest.isHex64(h) else { return nil }
        self.hex = h
    }

    public static func isHex64(_ h: String) -> Bool {
        h.utf8.count == 64 && h.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }

    public static func of(_ bytes: [UInt8]) -> Digest {
        let h = SHA256()
        h.update(bytes)
        return h.finalize()
    }
    public static func of(_ text: String) -> Digest { of(Array(text.utf8)) }
    public static func < (a: Digest, b: Digest) -> Bool { a.hex < b.hex }
}

/// Streaming SHA-256 (OpenSSL's libcrypto underneath).
public final class SHA256 {
    private var ctx: UnsafeMutableRawPointer?
    public init() { ctx = berth_sha256_new() }
    deinit { if let ctx { var sink = [UInt8](repeating: 0, count: 32); berth_sha256_final(ctx, &sink) } }
    public func update(_ bytes: UnsafeRawBufferPointer) {
        berth_sha256_update(ctx, bytes.baseAddress, bytes.count)
    }
    public func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { berth_sha256_update(ctx, $0.baseAddress, $0.count) }
    }
    /// Feeds a whole file, in blocks; returns the bytes read (nil when it cannot be opened).
    @discardableResult
    public func update(file path: String) -> Int64? {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        return update(fd: fd)
    }

    /// Feeds what is left to read from an open file, in blocks; returns the bytes read (nil on a
    /// read error).
    @discardableResult
    public func update(fd: Int32) -> Int64? {
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buf.deallocate() }
        var total: Int64 = 0
        while true {
            let n = read(fd, buf.baseAddress, 1 << 20)
            if n < 0 && errno == EINTR { continue }
            if n < 0 { return nil }
            if n == 0 { break }
            update(UnsafeRawBufferPointer(rebasing: buf[0..<n]))
            total += Int64(n)
        }
        return total
    }

    public func finalize() -> Digest {
        guard let ctx else { fatalError("SHA256 finalized twice") }
        self.ctx = nil
        var out = [UInt8](repeating: 0, count: 32)
        berth_sha256_final(ctx, &out)
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var hex = [UInt8]()
        hex.reserveCapacity(64)
        for b in out { hex.append(digits[Int(b >> 4)]); hex.append(digits[Int(b & 15)]) }
        return Digest(hex: String(decoding: hex, as: UTF8.self))
    }
}

/// The chain ID of a layer stack (OCI image spec): identity of "this layer on top of those".
public func chainIDs(_ diffIDs: [Digest]) -> [Digest] {
    var out: [Digest] = []
    for d in diffIDs {
        if let last = out.last { out.append(Digest.of("\(last) \(d)")) } else { out.append(d) }
    }
    return out
}
