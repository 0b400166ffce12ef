import BuildKitAPI
import Client
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Glibc
import JSON
import Sys

/// A BuildKit build from `berth build`, as the docker CLI's BuildKit client does it: a session
/// (`POST /session`, upgraded to h2c) on which this process serves gRPC — the context and the
/// Dockerfile's directory through FileSync, secrets, ssh agents — and `POST /build?version=2`
/// naming that session. grpc-swift serves on a private unix socket; the upgraded connection's
/// bytes are relayed to it both ways, so the daemon's gRPC client reaches it as a new
/// connection. Progress comes back as BuildKit StatusResponses, handed on as plain JSON events.
public enum SessionBuild {
    /// Runs the build; `emit` gets `{"vertex": …}`, `{"log": …}`, `{"aux": {"ID": …}}`,
    /// `{"error": …}` events in order. Returns whether the build succeeded.
    public static func run(client: DaemonClient, offer: SessionOffer, sharedKey: String, query: [(String, String)], emit: (JSON) -> Void) async throws
        -> Bool
    {
        let dir = try FS.makeTempDirectory("/tmp/berth-session-")
        defer { FS.removeAll(dir) }
        let socket = dir + "/grpc.sock"
        var services: [any RegistrableRPCService] = [FileSyncService(directories: offer.directories)]
        if !offer.secrets.isEmpty { services.append(SecretsService(secrets: offer.secrets)) }
        if !offer.agents.isEmpty { services.append(SSHService(agents: offer.agents)) }
        let server = GRPCServer(transport: .http2NIOPosix(address: .unixDomainSocket(path: socket), transportSecurity: .plaintext), services: services)
        let serving = Task { try? await server.serve() }
        defer {
            server.beginGracefulShutdown()
            serving.cancel()
        }
        _ = try await server.listeningAddress

        let id = UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        var headers = [
            ("X-Docker-Expose-Session-Uuid", id), ("X-Docker-Expose-Session-Name", "berth-build"),
            ("X-Docker-Expose-Session-Sharedkey", sharedKey),
        ]
        for m in offer.methods { headers.append(("X-Docker-Expose-Session-Grpc-Method", m)) }
        let (remote, pending) = try client.hijack("/session", upgrade: "h2c", headers: headers)
        let local: Int32
        do { local = try UnixSocket.connect(socket) } catch {
            close(remote)
            throw error
        }
        let relay = SessionRelay(remote: remote, local: local, pending: pending)
        relay.start()
        defer { relay.stop() }

        var q = query
        q += [("version", "2"), ("remote", "client-session"), ("session", id)]
        var lines = JSONStreamSplitter()
        var ok = true
        try client.stream("POST", "/build" + DaemonClient.query(q), body: []) { bytes in
            for m in lines.feed(bytes) {
                switch m["id"].string {
                case "moby.buildkit.trace":
                    guard let raw = m["aux"].string.flatMap(Base64.decode),
                        let status = try? Moby_Buildkit_V1_StatusResponse(serializedBytes: raw)
                    else { continue }
                    for e in events(status) { emit(e) }
                case "moby.image.id":
                    emit(["aux": ["ID": m["aux"]["ID"]]])
                default:
                    if m["error"].string != nil { ok = false }
                    if m["error"].string != nil || m["stream"].string != nil { emit(m) }
                }
            }
            return true
        }
        return ok
    }

    /// A StatusResponse as events: each vertex's state, then its log lines.
    static func events(_ s: Moby_Buildkit_V1_StatusResponse) -> [JSON] {
        var out: [JSON] = []
        for v in s.vertexes {
            var o = JSONObject()
            o["vertex"] = .string(v.digest)
            o["name"] = .string(v.name)
            if v.hasStarted { o["started"] = .bool(true) }
            if v.hasCompleted { o["completed"] = .bool(true) }
            if v.cached { o["cached"] = .bool(true) }
            if !v.error.isEmpty { o["error"] = .string(v.error) }
            out.append(.object(o))
        }
        for l in s.logs { out.append(["log": .string(l.vertex), "data": .string(String(decoding: l.msg, as: UTF8.self))]) }
        return out
    }
}

/// The session connection's bytes relayed to the local gRPC server and back, a thread each
/// way; when either side ends, both are shut down.
final class SessionRelay: @unchecked Sendable {
    let remote: Int32
    let local: Int32
    let pending: [UInt8]
    private let lock = NSLock()
    private var stopped = false
    private var threads = 0
    private let done = DispatchSemaphore(value: 0)

    init(remote: Int32, local: Int32, pending: [UInt8]) {
        self.remote = remote
        self.local = local
        self.pending = pending
    }

    func start() {
        pipe(from: remote, to: local, first: pending)
        pipe(from: local, to: remote, first: [])
    }

    private func pipe(from: Int32, to: Int32, first: [UInt8]) {
        let t = Thread { [self] in
            if !first.isEmpty { _ = try? FS.writeAll(fd: to, first) }
            var buf = [UInt8](repeating: 0, count: 64 << 10)
            while true {
                let n = buf.withUnsafeMutableBytes { read(from, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                if (try? FS.writeAll(fd: to, Array(buf[0..<n]))) == nil { break }
            }
            shutdownBoth()
            done.signal()
        }
        t.stackSize = 256 << 10
        t.start()
    }

    private func shutdownBoth() {
        lock.withLock {
            guard !stopped else { return }
            stopped = true
            shutdown(remote, Int32(SHUT_RDWR))
            shutdown(local, Int32(SHUT_RDWR))
        }
    }

    /// Ends the session (the daemon sees its connection close) and waits for both threads.
    func stop() {
        shutdownBoth()
        done.wait()
        done.wait()
        close(remote)
        close(local)
    }
}
