import CSys
import Glibc

/// Gives back what an idle daemon keeps resident only because it once ran: the heap's free pages
/// and the page-table entries of code it is not running.
///
/// Nearly all of berthd's resident set is clean code pages of its binary and libraries (36 of
/// 40 MiB measured at idle). The kernel maps 64 KiB around every page a fault touches
/// (fault-around), so start-up and every burst of requests leave megabytes of neighbouring code
/// mapped that nothing runs. `MADV_DONTNEED` on a private file mapping with no privately written
/// page only drops those entries: the pages stay in the page cache, the next use maps them again
/// with a minor fault, and unmapped pages are the first the kernel reclaims under pressure.
/// Writable or written mappings (relocated data, `.data`, `.bss`, anonymous memory) are never
/// touched: dropping them would lose their contents.
public enum ResidentTrim {
    public struct Range: Equatable, Sendable {
        public var start: UInt
        public var length: Int
        public init(start: UInt, length: Int) {
            self.start = start
            self.length = length
        }
    }

    /// The executable, never-written file mappings in `smaps` (`/proc/self/smaps` text).
    public static func codeRanges(smaps: String) -> [Range] {
        var out: [Range] = []
        var current: Range? = nil
        var clean = true
        func finish() {
            if let r = current, clean { out.append(r) }
            current = nil
        }
        for line in smaps.split(separator: "\n", omittingEmptySubsequences: true) {
            // Every mapping line ends the one before, trimmable or not.
            if isMappingLine(line) {
                finish()
                current = mappingHeader(line)
                clean = true
                continue
            }
            guard current != nil else { continue }
            if line.hasPrefix("Private_Dirty:") || line.hasPrefix("Anonymous:") || line.hasPrefix("Swap:") {
                if kilobytes(line) != 0 { clean = false }
            } else if line.hasPrefix("VmFlags:") {
                // Locked pages refuse MADV_DONTNEED; shared or I/O mappings are not ours to drop.
                let flags = line.dropFirst("VmFlags:".count).split(separator: " ")
                if flags.contains("lo") || flags.contains("sh") || flags.contains("io") || flags.contains("pf") { clean = false }
            }
        }
        finish()
        return out
    }

    /// `start-end r-xp offset dev inode /path`: the range of a private, executable, read-only
    /// mapping of a file; nil for any other mapping or for a field line.
    static func mappingHeader(_ line: Substring) -> Range? {
        // The path column is padded with spaces (and a path may hold spaces): only its start matters.
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count >= 6, fields[1] == "r-xp", fields[5].hasPrefix("/") else { return nil }
        let bounds = fields[0].split(separator: "-")
        guard bounds.count == 2, let start = UInt(bounds[0], radix: 16), let end = UInt(bounds[1], radix: 16), end > start,
            end - start <= UInt(Int.max)
        else { return nil }
        return Range(start: start, length: Int(end - start))
    }

    /// A mapping line starts with `start-end`; a field line with `Name:`.
    static func isMappingLine(_ line: Substring) -> Bool {
        guard let first = line.split(separator: " ", maxSplits: 1).first, !first.hasSuffix(":") else { return false }
        return first.contains("-") && first.allSatisfy { $0.isHexDigit || $0 == "-" }
    }

    static func kilobytes(_ line: Substring) -> Int {
        let parts = line.split(separator: " ")
        return parts.count >= 2 ? Int(parts[1]) ?? 1 : 1
    }

    /// Drops this process's idle code mappings and returns the heap's free pages. Returns the
    /// bytes of code advised.
    @discardableResult
    public static func trimSelf() -> Int {
        _ = berth_malloc_trim()
        guard let smaps = try? FS.readString("/proc/self/smaps") else { return 0 }
        var advised = 0
        for r in codeRanges(smaps: smaps) {
            if madvise(UnsafeMutableRawPointer(bitPattern: r.start), r.length, MADV_DONTNEED) == 0 { advised += r.length }
        }
        return advised
    }
}

/// When a daemon counts as idle: no new request for `quietTicks` consecutive ticks. It trims once
/// per quiet spell; the next request starts a new one.
public struct IdleTrimPolicy: Sendable {
    public let quietTicks: Int
    private var lastSeen: UInt64 = 0
    private var quiet = 0
    private var trimmed = false

    public init(quietTicks: Int) { self.quietTicks = max(1, quietTicks) }

    /// Called once a tick with the number of requests seen so far; true when it is time to trim.
    public mutating func tick(requests: UInt64) -> Bool {
        if requests != lastSeen {
            lastSeen = requests
            quiet = 0
            trimmed = false
            return false
        }
        if trimmed { return false }
        quiet += 1
        if quiet < quietTicks { return false }
        trimmed = true
        return true
    }
}
