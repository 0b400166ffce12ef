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
