import Archive
import BuildKitAPI
import Engine
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Sys

/// A client's BuildKit session (`POST /session`): the client serves gRPC (FileSync, Secrets,
/// …) over the upgraded connection, and berthd is its gRPC client. The API relays that
/// connection to a private unix socket this client dials, so the session is called like any
/// other gRPC server.
public final class BuildSession: Sendable {
    public let id: String
    public let name: String
    /// The methods the client said it serves (`X-Docker-Expose-Session-Grpc-Method`).
    public let methods: Set<String>
    /// The client's key for what stays the same across its sessions (buildx: per context).
    public let sharedKey: String
    let client: GRPCClient<HTTP2ClientTransport.Posix>

    public init(id: String, name: String, sharedKey: String = "", methods: Set<String>, socketPath: String) throws {
        self.id = id
        self.name = name
        self.sharedKey = sharedKey
        self.methods = methods
        client = GRPCClient(transport: try HTTP2ClientTransport.Posix(target: .unixDomainSocket(path: socketPath), transportSecurity: .plaintext))
        let c = client
        Task { try? await c.runConnections() }
    }

    public func close() { client.beginGracefulShutdown() }

    public func supports(_ method: String) -> Bool { methods.contains(method) }

    static let diffCopy = "/moby.filesync.v1.FileSync/DiffCopy"
    static let getSecret = "/moby.buildkit.secrets.v1.Secrets/GetSecret"

    /// One of the client's local directories ("context", "dockerfile") as a tar at `tarPath`,
    /// through FileSync's DiffCopy. Patterns are sent as fsutil's filters, so what they exclude
    /// never leaves the client.
    public func syncDirectory(
        _ dirName: String, into tarPath: String, includes: [String] = [], excludes: [String] = [], followPaths: [String] = []
    ) async throws -> (entries: Int, bytes: Int64, reused: Int) {
        let fd = open(tarPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SysError("open \(tarPath)", errno: errno) }
        defer { Glibc.close(fd) }
        let sink = TarSink(TarWriter { bytes in try FS.writeAll(fd: fd, bytes) })
        return try await sync(dirName, sink: sink, includes: includes, excludes: excludes, followPaths: followPaths)
    }

    /// A whole directory into the generation `lease` names (LocalContexts.swift): only what
    /// changed since the latest generation is asked for. Returns the entries the client sent and
    /// what the generation now holds.
    public func syncDirectory(
        _ dirName: String, lease: LocalContextLease, excludes: [String]
    ) async throws -> (entries: [BuildContextEntry], manifest: [String: LocalContextEntry], bytes: Int64, reused: Int) {
        let sink = try GenerationSink(lease)
        let r = try await sync(dirName, sink: sink, includes: [], excludes: excludes, followPaths: [])
        return (sink.entries, sink.manifest, r.bytes, r.reused)
    }

    private func sync(
        _ dirName: String, sink: ContextSink, includes: [String], excludes: [String], followPaths: [String]
    ) async throws -> (entries: Int, bytes: Int64, reused: Int) {
        guard supports(Self.diffCopy) else { throw RPCError(code: .unimplemented, message: "no local sources enabled") }
        var md = Metadata()
        Self.addOpts(&md, "dir-name", [dirName])
        if !includes.isEmpty { Self.addOpts(&md, "include-patterns", includes) }
        if !excludes.isEmpty { Self.addOpts(&md, "exclude-patterns", excludes) }
        if !followPaths.isEmpty { Self.addOpts(&md, "followpaths", followPaths) }
        let (outgoing, out) = AsyncStream<Fsutil_Types_Packet>.makeStream()
        let request = StreamingClientRequest<Fsutil_Types_Packet>(metadata: md) { w in
            for await p in outgoing { try await w.write(p) }
        }
        let fs = Moby_Filesync_V1_FileSync.Client(wrapping: client)
        return try await fs.diffCopy(request: request) { response in
            defer { out.finish() }
            var receiver = FileSyncReceiver(sink: sink)
            var finished = false
            for try await p in response.messages {
                if finished { continue }  // after FIN: drained until the sender ends the stream
                let step = try receiver.receive(p)
                for s in step.send { out.yield(s) }
                if step.done {
                    finished = true
                    out.finish()
                }
            }
            guard finished else { throw FileSyncReceiver.Failure.protocolError("the client ended the transfer of \(dirName) early") }
            return (receiver.entryCount, receiver.bytesReceived, receiver.reused)
        }
    }

    /// A secret's bytes, asked of the client by id (at most 500 KiB, BuildKit's own limit).
    public func secret(_ id: String) async throws -> [UInt8] {
        guard supports(Self.getSecret) else { throw RPCError(code: .unimplemented, message: "secret \(id) not found: the client provides no secrets") }
        var req = Moby_Buildkit_Secrets_V1_GetSecretRequest()
        req.id = id
        let r = try await Moby_Buildkit_Secrets_V1_Secrets.Client(wrapping: client).getSecret(req)
        guard r.data.count <= 500 << 10 else { throw RPCError(code: .invalidArgument, message: "secret \(id) is larger than 500 KiB") }
        return Array(r.data)
    }

    /// fsutil's header options: values that are not printable ASCII go URL-escaped, with
    /// `<key>-encoded: 1` (filesync.go's encodeOpts).
    static func addOpts(_ md: inout Metadata, _ key: String, _ values: [String]) {
        let plain = values.allSatisfy { $0.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7f } }
        for v in values { md.addString(plain ? v : queryEscape(v), forKey: key) }
        if !plain { md.addString("1", forKey: key + "-encoded") }
    }

    /// Go's url.QueryEscape.
    static func queryEscape(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            case UInt8(ascii: " "): out += "+"
            default: out += String(format: "%%%02X", b)
            }
        }
        return out
    }
}

/// The sessions clients hold open, by id; a Solve names its session and may come before the
/// session's connection is registered, so lookups wait a little, as BuildKit's manager does.
public actor SessionRegistry {
    private var sessions: [String: BuildSession] = [:]
    private var waiters: [String: [CheckedContinuation<BuildSession?, Never>]] = [:]
    public static let maxSessions = 256

    public init() {}

    public func register(_ s: BuildSession) throws {
        guard sessions.count < Self.maxSessions else { throw RPCError(code: .resourceExhausted, message: "too many build sessions") }
        sessions[s.id]?.close()
        sessions[s.id] = s
        for w in waiters.removeValue(forKey: s.id) ?? [] { w.resume(returning: s) }
    }

    public func remove(_ s: BuildSession) {
        if sessions[s.id] === s { sessions[s.id] = nil }
        s.close()
    }

    public func session(_ id: String, wait seconds: Double = 10) async -> BuildSession? {
        if let s = sessions[id] { return s }
        if id.isEmpty { return nil }
        let timeout = Task {
            try? await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
            self.expire(id)
        }
        defer { timeout.cancel() }
        return await withCheckedContinuation { waiters[id, default: []].append($0) }
    }

    private func expire(_ id: String) {
        for w in waiters.removeValue(forKey: id) ?? [] { w.resume(returning: nil) }
    }
}
