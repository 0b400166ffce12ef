import Glibc
import JSON
import Sys

/// Docker's json-file log format: one `{"log":…,"stream":…,"time":…}` object per line of output,
/// rotated to `<path>.1 … .N-1` once the file passes maxSize.
struct JSONFileLogger {
    let path: String
    let maxSize: Int64
    let maxFiles: Int
    private var fd: Int32 = -1
    private var size: Int64 = 0
    private var partial: [String: [UInt8]] = [:]

    init(path: String, maxSize: Int64, maxFiles: Int) {
        self.path = path
        self.maxSize = maxSize
        self.maxFiles = max(1, maxFiles)
        guard !path.isEmpty else { return }
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        size = FS.size(path) ?? 0
    }

    mutating func append(_ chunk: [UInt8], stream: String) {
        guard fd >= 0 else { return }
        var pending = partial[stream] ?? []
        var start = 0
        for i in 0..<chunk.count where chunk[i] == 0x0A {
            pending.append(contentsOf: chunk[start...i])
            write(pending, stream: stream)
            pending.removeAll(keepingCapacity: true)
            start = i + 1
        }
        pending.append(contentsOf: chunk[start...])
        // Docker flushes a partial line at 16 KiB.
        if pending.count >= 16384 { write(pending, stream: stream); pending.removeAll() }
        partial[stream] = pending
    }

    mutating func flush() {
        for (stream, pending) in partial where !pending.isEmpty { write(pending, stream: stream) }
        partial.removeAll()
    }

    private mutating func write(_ line: [UInt8], stream: String) {
        var entry = "{\"log\":"
        // Invalid UTF-8 becomes U+FFFD, as Go does.
        JSON.escape(String(decoding: line, as: UTF8.self), into: &entry)
        entry += ",\"stream\":\"\(stream)\",\"time\":\"\(Timestamp.now().rfc3339Nano)\"}\n"
        let bytes = Array(entry.utf8)
        if maxSize > 0 && size > 0 && size + Int64(bytes.count) > maxSize { rotate() }
        try? FS.writeAll(fd: fd, bytes)
        size += Int64(bytes.count)
    }

    private mutating func rotate() {
        close(fd)
        if maxFiles > 1 {
            for i in stride(from: maxFiles - 1, to: 0, by: -1) {
                let from = i == 1 ? path : "\(path).\(i - 1)"
                rename(from, "\(path).\(i)")
            }
        }
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o640)
        size = 0
    }
}
