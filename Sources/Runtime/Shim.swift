import CSys
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
    /// A file holding json-file's `attrs` object for every entry; empty: none.
    public var logAttrsFile = ""
    /// Rotated logs are gzipped (json-file's `compress`).
    public var logCompress = false
    public init(id: String, bundle: String, socket: String, logPath: String, exitFile: String, openStdin: Bool) {
        self.id = id; self.bundle = bundle; self.socket = socket; self.logPath = logPath; self.exitFile = exitFile; self.openStdin = openStdin
    }
}

public struct ShimLauncher: Sendable {
    public let shimPath: String
    public let execRoot: String
    let spare: SpareShim
    public init(shimPath: String, execRoot: String) {
        self.shimPath = shimPath; self.execRoot = execRoot
        spare = SpareShim(shimPath: shimPath)
    }

    /// Starts a shim, which runs `runtime create`; returns the container's pid once created.
    /// The shim started ahead of need takes it when there is one (and another is started for the
    /// next, `refillDelay` later); else a shim is started now.
    public func launch(_ s: ShimSpec, runtime: OCIRuntime) throws -> Int32 {
        let arguments = Self.arguments(s, runtime: runtime, execRoot: execRoot)
        defer { spare.refill(after: Self.refillDelay) }
        let out = try spare.take()?.run(arguments) ?? Proc.run([shimPath] + arguments)
        return try Self.answer(out)
    }

    /// How long after a spare is taken the next one is started. The start that took it still
    /// has work to do (the container's start, the record's sync, the answer), and a client's next
    /// request follows; a spare's exec and warm-up at once competes with both for the CPU. On two
    /// cores (interleaved A/B), `docker run --rm` took 4 % less time with the refill 30 ms later
    /// than at once; 50 `docker run -d` in a row did not change beyond noise, and took 7 % more
    /// at 100 ms, when starts begin to find no spare.
    static let refillDelay: DispatchTimeInterval = .milliseconds(30)

    static func arguments(_ s: ShimSpec, runtime: OCIRuntime, execRoot: String) -> [String] {
        var argv = ["--id", s.id, "--bundle", s.bundle, "--runtime", runtime.path]
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
        if !s.logAttrsFile.isEmpty { argv += ["--log-attrs", s.logAttrsFile] }
        if s.logCompress { argv.append("--log-compress") }
        if s.openStdin { argv.append("--stdin") }
        if s.tty { argv.append("--tty") }
        return argv
    }

    /// The shim's answer: "0 <pid>" once the container is created, else "1 <error>".
    static func answer(_ out: Proc.Output) throws -> Int32 {
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

/// One berth-shim started ahead of need (`--spare`): exec'd, its Swift runtime up and already
/// parted from berthd, waiting on its stdin for a container's arguments. A start that finds it
/// saves the shim's exec and start, and finds `create`'s code warmed up (together about 1.5 ms);
/// starts that find none (several at once) start a shim of their own, as before.
final class SpareShim: @unchecked Sendable {
    struct Waiting {
        let input: Int32
        let output: Int32
        let errors: Int32

        /// Hands over the arguments; the shim's answer, as `Proc.run` returns it for a shim
        /// started with them. A spare that died meanwhile: nil (start one anew).
        func run(_ arguments: [String]) -> Proc.Output? {
            defer { close(input); close(output); close(errors) }
            guard let message = SpareArguments.encode(arguments), (try? FS.writeAll(fd: input, message)) != nil else { return nil }
            let (out, err) = Proc.drain(output, errors)
            return Proc.Output(status: 0, stdout: out, stderr: err)
        }
    }

    private let shimPath: String
    private let lock = NSLock()
    private var waiting: Waiting?
    private var refilling = false

    init(shimPath: String) { self.shimPath = shimPath }

    func take() -> Waiting? {
        lock.lock(); defer { lock.unlock() }
        defer { waiting = nil }
        return waiting
    }

    /// Starts a spare in the background, after `delay`, unless one waits or is on its way.
    func refill(after delay: DispatchTimeInterval = .never) {
        lock.lock()
        guard waiting == nil, !refilling else { lock.unlock(); return }
        refilling = true
        lock.unlock()
        let queue = DispatchQueue.global(qos: .utility)
        let deadline: DispatchTime = delay == .never ? .now() : .now() + delay
        queue.asyncAfter(deadline: deadline) { [self] in
            let started = start()
            lock.lock()
            refilling = false
            waiting = started
            lock.unlock()
        }
    }

    private func start() -> Waiting? {
        var inPipe: [Int32] = [0, 0], outPipe: [Int32] = [0, 0], errPipe: [Int32] = [0, 0]
        guard berth_pipe(&inPipe) == 0 else { return nil }
        guard berth_pipe(&outPipe) == 0 else { close(inPipe[0]); close(inPipe[1]); return nil }
        guard berth_pipe(&errPipe) == 0 else {
            for fd in inPipe + outPipe { close(fd) }
            return nil
        }
        defer { close(inPipe[0]); close(outPipe[1]); close(errPipe[1]) }
        // The blank argument is room: the spare writes its container's arguments over its own
        // once it has them, for ps and pgrep (the id, the bundle and the runtime fit).
        let room = String(repeating: " ", count: 320)
        guard let pid = try? Proc.spawn([shimPath, "--spare", room], stdin: inPipe[0], stdout: outPipe[1], stderr: errPipe[1]) else {
            close(inPipe[1]); close(outPipe[0]); close(errPipe[0])
            return nil
        }
        // berthd's child is the shim before its fork, which exits at once (the spare waits in
        // its own session): reaped now, not left a zombie for as long as the spare waits.
        guard Proc.wait(pid) == 0 else {
            close(inPipe[1]); close(outPipe[0]); close(errPipe[0])
            return nil
        }
        return Waiting(input: inPipe[1], output: outPipe[0], errors: errPipe[0])
    }
}
