import BuildKitAPI
import Foundation
import GRPCCore
import Glibc
import Sys

/// What `berth build` offers the daemon over its session: local directories by name, secrets
/// by id (a file's or an environment variable's bytes), ssh agents by id.
public struct SessionOffer: Sendable {
    public enum Secret: Sendable, Equatable {
        case file(String)
        case value([UInt8])
    }
    public var directories: [String: String] = [:]
    public var secrets: [String: Secret] = [:]
    public var agents: [String: String] = [:]
    public init() {}

    /// The gRPC methods served, as `X-Docker-Expose-Session-Grpc-Method` lists them.
    public var methods: [String] {
        var m = ["/moby.filesync.v1.FileSync/DiffCopy"]
        if !secrets.isEmpty { m.append("/moby.buildkit.secrets.v1.Secrets/GetSecret") }
        if !agents.isEmpty { m += ["/moby.sshforward.v1.SSH/CheckAgent", "/moby.sshforward.v1.SSH/ForwardAgent"] }
        return m
    }
}

/// FileSync: the directory the daemon names (`dir-name`), filtered by its patterns, sent with
/// `FileSyncSender`.
struct FileSyncService: Moby_Filesync_V1_FileSync.ServiceProtocol {
    let directories: [String: String]

    /// fsutil's header options: URL-escaped when `<key>-encoded` is set.
    static func option(_ md: Metadata, _ key: String) -> [String] {
        let values = Array(md[stringValues: key])
        guard md[stringValues: key + "-encoded"].contains("1") else { return values }
        return values.map { $0.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? $0 }
    }

    func diffCopy(
        request: StreamingServerRequest<Fsutil_Types_Packet>, context: ServerContext
    ) async throws -> StreamingServerResponse<Fsutil_Types_Packet> {
        let md = request.metadata
        guard let name = Self.option(md, "dir-name").first, let dir = directories[name] else {
            throw RPCError(code: .notFound, message: "no access allowed to dir \(String(reflecting: Self.option(md, "dir-name").first ?? ""))")
        }
        let sender: FileSyncSender
        do {
            sender = try FileSyncSender(directory: dir, includes: Self.option(md, "include-patterns"), excludes: Self.option(md, "exclude-patterns"))
        } catch { throw RPCError(code: .failedPrecondition, message: "\(error)") }
        return StreamingServerResponse { writer in
            for p in sender.statPackets() { try await writer.write(p) }
            for try await p in request.messages {
                switch p.type {
                case .packetReq: try await sender.sendFile(p.id) { try await writer.write($0) }
                case .packetFin:
                    var fin = Fsutil_Types_Packet()
                    fin.type = .packetFin
                    try await writer.write(fin)
                    return [:]
                case .packetErr: throw RPCError(code: .aborted, message: String(decoding: p.data.prefix(4096), as: UTF8.self))
                default: throw RPCError(code: .invalidArgument, message: "unexpected packet \(p.type) from the receiver")
                }
            }
            return [:]
        }
    }
}

/// Secrets: a file's bytes read when asked (so a secret never sits in the daemon longer than a
/// step needs it), or a value taken from the environment.
struct SecretsService: Moby_Buildkit_Secrets_V1_Secrets.SimpleServiceProtocol {
    let secrets: [String: SessionOffer.Secret]
    /// BuildKit's own limit on a secret.
    static let maxSize = 500 << 10

    func getSecret(request: Moby_Buildkit_Secrets_V1_GetSecretRequest, context: ServerContext) async throws
        -> Moby_Buildkit_Secrets_V1_GetSecretResponse
    {
        guard let s = secrets[request.id] else { throw RPCError(code: .notFound, message: "secret \(request.id) not found") }
        var r = Moby_Buildkit_Secrets_V1_GetSecretResponse()
        switch s {
        case .value(let v): r.data = Data(v)
        case .file(let path):
            let fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
            guard fd >= 0 else { throw RPCError(code: .notFound, message: "secret \(request.id): \(SysError("open \(path)"))") }
            defer { close(fd) }
            var bytes: [UInt8] = []
            var buf = [UInt8](repeating: 0, count: 64 << 10)
            while bytes.count <= Self.maxSize {
                let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                bytes += buf[0..<n]
            }
            guard bytes.count <= Self.maxSize else { throw RPCError(code: .invalidArgument, message: "secret \(request.id) is larger than 500 KiB") }
            r.data = Data(bytes)
        }
        return r
    }
}

/// SSH: each ForwardAgent stream is one connection to the agent socket the id names, relayed
/// both ways until either side ends.
struct SSHService: Moby_Sshforward_V1_SSH.ServiceProtocol {
    let agents: [String: String]

    func checkAgent(
        request: ServerRequest<Moby_Sshforward_V1_CheckAgentRequest>, context: ServerContext
    ) async throws -> ServerResponse<Moby_Sshforward_V1_CheckAgentResponse> {
        let id = request.message.id.isEmpty ? "default" : request.message.id
        guard agents[id] != nil else { throw RPCError(code: .notFound, message: "unset ssh forward key \(id)") }
        return ServerResponse(message: Moby_Sshforward_V1_CheckAgentResponse())
    }

    func forwardAgent(
        request: StreamingServerRequest<Moby_Sshforward_V1_BytesMessage>, context: ServerContext
    ) async throws -> StreamingServerResponse<Moby_Sshforward_V1_BytesMessage> {
        let id = request.metadata[stringValues: "buildkit.ssh.id"].first(where: { _ in true }) ?? "default"
        guard let path = agents[id] else { throw RPCError(code: .notFound, message: "unset ssh forward key \(id)") }
        let fd: Int32
        do { fd = try UnixSocket.connect(path) } catch { throw RPCError(code: .unavailable, message: "ssh agent \(id): \(error)") }
        return StreamingServerResponse { writer in
            defer { close(fd) }
            // The daemon's bytes to the agent, while the agent's come back below.
            let toAgent = Task {
                for try await m in request.messages { try FS.writeAll(fd: fd, Array(m.data)) }
                shutdown(fd, Int32(SHUT_WR))
            }
            // One chunk in flight: the reader waits until it is written on.
            let (incoming, cont) = AsyncStream<[UInt8]>.makeStream()
            let taken = DispatchSemaphore(value: 0)
            let reader = Thread {
                var buf = [UInt8](repeating: 0, count: 32 << 10)
                while true {
                    let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 { break }
                    cont.yield(Array(buf[0..<n]))
                    if taken.wait(timeout: .now() + 60) == .timedOut { break }
                }
                cont.finish()
            }
            reader.stackSize = 256 << 10
            reader.start()
            for await chunk in incoming {
                var m = Moby_Sshforward_V1_BytesMessage()
                m.data = Data(chunk)
                try await writer.write(m)
                taken.signal()
            }
            toAgent.cancel()
            _ = await toAgent.result
            return [:]
        }
    }
}
