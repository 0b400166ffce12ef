import Glibc
import JSON
import Seccomp
import Sys

/// Compiled seccomp filters kept in the runtime's root: libseccomp takes about 14 ms to compile
/// Docker's profile, more than the rest of `create`. An entry is one file holding the profile's
/// exact JSON and its filter, written atomically, so a lookup can never pair a filter with a
/// different profile (the name is only a hash; a collision is a miss, not a wrong filter).
public struct SeccompCache {
    let dir: String
    static let maxEntries = 64

    public init(root: String) { dir = root + "/.seccomp" }

    public func filter(for profile: JSON) throws(RuntimeFailure) -> [UInt8] {
        // The compiler's version is part of the key: a filter an older runtime compiled is a miss.
        let key = Array("v\(SeccompCompiler.outputVersion) ".utf8) + profile.serializedBytes()
        let path = dir + "/" + Self.name(key)
        if let cached = Self.lookup(path, key) { return cached }
        let bpf: [UInt8]
        do { bpf = try SeccompCompiler.compile(profile) } catch { throw RuntimeFailure(error.message) }
        store(path, key, bpf)
        return bpf
    }

    /// FNV-1a over the profile's bytes, as a file name.
    static func name(_ bytes: [UInt8]) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return String(h, radix: 16) + ".filter"
    }

    /// [8-byte little-endian length of the profile][profile][filter].
    static func lookup(_ path: String, _ key: [UInt8]) -> [UInt8]? {
        guard let data = try? FS.read(path), data.count > 8 else { return nil }
        var n = 0
        for i in 0..<8 { n |= Int(data[i]) << (8 * i) }
        guard n == key.count, data.count > 8 + n, data[8..<(8 + n)].elementsEqual(key) else { return nil }
        let bpf = Array(data[(8 + n)...])
        return bpf.count % 8 == 0 ? bpf : nil
    }

    func store(_ path: String, _ key: [UInt8], _ bpf: [UInt8]) {
        guard (try? FS.mkdirAll(dir, mode: 0o700)) != nil else { return }
        // Bounded: past the limit the old entries go (they are only a cache).
        if let names = try? FS.list(dir), names.count >= Self.maxEntries {
            for n in names { unlink(dir + "/" + n) }
        }
        var data: [UInt8] = []
        data.reserveCapacity(8 + key.count + bpf.count)
        for i in 0..<8 { data.append(UInt8(truncatingIfNeeded: key.count >> (8 * i))) }
        data += key
        data += bpf
        try? FS.writeAtomic(path, data, mode: 0o600, durable: false)
    }
}
