import Client
import Glibc
import Sys

/// Relays a hijacked attach connection: stdin → socket, socket → stdout/stderr (demultiplexing
/// Docker's 8-byte frames unless the container has a TTY), until the daemon closes.
enum AttachLoop {
    /// A hijacked stream on the user's terminal: with a TTY, the remote side is sized like this
    /// terminal (`resizePath`) and, when typing goes through, the terminal is raw meanwhile.
    static func relay(_ client: DaemonClient, _ conn: (fd: Int32, pending: [UInt8]), tty: Bool, interactive: Bool, resizePath: String) {
        let terminal = Terminal()
        if tty {
            if let size = Terminal.size() {
                _ = try? client.request("POST", resizePath + DaemonClient.query([("h", String(size.rows)), ("w", String(size.cols))]))
            }
            if interactive { terminal.makeRaw() }
        }
        run(fd: conn.fd, pending: conn.pending, tty: tty, forwardStdin: interactive)
        terminal.restore()
    }

    static func run(fd: Int32, pending: [UInt8], tty: Bool, forwardStdin: Bool) {
        var demux = Demux(tty: tty)
        demux.feed(pending)
        var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
        if forwardStdin { fds.append(pollfd(fd: 0, events: Int16(POLLIN), revents: 0)) }
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            if poll(&fds, nfds_t(fds.count), -1) < 0 { if errno == EINTR { continue }; break }
            if fds.count > 1, fds[1].revents != 0 {
                let n = buf.withUnsafeMutableBytes { read(0, $0.baseAddress, 65536) }
                if n > 0 { try? FS.writeAll(fd: fd, Array(buf[0..<n])) } else { shutdown(fd, Int32(SHUT_WR)); fds.removeLast() }
            }
            if fds[0].revents != 0 {
                let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, 65536) }
                if n <= 0 { break }
                demux.feed(buf[0..<n])
            }
        }
        close(fd)
    }
}

/// Splits Docker's multiplexed stream into stdout and stderr writes.
struct Demux {
    let tty: Bool
    var pending: [UInt8] = []
    init(tty: Bool) { self.tty = tty }

    mutating func feed(_ bytes: some Collection<UInt8>) {
        if tty { Out.raw(1, Array(bytes)); return }
        pending += bytes
        var off = 0
        while pending.count - off >= 8 {
            let n = Int(pending[off + 4]) << 24 | Int(pending[off + 5]) << 16 | Int(pending[off + 6]) << 8 | Int(pending[off + 7])
            guard pending.count - off >= 8 + n else { break }
            let stream = pending[off]
            Out.raw(stream == 2 ? 2 : 1, Array(pending[off + 8..<off + 8 + n]))
            off += 8 + n
        }
        pending.removeFirst(off)
    }
}
