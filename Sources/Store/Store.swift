import Archive
import Foundation
import GRDB
import JSON
import OCI
import Sys

public struct StoreError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The data root: SQLite metadata (GRDB), blobs by digest, layers unpacked once per chain ID.
///
///     berth.db                      images, tags, layers, containers
///     blobs/sha256/<hex>            content store (uncompressed layer tars, image configs)
///     snapshots/<chain-hex>/fs      unpacked layer, an overlay lowerdir shared by every image
///     containers/<id>/              bundle, rw layer, logs, exit file
///     tmp/                          work in progress; cleared at start, never referenced
public final class Store: Sendable {
    public let root: String
    public let db: DatabaseQueue

    public init(root: String) throws {
        self.root = root
        for dir in ["blobs/sha256", "snapshots", "containers", "tmp", "ingest"] { try FS.mkdirAll(root + "/" + dir, mode: 0o710) }
        FS.removeAll(root + "/tmp")
        try FS.mkdirAll(root + "/tmp", mode: 0o700)
        var config = Configuration()
        // Write-ahead log, synced at every commit: a commit costs one fdatasync of the log
        // (a rollback journal cost three: journal, directory, database), and a committed change
        // survives a crash or power loss. Every container start and exit commits.
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA journal_mode = WAL")
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        db = try DatabaseQueue(path: root + "/berth.db", configuration: config)
        try Store.migrator.migrate(db)
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE images (id TEXT PRIMARY KEY, config BLOB NOT NULL, size INTEGER NOT NULL, created_at INTEGER NOT NULL);
                    CREATE TABLE tags (ref TEXT PRIMARY KEY, image_id TEXT NOT NULL REFERENCES images(id));
                    CREATE INDEX tags_image ON tags(image_id);
                    CREATE TABLE layers (chain_id TEXT PRIMARY KEY, diff_id TEXT NOT NULL, size INTEGER NOT NULL);
                    CREATE TABLE containers (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, doc TEXT NOT NULL);
                    """)
        }
        m.registerMigration("v2") { db in
            try db.execute(
                sql: """
                    CREATE TABLE layer_blobs (diff_id TEXT NOT NULL, digest TEXT NOT NULL, media_type TEXT NOT NULL, size INTEGER NOT NULL,
                                              PRIMARY KEY (diff_id, digest));
                    CREATE TABLE repo_digests (image_id TEXT NOT NULL, ref TEXT NOT NULL PRIMARY KEY);
                    """)
        }
        m.registerMigration("v3") { db in
            try db.execute(sql: "CREATE TABLE blob_sources (digest TEXT NOT NULL, repository TEXT NOT NULL, PRIMARY KEY (digest, repository))")
        }
        return m
    }

    public func tempPath(_ prefix: String) -> String {
        root + "/tmp/\(prefix)-\(UInt64.random(in: 0...UInt64.max))"
    }

    // MARK: blobs

    public func blobPath(_ d: Digest) -> String { root + "/blobs/sha256/" + d.hex }
    public func hasBlob(_ d: Digest) -> Bool { FS.exists(blobPath(d)) }

    /// Stores bytes under their digest (atomic; idempotent).
    @discardableResult
    public func putBlob(_ bytes: [UInt8]) throws -> Digest {
        let d = Digest.of(bytes)
        if !hasBlob(d) { try FS.writeAtomic(blobPath(d), bytes) }
        return d
    }

    /// Moves a file whose digest the caller computed while writing it into the content store.
    public func adoptBlob(file: String, digest: Digest) throws {
        if hasBlob(digest) { unlink(file); return }
        let fd = open(file, O_RDONLY)
        if fd >= 0 { fsync(fd); close(fd) }
        guard rename(file, blobPath(digest)) == 0 else { throw StoreError("store blob \(digest): \(SysError("rename"))") }
    }

    public func readBlob(_ d: Digest) throws -> [UInt8] { try FS.read(blobPath(d)) }

    // MARK: snapshots

    public func snapshotPath(_ chain: Digest) -> String { root + "/snapshots/" + chain.hex + "/fs" }

    public func hasLayer(_ chain: Digest) throws -> Bool {
        try db.read { try Int.fetchOne($0, sql: "SELECT 1 FROM layers WHERE chain_id = ?", arguments: [chain.hex]) } != nil
    }

    /// Unpacks a layer tar (already in the blob store as `diffID`) as the snapshot `chain`.
    /// Work happens in tmp/ and lands with one rename: a failed or hostile layer leaves nothing.
    public func createSnapshot(chain: Digest, diffID: Digest, tarPath: String? = nil) throws {
        if try hasLayer(chain) { return }
        let work = tempPath("snap")
        try FS.mkdirAll(work + "/fs")
        do {
            try LayerUnpacker(root: work + "/fs", layer: true).unpack(tarPath: tarPath ?? blobPath(diffID))
        } catch {
            FS.removeAll(work)
            throw error
        }
        let size = FS.diskUsage(work + "/fs")
        let dest = root + "/snapshots/" + chain.hex
        FS.removeAll(dest)
        guard rename(work, dest) == 0 else { FS.removeAll(work); throw StoreError("snapshot \(chain): \(SysError("rename"))") }
        try db.write {
            try $0.execute(sql: "INSERT OR REPLACE INTO layers (chain_id, diff_id, size) VALUES (?, ?, ?)", arguments: [chain.hex, diffID.description, size])
        }
    }

    /// Unpacks a gzip or plain layer in one pass (no intermediate tar), learning its diff ID on
    /// the way; refuses it when it is not `expected`. Returns the diff ID.
    public func createSnapshot(streaming file: String, expected: Digest?, parentChain: Digest?, trusted: Bool = false) throws -> Digest {
        let work = tempPath("snap")
        try FS.mkdirAll(work + "/fs")
        let diffID: Digest
        do {
            diffID = try LayerUnpacker(root: work + "/fs", trusted: trusted, layer: true).unpack(streaming: file)
            if let expected, expected != diffID {
                throw ArchiveError("invalid diffID for layer: expected \(expected), got \(diffID)")
            }
        } catch {
            FS.removeAll(work)
            throw error
        }
        let chain = parentChain.map { Digest.of("\($0) \(diffID)") } ?? diffID
        if try hasLayer(chain) { FS.removeAll(work); return diffID }
        let size = FS.diskUsage(work + "/fs")
        let dest = root + "/snapshots/" + chain.hex
        FS.removeAll(dest)
        guard rename(work, dest) == 0 else { FS.removeAll(work); throw StoreError("snapshot \(chain): \(SysError("rename"))") }
        try db.write {
            try $0.execute(sql: "INSERT OR REPLACE INTO layers (chain_id, diff_id, size) VALUES (?, ?, ?)", arguments: [chain.hex, diffID.description, size])
        }
        return diffID
    }

    public func layerSize(_ chain: Digest) throws -> Int64 {
        try db.read { try Int64.fetchOne($0, sql: "SELECT size FROM layers WHERE chain_id = ?", arguments: [chain.hex]) } ?? 0
    }
}

extension Store {
    /// An error from the store in the words a Docker user expects: SQLite's "database or disk is
    /// full" is the disk being full, said as the kernel says it.
    public static func describe(_ error: any Error) -> String {
        if let e = error as? DatabaseError, e.resultCode == .SQLITE_FULL {
            return "write metadata database: no space left on device"
        }
        return "\(error)"
    }
}
