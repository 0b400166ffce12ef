import Glibc
import JSON

/// Renders the daemon's JSON progress stream as the docker CLI does: on a terminal one line per
/// layer id, redrawn in place; otherwise plain status lines without bars.
struct ProgressDisplay {
    let tty: Bool
    let fd: Int32
    var ids: [String] = []
    var lines: [String: String] = [:]
    var failure: String? = nil
    var aux: [JSON] = []

    init(fd: Int32 = 1) { self.fd = fd; tty = isatty(fd) != 0 }

    mutating func feed(_ m: JSON) {
        if let e = m["errorDetail"]["message"].string ?? m["error"].string { failure = e; return }
        if !m["aux"].isNull { aux.append(m["aux"]); return }
        if let s = m["stream"].string { Out.raw(fd, Array(s.utf8)); return }
        guard let status = m["status"].string else { return }
        guard let id = m["id"].string else {
            Out.raw(fd, Array((status + "\n").utf8))
            return
        }
        let progress = m["progress"].string ?? ""
        if !tty {
            if !progress.isEmpty { return }
            Out.raw(fd, Array("\(id): \(status)\n".utf8))
            return
        }
        let text = "\(id): \(status) \(progress)"
        if let idx = ids.firstIndex(of: id) {
            let up = ids.count - idx
            Out.raw(fd, Array("\u{1B}[\(up)A\r\u{1B}[2K\(text)\r\u{1B}[\(up)B".utf8))
        } else {
            ids.append(id)
            Out.raw(fd, Array("\(text)\n".utf8))
        }
        lines[id] = text
    }
}
