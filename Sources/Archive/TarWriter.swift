/// A minimal ustar writer (PAX headers for long names) for the archives we produce ourselves:
/// docker-archive `save` output and test fixtures. Streams through a sink closure.
public struct TarWriter {
    public typealias Sink = ([UInt8]) throws -> Void
    let sink: Sink
    public init(sink: @escaping Sink) { self.sink = sink }

    public func addFile(_ name: String, _ data: [UInt8], mode: Int = 0o644, mtime: Int64 = 0) throws {
        try header(name: name, size: Int64(data.count), mode: mode, type: "0", link: "", mtime: mtime)
        try sink(data)
        try pad(Int64(data.count))
    }

    public func addDirectory(_ name: String, mode: Int = 0o755, mtime: Int64 = 0) throws {
        try header(name: name.hasSuffix("/") ? name : name + "/", size: 0, mode: mode, type: "5", link: "", mtime: mtime)
    }

    public func addSymlink(_ name: String, target: String, mtime: Int64 = 0) throws {
        try header(name: name, size: 0, mode: 0o777, type: "2", link: target, mtime: mtime)
    }

    public func addHardlink(_ name: String, target: String) throws {
        try header(name: name, size: 0, mode: 0o644, type: "1", link: target, mtime: 0)
    }

    /// A header with full metadata (owner, mode, time, device numbers) for tree walks.
    public func entry(
        _ name: String, type: Character, size: Int64 = 0, mode: Int, uid: Int, gid: Int, mtime: Int64,
        link: String = "", devMajor: Int = 0, devMinor: Int = 0
    ) throws {
        try header(name: name, size: size, mode: mode, type: type, link: link, mtime: mtime, uid: uid, gid: gid, devMajor: devMajor, devMinor: devMinor)
    }

    /// Header for a file whose content the caller streams with `sink` then ends with `pad`.
    public func beginFile(_ name: String, size: Int64, mode: Int = 0o644, mtime: Int64 = 0) throws {
        try header(name: name, size: size, mode: mode, type: "0", link: "", mtime: mtime)
    }

    /// Raw bytes: a file's content after `beginFile` or `entry` with a size, then `pad`.
    public func write(_ bytes: [UInt8]) throws { try sink(bytes) }

    public func pad(_ size: Int64) throws {
        let r = Int(size % 512)
        if r != 0 { try sink([UInt8](repeating: 0, count: 512 - r)) }
    }

    public func finish() throws { try sink([UInt8](repeating: 0, count: 1024)) }

    private func header(
        name: String, size: Int64, mode: Int, type: Character, link: String, mtime: Int64,
        uid: Int = 0, gid: Int = 0, devMajor: Int = 0, devMinor: Int = 0
    ) throws {
        if name.utf8.count > 99 || link.utf8.count > 99 {
            var records = ""
            if name.utf8.count > 99 { records += paxRecord("path", name) }
            if link.utf8.count > 99 { records += paxRecord("linkpath", link) }
            let data = Array(records.utf8)
            try sink(block(name: "PaxHeader", size: Int64(data.count), mode: 0o644, type: "x", link: "", mtime: mtime))
            try sink(data)
            try pad(Int64(data.count))
        }
        try sink(
            block(
                name: String(name.utf8.prefix(99))!, size: size, mode: mode, type: type, link: String(link.utf8.prefix(99))!, mtime: mtime,
                uid: uid, gid: gid, devMajor: devMajor, devMinor: devMinor))
    }

    private func paxRecord(_ key: String, _ value: String) -> String {
        let body = " \(key)=\(value)\n"
        var len = body.utf8.count + 1
        while String(len).count + body.utf8.count != len { len = String(len).count + body.utf8.count }
        return String(len) + body
    }

    private func block(
        name: String, size: Int64, mode: Int, type: Character, link: String, mtime: Int64,
        uid: Int = 0, gid: Int = 0, devMajor: Int = 0, devMinor: Int = 0
    ) -> [UInt8] {
        var h = [UInt8](repeating: 0, count: 512)
        func put(_ s: String, _ off: Int, _ len: Int) { for (i, b) in s.utf8.prefix(len).enumerated() { h[off + i] = b } }
        func octal(_ v: Int64, _ off: Int, _ len: Int) {
            let s = String(v, radix: 8)
            put(String(repeating: "0", count: max(0, len - 1 - s.count)) + s, off, len - 1)
        }
        put(name, 0, 100)
        octal(Int64(mode), 100, 8)
        octal(Int64(uid), 108, 8); octal(Int64(gid), 116, 8)
        octal(size, 124, 12)
        octal(mtime, 136, 12)
        put("        ", 148, 8)
        h[156] = UInt8(ascii: type.unicodeScalars.first!)
        put(link, 157, 100)
        put("ustar", 257, 6); put("00", 263, 2)
        if type == "3" || type == "4" { octal(Int64(devMajor), 329, 8); octal(Int64(devMinor), 337, 8) }
        let sum = h.reduce(0) { $0 + Int($1) }
        let s = String(sum, radix: 8)
        put(String(repeating: "0", count: max(0, 6 - s.count)) + s, 148, 6)
        h[154] = 0; h[155] = 0x20
        return h
    }
}
