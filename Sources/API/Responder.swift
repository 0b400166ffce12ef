import DockerAPI
import Engine
import Foundation
import JSON
import NIOCore
import NIOHTTP1

/// Writes one response: whole, streamed (chunked), or by taking over the connection (hijack).
public final class Responder: @unchecked Sendable {
    let channel: Channel
    let keepAlive: Bool
    private var ended = false

    let handler: HTTPHandler?

    init(channel: Channel, keepAlive: Bool, handler: HTTPHandler? = nil) {
        self.channel = channel; self.keepAlive = keepAlive; self.handler = handler
    }

    static let maxVersion = APIVersion.current.description
    static func baseHeaders() -> HTTPHeaders {
        var h = HTTPHeaders()
        h.add(name: "Api-Version", value: maxVersion)
        h.add(name: "Docker-Experimental", value: "false")
        h.add(name: "Ostype", value: "linux")
        h.add(name: "Server", value: "Docker/20.10.24 (linux) berth/0.1.0")
        return h
    }

    public func send(status: Int, contentType: String? = nil, body: [UInt8] = [], extraHeaders: [(String, String)] = [], headOnly: Bool = false) {
        var h = Responder.baseHeaders()
        if let contentType { h.add(name: "Content-Type", value: contentType) }
        for (k, v) in extraHeaders { h.add(name: k, value: v) }
        h.add(name: "Content-Length", value: headOnly ? "0" : String(body.count))
        if !keepAlive { h.add(name: "Connection", value: "close") }
        let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: h)
        let ch = channel
        let keep = keepAlive
        ch.eventLoop.execute {
            ch.write(HTTPServerResponsePart.head(head), promise: nil)
            if !body.isEmpty && !headOnly { ch.write(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil) }
            ch.writeAndFlush(HTTPServerResponsePart.end(nil)).whenComplete { _ in if !keep { ch.close(promise: nil) } }
        }
    }

    public func json(_ status: Int, _ value: JSON) {
        send(status: status, contentType: "application/json", body: value.serializedBytes() + [10])
    }

    public func error(_ e: EngineError, head: Bool = false) {
        if case .notModified = e { send(status: 304); return }
        send(status: e.status, contentType: "application/json", body: head ? [] : ErrorResponse(e.description).json.serializedBytes() + [10])
    }

    public func noContent(_ status: Int = 204) { send(status: status) }

    // MARK: streaming

    /// Sends the head now (chunked, flushed at once: `wait` relies on that), body later.
    public func startStream(status: Int = 200, contentType: String, extraHeaders: [(String, String)] = []) {
        var h = Responder.baseHeaders()
        h.add(name: "Content-Type", value: contentType)
        for (k, v) in extraHeaders { h.add(name: k, value: v) }
        h.add(name: "Transfer-Encoding", value: "chunked")
        let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: h)
        let ch = channel
        ch.eventLoop.execute { ch.writeAndFlush(HTTPServerResponsePart.head(head), promise: nil) }
    }

    /// Writes a body chunk; false once the client has gone.
    @discardableResult
    public func write(_ bytes: [UInt8]) async -> Bool {
        guard channel.isActive else { return false }
        if bytes.isEmpty { return true }  // an empty chunk would end a chunked body
        do {
            try await channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: bytes)))).get()
            return true
        } catch { return false }
    }

    public func writeJSONLine(_ v: JSON) async -> Bool { await write(v.serializedBytes() + [13, 10]) }

    public func end() {
        let ch = channel
        let keep = keepAlive
        ch.eventLoop.execute {
            ch.writeAndFlush(HTTPServerResponsePart.end(nil)).whenComplete { _ in if !keep { ch.close(promise: nil) } }
        }
    }

    /// Ends a streamed response that failed partway: the connection is closed without the last
    /// chunk, so the client sees a truncated body (an unexpected EOF) rather than a complete one.
    public func abort() {
        let ch = channel
        ch.eventLoop.execute { ch.close(promise: nil) }
    }

    public var isActive: Bool { channel.isActive }

    // MARK: hijack

    /// Replies 101 (or 200 for clients that did not ask to upgrade), then turns the connection
    /// into a raw byte pipe: `onInput` gets what the client sends, `onInputClosed` its half-close.
    /// `multiplexed`: API 1.42 and later name a stdout/stderr-framed stream as such.
    /// `protocolName`: what the connection becomes (`h2c` for /grpc, whose 101 carries no
    /// content type, as dockerd's).
    public func hijack(
        upgrade: Bool, multiplexed: Bool = false, protocolName: String = "tcp", onInput: @escaping @Sendable ([UInt8]) -> Void,
        onInputClosed: @escaping @Sendable () -> Void
    ) async throws {
        let head =
            protocolName != "tcp"
            ? "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: \(protocolName)\r\n\r\n"
            : (upgrade ? "HTTP/1.1 101 UPGRADED\r\n" : "HTTP/1.1 200 OK\r\n")
                + "Content-Type: application/vnd.docker.\(multiplexed ? "multiplexed" : "raw")-stream\r\n"
                + (upgrade ? "Connection: Upgrade\r\nUpgrade: tcp\r\n" : "") + "\r\n"
        let ch = channel
        let raw = RawInbound(onInput: onInput, onInputClosed: onInputClosed)
        // The pipeline becomes a raw pipe *before* the client can see the 101, so no stdin byte
        // or half-close can reach the HTTP decoder; the head itself goes out as plain bytes.
        try await ch.eventLoop.submit {
            let sync = ch.pipeline.syncOperations
            let decoder = try sync.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            try sync.addHandler(raw, name: "raw", position: .after(decoder))
        }.flatMap { ch.pipeline.removeHandler(name: "encoder") }
            .flatMap { ch.pipeline.removeHandler(name: "decoder") }
            .flatMap { [handler] () -> EventLoopFuture<Void> in
                if handler?.inputClosedEarly == true { onInputClosed() }
                return ch.writeAndFlush(ByteBuffer(string: head))
            }.get()
    }

    /// Raw bytes on a hijacked connection.
    public func writeRaw(_ bytes: [UInt8]) async -> Bool {
        guard channel.isActive else { return false }
        do { try await channel.writeAndFlush(ByteBuffer(bytes: bytes)).get(); return true } catch { return false }
    }

    public func close() { channel.close(promise: nil) }
}

final class RawInbound: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    let onInput: @Sendable ([UInt8]) -> Void
    let onInputClosed: @Sendable () -> Void
    init(onInput: @escaping @Sendable ([UInt8]) -> Void, onInputClosed: @escaping @Sendable () -> Void) {
        self.onInput = onInput; self.onInputClosed = onInputClosed
    }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var b = unwrapInboundIn(data)
        if let bytes = b.readBytes(length: b.readableBytes), !bytes.isEmpty { onInput(bytes) }
    }
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let e = event as? ChannelEvent, e == .inputClosed { onInputClosed() }
    }
    func channelInactive(context: ChannelHandlerContext) { onInputClosed() }
}
