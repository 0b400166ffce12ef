import CSys
import DockerAPI
import Engine
import Foundation
import JSON
import NIOHTTP1
import Runtime
import Sys

extension Router {
    /// `/exec/{id}/start|json|resize`.
    func execs(_ req: Request, _ res: Responder, _ p: [String]) async throws {
        guard p.count == 2 else { return res.json(404, ErrorResponse("page not found").json) }
        let id = p[0]
        switch (req.method, p[1]) {
        case (.GET, "json"): res.json(200, try await engine.inspectExec(id).json)
        case (.POST, "resize"):
            try await resizeExec(req, res, id)
        case (.POST, "start"): try await startExec(req, res, id)
        default: res.json(404, ErrorResponse("page not found").json)
        }
    }

    func startExec(_ req: Request, _ res: Responder, _ id: String) async throws {
        let body = try jsonBody(req)
        let e = try await engine.exec(id)
        // The container's passwd/group are read off the engine's actor, then handed in.
        let files = try await engine.execUserFiles(e.id)
        if body["Detach"].bool == true {
            _ = try await engine.startExec(e.id, userFiles: files, onOutput: { _, _ in }, onExit: { _ in })
            return res.send(status: 200)
        }
        // As dockerd: the start request's Tty decides whether output is multiplexed, whatever the
        // exec was created with (a pty exec started with Tty false sends framed stdout).
        let tty = body["Tty"].bool ?? false
        let wantOut = e.config.attachStdout ?? true, wantErr = e.config.attachStderr ?? true
        // Nothing is dropped and nothing grows without bound: the exec's reader thread waits while
        // a megabyte is on its way to a slow client (the process then blocks on its pipe).
        let relay = FlowControlledRelay()
        let handle = ProcessHandle()
        // Docker's detach sequence applies to exec stdin too: the client leaves, the process stays.
        let keys = DetachMatcher.parse(e.config.detachKeys) ?? DetachMatcher.defaultKeys
        let matcher = LockedMatcher(DetachMatcher(keys: keys))
        let attachedStdin = e.config.attachStdin
        try await res.hijack(
            upgrade: req.wantsUpgrade, multiplexed: !tty && req.version >= .v1_42,
            onInput: { bytes in
                guard attachedStdin else { return handle.write(bytes) }
                let (pass, detach) = matcher.feed(bytes)
                if !pass.isEmpty { handle.write(pass) }
                if detach { relay.finish() }
            }, onInputClosed: { handle.close() })
        do {
            let proc = try await engine.startExec(
                e.id, userFiles: files,
                onOutput: { stream, bytes in
                    if (stream == 1 && wantOut) || (stream == 2 && wantErr) { relay.push(tty ? bytes : StreamFrame.frame(stream, bytes)) }
                }, onExit: { _ in relay.finish() })
            handle.set(proc)
            // API 1.42: the terminal's size comes with the start (or the create) request.
            let size = body["ConsoleSize"].array?.map { UInt(clamping: $0.int ?? 0) } ?? e.config.consoleSize ?? []
            if e.tty, req.version >= .v1_42, size.count == 2, let rows = UInt16(exactly: size[0]), let cols = UInt16(exactly: size[1]),
                rows > 0, cols > 0
            {
                Task { try? await self.applyExecSize(e.id, rows: rows, cols: cols) }
            }
        } catch {
            // The upgrade already happened: report in the stream as dockerd 20.10 does (on stdout,
            // "\r\n"-terminated) and give the exec its exit code, 126.
            await engine.execFailedToStart(e.id)
            let text = Array("\(error)\r\n".utf8)
            _ = await res.writeRaw(tty ? text : StreamFrame.frame(1, text))
            res.close()
            return
        }
        for await chunk in relay.stream {
            guard let chunk else { break }
            if !(await res.writeRaw(chunk)) { break }
            relay.delivered(chunk.count)
        }
        relay.close()
        res.close()
    }
}

extension Router {
    /// The exec's terminal is resized through the process's own stdin (the pty's slave side),
    /// which the helper's master shares; runc may still be writing the PID file when the
    /// client's first resize arrives, so wait for it briefly.
    func resizeExec(_ req: Request, _ res: Responder, _ id: String) async throws {
        let e = try await engine.exec(id)
        guard let h = UInt16(req.q("h") ?? ""), let w = UInt16(req.q("w") ?? "") else {
            throw EngineError.badRequest("invalid resize request: h and w must be numbers")
        }
        guard e.tty else { return res.send(status: 200) }
        try await applyExecSize(id, rows: h, cols: w)
        res.send(status: 200)
    }

    func applyExecSize(_ id: String, rows h: UInt16, cols w: UInt16) async throws {
        for _ in 0..<40 {
            if let pid = try await engine.execProcessPid(id) {
                let fd = open("/proc/\(pid)/fd/0", O_RDWR | O_NOCTTY | O_CLOEXEC)
                if fd >= 0 { _ = berth_set_winsize(fd, h, w); close(fd) }
                break
            }
            let now = try await engine.exec(id)
            if now.started && !now.running { break }
            try await Task.sleep(nanoseconds: 25_000_000)
        }
    }
}

/// The exec's stdin: bytes and a half-close that arrive before the process exists are kept
/// and delivered, in order, once it does.
final class ProcessHandle: @unchecked Sendable {
    private let lock = NSLock()
    private var proc: ExecProcess?
    private var early: [UInt8] = []
    private var closed = false

    func set(_ p: ExecProcess) {
        lock.lock(); defer { lock.unlock() }
        proc = p
        if !early.isEmpty { p.writeStdin(early); early = [] }
        if closed { p.closeStdin() }
    }

    func write(_ bytes: [UInt8]) {
        lock.lock(); defer { lock.unlock() }
        if let proc { proc.writeStdin(bytes) } else { early += bytes }
    }

    func close() {
        lock.lock(); defer { lock.unlock() }
        if let proc { proc.closeStdin() } else { closed = true }
    }
}
