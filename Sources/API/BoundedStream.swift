import Foundation

/// What a streaming route holds for one client: at most `limit` items waiting. A client that
/// cannot keep up is disconnected (the stream finishes) rather than buffered without bound, and
/// the producer never waits on it. For `events` (a client can reconnect with `since`); not for
/// attach/exec output, where disconnecting would lose what a container wrote.
enum BoundedStream {
    /// Events waiting for one client.
    static let limit = 1024

    static func make<T: Sendable>(_: T.Type, limit: Int = BoundedStream.limit) -> (AsyncStream<T>, @Sendable (T) -> Void) {
        let (stream, cont) = AsyncStream<T>.makeStream(bufferingPolicy: .bufferingOldest(limit))
        let send: @Sendable (T) -> Void = { item in
            if case .dropped = cont.yield(item) { cont.finish() }
        }
        return (stream, send)
    }
}

/// Output for one attached client where nothing may be lost (attach and exec output): the
/// producer — a reader thread of its own, never an event loop or the engine — waits while more
/// than `limit` bytes are on their way to the client, so a client that reads slowly slows the
/// process (its pipe fills, its writes block) instead of growing the daemon, as with dockerd.
/// A client that takes nothing at all for `stallLimit` seconds is let go (its connection is
/// closed): the container's reader thread also carries its exit, which must not wait forever.
final class FlowControlledRelay: @unchecked Sendable {
    private let condition = NSCondition()
    private var pending = 0
    private var closed = false
    private var lastProgress = Date()
    let limit: Int
    let stallLimit: TimeInterval
    let stream: AsyncStream<[UInt8]?>
    private let continuation: AsyncStream<[UInt8]?>.Continuation

    init(limit: Int = 1 << 20, stallLimit: TimeInterval = 30) {
        self.limit = limit
        self.stallLimit = stallLimit
        (stream, continuation) = AsyncStream<[UInt8]?>.makeStream()
    }

    /// Queues `bytes` for the client, first waiting (on the producer's own thread) until the
    /// client has taken enough. Returns false once the client is gone.
    @discardableResult
    func push(_ bytes: [UInt8]) -> Bool {
        condition.lock()
        while pending > 0 && pending + bytes.count > limit && !closed {
            if Date().timeIntervalSince(lastProgress) > stallLimit {
                closed = true
                condition.unlock()
                continuation.finish()
                return false
            }
            _ = condition.wait(until: Date().addingTimeInterval(1))
        }
        if closed { condition.unlock(); return false }
        if pending == 0 { lastProgress = Date() }
        pending += bytes.count
        condition.unlock()
        continuation.yield(bytes)
        return true
    }

    /// The end of the output (exit or detach): the consumer stops after what is queued.
    func finish() { continuation.yield(nil) }

    /// The consumer wrote `count` bytes to the client.
    func delivered(_ count: Int) {
        condition.lock()
        pending -= count
        lastProgress = Date()
        condition.broadcast()
        condition.unlock()
    }

    /// The client went away: producers stop waiting and further output is dropped.
    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
        continuation.finish()
    }
}
