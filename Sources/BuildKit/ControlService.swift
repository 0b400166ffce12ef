import BuildKitAPI
import Engine
import Foundation
import GRPCCore
import JSON
import SwiftProtobuf
import Sys

/// BuildKit's `moby.buildkit.v1.Control`, as berthd serves it on `POST /grpc`: what a client
/// asks before it builds (the worker and its platforms, the version, the build cache's usage).
/// `Solve` runs the dockerfile.v0 frontend on Berth's builder (Solver); `Status` streams its
/// progress by ref.
public struct ControlService: Moby_Buildkit_V1_Control.SimpleServiceProtocol {
    /// What Berth reports as its BuildKit version (the API level its answers follow).
    public static let version = "v0.12.5-berth"
    let workerID: String
    let platforms: [(os: String, architecture: String, variant: String)]
    let solver: Solver?

    public init(
        workerID: String, solver: Solver? = nil, platforms: [(os: String, architecture: String, variant: String)] = ControlService.hostPlatforms
    ) {
        self.workerID = workerID
        self.solver = solver
        self.platforms = platforms
    }

    public static var hostPlatforms: [(os: String, architecture: String, variant: String)] {
        #if arch(x86_64)
            [("linux", "amd64", ""), ("linux", "386", "")]
        #elseif arch(arm64)
            [("linux", "arm64", ""), ("linux", "arm", "v7")]
        #else
            [("linux", "unknown", "")]
        #endif
    }

    static func buildkitVersion() -> Moby_Buildkit_V1_Types_BuildkitVersion {
        var v = Moby_Buildkit_V1_Types_BuildkitVersion()
        v.package = "github.com/berth/berth"
        v.version = version
        v.revision = ""
        return v
    }

    public func listWorkers(request: Moby_Buildkit_V1_ListWorkersRequest, context: ServerContext) async throws -> Moby_Buildkit_V1_ListWorkersResponse {
        var w = Moby_Buildkit_V1_Types_WorkerRecord()
        w.id = workerID
        w.labels = [
            // No snapshotter label: buildx takes one for dockerd's containerd image store, and
            // would then export OCI images and push directly; Berth's store is the classic one.
            "org.mobyproject.buildkit.worker.executor": "oci",
            "org.mobyproject.buildkit.worker.moby.host-gateway-ip": "172.17.0.1",
        ]
        w.platforms = platforms.map { p in
            var pl = Pb_Platform()
            pl.os = p.os
            pl.architecture = p.architecture
            pl.variant = p.variant
            return pl
        }
        w.buildkitVersion = Self.buildkitVersion()
        var r = Moby_Buildkit_V1_ListWorkersResponse()
        r.record = [w]
        return r
    }

    public func info(request: Moby_Buildkit_V1_InfoRequest, context: ServerContext) async throws -> Moby_Buildkit_V1_InfoResponse {
        var r = Moby_Buildkit_V1_InfoResponse()
        r.buildkitVersion = Self.buildkitVersion()
        return r
    }

    static func usageRecord(_ j: JSON) -> Moby_Buildkit_V1_UsageRecord {
        var r = Moby_Buildkit_V1_UsageRecord()
        r.id = j["ID"].string ?? ""
        r.mutable = true
        r.inUse = j["InUse"].bool ?? false
        r.size = j["Size"].int ?? 0
        r.usageCount = j["UsageCount"].int ?? 0
        r.description_p = j["Description"].string ?? ""
        r.recordType = j["Type"].string ?? "exec.cachemount"
        if let t = j["CreatedAt"].string.flatMap(Timestamp.parse) {
            r.createdAt = Google_Protobuf_Timestamp(seconds: t.nanos / 1_000_000_000, nanos: Int32(t.nanos % 1_000_000_000))
        }
        if let t = j["LastUsedAt"].string.flatMap(Timestamp.parse) {
            r.lastUsedAt = Google_Protobuf_Timestamp(seconds: t.nanos / 1_000_000_000, nanos: Int32(t.nanos % 1_000_000_000))
        }
        return r
    }

    /// The builder's cache records: its cache mounts (the legacy cache is images).
    public func diskUsage(request: Moby_Buildkit_V1_DiskUsageRequest, context: ServerContext) async throws -> Moby_Buildkit_V1_DiskUsageResponse {
        var r = Moby_Buildkit_V1_DiskUsageResponse()
        if let engine = solver?.engine { r.record = await engine.buildCacheRecords().map(Self.usageRecord) }
        return r
    }

    public func prune(request: Moby_Buildkit_V1_PruneRequest, response: RPCWriter<Moby_Buildkit_V1_UsageRecord>, context: ServerContext) async throws {
        guard let engine = solver?.engine else { return }
        guard request.filter.isEmpty else { throw RPCError(code: .invalidArgument, message: "prune filters are not supported by berthd's BuildKit API") }
        let before = await engine.buildCacheRecords()
        var filters: [String: [String]] = [:]
        if request.keepDuration > 0 { filters["until"] = ["\(request.keepDuration / 1_000_000_000)s"] }
        let pruned: (deleted: [String], reclaimed: Int64)
        do { pruned = try await engine.pruneBuildCache(keepStorage: 0, filters: filters) } catch {
            throw RPCError(code: .invalidArgument, message: error.description)
        }
        for rec in before where pruned.deleted.contains(rec["ID"].string ?? "") { try await response.write(Self.usageRecord(rec)) }
    }

    public func solve(request: Moby_Buildkit_V1_SolveRequest, context: ServerContext) async throws -> Moby_Buildkit_V1_SolveResponse {
        guard let solver else { throw RPCError(code: .unimplemented, message: "builds through BuildKit's API are not served by this daemon") }
        return try await solver.solve(request)
    }

    /// The ref's progress: what was published before this call, then updates until it ends.
    public func status(request: Moby_Buildkit_V1_StatusRequest, response: RPCWriter<Moby_Buildkit_V1_StatusResponse>, context: ServerContext) async throws {
        guard let solver else { throw RPCError(code: .unimplemented, message: "builds through BuildKit's API are not served by this daemon") }
        for await update in await solver.jobs.subscribe(request.ref) { try await response.write(update) }
    }
}
