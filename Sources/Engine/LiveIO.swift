import Foundation
import Runtime
import Sys

/// The daemon's end of one running container's stdio: a connection to its shim, fanned out to
/// every attached client. Subscribers receive frames on the shim reader thread, in order, and
/// see `.exited` last.
public final class LiveIO: @unchecked Sendable {
    public typealias Subscriber = @Sendable (ShimFrame) -> Void
    private let conn: ShimConnection
    private let lock = NSLock()
    private var subscribers: [UInt64: Subscriber] = [:]
    private var nextID: UInt64 = 0
    private var startWaiter: CheckedContinuation<String, Never>?
    /// The shim's answer to the start when it came before anyone waited for it.
    private var startReply: String?
    private var closed = false

    init(socket: String, onExit: @escaping @Sendable (ExitRecord) -> Void, onLost: @escaping @Sendable () -> Void) throws {
        conn = try ShimConnection(socket: socket)
        let exitSeen = ManagedFlag()
        conn.run(
            onFrame: { [weak self] frame in
                guard let self else { return }
                switch frame.kind {
                case .started:
                    self.lock.lock()
                    let w = self.startWaiter
                    self.startWaiter = nil
                    if w == nil { self.startReply = frame.text }
                    self.lock.unlock()
                    w?.resume(returning: frame.text)
                case .exited:
                    exitSeen.set()
                    let record = ExitRecord.settled(frame.text)
                    self.broadcast(frame)
                    onExit(record)
                default:
                    self.broadcast(frame)
                }
            },
            onClose: { [weak self] in
                self?.finish()
                if !exitSeen.isSet { onLost() }
            })
    }

    private func broadcast(_ f: ShimFrame) {
        lock.lock(); let subs = Array(subscribers.values); lock.unlock()
        for s in subs { s(f) }
    }

    private func finish() {
        lock.lock()
        closed = true
        let subs = Array(subscribers.values)
        subscribers.removeAll()
        let w = startWaiter; startWaiter = nil
        lock.unlock()
        w?.resume(returning: "1 container monitor exited")
        for s in subs { s(ShimFrame(.exited, text: "")) }
    }

    /// Asks the shim to run `runtime start`; `startResult()` waits for its answer. Apart, so that
    /// berthd writes the container's state (a sync of its database) while the shim starts it.
    func requestStart() { conn.send(ShimFrame(.start)) }

    /// nil once the shim has started the container, or the runtime's error.
    func startResult() async -> String? {
        let reply: String = await withCheckedContinuation { c in
            lock.lock()
            if let r = startReply {
                startReply = nil
                lock.unlock()
                c.resume(returning: r)
                return
            }
            if closed { lock.unlock(); c.resume(returning: "1 container monitor exited"); return }
            startWaiter = c
            lock.unlock()
        }
        return reply.hasPrefix("0") ? nil : String(reply.dropFirst(2))
    }

    public func subscribe(_ s: @escaping Subscriber) -> UInt64? {
        lock.lock(); defer { lock.unlock() }
        if closed { return nil }
        nextID += 1
        subscribers[nextID] = s
        return nextID
    }

    public func unsubscribe(_ id: UInt64) {
        lock.lock(); subscribers[id] = nil; lock.unlock()
    }

    public func sendStdin(_ bytes: [UInt8]) { conn.send(ShimFrame(.stdin, bytes)) }
    public func closeStdin() { conn.send(ShimFrame(.closeStdin)) }
    func kill(_ signal: Int32) { conn.send(ShimFrame(.kill, text: String(signal))) }
    func resize(rows: Int, cols: Int) { conn.send(ShimFrame(.resize, text: "\(rows) \(cols)")) }
    func close() { conn.close() }
}

/// A flag set once from any thread (an exit seen, a build cancelled).
public final class ManagedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    public init() {}
    public func set() { lock.lock(); value = true; lock.unlock() }
    public var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}
