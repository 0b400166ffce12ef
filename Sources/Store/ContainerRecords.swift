import GRDB
import JSON

/// Containers are stored as one JSON document each (the engine owns its shape); the name is a
/// column so that SQLite enforces uniqueness.
extension Store {
    public func saveContainer(id: String, name: String, doc: JSON) throws {
        try db.write { try $0.execute(sql: "INSERT OR REPLACE INTO containers (id, name, doc) VALUES (?, ?, ?)", arguments: [id, name, doc.serialized()]) }
    }

    public func deleteContainer(id: String) throws {
        try db.write { try $0.execute(sql: "DELETE FROM containers WHERE id = ?", arguments: [id]) }
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
