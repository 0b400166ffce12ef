/// Go's text/tabwriter with the settings the docker CLI uses (minwidth 10, padding 3, spaces):
/// elastic tabstops where tab-terminated cells of consecutive lines form a column and the text
/// after a line's last tab stands outside the columns.
struct TabWriter {
    var minWidth = 10
    var padding = 3

    func format(_ text: String) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        }
        // A trailing newline ends the last line rather than starting an empty one.
        if text.hasSuffix("\n") { lines.removeLast() }
        var out = ""
        var widths: [Int] = []
        write(&out, lines, 0, lines.count, &widths)
        return out + (text.hasSuffix("\n") ? "" : "")
    }

    private func write(_ out: inout String, _ lines: [[String]], _ line0In: Int, _ line1: Int, _ widths: inout [Int]) {
        var line0 = line0In
        let column = widths.count
        var this = line0
        while this < line1 {
            if column >= lines[this].count - 1 { this += 1; continue }
            writeLines(&out, lines, line0, this, widths)
            line0 = this
            var width = minWidth
            while this < line1 && column < lines[this].count - 1 {
                width = max(width, lines[this][column].count + padding)
                this += 1
            }
            widths.append(width)
            write(&out, lines, line0, this, &widths)
            widths.removeLast()
            line0 = this
        }
        writeLines(&out, lines, line0, line1, widths)
    }

    private func writeLines(_ out: inout String, _ lines: [[String]], _ from: Int, _ to: Int, _ widths: [Int]) {
        guard from < to else { return }
        for i in from..<to {
            for (j, cell) in lines[i].enumerated() {
                out += cell
                if j < widths.count && j < lines[i].count - 1 { out += String(repeating: " ", count: max(0, widths[j] - cell.count)) }
            }
            out += "\n"
        }
    }
}
