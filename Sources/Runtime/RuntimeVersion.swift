import Dispatch
import Synchronization
import Sys

/// What an OCI runtime says of itself (`<runtime> --version`), read as dockerd reads it
/// (parseRuntimeVersion): `docker version` lists the default runtime under its configured name
/// with this version, and `docker info`'s RuncCommit is this commit.
public struct RuntimeVersion: Sendable, Equatable {
    public var runtime: String
    public var version: String
    public var commit: String

    public init(runtime: String, version: String, commit: String) { self.runtime = runtime; self.version = version; self.commit = commit }

    /// A line holding "version" gives the name before it and the version after its last
    /// occurrence; a `commit:` line the commit. Output with neither is not a runtime's.
    public static func parse(_ output: String) -> RuntimeVersion? {
        var out = RuntimeVersion(runtime: "", version: "", commit: "")
        for line in output.split(separator: "\n") {
            let parts = line.split(separator: "version", omittingEmptySubsequences: false)
            if parts.count > 1 {
                out.runtime = String(parts[0]).trimmingSpaces()
                out.version = String(parts[parts.count - 1]).trimmingSpaces()
            } else if line.hasPrefix("commit:") {
                out.commit = String(line.dropFirst("commit:".count)).trimmingSpaces()
            }
        }
        return out.version.isEmpty && out.commit.isEmpty ? nil : out
    }

    /// The runtime's answer, asked once per executable in a daemon's life (dockerd asks at every
    /// request; the binary does not change under a running daemon in any way Berth supports).
    /// nil when it cannot be run or says nothing a runtime would. Asked on a queue of its own: a
    /// runtime slow to answer holds up the requests that wait for its answer, never the threads
    /// every other request runs on.
    public static func of(_ runtime: OCIRuntime) async -> RuntimeVersion? {
        if let known = cache.withLock({ $0[runtime.path] }) { return known }
        return await withCheckedContinuation { (done: CheckedContinuation<RuntimeVersion?, Never>) in
            asking.async {
                if let known = cache.withLock({ $0[runtime.path] }) { return done.resume(returning: known) }
                let found = (try? Proc.run([runtime.path, "--version"])).flatMap { $0.status == 0 ? parse($0.stdoutText) : nil }
                cache.withLock { $0[runtime.path] = .some(found) }
                done.resume(returning: found)
            }
        }
    }

    private static let asking = DispatchQueue(label: "berth.runtime-version")
    private static let cache = Mutex<[String: RuntimeVersion?]>([:])
}
