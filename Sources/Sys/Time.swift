import Glibc

/// Wall-clock time as nanoseconds since the epoch, and Docker's textual forms of it.
public struct Timestamp: Sendable, Equatable, Comparable, Hashable {
    public var nanos: Int64
    public init(nanos: Int64) { self.nanos = nanos }
    public static let zero = Timestamp(nanos: 0)

    public static func now() -> Timestamp {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Timestamp(nanos: Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec))
    }
    /// Nanoseconds of CLOCK_MONOTONIC: for deadlines, which a wall-clock step must not move.
    public static func monotonicNanos() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
    public var seconds: Int64 { nanos >= 0 ? nanos / 1_000_000_000 : -((-nanos + 999_999_999) / 1_000_000_000) }
    public var isZero: Bool { nanos == 0 }
    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.nanos < b.nanos }

    /// RFC 3339 with nine fractional digits, as Docker's log timestamps (`2024-01-02T03:04:05.000000001Z`).
    public var rfc3339Nano: String { format(fraction: true, trimZeros: false) }
    /// RFC 3339 as Go's time.RFC3339Nano (trailing zeros trimmed); zero time is `0001-01-01T00:00:00Z`.
    public var goRFC3339Nano: String { isZero ? "0001-01-01T00:00:00Z" : format(fraction: true, trimZeros: true) }

    /// Go's time.Time.String() in UTC (`2006-01-02 15:04:05 +0000 UTC`), as the CLI shows CreatedAt.
    public var goString: String {
        let r = format(fraction: false, trimZeros: true)
        return r.dropLast().replacing("T", with: " ") + " +0000 UTC"
    }
    /// time.RFC3339 (seconds, `Z`).
    public var rfc3339: String { format(fraction: false, trimZeros: true) }

    private func format(fraction: Bool, trimZeros: Bool) -> String {
        var t = time_t(seconds)
        var tmv = tm()
        gmtime_r(&t, &tmv)
        func pad(_ v: Int32, _ w: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, w - s.count)) + s }
        var s =
            "\(pad(tmv.tm_year + 1900, 4))-\(pad(tmv.tm_mon + 1, 2))-\(pad(tmv.tm_mday, 2))T\(pad(tmv.tm_hour, 2)):\(pad(tmv.tm_min, 2)):\(pad(tmv.tm_sec, 2))"
        if fraction {
            let frac = nanos - seconds * 1_000_000_000
            var f = pad(Int32(frac), 9)
            if trimZeros { while f.hasSuffix("0") { f.removeLast() } }
            if !f.isEmpty { s += "." + f }
        }
        return s + "Z"
    }

    /// Parses RFC 3339 (`2024-01-02T03:04:05.123Z`, `...+02:00`) or Docker's `secs[.nanos]`.
    public static func parse(_ text: String) -> Timestamp? {
        if let secs = parseUnix(text) { return secs }
        let b = Array(text.utf8)
        guard b.count >= 20, b[4] == UInt8(ascii: "-"), b[10] == UInt8(ascii: "T") else { return nil }
        func num(_ r: Range<Int>) -> Int? { Int(String(decoding: b[r], as: UTF8.self)) }
        guard let y = num(0..<4), let mo = num(5..<7), let d = num(8..<10), let h = num(11..<13), let mi = num(14..<16), let s = num(17..<19) else {
            return nil
        }
        var i = 19
        var frac: Int64 = 0
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            var digits = 0
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 {
                if digits < 9 { frac = frac * 10 + Int64(b[i] - 0x30); digits += 1 }
                i += 1
            }
            while digits < 9 { frac *= 10; digits += 1 }
        }
        var offset = 0
        if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-"), i + 6 <= b.count {
            let sign = b[i] == UInt8(ascii: "-") ? -1 : 1
            guard let oh = num(i + 1..<i + 3), let om = num(i + 4..<i + 6) else { return nil }
            offset = sign * (oh * 3600 + om * 60)
        }
        let days = daysFromCivil(y, mo, d)
        let secs = Int64(days) * 86400 + Int64(h * 3600 + mi * 60 + s) - Int64(offset)
        return Timestamp(nanos: secs * 1_000_000_000 + frac)
    }

    /// `1700000000` or `1700000000.123456789`, as the API's since/until.
    /// A filter's or option's time as dockerd reads it (`until=24h`, `since=2024-01-02`): a Go
    /// duration counts back from `now`; otherwise RFC 3339, a date, or Unix seconds.
    public static func parseRelative(_ text: String, now: Timestamp = .now()) -> Timestamp? {
        if let d = parseGoDuration(text) { return Timestamp(nanos: now.nanos - d) }
        if let t = parse(text) { return t }
        // A bare date (or date and time without zone): UTC midnight / that time, as Go parses it.
        let b = Array(text.utf8)
        if b.count == 10, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-") { return parse(text + "T00:00:00Z") }
        if b.count == 19, b[10] == UInt8(ascii: "T") { return parse(text + "Z") }
        return nil
    }

    /// Go's time.ParseDuration, in nanoseconds ("1h30m", "1.5h", "300ms"; a unit is required).
    public static func parseGoDuration(_ text: String) -> Int64? {
        var s = Substring(text)
        var sign: Double = 1
        if s.hasPrefix("-") { sign = -1; s = s.dropFirst() } else if s.hasPrefix("+") { s = s.dropFirst() }
        if s == "0" { return 0 }
        guard !s.isEmpty else { return nil }
        let units: [(String, Double)] = [("ns", 1), ("us", 1e3), ("µs", 1e3), ("ms", 1e6), ("s", 1e9), ("m", 6e10), ("h", 3.6e12)]
        var total: Double = 0
        while !s.isEmpty {
            let number = s.prefix { $0.isNumber || $0 == "." }
            guard !number.isEmpty, let v = Double(number) else { return nil }
            s = s.dropFirst(number.count)
            // Longest unit first ("ms" before "m").
            guard let unit = units.sorted(by: { $0.0.count > $1.0.count }).first(where: { s.hasPrefix($0.0) }) else { return nil }
            s = s.dropFirst(unit.0.count)
            total += v * unit.1
        }
        return Int64(sign * total)
    }

    public static func parseUnix(_ text: String) -> Timestamp? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, let secs = Int64(parts[0]) else { return nil }
        var nanos: Int64 = 0
        if parts.count == 2 {
            var f = String(parts[1].prefix(9))
            guard !f.isEmpty, Int64(f) != nil else { return nil }
            while f.count < 9 { f += "0" }
            nanos = Int64(f)!
        }
        return Timestamp(nanos: secs * 1_000_000_000 + nanos)
    }

    static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }
}

/// Docker's human durations ("Less than a second", "About a minute", "3 hours", ...) as used in
/// `ps` Status and `images` CREATED.
public func humanDuration(seconds: Int64) -> String {
    let s = seconds
    if s < 1 { return "Less than a second" }
    if s == 1 { return "1 second" }
    if s < 60 { return "\(s) seconds" }
    let m = s / 60
    if m == 1 { return "About a minute" }
    if m < 60 { return "\(m) minutes" }
    let h = Int64((Double(s) / 3600).rounded())
    if h == 1 { return "About an hour" }
    if h < 48 { return "\(h) hours" }
    if h < 24 * 7 * 2 { return "\(h / 24) days" }
    if h < 24 * 30 * 2 { return "\(h / 24 / 7) weeks" }
    if h < 24 * 365 * 2 { return "\(h / 24 / 30) months" }
    return "\(h / 24 / 365) years"
}
