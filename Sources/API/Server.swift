import BuildKit
import DockerAPI
import Engine
import Foundation
import JSON
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization
import Sys

/// The Engine API over HTTP/1.1 on a unix socket.
public final class APIServer: Sendable {
    let router: Router
    public init(engine: Engine, grpc: GRPCHost? = nil) { router = Router(engine: engine, grpc: grpc) }

    /// Requests begun since the process started, on every listener (the idle trim's clock).
    public static let requestsSeen = Atomic<UInt64>(0)

    public func run(socketPath: String) async throws {
        try await run(listeners: [.unix(path: socketPath)])
    }

    /// Serves every listener until the process ends.
    public func run(listeners: [Listener]) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        let router = self.router
        var channels: [Channel] = []
        for listener in listeners {
            var ssl: NIOSSLContext? = nil
            if case .tcp(_, _, let tls?) = listener { ssl = try Listener.sslContext(tls) }
            let bootstrap = ServerBootstrap(group: group)
                .serverChannelOption(ChannelOptions.backlog, value: 256)
                .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
                .childChannelInitializer { [ssl] channel in
                    channel.eventLoop.makeCompletedFuture {
                        // TLS under HTTP: a hijacked connection (attach, exec) keeps it.
                        if let ssl { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: ssl), name: "tls") }
                        let decoder = ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes))
                        try channel.pipeline.syncOperations.addHandler(decoder, name: "decoder")
                        try channel.pipeline.syncOperations.addHandler(HTTPResponseEncoder(), name: "encoder")
                        try channel.pipeline.syncOperations.addHandler(HTTPHandler(router: router), name: "http")
                    }
                }
            switch listener {
            case .unix(let path):
                unlink(path)
                channels.append(try await bootstrap.bind(unixDomainSocketPath: path).get())
                chmod(path, 0o660)
            case .tcp(let host, let port, _):
                channels.append(try await bootstrap.bind(host: host, port: port).get())
            }
        }
        for channel in channels { try await channel.closeFuture.get() }
    }
}

/// One parsed request.
public struct Request: Sendable {
    public var method: HTTPMethod
    public var path: String  // without version prefix
    public var query: [String: [String]]
    public var headers: HTTPHeaders
    public var body: [UInt8]
    public var apiVersion: String?
    /// Large uploads (tar bodies: build contexts, load, import, cp) go straight to a file as
    /// they arrive, never whole in memory; the route owns (and removes) it.
    public var bodyFile: String? = nil

    /// The first value of a query parameter, as Go's `FormValue` (docker-py sends a tuple
    /// `dockerfile` as two values, the name first).
    public func q(_ k: String) -> String? { query[k]?.first }
    public func bool(_ k: String) -> Bool {
        guard let v = q(k)?.lowercased() else { return false }
        return !(v.isEmpty || v == "0" || v == "no" || v == "false" || v == "none")
    }
    /// An integer parameter, nil when absent; refused when it is not one, as Go's `Atoi` in
    /// dockerd refuses it (`stop?t=abc` waited the default 10 s instead).
    public func int(_ k: String) throws -> Int? {
        guard let text = q(k), !text.isEmpty else { return nil }
        guard let n = Int(text) else {
            throw EngineError.badRequest(
                "strconv.Atoi: parsing \"\(text)\": \(text.allSatisfy { $0.isASCII && ($0.isNumber || $0 == "-" || $0 == "+") } ? "value out of range" : "invalid syntax")"
            )
        }
        return n
    }
    /// The version the client speaks: its path prefix, else the newest berthd serves.
    public var version: APIVersion { apiVersion.flatMap(APIVersion.init) ?? .current }
    public var wantsUpgrade: Bool { headers["Upgrade"].first?.lowercased() == "tcp" || headers["Connection"].contains { $0.lowercased().contains("upgrade") } }
}

final class HTTPHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let router: Router
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var spoolFd: Int32 = -1
    private var spoolPath: String?
    private var bodyTooLarge = false
    /// Bytes spooled so far, and whether the upload went past the daemon's cap (then the spool
    /// file is gone, the client has its answer and the rest of the body is dropped).
    private var spooled: Int64 = 0
    private var uploadRefused = false
    /// The most a request body held in memory may be (JSON requests; archives are spooled).
    static let maxMemoryBody = 16 << 20
    /// The client half-closed before a hijack took over (docker run -i with short stdin).
    var inputClosedEarly = false
    init(router: Router) { self.router = router }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            APIServer.requestsSeen.add(1, ordering: .relaxed)
            head = h; body = []; bodyTooLarge = false; spooled = 0; uploadRefused = false
            let type = h.headers.first(name: "Content-Type") ?? ""
            let length = Int(h.headers.first(name: "Content-Length") ?? "") ?? 0
            if RequestTarget.isUpload(method: h.method.rawValue, uri: h.uri) || type.contains("tar") || type.contains("octet-stream")
                || (length > 8 << 20 && !type.contains("json"))
            {
                if Int64(length) > router.engine.config.maxUploadSize { return refuseUpload(context) }
                let path = router.engine.store.tempPath("upload")
                let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
                if fd >= 0 { spoolFd = fd; spoolPath = path }
            }
        case .body(let b):
            if uploadRefused { return }
            if spoolFd >= 0 {
                spooled += Int64(b.readableBytes)
                if spooled > router.engine.config.maxUploadSize { return refuseUpload(context) }
                b.withUnsafeReadableBytes { try? FS.writeAll(fd: spoolFd, $0) }
            } else if !bodyTooLarge {
                // A body kept in memory (JSON) is bounded: a chunked upload of endless JSON must
                // not grow the daemon. Archives go to a spool file instead (above).
                if body.count + b.readableBytes > HTTPHandler.maxMemoryBody {
                    bodyTooLarge = true
                    body = []
                } else {
                    body += b.getBytes(at: b.readerIndex, length: b.readableBytes) ?? []
                }
            }
        case .end:
            if uploadRefused { uploadRefused = false; return }
            guard let h = head else { return }
            head = nil
            if bodyTooLarge {
                bodyTooLarge = false
                let responder = Responder(channel: context.channel, keepAlive: false, handler: self)
                responder.error(.badRequest("request body too large (more than \(HTTPHandler.maxMemoryBody >> 20) MiB of JSON)"))
                return
            }
            let responder = Responder(channel: context.channel, keepAlive: h.isKeepAlive, handler: self)
            var request = Request.parse(h, body: body)
            if spoolFd >= 0 { close(spoolFd); spoolFd = -1; request.bodyFile = spoolPath; spoolPath = nil }
            let router = self.router
            // `/_ping` (every docker CLI command starts with one) is answered here on the event
            // loop: no engine state, so no hop to a task and back.
            if request.path == "/_ping", request.apiVersion == nil, request.method == .GET || request.method == .HEAD, request.bodyFile == nil {
                router.ping(request, responder)
                return
            }
            Task { await router.handle(request, responder) }
        }
    }

    /// An upload past `max-upload-size`: answered at once and the connection closed after the
    /// answer; what was spooled is removed.
    private func refuseUpload(_ context: ChannelHandlerContext) {
        uploadRefused = true
        head = nil
        if spoolFd >= 0 { close(spoolFd); spoolFd = -1; if let p = spoolPath { unlink(p) }; spoolPath = nil }
        let limit = router.engine.config.maxUploadSize
        let responder = Responder(channel: context.channel, keepAlive: false, handler: self)
        responder.error(.badRequest("upload too large: the daemon accepts archives of at most \(limit) bytes (max-upload-size)"))
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let e = event as? ChannelEvent, e == .inputClosed { inputClosedEarly = true }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        // An upload cut short leaves no file behind.
        if spoolFd >= 0 { close(spoolFd); spoolFd = -1; if let p = spoolPath { unlink(p) }; spoolPath = nil }
        context.fireChannelInactive()
    }
}

extension Request {
    static func parse(_ h: HTTPRequestHead, body: [UInt8]) -> Request {
        let t = RequestTarget(uri: h.uri)
        return Request(method: h.method, path: t.path, query: t.query, headers: h.headers, body: body, apiVersion: t.version)
    }

}
