import BuildKitAPI
import Foundation
import GRPCCore

/// BuildKit's gateway (`moby.buildkit.v1.frontend.LLBBridge`) as berthd serves it on
/// `POST /grpc`: buildx and Compose v2 run their build function against it — Ping for the
/// capabilities, Solve with the dockerfile.v0 frontend, Return with the result — each call
/// naming its build in the `buildkit-controlapi-buildid` header. Other gateway calls (LLB
/// definitions, containers, file reads of results) answer UNIMPLEMENTED.
public struct GatewayService: Moby_Buildkit_V1_Frontend_LLBBridge.ServiceProtocol {
    let solver: Solver
    let control: ControlService

    public init(solver: Solver, control: ControlService) {
        self.solver = solver
        self.control = control
    }

    /// The capabilities a client checks before it calls: results handed back with Return, as a
    /// ref or a map of refs.
    static let capabilities = [
        "solve.base", "solve.inlinereturn", "return", "returnmap", "proto.refarray", "gateway.solve.metadata",
    ]

    static func buildID(_ md: Metadata) throws -> String {
        let ids = Array(md[stringValues: "buildkit-controlapi-buildid"])
        guard ids.count == 1, !ids[0].isEmpty, ids[0].utf8.count <= 256 else {
            throw RPCError(code: .invalidArgument, message: "a gateway call needs its build id (buildkit-controlapi-buildid)")
        }
        return ids[0]
    }

    public func ping(
        request: ServerRequest<Moby_Buildkit_V1_Frontend_PingRequest>, context: ServerContext
    ) async throws -> ServerResponse<Moby_Buildkit_V1_Frontend_PongResponse> {
        var pong = Moby_Buildkit_V1_Frontend_PongResponse()
        pong.frontendApicaps = Self.capabilities.map { id in
            var c = Moby_Buildkit_V1_Frontend_APICap()
            c.id = id
            c.enabled = true
            return c
        }
        pong.workers = try await control.listWorkers(request: Moby_Buildkit_V1_ListWorkersRequest(), context: context).record
        return ServerResponse(message: pong)
    }

    public func solve(
        request: ServerRequest<Moby_Buildkit_V1_Frontend_SolveRequest>, context: ServerContext
    ) async throws -> ServerResponse<Moby_Buildkit_V1_Frontend_SolveResponse> {
        let id = try Self.buildID(request.metadata)
        return ServerResponse(message: try await solver.gatewaySolve(buildID: id, request.message))
    }

    public func `return`(
        request: ServerRequest<Moby_Buildkit_V1_Frontend_ReturnRequest>, context: ServerContext
    ) async throws -> ServerResponse<Moby_Buildkit_V1_Frontend_ReturnResponse> {
        let id = try Self.buildID(request.metadata)
        try await solver.gatewayReturn(buildID: id, request.message)
        return ServerResponse(message: Moby_Buildkit_V1_Frontend_ReturnResponse())
    }
}
