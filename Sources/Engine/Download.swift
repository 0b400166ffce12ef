import AsyncHTTPClient
import Glibc
import Sys

extension Engine {
    /// A URL's body streamed into `file` (`docker import <url>`): any size, never in memory.
    /// `limit`: the most bytes accepted (a hostile server could otherwise fill the disk).
    public static func download(_ url: String, to file: String, limit: Int64 = 64 << 30) async throws(EngineError) {
        let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .internalError("\(SysError("open \(file)"))") }
        defer { close(fd) }
        do {
            let resp = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(3600))
            guard resp.status == .ok else { throw EngineError.badRequest("failed to GET \(url) with status \(resp.status.code) \(resp.status.reasonPhrase)") }
            var total: Int64 = 0
            for try await chunk in resp.body {
                total += Int64(chunk.readableBytes)
                guard total <= limit else { throw EngineError.badRequest("failed to download \(url): larger than \(limit) bytes") }
                try chunk.readableBytesView.withUnsafeBytes { try FS.writeAll(fd: fd, $0) }
            }
        } catch let e as EngineError {
            throw e
        } catch {
            throw .badRequest("failed to download \(url): \(error)")
        }
    }
}
