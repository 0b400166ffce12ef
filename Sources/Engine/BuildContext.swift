import Archive
import Foundation
import JSON
import OCI
import Sys

/// One entry of a context that is already on disk, as its sender described it.
public struct BuildContextEntry: Sendable {
    public var path: String
    public var kind: TarEntry.Kind
    public var mode: UInt32
    public var size: Int64
    public var mtime: Int64
    public var mtimeNanos: Int
    public var link: String
    public init(path: String, kind: TarEntry.Kind, mode: UInt32, size: Int64, mtime: Int64, mtimeNanos: Int, link: String) {
        self.path = path; self.kind = kind; self.mode = mode; self.size = size; self.mtime = mtime; self.mtimeNanos = mtimeNanos; self.link = link
    }
}

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
    /// Context paths unpacked so far, each with everything beneath it ("" is the whole
    /// context): a step unpacks only the sources it copies, so a rerun `COPY one.txt` does not
    /// write out a 200 MB context.
    private var materializedPaths: [String] = []
    private var hasHardlinks = false
    /// The on-disk context's root, opened on the first digest (not once per file).
    private var rootfd: Int32 = -1
    deinit { if rootfd >= 0 { close(rootfd) } }
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
            index(rel, Entry(kind: e.kind, mode: e.mode, size: e.size, mtime: e.mtime, mtimeNanos: e.mtimeNanos, link: e.linkTarget))
            if keep.contains(rel), e.kind == .file, e.size < 16 << 20 { small[rel] = try reader.readAllData() }
        }
        loadDigests()
    }

    /// A context already on disk (BuildKit's path: a snapshot of the client's files, linked from
    /// the daemon's copy of the last transfer) and its entries as the client described them.
    init(directory: String, entries list: [BuildContextEntry], digestFile: String, keep: Set<String>) throws {
        tarPath = ""; dir = directory; self.digestFile = digestFile
        materializedPaths = [""]
        for e in list {
            let rel = BuildContext.clean(e.path)
            if rel.isEmpty { continue }
            index(rel, Entry(kind: e.kind, mode: e.mode, size: e.size, mtime: e.mtime, mtimeNanos: e.mtimeNanos, link: e.link))
        }
        rootfd = try DirFD.openDirectory(directory)
        for rel in keep where entries[rel]?.kind == .file && (entries[rel]?.size ?? .max) < 16 << 20 {
            let fd = DirFD.open(rootfd, rel, O_RDONLY | O_NOFOLLOW, .strict)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            var st = stat()
            guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG, st.st_size < 16 << 20 else { continue }
            small[rel] = try FS.readAll(fd: fd)
        }
        loadDigests()
    }

    /// Paths already listed under their parent (a set: a directory of thousands of files would
    /// make a scan of its list quadratic).
    private var listed: Set<String> = []

    private func index(_ rel: String, _ e: Entry) {
        if e.kind == .hardlink { hasHardlinks = true }
        entries[rel] = e
        // Parents the tar did not list exist implicitly.
        var child = rel
        while true {
            // One scan for the slash (a String `contains("/")` is Foundation's substring search).
            let slash = child.lastIndex(of: "/")
            let parent = slash.map { String(child[..<$0]) } ?? ""
            let name = slash.map { String(child[child.index(after: $0)...]) } ?? child
            if !listed.insert(child).inserted { break }
            children[parent, default: []].append(name)
            if parent.isEmpty { break }
            if entries[parent] == nil { entries[parent] = Entry(kind: .directory, mode: 0o755, size: 0, mtime: 0, mtimeNanos: 0, link: "") }
            child = parent
        }
    }

    private func loadDigests() {
        if let memo = DigestMemo.shared.get(digestFile) {
            digests = memo
            return
        }
        if let b = try? FS.read(digestFile), let j = try? JSON.parse(b), let o = j.object {
            for (k, v) in o { if let s = v.string { digests[k] = s } }
        }
        DigestMemo.shared.merge(digestFile, digests)
    }

    static func clean(_ p: String) -> String {
        // Most paths (every one a client's file sync sends) are clean already: one scan of the
        // bytes then, no split and join (it is called for every file of a context, per build).
        if isClean(p) { return p }
        var parts: [Substring] = []
        for c in p.split(separator: "/") where c != "." {
            if c == ".." { if !parts.isEmpty { parts.removeLast() } } else { parts.append(c) }
        }
        return parts.joined(separator: "/")
    }

    /// Whether `clean` would return `p` unchanged: no empty, `.` or `..` component.
    static func isClean(_ p: String) -> Bool {
        var length = 0, dots = 0
        for b in p.utf8 {
            if b == UInt8(ascii: "/") {
                if length == 0 || length == dots && dots <= 2 { return false }
                length = 0; dots = 0
            } else {
                length += 1
                if b == UInt8(ascii: ".") { dots += 1 }
            }
        }
        return p.isEmpty || !(length == 0 || length == dots && dots <= 2)
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

    private func covered(_ rel: String) -> Bool {
        materializedPaths.contains { $0.isEmpty || rel == $0 || rel.hasPrefix($0 + "/") }
    }

    /// Unpacks the given context paths (resolved, as the index names them) with what lies
    /// beneath them; nil, or a context with hard links (whose targets may lie elsewhere), unpacks
    /// it all. What an earlier call unpacked is not written again.
    func materialize(_ paths: [String]? = nil) throws {
        lock.lock()
        defer { lock.unlock() }
        let wanted = hasHardlinks ? [""] : (paths?.map(BuildContext.clean) ?? [""])
        let missing = wanted.filter { !covered($0) }
        guard !missing.isEmpty else { return }
        let all = missing.contains("")
        try FS.mkdirAll(dir, mode: 0o700)
        // Symlinks may point anywhere (they are copied as links); the unpacker still never
        // writes through one, and sources are resolved in the index, not through the links.
        var unpacker = LayerUnpacker(root: dir, trusted: true)
        let done = materializedPaths
        if !all || !done.isEmpty {
            unpacker.include = { rel in
                let needed = all || missing.contains { rel == $0 || rel.hasPrefix($0 + "/") }
                return needed && !done.contains { $0.isEmpty || rel == $0 || rel.hasPrefix($0 + "/") }
            }
        }
        try unpacker.unpack(tarPath: tarPath)
        materializedPaths = all ? [""] : materializedPaths + missing
    }

    /// Removes from the unpacked context what `.dockerignore` excludes, deepest first, keeping
    /// a directory that still holds a re-included (`!`) path. Clients already leave most of it
    /// out; this covers what they must send (the Dockerfile, `.dockerignore` itself) and what a
    /// hand-made context holds, so a directory COPY never carries an ignored file. Run after
    /// each unpack: what is not unpacked is simply not there.
    func removeExcluded(_ excluded: (String) -> Bool) {
        lock.lock()
        defer { lock.unlock() }
        // A context on disk is the daemon's kept copy, never changed by a build (its sender left
        // excluded files out already).
        guard !materializedPaths.isEmpty, !tarPath.isEmpty else { return }
        for rel in entries.keys.filter({ !$0.isEmpty && covered($0) }).sorted(by: { $0.count > $1.count }) where excluded(rel) {
            let host = dir + "/" + rel
            var st = stat()
            guard lstat(host, &st) == 0 else { continue }
            if (st.st_mode & S_IFMT) == S_IFDIR { _ = rmdir(host) } else { _ = unlink(host) }
        }
    }

    private func digestKey(_ rel: String, _ e: Entry) -> String { "\(rel)\u{0}\(e.size)\u{0}\(e.mtime).\(e.mtimeNanos)\u{0}\(e.mode)" }

    /// A file's content digest: remembered, or hashed from the context's tar — every file not
    /// yet known in one pass, nothing written to disk.
    func digest(_ rel: String) throws -> String {
        lock.lock()
        defer { lock.unlock() }
        guard let e = entries[rel] else { return "" }
        if let d = digests[digestKey(rel, e)] { return d }
        if tarPath.isEmpty {
            // On disk already: the file itself, opened beneath the context, never through a link.
            if rootfd < 0 { rootfd = try DirFD.openDirectory(dir) }
            let fd = DirFD.open(rootfd, rel, O_RDONLY | O_NOFOLLOW, .strict)
            guard fd >= 0 else { throw SysError("open \(rel) in the build context") }
            defer { close(fd) }
            let h = SHA256()
            guard h.update(fd: fd) != nil else { throw SysError("read \(rel) in the build context") }
            let d = h.finalize().hex
            digests[digestKey(rel, e)] = d
            digestsChanged = true
            return d
        }
        var missing = Set<String>()
        for (name, known) in entries where known.kind == .file && digests[digestKey(name, known)] == nil { missing.insert(name) }
        let reader = try ArchiveReader(path: tarPath)
        while let t = try reader.next() {
            guard t.kind == .file else { continue }
            let name = BuildContext.clean(t.path)
            // The index keeps the last of a path's entries: an earlier one is not its content.
            guard let known = entries[name], known.kind == .file, known.size == t.size, known.mtime == t.mtime,
                known.mtimeNanos == t.mtimeNanos, known.mode == t.mode
            else { continue }
            guard missing.contains(name) else { continue }
            let key = digestKey(name, known)
            let h = SHA256()
            try reader.readData { h.update($0) }
            digests[key] = h.finalize().hex
            digestsChanged = true
        }
        guard let d = digests[digestKey(rel, e)] else { throw SysError("read \(rel) from the build context") }
        return d
    }

    /// Keeps the digests for the next build (bounded: the newest context's entries).
    func saveDigests() {
        lock.lock()
        defer { lock.unlock() }
        guard digestsChanged else { return }
        // Builds at once each add theirs: merged, not the last one's alone.
        let merged = DigestMemo.shared.merge(digestFile, digests)
        var o = JSONObject()
        for (k, v) in merged { o[k] = .string(v) }
        try? FS.mkdirAll(String(digestFile[..<digestFile.lastIndex(of: "/")!]))
        try? FS.writeAtomic(digestFile, JSON.object(o).serialized())
    }
}

/// The content digests of context files as last loaded or saved, in memory: a build does not
/// parse the file again (a 2,000-file context's memo is ~0.5 MB of JSON).
final class DigestMemo: @unchecked Sendable {
    static let shared = DigestMemo()
    static let maxEntries = 200_000
    private let lock = NSLock()
    private var byFile: [String: [String: String]] = [:]

    func get(_ file: String) -> [String: String]? {
        lock.lock()
        defer { lock.unlock() }
        return byFile[file]
    }

    /// Adds `digests` to the memo and returns it; past the bound, only the newest build's.
    @discardableResult
    func merge(_ file: String, _ digests: [String: String]) -> [String: String] {
        lock.lock()
        defer { lock.unlock() }
        var m = byFile[file] ?? [:]
        m.merge(digests) { _, new in new }
        if m.count > Self.maxEntries { m = Dictionary(uniqueKeysWithValues: digests.prefix(Self.maxEntries).map { ($0.key, $0.value) }) }
        byFile[file] = m
        return m
    }
}
