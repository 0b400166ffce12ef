import GRDB
import Sys
import Testing

@testable import Store

/// The metadata database's durability settings: every container start and exit commits, so the
/// journal mode decides both their cost and what a power loss can take.
@Suite struct StoreDurabilityTests {
    @Test func commitsGoToAWriteAheadLogSyncedAtEachCommit() throws {
        let root = try FS.makeTempDirectory("/tmp/berth-store-")
        defer { FS.removeAll(root) }
        let store = try Store(root: root)
        let (mode, sync) = try store.db.read { db in
            (try String.fetchOne(db, sql: "PRAGMA journal_mode"), try Int.fetchOne(db, sql: "PRAGMA synchronous"))
        }
        #expect(mode == "wal")
        #expect(sync == 2)  // FULL: a committed change survives a power loss, not only a crash
        try store.saveContainer(id: "c1", name: "one", doc: ["Id": "c1"])
        #expect(FS.exists(root + "/berth.db-wal"))
        // A second opening (the next daemon) reads what the first committed.
        let again = try Store(root: root)
        #expect(try again.loadContainers().count == 1)
    }

    @Test func aRemovalAtExitIsNotSyncedAndLeavesCommitsSynced() throws {
        let root = try FS.makeTempDirectory("/tmp/berth-store-")
        defer { FS.removeAll(root) }
        let store = try Store(root: root)
        try store.saveContainer(id: "c1", name: "one", doc: ["Id": "c1"])
        try store.saveContainer(id: "c2", name: "two", doc: ["Id": "c2"])
        try store.deleteContainer(id: "c1", durable: false)
        #expect(try store.containerIDs() == ["c2"])
        // The connection is back to FULL: the next start's or create's commit is synced again.
        #expect(try store.db.read { try Int.fetchOne($0, sql: "PRAGMA synchronous") } == 2)
        try store.deleteContainer(id: "c2")
        #expect(try Store(root: root).containerIDs().isEmpty)
    }
}
