import CSys
import Glibc
import Sys
import Testing

@testable import BerthNet

/// One direction of the loopback relay on socket pairs: `client` writes into `a`, the relay moves
/// `a`'s bytes on to `b`, `server` reads them.
@Suite struct LoopbackRelayTests {
    struct Wire {
        var client: Int32, a: Int32, b: Int32, server: Int32, pipe: [Int32]
        var direction: SplicedDirection
        init(chunk: Int = 1 << 20) throws {
            // As berthd: a write to a peer that went away is EPIPE, not a signal (splice has no MSG_NOSIGNAL).
            signal(SIGPIPE, SIG_IGN)
            var p: [Int32] = [0, 0], q: [Int32] = [0, 0], r: [Int32] = [0, 0]
            try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &p) == 0)
            try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &q) == 0)
            try #require(berth_pipe(&r) == 0)
            (client, a, b, server, pipe) = (p[0], p[1], q[0], q[1], r)
            #expect(berth_set_nonblocking(a) == 0 && berth_set_nonblocking(b) == 0)
            direction = SplicedDirection(from: a, to: b, pipeRead: r[0], pipeWrite: r[1], chunk: chunk)
        }
        func close() { for fd in [client, a, b, server] + pipe { Glibc.close(fd) } }
    }

    static func readAvailable(_ fd: Int32) -> [UInt8] {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, 65536, Int32(MSG_DONTWAIT)) }
            if n <= 0 { return out }
            out += buf[0..<n]
        }
    }

    @Test func bytesArriveInOrderAndTheEndIsPassedOn() throws {
        var w = try Wire()
        defer { w.close() }
        let payload = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        try FS.writeAll(fd: w.client, payload)
        #expect(w.direction.waitFor?.fd == w.a)
        var got: [UInt8] = []
        while got.count < payload.count {
            let moved = w.direction.step()
            #expect(moved)
            got += Self.readAvailable(w.server)
        }
        #expect(got == payload)
        shutdown(w.client, Int32(SHUT_WR))
        let moved = w.direction.step()
        #expect(moved)
        #expect(w.direction.done)
        #expect(w.direction.waitFor == nil)
        // The server sees the end of the stream: the half-close was passed on.
        var byte: UInt8 = 0
        #expect(recv(w.server, &byte, 1, 0) == 0)
    }

    @Test func aStalledReceiverStopsTheReadingInsteadOfBuffering() throws {
        var w = try Wire(chunk: 65536)
        defer { w.close() }
        var small: Int32 = 4096
        setsockopt(w.b, SOL_SOCKET, SO_SNDBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        // The client keeps writing while the server reads nothing.
        let block = [UInt8](repeating: 0x5a, count: 65536)
        _ = berth_set_nonblocking(w.client)
        for _ in 0..<64 { _ = block.withUnsafeBytes { send(w.client, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) } }
        for _ in 0..<64 {
            let moved = w.direction.step()
            #expect(moved)
        }
        // Bytes wait in the pipe (at most its capacity); the relay now waits for room on the
        // receiving side, not for more input.
        #expect(w.direction.buffered > 0 && w.direction.buffered <= 65536)
        #expect(w.direction.waitFor?.fd == w.b && w.direction.waitFor?.events == Int16(POLLOUT))
    }

    @Test func aResetReceiverEndsTheConnection() throws {
        var w = try Wire()
        defer { w.close() }
        Glibc.close(w.server)
        w.server = -1
        try FS.writeAll(fd: w.client, [1, 2, 3])
        let moved = w.direction.step()
        #expect(!moved)
    }
}
