import Foundation
import Sys

/// One attached client. Bound to the container's LiveIO when it runs — at once, or, for the
/// `docker run` order (attach, then start), by `start` itself before the process is released, so
/// no early output is lost.
public final class AttachSession: @unchecked Sendable {
    private let lock = NSLock()
    private var io: LiveIO?
    private var token: UInt64?
    /// stdin that arrived before the container started (docker CLI streams it right after attach).
    private var earlyStdin: [UInt8] = []
    private var earlyClose = false
    let subscriber: LiveIO.Subscriber

    public init(subscriber: @escaping LiveIO.Subscriber) { self.subscriber = subscriber }

    func bind(_ io: LiveIO) {
        let t = io.subscribe(subscriber)
        // Everything stdin-related happens under the lock, so buffered bytes reach the shim
        // before a close that races in from the client's half-close.
        lock.lock()
        self.io = io; token = t
        if !earlyStdin.isEmpty { io.sendStdin(earlyStdin); earlyStdin = [] }
        if earlyClose { io.closeStdin() }
        lock.unlock()
        if t == nil { subscriber(ShimFrame(.exited)) }
    }

    public func sendStdin(_ bytes: [UInt8]) {
        lock.lock(); defer { lock.unlock() }
        if let io { io.sendStdin(bytes) } else { earlyStdin += bytes }
    }

    public func closeStdin() {
        lock.lock(); defer { lock.unlock() }
        if let io { io.closeStdin() } else { earlyClose = true }
    }

    public func detach() {
        lock.lock(); let io = self.io, t = token; self.io = nil; token = nil; lock.unlock()
        if let io, let t { io.unsubscribe(t) }
    }
}

extension Engine {
    public func attach(_ ref: String, session: AttachSession) throws(EngineError) {
        let c = try container(ref)
        // dockerd's API refuses only these two; an attach to a stopped container waits for its
        // next start (docker-compose attaches before it starts existing containers). The
        // "start it first" refusal is the docker CLI's own, made client-side.
        if c.state.paused { throw .conflict("You cannot attach to a paused container, unpause it first") }
        if c.state.restarting { throw .conflict("You cannot attach to a restarting container, wait until it is running") }
        if let io = live[c.id] { session.bind(io) } else { pendingAttach[c.id, default: []].append(session) }
        emit(c, "attach")
    }

    func bindPendingAttaches(_ id: String) {
        guard let io = live[id] else { return }
        for s in pendingAttach.removeValue(forKey: id) ?? [] { s.bind(io) }
    }
}
