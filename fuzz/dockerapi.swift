import DockerAPI
import JSON

/// Request bodies typed as Go decodes them: any JSON must be accepted or refused, never trap.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDockerAPI(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard let body = try? JSON.parse(Array(UnsafeBufferPointer(start: data, count: size))) else { return 0 }
    _ = try? CreateRequest.check(body)
    for t in [RequestBodies.exec, RequestBodies.update, RequestBodies.networkCreate, RequestBodies.volumeCreate] {
        _ = try? RequestBodies.check(body, as: t)
    }
    return 0
}
