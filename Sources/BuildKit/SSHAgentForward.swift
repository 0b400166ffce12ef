import BuildKitAPI
import CSys
import Foundation
import GRPCCore
import Sys

/// `RUN --mount=type=ssh`: a unix socket for one step, in a private directory, each
/// connection to which is one `ForwardAgent` stream to the client's ssh agent (BuildKit's
/// sshforward). The agent's keys never leave the client; the step only talks to it.
final class SSHAgentSocket: @unchecked Sendable {
    let dir: String
    let path: String
    private let listenFd: Int32
    private let lock = NSLock()
    private var closed = false

    init(session: BuildSession, id: String, uid: UInt32, gid: UInt32, mode: UInt32, scratch: String) throws {
        dir = scratch
        try FS.mkdirAll(dir, mode: 0o711)
        path = dir + "/ssh_auth_sock"
        listenFd = try UnixSocket.listen(path)
        chown(path, uid, gid)
        chmod(path, mode_t(mode))
        let fd = listenFd
        let t = Thread { [self] in
            while true {
                let c = berth_accept(fd)
                if c < 0 {
                    if errno == EINTR { continue }
                    break
                }
                if self.isClosed {
                    Glibc.close(c)
                    break
                }
                // A container that stops reading cannot hold a forwarding task forever.
                var tv = timeval(tv_sec: 30, tv_usec: 0)
                setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
                Task { await session.forwardAgent(id: id, fd: c) }
            }
        }
        t.stackSize = 256 << 10
        t.start()
    }

    private var isClosed: Bool { lock.withLock { closed } }

    func close() {
        let first: Bool = lock.withLock {
            defer { closed = true }
            return !closed
        }
        guard first else { return }
        shutdown(listenFd, Int32(SHUT_RDWR))
        Glibc.close(listenFd)
        unlink(path)
        rmdir(dir)
    }
}

extension BuildSession {
    static let forwardAgentMethod = "/moby.sshforward.v1.SSH/ForwardAgent"
    static let checkAgentMethod = "/moby.sshforward.v1.SSH/CheckAgent"

    /// Whether the client forwards an ssh agent under `id`.
    func hasAgent(_ id: String) async -> Bool {
        guard supports(Self.forwardAgentMethod) else { return false }
        var req = Moby_Sshforward_V1_CheckAgentRequest()
        req.id = id
        return (try? await Moby_Sshforward_V1_SSH.Client(wrapping: client).checkAgent(req)) != nil
    }

    /// One connection to the step's agent socket, relayed to the client's agent and back until
    /// either side ends. The reader thread owns the descriptor and closes it; the other side
    /// only writes or shuts it down under the same lock, so nothing reaches a reused number.
    func forwardAgent(id: String, fd: Int32) async {
        var md = Metadata()
        md.addString(id, forKey: "buildkit.ssh.id")
        let conn = OwnedSocket(fd)
        // The container's bytes, read on a thread of their own, one chunk in flight at a time.
        let (incoming, cont) = AsyncStream<[UInt8]>.makeStream()
        let taken = DispatchSemaphore(value: 0)
        let reader = Thread {
            var buf = [UInt8](repeating: 0, count: 32 << 10)
            while true {
                let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                cont.yield(Array(buf[0..<n]))
                if taken.wait(timeout: .now() + 30) == .timedOut { break }
            }
            cont.finish()
            conn.close()
        }
        reader.stackSize = 256 << 10
        reader.start()
        let request = StreamingClientRequest<Moby_Sshforward_V1_BytesMessage>(metadata: md) { w in
            for await chunk in incoming {
                var m = Moby_Sshforward_V1_BytesMessage()
                m.data = Data(chunk)
                try await w.write(m)
                taken.signal()
            }
        }
        _ = try? await Moby_Sshforward_V1_SSH.Client(wrapping: client).forwardAgent(request: request) { response in
            for try await m in response.messages where !conn.write(Array(m.data)) { break }
            return ()
        }
        // The agent is done: the step's end of the connection sees EOF, the reader ends.
        conn.shutdown()
    }
}

/// A connection whose descriptor one thread closes while others may still write to it or shut
/// it down: both go through the lock and stop once it is closed.
final class OwnedSocket: @unchecked Sendable {
    private let fd: Int32
    private let lock = NSLock()
    private var closed = false
    init(_ fd: Int32) { self.fd = fd }

    func write(_ bytes: [UInt8]) -> Bool {
        lock.withLock { !closed && (try? FS.writeAll(fd: fd, bytes)) != nil }
    }

    func shutdown() {
        lock.withLock { if !closed { _ = Glibc.shutdown(fd, Int32(SHUT_RDWR)) } }
    }

    func close() {
        lock.withLock {
            if !closed {
                closed = true
                _ = Glibc.close(fd)
            }
        }
    }
}
