import GRPCCore
import GRPCNIOTransportHTTP2
import Glibc
import Sys

/// The gRPC server behind `POST /grpc`: a grpc-swift server on a unix socket in the exec root
/// (mode 0600, root's), to which berthd relays each upgraded connection's bytes. The client
/// speaks HTTP/2 with prior knowledge after the 101, exactly what this server expects of a
/// new connection, so the relay is byte for byte.
public final class GRPCHost: Sendable {
    public let socketPath: String
    /// Where each client session's relay socket is made (a private directory).
    public let sessionDir: String
    public let sessions: SessionRegistry
    /// The builds behind Solve, also reached through `POST /build?version=2`.
    public let solver: Solver?
    let server: GRPCServer<HTTP2ServerTransport.Posix>

    public init(socketPath: String, sessionDir: String, sessions: SessionRegistry, solver: Solver? = nil, services: [any RegistrableRPCService]) {
        self.socketPath = socketPath
        self.solver = solver
        self.sessionDir = sessionDir
        self.sessions = sessions
        unlink(socketPath)
        FS.removeAll(sessionDir)
        try? FS.mkdirAll(sessionDir, mode: 0o700)
        server = GRPCServer(
            transport: .http2NIOPosix(address: .unixDomainSocket(path: socketPath), transportSecurity: .plaintext), services: services)
    }

    /// Serves until the daemon ends; returns once the socket is listening (and private).
    public func start() async throws {
        let s = server
        Task { try? await s.serve() }
        _ = try await s.listeningAddress
        chmod(socketPath, 0o600)
    }
}
