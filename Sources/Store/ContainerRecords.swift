import GRDB
import JSON

/// Containers are stored as one JSON document each (the engine owns its shape); the name is a
/// column so that SQLite enforces uniqueness.
extension Store {
    /// `durable: false`: as for `deleteContainer`. A container removed at its exit (`--rm`) is
    /// never synced, neither its create nor its start: a power loss that undoes them leaves a
    /// directory no row owns, which the next start sweeps, or a row in an earlier state, which
    /// the next start removes (as dockerd, it removes every `--rm` container not running).
    public func saveContainer(id: String, name: String, doc: JSON, durable: Bool = true) throws {
        try commit(durable: durable) {
            try $0.execute(sql: "INSERT OR REPLACE INTO containers (id, name, doc) VALUES (?, ?, ?)", arguments: [id, name, doc.serialized()])
        }
    }

    /// `durable: false`: committed to the write-ahead log without waiting for the disk (a daemon's
    /// crash keeps it; a power loss may undo it until the next synced commit). For a container
    /// removed at its exit (`--rm`): a daemon that comes back with its row removes it again; the
    /// sync cost every `run --rm` a fifth of a millisecond before its answer. dockerd's removal
    /// is not synced either.
    public func deleteContainer(id: String, durable: Bool = true) throws {
        try commit(durable: durable) { try $0.execute(sql: "DELETE FROM containers WHERE id = ?", arguments: [id]) }
    }

    /// One transaction; `durable: false` commits it to the write-ahead log without waiting for
    /// the disk. The level can only change between transactions, and is this connection's: set
    /// for the one commit and put back whatever happens.
    private func commit(durable: Bool, _ body: (Database) throws -> Void) throws {
        guard !durable else { return try db.write(body) }
        try db.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            defer { try? db.execute(sql: "PRAGMA synchronous = FULL") }
            try db.inTransaction {
                try body(db)
                return .commit
            }
        }
    }

    /// Every stored container's id, whether or not its document still decodes.
    public func containerIDs() throws -> Set<String> {
        try db.read { Set(try String.fetchAll($0, sql: "SELECT id FROM containers")) }
    }

    public func loadContainers() throws -> [JSON] {
        try db.read { db in
            try String.fetchAll(db, sql: "SELECT doc FROM containers").compactMap { try? JSON.parse($0) }
        }
    }
}
