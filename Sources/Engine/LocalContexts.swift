import Foundation
import Sys

/// One entry of a client directory the daemon keeps (BuildKit's local source), as its sender
/// described it and as it lies on disk: what a transfer compares to skip unchanged entries.
public struct LocalContextEntry: Sendable, Equatable {
    public enum Kind: Sendable, Equatable { case directory, file, symlink, fifo, hardlink }
    public var kind: Kind
    public var perm: UInt32
    public var uid: UInt32
    public var gid: UInt32
    public var size: Int64
    /// Nanoseconds since the epoch.
    public var mtime: Int64
    public var link: String
    public init(kind: Kind, perm: UInt32, uid: UInt32, gid: UInt32, size: Int64, mtime: Int64, link: String) {
        self.kind = kind; self.perm = perm; self.uid = uid; self.gid = gid; self.size = size; self.mtime = mtime; self.link = link
    }
}

/// A transfer's place: the generation directory to write, and the one it starts from.
public struct LocalContextLease: Sendable {
    public let keyDir: String
    public let generation: Int
    /// The generation the transfer compares with (nil: none yet); equal to `generation` when
    /// it is updated in place (no build is reading it).
    public let base: Int?
    public let baseManifest: [String: LocalContextEntry]?
    public init(keyDir: String, generation: Int, base: Int?, baseManifest: [String: LocalContextEntry]?) {
        self.keyDir = keyDir; self.generation = generation; self.base = base; self.baseManifest = baseManifest
    }
    public var directory: String { keyDir + "/g\(generation)" }
    public var baseDirectory: String? { base.map { keyDir + "/g\($0)" } }
    public var inPlace: Bool { base == generation }
}

/// The client directories the daemon keeps between builds, each under
/// `build-cache/contexts/<key>/g<N>`: a generation is the context a build reads in place, so it
/// never changes while a build uses it. A transfer with no build reading the latest generation
/// updates it in place (only what changed is written); otherwise it makes the next one, hard
/// links to unchanged files of the latest. Generations no build uses and that are not the
/// latest are removed. Transfers of one key take turns (the caller's "context-mirror:" claim).
struct LocalContextState {
    var current: Int?
    var users: [Int: Int] = [:]
    var manifests: [Int: [String: LocalContextEntry]] = [:]
}

extension Engine {
    public func beginLocalContextTransfer(_ keyDir: String) -> LocalContextLease {
        let state = localContexts[keyDir] ?? Self.discoverLocalContext(keyDir)
        localContexts[keyDir] = state
        guard let current = state.current else { return LocalContextLease(keyDir: keyDir, generation: 0, base: nil, baseManifest: nil) }
        if state.users[current, default: 0] == 0 {
            return LocalContextLease(keyDir: keyDir, generation: current, base: current, baseManifest: state.manifests[current])
        }
        let next = (state.users.keys.max() ?? current) + 1
        return LocalContextLease(keyDir: keyDir, generation: max(next, current + 1), base: current, baseManifest: state.manifests[current])
    }

    /// The transfer into `lease` is over: on success its generation is the latest, with the
    /// entries it now holds, and is in use by the caller's build until `releaseLocalContext`.
    public func endLocalContextTransfer(_ lease: LocalContextLease, manifest: [String: LocalContextEntry]?) {
        var state = localContexts[lease.keyDir] ?? LocalContextState()
        let previous = state.current
        state.current = lease.generation
        // nil: the transfer failed part way; what is on disk is described by a scan next time.
        state.manifests[lease.generation] = manifest
        if manifest != nil { state.users[lease.generation, default: 0] += 1 }
        if let previous, previous != lease.generation, state.users[previous, default: 0] == 0 {
            state.manifests[previous] = nil
            state.users[previous] = nil
            Self.removeDetached(lease.keyDir + "/g\(previous)")
        }
        localContexts[lease.keyDir] = state
    }

    public func releaseLocalContext(_ lease: LocalContextLease) {
        guard var state = localContexts[lease.keyDir] else { return }
        let left = state.users[lease.generation, default: 1] - 1
        state.users[lease.generation] = left > 0 ? left : nil
        if left <= 0 && state.current != lease.generation {
            state.manifests[lease.generation] = nil
            Self.removeDetached(lease.directory)
        }
        localContexts[lease.keyDir] = state
    }

    /// Whether a build reads one of the key's generations now.
    func localContextInUse(_ keyDir: String) -> Bool {
        (localContexts[keyDir]?.users.values.reduce(0, +) ?? 0) > 0
    }

    /// After a restart: the newest generation on disk is the latest (its entries are scanned
    /// when a transfer needs them); anything else there (older generations, the copies an
    /// earlier Berth kept directly under the key) goes.
    static func discoverLocalContext(_ keyDir: String) -> LocalContextState {
        var state = LocalContextState()
        try? FS.mkdirAll(keyDir, mode: 0o700)
        let names = (try? FS.list(keyDir)) ?? []
        let gens = names.compactMap { $0.hasPrefix("g") ? Int($0.dropFirst()) : nil }.filter { $0 >= 0 && $0 < Int(Int32.max) }
        state.current = gens.max()
        for n in names where n != state.current.map({ "g\($0)" }) { FS.removeAll(keyDir + "/" + n) }
        return state
    }

    static func removeDetached(_ path: String) {
        Thread.detachNewThread { FS.removeAll(path) }
    }
}
