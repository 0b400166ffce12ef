import Foundation
import GRDB
import JSON
import OCI
import Sys

/// One image as stored: its config (whose digest is the ID) and the tags pointing at it.
public struct ImageRecord: Sendable {
    public var id: Digest
    public var config: ImageConfig
    public var size: Int64
    public var createdAt: Int64
    public var tags: [Reference]
}

extension Store {
    public func registerImage(config: ImageConfig, tags: [Reference]) throws -> Digest {
        let id = config.id
        try putBlob(config.raw)
        var size: Int64 = 0
        for chain in chainIDs(config.diffIDs) { size += try layerSize(chain) }
        try db.write { db in
            try db.execute(
                sql: "INSERT OR IGNORE INTO images (id, config, size, created_at) VALUES (?, ?, ?, ?)",
                arguments: [id.description, Data(config.raw), size, Timestamp.now().nanos])
            for t in tags { try db.execute(sql: "INSERT OR REPLACE INTO tags (ref, image_id) VALUES (?, ?)", arguments: [t.description, id.description]) }
        }
        return id
    }

    public func allImages() throws -> [ImageRecord] {
        try db.read { db in
            var tagMap: [String: [Reference]] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT ref, image_id FROM tags ORDER BY ref") {
                let ref: String = row["ref"], img: String = row["image_id"]
                if let r = try? Reference(parsing: ref) { tagMap[img, default: []].append(r) }
            }
            return try Row.fetchAll(db, sql: "SELECT id, config, size, created_at FROM images").compactMap { row in
                let id: String = row["id"]
                let data: Data = row["config"]
                guard let d = Digest(parsing: id), let cfg = try? ImageConfig(raw: Array(data)) else { return nil }
                return ImageRecord(id: d, config: cfg, size: row["size"], createdAt: row["created_at"], tags: tagMap[id] ?? [])
            }
        }
    }

    /// One image by ID: one row and its tags (this is on the container start path).
    public func image(id: Digest) throws -> ImageRecord? {
        try db.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT config, size, created_at FROM images WHERE id = ?", arguments: [id.description]) else {
                return nil
            }
            let data: Data = row["config"]
            guard let cfg = try? ImageConfig(raw: Array(data)) else { return nil }
            let tags = try String.fetchAll(db, sql: "SELECT ref FROM tags WHERE image_id = ? ORDER BY ref", arguments: [id.description])
                .compactMap { try? Reference(parsing: $0) }
            return ImageRecord(id: id, config: cfg, size: row["size"], createdAt: row["created_at"], tags: tags)
        }
    }

    public func imageID(forTag ref: Reference) throws -> Digest? {
        try db.read { try String.fetchOne($0, sql: "SELECT image_id FROM tags WHERE ref = ?", arguments: [ref.description]) }.flatMap(Digest.init(parsing:))
    }

    public func imageIDs(withPrefix hex: String) throws -> [Digest] {
        try db.read { try String.fetchAll($0, sql: "SELECT id FROM images WHERE id LIKE ? LIMIT 2", arguments: ["sha256:" + hex + "%"]) }
            .compactMap(Digest.init(parsing:))
    }

    public func tag(_ ref: Reference, image: Digest) throws {
        try db.write { try $0.execute(sql: "INSERT OR REPLACE INTO tags (ref, image_id) VALUES (?, ?)", arguments: [ref.description, image.description]) }
    }

    /// Removes a tag; returns whether it existed.
    public func untag(_ ref: Reference) throws -> Bool {
        try db.write { db in
            try db.execute(sql: "DELETE FROM tags WHERE ref = ?", arguments: [ref.description])
            return db.changesCount > 0
        }
    }

    /// Deletes the image row and its tags. Layers stay until no image needs them (see pruneLayers).
    public func deleteImage(_ id: Digest) throws {
        try db.write { db in
            try db.execute(sql: "DELETE FROM tags WHERE image_id = ?", arguments: [id.description])
            try db.execute(sql: "DELETE FROM images WHERE id = ?", arguments: [id.description])
        }
    }

    /// Removes snapshots and layer blobs that no remaining image references; returns the chain IDs removed.
    @discardableResult
    public func pruneLayers() throws -> [Digest] {
        let images = try allImages()
        var used = Set<String>(), usedBlobs = Set<String>()
        for img in images {
            for c in chainIDs(img.config.diffIDs) { used.insert(c.hex) }
            for d in img.config.diffIDs { usedBlobs.insert(d.hex) }
            usedBlobs.insert(img.id.hex)
        }
        let rows = try db.read { try Row.fetchAll($0, sql: "SELECT chain_id, diff_id FROM layers") }
        var removed: [Digest] = []
        for row in rows {
            let chain: String = row["chain_id"], diff: String = row["diff_id"]
            guard !used.contains(chain) else { continue }
            try db.write { try $0.execute(sql: "DELETE FROM layers WHERE chain_id = ?", arguments: [chain]) }
            FS.removeAll(root + "/snapshots/" + chain)
            if let d = Digest(parsing: diff), !usedBlobs.contains(d.hex) { unlink(blobPath(d)) }
            removed.append(Digest(hex: chain))
        }
        return removed
    }
}
