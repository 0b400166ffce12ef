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
