import BuildKit
import DockerAPI
import Engine
import Foundation
import NIOCore
import NIOPosix

extension Router {
    /// `POST /grpc` with `Upgrade: h2c`: BuildKit's clients (buildx's docker driver, Compose v2)
    /// then speak gRPC over the same connection. berthd answers 101, as dockerd does, and relays
    /// the connection's bytes to its gRPC server's unix socket, both ways, until either side
    /// closes. HTTP/2 flow control bounds what is in flight in each direction.
    func grpcUpgrade(_ req: Request, _ res: Responder) async throws {
        guard let grpc else { return res.json(404, ErrorResponse("page not found").json) }
        guard req.headers["Upgrade"].first?.lowercased() == "h2c" else {
            throw EngineError.badRequest("the /grpc endpoint needs an h2c upgrade (Connection: Upgrade, Upgrade: h2c)")
        }
        // The 101 goes out (and the HTTP codec leaves the pipeline) before the gRPC server is
        // connected: its first bytes (a SETTINGS frame, sent on connect) must never meet the
        // HTTP encoder — they crashed the daemon. What the client sends meanwhile waits.
        let client = res.channel
        let relay = UpgradeRelay()
        try await res.hijack(
            upgrade: true, protocolName: "h2c", onInput: { relay.fromClient($0) }, onInputClosed: { relay.close() })
        do {
            let backend = try await ClientBootstrap(group: client.eventLoop)
                .channelInitializer { ch in
                    ch.eventLoop.makeCompletedFuture { try ch.pipeline.syncOperations.addHandler(RelayToClient(client: client)) }
                }
                .connect(unixDomainSocketPath: grpc.socketPath).get()
            relay.connected(backend)
        } catch {
            client.close(promise: nil)
        }
    }
}

/// The client's bytes toward the gRPC server: held until it is connected, then passed on;
/// a client that ends first ends the server connection too.
final class UpgradeRelay: @unchecked Sendable {
    private let lock = NSLock()
    private var pending: [UInt8] = []
    private var backend: Channel?
    private var closed = false
    /// Bytes a client may send before the server connection exists (HTTP/2's preface and
    /// first frames are far smaller); beyond it the client is cut off.
    static let maxPending = 1 << 20

    func fromClient(_ bytes: [UInt8]) {
        let target: Channel? = lock.withLock {
            if backend == nil {
                pending += bytes
                if pending.count > UpgradeRelay.maxPending { closed = true }
            }
            return backend
        }
        target?.writeAndFlush(ByteBuffer(bytes: bytes), promise: nil)
    }

    /// Called from any thread; the held bytes go out on the server connection's event loop,
    /// which is the client connection's too (the relay makes it there), so nothing the client
    /// sends meanwhile can overtake them: a reordered HTTP/2 stream is a protocol error.
    func connected(_ ch: Channel) {
        ch.eventLoop.execute {
            let (bytes, wasClosed): ([UInt8], Bool) = self.lock.withLock {
                self.backend = ch
                defer { self.pending = [] }
                return (self.pending, self.closed)
            }
            if !bytes.isEmpty { ch.writeAndFlush(ByteBuffer(bytes: bytes), promise: nil) }
            if wasClosed { ch.close(promise: nil) }
        }
    }

    func close() {
        let target: Channel? = lock.withLock {
            closed = true
            return backend
        }
        target?.close(promise: nil)
    }
}

extension Router {
    /// `POST /session` with `Upgrade: h2c`: the client's session. The client serves gRPC (its
    /// file sync, secrets, ssh and auth providers) on this connection for the daemon's builds to
    /// call: berthd answers 101, relays the connection to a private unix socket of its own, and
    /// registers the session by its id for Solve, whose gRPC client dials that socket.
    func sessionUpgrade(_ req: Request, _ res: Responder) async throws {
        guard req.headers["Upgrade"].first?.lowercased() == "h2c" else {
            throw EngineError.badRequest("the /session endpoint needs an h2c upgrade (Connection: Upgrade, Upgrade: h2c)")
        }
        guard let grpc else { return res.json(404, ErrorResponse("page not found").json) }
        guard let id = req.headers["X-Docker-Expose-Session-Uuid"].first, !id.isEmpty, id.utf8.count <= 256 else {
            throw EngineError.badRequest("session id is required (X-Docker-Expose-Session-Uuid)")
        }
        let name = String((req.headers["X-Docker-Expose-Session-Name"].first ?? "").prefix(256))
        // One header per method; some clients join them with commas.
        let methods = Set(
            req.headers["X-Docker-Expose-Session-Grpc-Method"].prefix(256).flatMap { $0.split(separator: ",") }.map {
                $0.trimmingCharacters(in: .whitespaces)
            })
        let client = res.channel
        let relay = UpgradeRelay()
        let cleanup = SessionCleanup()
        // The 101 first, and the HTTP codec gone: the session's gRPC client sends its preface
        // as soon as it connects, and those bytes must never meet the HTTP encoder.
        try await res.hijack(
            upgrade: true, protocolName: "h2c", onInput: { relay.fromClient($0) },
            onInputClosed: {
                relay.close(); cleanup.run()
            })
        let path = grpc.sessionDir + "/" + UUID().uuidString + ".sock"
        let once = StreamStart()  // the relay socket takes one connection: its gRPC client's
        do {
            let listener = try await ServerBootstrap(group: client.eventLoop)
                .childChannelInitializer { ch in
                    guard once.begin() else { return ch.close() }
                    return ch.eventLoop.makeCompletedFuture {
                        try ch.pipeline.syncOperations.addHandler(RelayToClient(client: client))
                        relay.connected(ch)
                    }
                }
                .bind(unixDomainSocketPath: path).get()
            chmod(path, 0o600)
            cleanup.add {
                listener.close(promise: nil); unlink(path)
            }
            let key = String((req.headers["X-Docker-Expose-Session-Sharedkey"].first ?? "").prefix(512))
            let session = try BuildSession(id: id, name: name, sharedKey: key, methods: methods, socketPath: path)
            let sessions = grpc.sessions
            cleanup.add { Task { await sessions.remove(session) } }
            try await sessions.register(session)
        } catch {
            client.close(promise: nil)
            cleanup.run()
        }
    }
}

/// What ends with a session's connection; added while it is set up, run once (at once if the
/// connection has already ended).
final class SessionCleanup: @unchecked Sendable {
    private let lock = NSLock()
    private var actions: [@Sendable () -> Void] = []
    private var ran = false
    func add(_ action: @escaping @Sendable () -> Void) {
        let now: Bool = lock.withLock {
            if ran { return true }
            actions.append(action)
            return false
        }
        if now { action() }
    }
    func run() {
        let todo: [@Sendable () -> Void] = lock.withLock {
            if ran { return [] }
            ran = true
            defer { actions = [] }
            return actions
        }
        for a in todo { a() }
    }
}

/// The gRPC server's bytes back to the upgraded client connection; its end ends that one.
final class RelayToClient: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    let client: Channel
    init(client: Channel) { self.client = client }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        client.writeAndFlush(unwrapInboundIn(data), promise: nil)
    }
    func channelInactive(context: ChannelHandlerContext) { client.close(promise: nil) }
}
