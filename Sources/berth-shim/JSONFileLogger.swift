import CSys
import Glibc
import GzipFile
import Sys

/// Docker's json-file format: one `{"log":…,"stream":…,"attrs":{…},"time":…}` object per line of
/// output (`attrs` only when the container's log options name labels, env or a tag), rotated to
/// `<path>.1 … .N-1` past maxSize, those gzipped to `.N.gz` with `compress`. Built byte by byte
/// and written once per chunk of output: a chatty container produces millions of lines, and
/// per-line strings and syscalls would make the logger the bottleneck.
struct JSONFileLogger {
    let path: String
    let maxSize: Int64
    let maxFiles: Int
    /// The `attrs` object, as berthd encoded it (empty: none).
    let attrs: [UInt8]
    let compress: Bool
    /// The helper gzipping the file last rotated, while it runs: the next rotation waits for it
    /// (it renames what the helper reads and writes). A process of its own, exec'd: this one
    /// stays single-threaded and serves its container meanwhile.
    private(set) var compressor: pid_t = 0
    private var fd: Int32 = -1
    private var size: Int64 = 0
    private var partial: [String: [UInt8]] = [:]
    private var out: [UInt8] = []
    private var clock = LogClock()

    init(path: String, maxSize: Int64, maxFiles: Int, attrs: [UInt8] = [], compress: Bool = false) {
        self.path = path
        self.maxSize = maxSize
        self.maxFiles = max(1, maxFiles)
        self.attrs = attrs
        self.compress = compress && self.maxFiles > 1
        guard !path.isEmpty else { return }
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        size = FS.size(path) ?? 0
        out.reserveCapacity(1 << 17)
    }

    mutating func append(_ chunk: [UInt8], stream: String) {
        guard fd >= 0 else { return }
        let time = clock.now()
        var start = 0
        var pending = partial[stream] ?? []
        chunk.withUnsafeBufferPointer { b in
            for i in 0..<b.count where b[i] == 0x0A {
                if pending.isEmpty {
                    encode(UnsafeBufferPointer(rebasing: b[start...i]), stream: stream, time: time)
                } else {
                    pending.append(contentsOf: b[start...i])
                    pending.withUnsafeBufferPointer { encode($0, stream: stream, time: time) }
                    pending.removeAll(keepingCapacity: true)
                }
                start = i + 1
            }
            pending.append(contentsOf: b[start...])
        }
        // Docker flushes a partial line at 16 KiB.
        if pending.count >= 16384 { pending.withUnsafeBufferPointer { encode($0, stream: stream, time: time) }; pending.removeAll() }
        partial[stream] = pending
        flushBuffer()
    }

    /// A line begun and not yet ended (or flushed at 16 KiB) on either stream.
    var holdsPartialLine: Bool { partial.values.contains { !$0.isEmpty } }

    mutating func flush() {
        let time = clock.now()
        for (stream, pending) in partial where !pending.isEmpty { pending.withUnsafeBufferPointer { encode($0, stream: stream, time: time) } }
        partial.removeAll()
        flushBuffer()
    }

    private static let head = Array(#"{"log":""#.utf8)
    private static let hex = Array("0123456789abcdef".utf8)

    private mutating func encode(_ line: UnsafeBufferPointer<UInt8>, stream: String, time: [UInt8]) {
        let before = out.count
        out.append(contentsOf: JSONFileLogger.head)
        for c in line {
            switch c {
            case 0x22: out.append(0x5C); out.append(0x22)
            case 0x5C: out.append(0x5C); out.append(0x5C)
            case 0x0A: out.append(0x5C); out.append(0x6E)
            case 0x0D: out.append(0x5C); out.append(0x72)
            case 0x09: out.append(0x5C); out.append(0x74)
            case 0..<0x20:
                out.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, JSONFileLogger.hex[Int(c >> 4)], JSONFileLogger.hex[Int(c & 15)]])
            default: out.append(c)
            }
        }
        out.append(contentsOf: Array(#"","stream":""#.utf8))
        out.append(contentsOf: Array(stream.utf8))
        if attrs.isEmpty {
            out.append(contentsOf: Array(#"","time":""#.utf8))
        } else {
            out.append(contentsOf: Array(#"","attrs":"#.utf8))
            out.append(contentsOf: attrs)
            out.append(contentsOf: Array(#","time":""#.utf8))
        }
        out.append(contentsOf: time)
        out.append(contentsOf: Array("\"}\n".utf8))
        let entry = Int64(out.count - before)
        if maxSize > 0 && size > 0 && size + entry > maxSize {
            // Rotate before this entry: write what came before it to the old file.
            let tail = Array(out[before...])
            out.removeLast(out.count - before)
            flushBuffer()
            rotate()
            out = tail
        }
        size += entry
    }

    private mutating func flushBuffer() {
        if !out.isEmpty { try? FS.writeAll(fd: fd, out); out.removeAll(keepingCapacity: true) }
    }

    /// Docker's rotation: the oldest kept file goes, each other moves up one, the current one
    /// becomes `.1` (gzipped to `.1.gz` by a helper with `compress`), and a new one is begun.
    /// Only files that exist are moved: a large max-file costs nothing until the files are there.
    private mutating func rotate() {
        close(fd)
        if maxFiles > 1 {
            waitForCompressor()
            let ext = compress ? ".gz" : ""
            var top = 1
            while top < maxFiles - 1 && FS.exists("\(path).\(top)\(ext)") { top += 1 }
            for i in stride(from: top, to: 1, by: -1) { rename("\(path).\(i - 1)\(ext)", "\(path).\(i)\(ext)") }
            rename(path, "\(path).1")
            if compress { startCompressor("\(path).1") }
        } else {
            unlink(path)  // as Docker: a reader still on the old file keeps it whole
        }
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o640)
        size = 0
    }

    private mutating func startCompressor(_ file: String) {
        var pid: pid_t = 0
        let argv = ["/proc/self/exe", JSONFileLogger.gzipFlag, file]
        var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for p in cargs { free(p) } }
        var env: [UnsafeMutablePointer<CChar>?] = [nil]
        if berth_spawn(&pid, argv[0], &cargs, &env, -1, -1, -1, 0) == 0 {
            compressor = pid
        } else {
            _ = JSONFileLogger.gzipRotated(file)  // no helper: here, holding up the output meanwhile
        }
    }

    private mutating func waitForCompressor() {
        guard compressor > 0 else { return }
        var status: Int32 = 0
        while waitpid(compressor, &status, 0) < 0 && errno == EINTR {}
        compressor = 0
    }

    /// The shim's reaper collected `pid`.
    mutating func reaped(_ pid: pid_t) { if pid == compressor { compressor = 0 } }

    /// `berth-shim --gzip-log FILE`: the helper's command line.
    static let gzipFlag = "--gzip-log"

    /// FILE gzipped to FILE.gz (written aside, renamed into place, then FILE removed: a reader
    /// finds one whole copy or the other at every moment). False, FILE kept, on any failure.
    static func gzipRotated(_ file: String) -> Bool {
        let src = open(file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard src >= 0 else { return false }
        defer { close(src) }
        let temporary = file + ".gz.tmp"
        let dst = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o640)
        guard dst >= 0 else { return false }
        do {
            try GzipFile.compress(from: src, to: dst)
            close(dst)
        } catch {
            close(dst)
            unlink(temporary)
            return false
        }
        guard rename(temporary, file + ".gz") == 0 else { unlink(temporary); return false }
        unlink(file)
        return true
    }
}

/// RFC 3339 with nanoseconds; the date part is formatted once per second.
struct LogClock {
    private var second: Int64 = -1
    private var prefix: [UInt8] = []

    mutating func now() -> [UInt8] {
        let t = Timestamp.now()
        let s = t.seconds
        if s != second {
            second = s
            let full = Timestamp(nanos: s * 1_000_000_000).rfc3339Nano  // ...:05.000000000Z
            prefix = Array(full.utf8.prefix(20))  // up to and including "."
        }
        var frac = t.nanos - s * 1_000_000_000
        var digits = [UInt8](repeating: 0x30, count: 9)
        for i in stride(from: 8, through: 0, by: -1) { digits[i] = UInt8(0x30 + frac % 10); frac /= 10 }
        return prefix + digits + [0x5A]
    }
}
