/// /proc/<pid>/mountinfo grows by a few lines with every running container (its overlay, its
/// network namespace), and the runtime and the shim read it on every start for the handful of
/// cgroup lines. This keeps the lines of the file system types asked for, found by scanning the
/// bytes once, so the parsers split those lines only.
public enum MountInfo {
    public static func lines(ofTypes types: Set<String>, in text: String) -> String {
        let wanted = types.map { Array(" - \($0) ".utf8) }
        var out: [UInt8] = []
        let bytes = Array(text.utf8)
        var start = 0
        while start < bytes.count {
            var end = start
            while end < bytes.count && bytes[end] != UInt8(ascii: "\n") { end += 1 }
            // The type follows the first " - " (fields before it never contain one: mountinfo
            // escapes spaces in paths as \040).
            if let dash = firstSeparator(bytes, start, end) {
                for w in wanted where end - dash >= w.count && bytes[dash..<(dash + w.count)].elementsEqual(w) {
                    out += bytes[start..<end]
                    out.append(UInt8(ascii: "\n"))
                    break
                }
            }
            start = end + 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The offset of the line's " - " separator.
    static func firstSeparator(_ b: [UInt8], _ start: Int, _ end: Int) -> Int? {
        var i = start
        while i + 2 < end {
            if b[i] == UInt8(ascii: " ") && b[i + 1] == UInt8(ascii: "-") && b[i + 2] == UInt8(ascii: " ") { return i }
            i += 1
        }
        return nil
    }
}
