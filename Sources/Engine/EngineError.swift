import Store

/// Errors the API maps to Docker's status codes; messages use Docker's words.
public enum EngineError: Error, Sendable, CustomStringConvertible {
    case notFound(String)
    case conflict(String)
    case notModified
    case badRequest(String)
    case forbidden(String)
    case unauthorized(String)
    case internalError(String)
    /// A feature that exists but is not active here (dockerd's 503, e.g. swarm endpoints on a node in no swarm).
    case unavailable(String)
    /// A feature Berth does not implement at all: refused, never silently ignored.
    case notImplemented(String)
    /// A build step's command failed: its message and exit code (the build stream's errorDetail).
    case stepFailed(String, Int32)

    public var description: String {
        switch self {
        case .notFound(let m), .conflict(let m), .badRequest(let m), .forbidden(let m), .unauthorized(let m), .internalError(let m), .unavailable(let m),
            .notImplemented(let m), .stepFailed(let m, _):
            return m
        case .notModified: return ""
        }
    }

    public var status: Int {
        switch self {
        case .notFound: return 404
        case .conflict: return 409
        case .notModified: return 304
        case .badRequest: return 400
        case .forbidden: return 403
        case .unauthorized: return 401
        case .internalError: return 500
        case .unavailable: return 503
        case .notImplemented: return 501
        case .stepFailed: return 500
        }
    }

    /// Any error as an EngineError: engine errors as they are, others (store, file system) as
    /// internal errors in the user's words (a full disk says "no space left on device").
    static func wrapping(_ error: any Error) -> EngineError {
        if let e = error as? EngineError { return e }
        return .internalError(Store.describe(error))
    }

    static func noSuchContainer(_ ref: String) -> EngineError { .notFound("No such container: \(ref)") }
    static func noSuchImage(_ ref: String) -> EngineError { .notFound("No such image: \(ref)") }
}
