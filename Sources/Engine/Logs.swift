import DockerAPI
import Foundation
import GzipFile
import JSON
import Sys

/// Reads the json-file logs the shim writes (rotated files oldest first), with Docker's
/// since/until/tail/follow semantics.
public struct LogEntry: Sendable {
    public var stream: UInt8  // 1 stdout, 2 stderr
    public var time: Timestamp
    public var text: [UInt8]
    /// The entry's `attrs` object as stored (json-file's labels, env and tag); empty: none.
    public var attrs: [UInt8] = []

    /// What `logs --details` puts before the line, as dockerd: the attributes sorted by key,
    /// `key=value` query-escaped and joined by commas (nothing when there are none).
    public var details: [UInt8] {
        guard !attrs.isEmpty, let object = (try? JSON.parse(attrs))?.object else { return [] }
        let pairs = object.keys.sorted().map { LogEntry.queryEscape($0) + "=" + LogEntry.queryEscape(object[$0]?.string ?? "") }
        return Array(pairs.joined(separator: ",").utf8)
    }

    /// Go's url.QueryEscape.
    static func queryEscape(_ s: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for b in s.utf8 {
            switch b {
            case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x2D, 0x5F, 0x2E, 0x7E: out.append(b)
            case 0x20: out.append(0x2B)
            default: out += [0x25, hex[Int(b >> 4)], hex[Int(b & 15)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

public struct LogOptions: Sendable {
    public var stdout = true
    public var stderr = true
    public var since: Timestamp? = nil
    public var until: Timestamp? = nil
    public var tail: Int? = nil
    public var follow = false
    public init() {}
}

extension Engine {
    public func logSource(_ ref: String) throws(EngineError) -> (path: String, id: String, tty: Bool) {
        let c = try container(ref)
        let logType = c.hostConfig.logConfig.type
        if logType == "none" {
            throw .badRequest("configured logging driver does not support reading")
        }
        return (logPath(c.id), c.id, c.config.tty)
    }

    public func isRunning(_ id: String) -> Bool { containers[id]?.state.running == true || starting.contains(id) }

    /// How long after its start an empty log is waited on before it is read (`settleAfterStart`).
    static let startSettleNanos: Int64 = 20_000_000

    /// A container just started may not have written yet what it writes at once: berthd answers
    /// the start as soon as the process is let go (dockerd answers milliseconds later, after its
    /// own bookkeeping), and clients read the logs right after it. docker-py's
    /// `test_build_in_context_abs_dockerfile` does, and found an empty log 2 % of the time (the
    /// output came up to 5 ms after the answer here). A read of a still empty log within
    /// `startSettleNanos` of the start waits, suspended, until something is written, the
    /// container exits, or that time is up.
    public func settleAfterStart(_ ref: String) async {
        guard let c = try? container(ref), c.state.running else { return }
        let id = c.id
        let due = c.state.startedAt.nanos + Self.startSettleNanos
        while Timestamp.now().nanos < due, containers[id]?.state.running == true, (FS.size(logPath(id)) ?? 0) == 0 {
            try? await Task.sleep(nanoseconds: 1_000_000)
        }
    }
}

public enum LogReader {
    static func parse(_ line: ArraySlice<UInt8>) -> LogEntry? {
        if let fast = parseShimLine(line) { return fast }
        guard let j = try? JSON.parse(Array(line)) else { return nil }
        let stream: UInt8 = j["stream"].string == "stderr" ? 2 : 1
        var e = LogEntry(stream: stream, time: Timestamp.parse(j["time"].string ?? "") ?? .zero, text: Array((j["log"].string ?? "").utf8))
        if case .object = j["attrs"] { e.attrs = Array(j["attrs"].serialized().utf8) }
        return e
    }

    private static let logKey = Array(#"{"log":""#.utf8)
    private static let streamKey = Array(#"","stream":""#.utf8)
    private static let timeKey = Array(#"","time":""#.utf8)
    private static let attrsKey = Array(#"","attrs":"#.utf8)
    private static let timeAfterAttrsKey = Array(#","time":""#.utf8)

    /// The index of the `}` closing the object that begins at `start`, strings skipped whole.
    static func objectEnd(_ line: ArraySlice<UInt8>, from start: Int) -> Int? {
        guard start < line.endIndex, line[start] == 0x7B else { return nil }
        var depth = 0
        var inString = false
        var i = start
        while i < line.endIndex {
            let c = line[i]
            if inString {
                if c == 0x5C { i += 1 } else if c == 0x22 { inString = false }
            } else if c == 0x22 {
                inString = true
            } else if c == 0x7B {
                depth += 1
            } else if c == 0x7D {
                depth -= 1
                if depth == 0 { return i }
            }
            i += 1
        }
        return nil
    }

    /// The exact shape our shim writes, scanned without building a JSON tree (a busy log has
    /// millions of lines); anything else falls back to the general parser.
    static func parseShimLine(_ line: ArraySlice<UInt8>) -> LogEntry? {
        var i = line.startIndex
        guard line.count > logKey.count, line[i..<i + logKey.count].elementsEqual(logKey) else { return nil }
        i += logKey.count
        var text: [UInt8] = []
        text.reserveCapacity(line.count)
        while i < line.endIndex {
            let c = line[i]
            if c == 0x22 { break }
            if c == 0x5C {
                i += 1
                guard i < line.endIndex else { return nil }
                switch line[i] {
                case 0x6E: text.append(0x0A)
                case 0x72: text.append(0x0D)
                case 0x74: text.append(0x09)
                case 0x22, 0x5C, 0x2F: text.append(line[i])
                default: return nil  // \u escapes and the rest: let the full parser decode them
                }
            } else {
                text.append(c)
            }
            i += 1
        }
        guard i < line.endIndex, line.endIndex - i > streamKey.count, line[i..<i + streamKey.count].elementsEqual(streamKey) else { return nil }
        i += streamKey.count
        let streamStart = i
        while i < line.endIndex, line[i] != 0x22 { i += 1 }
        let stream: UInt8 = line[streamStart..<i].elementsEqual("stderr".utf8) ? 2 : 1
        var attrs: [UInt8] = []
        if line.endIndex - i > attrsKey.count, line[i..<i + attrsKey.count].elementsEqual(attrsKey) {
            guard let end = objectEnd(line, from: i + attrsKey.count) else { return nil }
            attrs = Array(line[(i + attrsKey.count)...end])
            i = end + 1
            guard line.endIndex - i > timeAfterAttrsKey.count, line[i..<i + timeAfterAttrsKey.count].elementsEqual(timeAfterAttrsKey) else { return nil }
            i += timeAfterAttrsKey.count
        } else {
            guard line.endIndex - i > timeKey.count, line[i..<i + timeKey.count].elementsEqual(timeKey) else { return nil }
            i += timeKey.count
        }
        let timeStart = i
        while i < line.endIndex, line[i] != 0x22 { i += 1 }
        let time = Timestamp.parse(String(decoding: line[timeStart..<i], as: UTF8.self)) ?? .zero
        return LogEntry(stream: stream, time: time, text: text, attrs: attrs)
    }

    static func entries(in bytes: [UInt8], _ o: LogOptions) -> [LogEntry] {
        var out: [LogEntry] = []
        var start = 0
        for i in 0..<bytes.count where bytes[i] == 0x0A {
            if let e = parse(bytes[start..<i]), keep(e, o) { out.append(e) }
            start = i + 1
        }
        return out
    }

    static func keep(_ e: LogEntry, _ o: LogOptions) -> Bool {
        if e.stream == 1 && !o.stdout { return false }
        if e.stream == 2 && !o.stderr { return false }
        if let s = o.since, e.time < s { return false }
        if let u = o.until, e.time > u { return false }
        return true
    }

    /// Emits stored entries, then (follow) new ones until `stillRunning` says the container is
    /// gone and the file has no more to give. `emit` returning false stops (client went away).
    /// Stored entries are streamed a chunk at a time: memory stays bounded by the chunk (or by
    /// `--tail` entries), whatever the size of the logs.
    /// The files are opened before `opened` is called (the route sends its head then): a client
    /// that removes the container as soon as it has the head (docker-py's `run` does: logs,
    /// wait, remove, then read the body) still gets everything, from the open descriptors.
    public static func read(
        path: String, options o: LogOptions, stillRunning: @Sendable () async -> Bool,
        opened: () -> Void = {}, emit: @Sendable ([LogEntry]) async -> Bool
    ) async {
        var held: [Int32] = []
        defer { for fd in held { close(fd) } }
        // Each file by its open descriptor (/proc/self/fd/N reopens the same file even once unlinked).
        func hold(_ p: String) -> String? {
            let fd = open(p, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return nil }
            held.append(fd)
            return "/proc/self/fd/\(fd)"
        }
        // A rotated file gzipped (json-file's `compress`) is read from a decompressed copy: an
        // unnamed file beside the log, gone with its descriptor.
        func holdDecompressed(_ p: String) -> String? {
            let src = open(p, O_RDONLY | O_CLOEXEC)
            guard src >= 0 else { return nil }
            defer { close(src) }
            let dir = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
            let copy = open(dir.isEmpty ? "." : dir, LogReader.unnamedFile | O_RDWR | O_CLOEXEC, 0o600)
            guard copy >= 0 else { return nil }
            held.append(copy)
            do { try GzipFile.decompress(from: src, to: copy, limit: maxDecompressedBytes) } catch { return nil }
            return "/proc/self/fd/\(copy)"
        }
        var files: [String] = []
        for name in rotatedFiles(path).reversed() {
            if let f = hold(name) ?? holdDecompressed(name + ".gz") { files.append(f) }
        }
        var live = hold(path) ?? path
        files.append(live)
        opened()
        var ring = TailRing(capacity: o.tail.flatMap { $0 >= 0 ? $0 : nil })
        var offset: Int64 = 0
        if let n = o.tail, n >= 0 {
            // `--tail N` reads from the end: its cost follows N, not the size of the logs.
            let (last, live) = tailFromEnd(files: files, count: n, o)
            if !last.isEmpty, !(await emit(last)) { return }
            offset = live
            ring = TailRing(capacity: nil)
            files = []
        }
        for f in files {
            // Only whole lines count; a partial last line of the live file is left to the follow loop.
            let (whole, more) = await scan(f, o) { batch in
                if ring.capacity != nil { ring.append(contentsOf: batch); return true }
                return await emit(batch)
            }
            if !more { return }
            if f == live { offset = whole }
        }
        if ring.capacity != nil, !ring.isEmpty, !(await emit(ring.elements)) { return }
        guard o.follow else { return }
        var ino = inode(live)
        var pending: [UInt8] = []  // a partial last line, completed by a later read
        var consumed = offset
        while true {
            let running = await stillRunning()
            // Rotated: the path names a new file (gone altogether means removed: keep draining).
            let nowIno = inode(path)
            if nowIno != 0 && nowIno != ino, let next = hold(path) {
                live = next; ino = nowIno; consumed = 0; pending = []
            } else if (FS.size(live) ?? 0) < consumed {
                consumed = 0; pending = []  // truncated
            }
            let fresh = (try? FS.read(live, from: consumed)) ?? []
            consumed += Int64(fresh.count)
            pending += fresh
            if let lastNL = pending.lastIndex(of: 0x0A) {
                let batch = entries(in: Array(pending[...lastNL]), o)
                pending.removeFirst(lastNL + 1)
                if let u = o.until, batch.contains(where: { $0.time > u }) { _ = await emit(batch.filter { $0.time <= u }); return }
                if !batch.isEmpty, !(await emit(batch)) { return }
                continue
            }
            if !running { return }
            if let u = o.until, Timestamp.now() > u { return }
            try? await Task.sleep(nanoseconds: 50_000_000)
        }
    }

    /// Entries of one file in chunks; returns the offset just past its last whole line, and
    /// false if `body` asked to stop.
    static func scan(_ file: String, _ o: LogOptions, _ body: ([LogEntry]) async -> Bool) async -> (Int64, Bool) {
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return (0, true) }
        defer { close(fd) }
        var carry: [UInt8] = []
        var whole: Int64 = 0
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, 1 << 20) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            carry += chunk[0..<n]
            guard let lastNL = carry.lastIndex(of: 0x0A) else { continue }
            let batch = entries(in: Array(carry[...lastNL]), o)
            whole += Int64(lastNL + 1)
            carry.removeFirst(lastNL + 1)
            if !batch.isEmpty, !(await body(batch)) { return (whole, false) }
        }
        return (whole, true)
    }

    /// The last `count` entries that `o` keeps, reading the files newest first and each one
    /// backwards a chunk at a time; and the offset just past the live file's last whole line
    /// (where following continues). A partial last line of the live file is not an entry yet.
    static func tailFromEnd(files: [String], count: Int, _ o: LogOptions) -> ([LogEntry], Int64) {
        var found: [LogEntry] = []  // newest first
        var liveOffset: Int64 = 0
        let chunkSize = 1 << 16
        for (index, file) in files.enumerated().reversed() {
            let fd = open(file, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            var st = stat()
            guard fstat(fd, &st) == 0 else { continue }
            var pos = Int64(st.st_size)
            var carry: [UInt8] = []  // bytes after the newest newline seen so far
            var sawLineEnd = false
            let isLive = index == files.count - 1
            var buf = [UInt8](repeating: 0, count: chunkSize)
            while pos > 0 && found.count < count {
                let len = Int(min(Int64(chunkSize), pos))
                pos -= Int64(len)
                let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, len, off_t(pos)) }
                guard n == len else { break }
                var chunk = Array(buf[0..<len]) + carry
                // Lines end in "\n"; the bytes before the first newline of this chunk continue
                // in the next (older) chunk.
                var end = chunk.count
                while let nl = chunk[..<end].lastIndex(of: 0x0A) {
                    if !sawLineEnd {
                        sawLineEnd = true
                        if isLive { liveOffset = pos + Int64(nl) + 1 }
                    } else if let e = parse(chunk[(nl + 1)..<end]), keep(e, o) {
                        found.append(e)
                        if found.count == count { break }
                    }
                    end = nl
                }
                if !sawLineEnd { end = chunk.count }
                chunk.removeSubrange(end...)
                carry = chunk
            }
            // The oldest line of the file has no newline before it.
            if found.count < count, pos == 0, sawLineEnd, !carry.isEmpty, let e = parse(carry[...]), keep(e, o) { found.append(e) }
            if found.count >= count { break }
        }
        return (found.reversed(), liveOffset)
    }

    /// O_TMPFILE (with its O_DIRECTORY), which Swift does not import from the C macro.
    static let unnamedFile: Int32 = 0o20_200_000

    /// What one rotated log may expand to: far above any max-size in use, a bound all the same.
    static let maxDecompressedBytes: Int64 = 1 << 40

    /// The rotated files of a log, newest (`.1`) first, each named without a `.gz` it may have.
    static func rotatedFiles(_ path: String) -> [String] {
        var names: [String] = []
        while names.count < 1_000_000 {
            let name = "\(path).\(names.count + 1)"
            guard FS.exists(name) || FS.exists(name + ".gz") else { break }
            names.append(name)
        }
        return names
    }

    static func inode(_ path: String) -> UInt64 {
        var st = stat()
        return stat(path, &st) == 0 ? UInt64(st.st_ino) : 0
    }
}

/// The last `capacity` entries seen (`--tail`), oldest first; nil capacity keeps nothing.
struct TailRing {
    let capacity: Int?
    private var buffer: [LogEntry] = []
    private var start = 0

    init(capacity: Int?) { self.capacity = capacity }
    var isEmpty: Bool { buffer.isEmpty }

    mutating func append(contentsOf batch: [LogEntry]) {
        guard let cap = capacity, cap > 0 else { return }
        for e in batch {
            if buffer.count < cap { buffer.append(e) } else { buffer[start] = e; start = (start + 1) % cap }
        }
    }

    var elements: [LogEntry] { Array(buffer[start...] + buffer[..<start]) }
}
