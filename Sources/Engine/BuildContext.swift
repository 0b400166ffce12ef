import Archive
import Foundation
import JSON
import OCI
import Sys

/// The build context as sent: a tar, indexed by its headers without unpacking it. Sources are
/// resolved (globs, symlinks kept inside) and their content hashed against the index, with
/// digests remembered across builds by (path, size, mtime, mode); the tar is unpacked only when
/// a COPY/ADD step actually has to run. A rebuild with nothing changed never writes the
/// context to disk.
final class BuildContext: @unchecked Sendable {
    struct Entry { var kind: TarEntry.Kind; var mode: UInt32; var size: Int64; var mtime: Int64; var mtimeNanos: Int; var link: String }

    let tarPath: String
    let dir: String
    let digestFile: String
    private(set) var entries: [String: Entry] = ["": Entry(kind: .directory, mode: 0o755, size: 0, mtime: 0, mtimeNanos: 0, link: "")]
    private(set) var children: [String: [String]] = [:]
    private var small: [String: [UInt8]] = [:]
    private(set) var materialized = false
    private var prunedIgnored = false
    private var digests: [String: String] = [:]
    private var digestsChanged = false
    /// Stages built at once share the context: unpacking and the digest memo are serialised.
    private let lock = NSRecursiveLock()

    init(tar: String, dir: String, digestFile: String, keep: Set<String>) throws {
        tarPath = tar; self.dir = dir; self.digestFile = digestFile
        let reader = try ArchiveReader(path: tar)
        while let e = try reader.next() {
            let rel = BuildContext.clean(e.path)
            if rel.isEmpty { continue }
            entries[rel] = Entry(kind: e.kind, mode: e.mode, size: e.size, mtime: e.mtime, mtimeNanos: e.mtimeNanos, link: e.linkTarget)
            // Parents the tar did not list exist implicitly.
            var child = rel
            while true {
                let parent = child.contains("/") ? String(child[..<child.lastIndex(of: "/")!]) : ""
                let name = child.contains("/") ? String(child[child.index(after: child.lastIndex(of: "/")!)...]) : child
                if children[parent]?.contains(name) == true { break }
                children[parent, default: []].append(name)
                if parent.isEmpty { break }
                if entries[parent] == nil { entries[parent] = Entry(kind: .directory, mode: 0o755, size: 0, mtime: 0, mtimeNanos: 0, link: "") }
                child = parent
            }
            if keep.contains(rel), e.kind == .file, e.size < 16 << 20 { small[rel] = try reader.readAllData() }
        }
        if let b = try? FS.read(digestFile), let j = try? JSON.parse(b), let o = j.object {
            for (k, v) in o { if let s = v.string { digests[k] = s } }
        }
    }

    static func clean(_ p: String) -> String {
        var parts: [Substring] = []
        for c in p.split(separator: "/") where c != "." {
            if c == ".." { if !parts.isEmpty { parts.removeLast() } } else { parts.append(c) }
        }
        return parts.joined(separator: "/")
    }

    func data(_ rel: String) -> [UInt8]? { small[BuildContext.clean(rel)] }

    /// A path as the context sees it: symlinks followed inside the context, `..` never above
    /// it. nil when it does not exist.
    func resolve(_ rel: String, followFinal: Bool = true) -> String? {
        var parts = BuildContext.clean(rel).split(separator: "/").map(String.init)
        var done: [String] = []
        var hops = 0
        while !parts.isEmpty {
            let c = parts.removeFirst()
            if c == ".." { if !done.isEmpty { done.removeLast() }; continue }
            let cur = (done + [c]).joined(separator: "/")
            guard let e = entries[cur] else { return nil }
            if e.kind == .symlink && (followFinal || !parts.isEmpty) {
                hops += 1
                if hops > 40 { return nil }
                let target = e.link.split(separator: "/").map(String.init)
                if e.link.hasPrefix("/") { done = [] }
                parts = target + parts
                continue
            }
            done.append(c)
        }
        return done.joined(separator: "/")
    }

    func entry(_ rel: String) -> Entry? { entries[rel] }
    func list(_ rel: String) -> [String] { (children[rel] ?? []).sorted() }

    func materialize() throws {
        lock.lock()
        defer { lock.unlock() }
        guard !materialized else { return }
        try FS.mkdirAll(dir, mode: 0o700)
        // Symlinks may point anywhere (they are copied as links); the unpacker still never
        // writes through one, and sources are resolved in the index, not through the links.
        try LayerUnpacker(root: dir, trusted: true).unpack(tarPath: tarPath)
        materialized = true
    }

    /// Removes from the unpacked context what `.dockerignore` excludes, deepest first, keeping
    /// a directory that still holds a re-included (`!`) path. Clients already leave most of it
    /// out; this covers what they must send (the Dockerfile, `.dockerignore` itself) and what a
    /// hand-made context holds, so a directory COPY never carries an ignored file.
    func removeExcluded(_ excluded: (String) -> Bool) {
        lock.lock()
        defer { lock.unlock() }
        guard materialized, !prunedIgnored else { return }
        prunedIgnored = true
        for rel in entries.keys.filter({ !$0.isEmpty }).sorted(by: { $0.count > $1.count }) where excluded(rel) {
            let host = dir + "/" + rel
            var st = stat()
            guard lstat(host, &st) == 0 else { continue }
            if (st.st_mode & S_IFMT) == S_IFDIR { _ = rmdir(host) } else { _ = unlink(host) }
        }
    }

    /// A file's content digest: remembered, or hashed from the unpacked context.
    func digest(_ rel: String) throws -> String {
        lock.lock()
        defer { lock.unlock() }
        guard let e = entries[rel] else { return "" }
        let key = "\(rel)\u{0}\(e.size)\u{0}\(e.mtime).\(e.mtimeNanos)\u{0}\(e.mode)"
        if let d = digests[key] { return d }
        try materialize()
        let h = SHA256()
        guard h.update(file: dir + "/" + rel) != nil else { throw SysError("open \(rel)") }
        let d = h.finalize().hex
        digests[key] = d
        digestsChanged = true
        return d
    }

    /// Keeps the digests for the next build (bounded: the newest context's entries).
    func saveDigests() {
        lock.lock()
        defer { lock.unlock() }
        guard digestsChanged else { return }
        var o = JSONObject()
        for (k, v) in digests.prefix(200_000) { o[k] = .string(v) }
        try? FS.mkdirAll(String(digestFile[..<digestFile.lastIndex(of: "/")!]))
        try? FS.writeAtomic(digestFile, JSON.object(o).serialized())
    }
}
