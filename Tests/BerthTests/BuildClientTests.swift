import Archive
import BuildClient
import BuildKit
import BuildKitAPI
import Foundation
import Sys
import Testing

@testable import CLI

/// `berth build`'s session side: the FileSync sender against berthd's receiver, and the
/// --secret/--ssh flags as buildx reads them.
@Suite struct BuildClientTests {
    final class Sink: @unchecked Sendable {
        var bytes: [UInt8] = []
    }

    /// A directory sent through FileSyncSender into FileSyncReceiver: the tar's entries.
    static func roundTrip(_ dir: String, includes: [String] = [], excludes: [String] = []) async throws -> [String: [UInt8]] {
        let sender = try FileSyncSender(directory: dir, includes: includes, excludes: excludes)
        let sink = Sink()
        var r = FileSyncReceiver(tar: TarWriter { sink.bytes += $0 })
        var sent: [Fsutil_Types_Packet] = []
        for p in sender.statPackets() { sent = try r.receive(p).send }
        while let req = sent.first, req.type == Fsutil_Types_Packet.PacketType.packetReq {
            var packets: [Fsutil_Types_Packet] = []
            try await sender.sendFile(req.id) { packets.append($0) }
            for p in packets { sent = try r.receive(p).send }
        }
        #expect(sent.map { $0.type } == [Fsutil_Types_Packet.PacketType.packetFin])
        let path = NSTemporaryDirectory() + "/bc-\(UUID().uuidString).tar"
        defer { unlink(path) }
        try Data(sink.bytes).write(to: URL(fileURLWithPath: path))
        let reader = try ArchiveReader(path: path)
        var out: [String: [UInt8]] = [:]
        while let e = try reader.next() {
            let name = e.path.hasSuffix("/") ? String(e.path.dropLast()) : e.path
            out[name] = e.kind == .file ? try reader.readAllData() : e.kind == .symlink ? Array(("-> " + e.linkTarget).utf8) : []
        }
        return out
    }

    @Test func aDirectorySentWithItsPatternsArrivesWhole() async throws {
        let dir = NSTemporaryDirectory() + "/bc-\(UUID().uuidString)"
        defer { FS.removeAll(dir) }
        try FS.mkdirAll(dir + "/src/deep")
        try FS.mkdirAll(dir + "/logs")
        try FS.writeAtomic(dir + "/Dockerfile", "FROM scratch\n")
        try FS.writeAtomic(dir + "/src/main.c", "int main;\n")
        try FS.writeAtomic(dir + "/src/deep/big", [UInt8](repeating: 7, count: 100_000))
        try FS.writeAtomic(dir + "/logs/a.log", "x")
        try FS.writeAtomic(dir + "/logs/keep.log", "k")
        symlink("src/main.c", dir + "/link")
        let all = try await Self.roundTrip(dir)
        #expect(Set(all.keys) == ["Dockerfile", "src", "src/main.c", "src/deep", "src/deep/big", "logs", "logs/a.log", "logs/keep.log", "link"])
        #expect(all["src/deep/big"] == [UInt8](repeating: 7, count: 100_000) && all["link"] == Array("-> src/main.c".utf8))
        // Excluded files never leave; a `!` brings one back with its directory.
        let some = try await Self.roundTrip(dir, excludes: ["logs", "!logs/keep.log", "src/deep"])
        #expect(Set(some.keys) == ["Dockerfile", "src", "src/main.c", "logs", "logs/keep.log", "link"])
        // Includes keep what they name and the directories on the way.
        let only = try await Self.roundTrip(dir, includes: ["Dockerfile", "src/deep/big"])
        #expect(Set(only.keys) == ["Dockerfile", "src", "src/deep", "src/deep/big"])
        #expect(try await Self.roundTrip(dir, includes: [".dockerignore"]).isEmpty)
    }

    @Test func aFileThatChangedSizeIsNotSentAsItWas() async throws {
        let dir = NSTemporaryDirectory() + "/bc-\(UUID().uuidString)"
        defer { FS.removeAll(dir) }
        try FS.mkdirAll(dir)
        try FS.writeAtomic(dir + "/f", "short")
        let sender = try FileSyncSender(directory: dir)
        try FS.writeAtomic(dir + "/f", "much longer now")
        await #expect(throws: FileSyncSender.Failure.self) { try await sender.sendFile(0) { _ in } }
        await #expect(throws: FileSyncSender.Failure.self) { try await sender.sendFile(7) { _ in } }
    }

    @Test func secretFlagsAsBuildxReadsThem() throws {
        let env = { (k: String) -> String? in k == "TOKEN" ? "x" : nil }
        #expect(try SessionFlags.secret("id=a,src=/f", lookup: env) == .init(id: "a", file: "/f"))
        #expect(try SessionFlags.secret("id=a,source=/f", lookup: env) == .init(id: "a", file: "/f"))
        #expect(try SessionFlags.secret("id=a,env=TOKEN", lookup: env) == .init(id: "a", env: "TOKEN"))
        #expect(try SessionFlags.secret("id=a,type=env,src=TOKEN", lookup: env) == .init(id: "a", env: "TOKEN"))
        #expect(try SessionFlags.secret("id=TOKEN", lookup: env) == .init(id: "TOKEN", env: "TOKEN"))
        #expect(try SessionFlags.secret("id=other", lookup: env) == .init(id: "other", file: "other"))
        #expect(try SessionFlags.secret("src=/run/x.txt", lookup: env) == .init(id: "x.txt", file: "/run/x.txt"))
        for bad in ["id", "id=a,frob=1", "id=a,type=ftp", "id=a,src=/f,env=E", "", "=", "type=env"] {
            #expect(throws: CLIError.self, "\(bad)") { try SessionFlags.secret(bad, lookup: env) }
        }
        #expect(throws: CLIError.self) { try SessionFlags.agent("default", lookup: { _ in nil }) }
        #expect(throws: CLIError.self) { try SessionFlags.agent("default=/etc/hostname") }
        #expect(throws: CLIError.self) { try SessionFlags.agent("id=/a/key1,/a/key2") }
    }
}
