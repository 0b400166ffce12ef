import GRDB
import OCI

/// What the store remembers about images' registry forms: the compressed blob each layer was
/// pulled or pushed as (so a push does not recompress and a pull of a shared layer is skipped),
/// and `RepoDigests`.
public struct CompressedLayer: Sendable {
    public var digest: Digest
    public var mediaType: String
    public var size: Int64
    public init(digest: Digest, mediaType: String, size: Int64) { self.digest = digest; self.mediaType = mediaType; self.size = size }
}

extension Store {
    /// Partial downloads live here across daemon restarts, so an interrupted pull resumes.
    public func ingestPath(_ d: Digest) -> String { root + "/ingest/" + d.hex }

    public func recordCompressed(diffID: Digest, _ c: CompressedLayer) throws {
        try db.write {
            try $0.execute(
                sql: "INSERT OR REPLACE INTO layer_blobs (diff_id, digest, media_type, size) VALUES (?, ?, ?, ?)",
                arguments: [diffID.description, c.digest.description, c.mediaType, c.size])
        }
    }

    public func compressed(diffID: Digest) throws -> CompressedLayer? {
        try db.read { db in
            for row in try Row.fetchAll(db, sql: "SELECT digest, media_type, size FROM layer_blobs WHERE diff_id = ?", arguments: [diffID.description]) {
                if let d = Digest(parsing: row["digest"]), hasBlob(d) { return CompressedLayer(digest: d, mediaType: row["media_type"], size: row["size"]) }
            }
            return nil
        }
    }

    /// Repositories (`host/path`) known to hold a blob: a push to another repository on the same
    /// registry can mount it instead of uploading.
    public func addBlobSource(_ d: Digest, repository: String) throws {
        try db.write { try $0.execute(sql: "INSERT OR IGNORE INTO blob_sources (digest, repository) VALUES (?, ?)", arguments: [d.description, repository]) }
    }

    public func blobSources(_ d: Digest) throws -> [String] {
        try db.read { try String.fetchAll($0, sql: "SELECT repository FROM blob_sources WHERE digest = ? ORDER BY repository", arguments: [d.description]) }
    }

    public func addRepoDigest(_ ref: String, image: Digest) throws {
        try db.write { try $0.execute(sql: "INSERT OR REPLACE INTO repo_digests (image_id, ref) VALUES (?, ?)", arguments: [image.description, ref]) }
    }

    public func imageID(forRepoDigest ref: String) throws -> Digest? {
        try db.read { try String.fetchOne($0, sql: "SELECT image_id FROM repo_digests WHERE ref = ?", arguments: [ref]) }.flatMap(Digest.init(parsing:))
    }

    public func repoDigests(image: Digest) throws -> [String] {
        try db.read { try String.fetchAll($0, sql: "SELECT ref FROM repo_digests WHERE image_id = ? ORDER BY ref", arguments: [image.description]) }
    }
}
