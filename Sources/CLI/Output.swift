import Glibc
import Sys

/// Output helpers: unbuffered writes, Docker's tables and human units.
enum Out {
    static func print(_ s: String) { raw(1, Array((s + "\n").utf8)) }
    static func err(_ s: String) { raw(2, Array((s + "\n").utf8)) }
    /// SIGPIPE is ignored (a socket closed under us is an error to report), so a closed stdout
    /// or stderr (`berth logs -f | head -1`) ends the CLI here, as the signal would have.
    static func raw(_ fd: Int32, _ b: [UInt8]) {
        do { try FS.writeAll(fd: fd, b) } catch { if error.errno == EPIPE && (fd == 1 || fd == 2) { exit(141) } }
    }

    /// Like Go's tabwriter (minwidth 10, padding 3) as the docker CLI formats its tables.
    static func table(_ rows: [[String]]) {
        guard let first = rows.first else { return }
        var widths = [Int](repeating: 0, count: first.count)
        for r in rows { for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) } }
        var out = ""
        for r in rows {
            var line = ""
            for (i, c) in r.enumerated() {
                if i == r.count - 1 { line += c; break }
                line += c + String(repeating: " ", count: max(10, widths[i] + 3) - c.count)
            }
            out += line.trimmingTrailingSpaces() + "\n"
        }
        raw(1, Array(out.utf8))
    }

    /// go-units HumanSizeWithPrecision(size, 3): decimal units.
    static func humanSize(_ bytes: Int64) -> String {
        let units = ["B", "kB", "MB", "GB", "TB", "PB"]
        var v = Double(bytes), i = 0
        while v >= 1000 && i < units.count - 1 { v /= 1000; i += 1 }
        return formatG3(v) + units[i]
    }

    /// `%.3g`
    static func formatG3(_ v: Double) -> String {
        if v == 0 { return "0" }
        let digits = v >= 100 ? 0 : v >= 10 ? 1 : 2
        var s = fixed(v, digits)
        if s.contains(".") { while s.hasSuffix("0") { s.removeLast() }; if s.hasSuffix(".") { s.removeLast() } }
        return s
    }

    static func fixed(_ v: Double, _ digits: Int) -> String {
        var m = 1.0
        for _ in 0..<digits { m *= 10 }
        let r = (v * m).rounded()
        let whole = Int64(r / m), frac = Int64(r) - whole * Int64(m)
        if digits == 0 { return String(whole) }
        let f = String(frac)
        return "\(whole)." + String(repeating: "0", count: digits - f.count) + f
    }

    static func ago(_ unixSeconds: Int64) -> String {
        humanDuration(seconds: Timestamp.now().seconds - unixSeconds) + " ago"
    }
}

extension String {
    func trimmingTrailingSpaces() -> String { var s = Substring(self); while s.last == " " { s.removeLast() }; return String(s) }
}
