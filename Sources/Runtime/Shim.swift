import Foundation
import Sys

public struct RuntimeError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Paths of one container's shim and what the shim is told to do.
public struct ShimSpec: Sendable {
    public var id: String
    public var bundle: String
    public var socket: String
    public var logPath: String
    public var exitFile: String
    public var openStdin: Bool
    public var tty = false
    public var logMaxSize: Int64 = 10 << 20
    public var logMaxFiles = 3
    public init(id: String, bundle: String, socket: String, logPath: String, exitFile: String, openStdin: Bool) {
        self.id = id; self.bundle = bundle; self.socket = socket; self.logPath = logPath; self.exitFile = exitFile; self.openStdin = openStdin
    }
}

public struct ShimLauncher: Sendable {
    public let shimPath: String
    public let execRoot: String
    public init(shimPath: String, execRoot: String) {
        self.shimPath = shimPath; self.execRoot = execRoot
    }

    /// Starts a shim, which runs `runtime create`; returns the container's pid once created.
    public func launch(_ s: ShimSpec, runtime: OCIRuntime) throws -> Int32 {
        var argv = [shimPath, "--id", s.id, "--bundle", s.bundle, "--runtime", runtime.path]
        for a in runtime.args { argv += ["--runtime-arg", a] }
        if let sealed = runtime.sealedPath { argv += ["--runtime-create", sealed] }
        // berth-runtime is linked into the shim: its commands run in a fork of the shim (which
        // falls back to exec'ing the binary when it is not itself on a read-only mount).
        if runtime.name == OCIRuntime.berthName { argv.append("--runtime-inline") }
        argv += [
            "--runtime-root", runtime.root(execRoot: execRoot),
            "--socket", s.socket, "--log", s.logPath, "--exit-file", s.exitFile,
            "--log-max-size", String(s.logMaxSize), "--log-max-files", String(s.logMaxFiles),
        ]
        if s.openStdin { argv.append("--stdin") }
        if s.tty { argv.append("--tty") }
        let out = try Proc.run(argv)
        let text = out.stdoutText
        if out.status == 0, text.hasPrefix("0 "), let pid = Int32(String(text.dropFirst(2)).trimmingSpaces()) { return pid }
        let msg = text.hasPrefix("1 ") ? String(text.dropFirst(2)) : (text + out.stderrText)
        if msg.trimmingSpaces().isEmpty {
            throw RuntimeError(out.status == 0 ? "the shim exited before the container was created" : "shim failed with status \(out.status)")
        }
        throw RuntimeError(msg.trimmingSpaces())
    }

    /// Best-effort cleanup of runtime state left by a shim that died.
    public func forceDelete(id: String, runtime: OCIRuntime) {
        _ = try? Proc.run(runtime.argv(execRoot: execRoot) + ["delete", "--force", id])
    }
}

/// A live connection to a shim. Frames are read on a dedicated thread (blocking I/O is cheap
/// and keeps ordering trivial) and handed to `onFrame`; EOF calls `onClose`.
public final class ShimConnection: @unchecked Sendable {
    private let fd: Int32
    private let lock = NSLock()
    private var closed = false

    public init(socket: String) throws {
        fd = try UnixSocket.connect(socket)
    }

    public func run(onFrame: @escaping @Sendable (ShimFrame) -> Void, onClose: @escaping @Sendable () -> Void) {
        let fd = self.fd
        let t = Thread { [self] in
            var dec = ShimFrameDecoder()
            var buf = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, 65536) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                dec.feed(buf[0..<n])
                while let f = dec.next() { onFrame(f) }
            }
            // Closed under the lock, marked closed first: once the number is free the kernel hands
            // it to the next socket accepted (an API client), and a late send must not reach it.
            self.lock.lock()
            self.closed = true
            Glibc.close(fd)
            self.lock.unlock()
            onClose()
        }
        t.stackSize = 256 << 10
        t.start()
    }

    public func send(_ frame: ShimFrame) {
        lock.lock(); defer { lock.unlock() }
        if closed { return }
        try? FS.writeAll(fd: fd, frame.encoded())
    }

    public func close() {
        lock.lock(); defer { lock.unlock() }
        // Only shut down: the reader thread owns the descriptor and closes it.
        if !closed { closed = true; shutdown(fd, Int32(SHUT_RDWR)) }
    }
}
