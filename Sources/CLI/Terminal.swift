import CSys
import Glibc

/// The user's terminal: raw mode while attached to a container's TTY, and its size.
final class Terminal {
    private var saved = [UInt8](repeating: 0, count: 128)
    private var isRaw = false

    static func size() -> (rows: Int, cols: Int)? {
        var r: UInt16 = 0, c: UInt16 = 0
        for fd in [Int32(1), 0, 2] where berth_get_winsize(fd, &r, &c) == 0 && r > 0 {
            return (Int(r), Int(c))
        }
        return nil
    }

    /// Raw mode on stdin when it is a terminal (keys go to the container as typed).
    func makeRaw() {
        guard isatty(0) != 0, !isRaw else { return }
        isRaw = berth_tty_raw(0, &saved, Int32(saved.count)) == 0
    }

    func restore() {
        if isRaw { _ = berth_tty_restore(0, &saved); isRaw = false }
    }

    deinit { restore() }
}

extension Terminal {
    /// One line typed on stdin (without its newline), echoed or not (a password). nil at EOF.
    static func prompt(_ text: String, echo: Bool = true) -> String? {
        Out.raw(1, Array(text.utf8))
        var saved = termios()
        let quiet = !echo && tcgetattr(0, &saved) == 0
        if quiet {
            var t = saved
            t.c_lflag &= ~tcflag_t(ECHO)
            tcsetattr(0, TCSANOW, &t)
        }
        defer {
            if quiet { tcsetattr(0, TCSANOW, &saved); Out.raw(1, [10]) }
        }
        var line: [UInt8] = []
        var b: UInt8 = 0
        while true {
            let n = read(0, &b, 1)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return line.isEmpty ? nil : String(decoding: line, as: UTF8.self) }
            if b == 10 { break }
            if b != 13 { line.append(b) }
        }
        return String(decoding: line, as: UTF8.self)
    }
}
