import Archive
import BuildKitAPI
import Engine
import Foundation
import JSON
import Sys
import Testing

@testable import BuildKit
@testable import Builder

/// BuildKit's API without a client: fsutil's DiffCopy receiver fed packets (hostile ones
/// included), the builder's messages as status updates, and a solve's options.
@Suite struct BuildKitTests {
    final class Sink: @unchecked Sendable {
        var bytes: [UInt8] = []
    }

    static func stat(_ path: String, mode: UInt32, size: Int64 = 0, link: String = "") -> Fsutil_Types_Packet {
        var s = Fsutil_Types_Stat()
        s.path = path
        s.mode = mode
        s.size = size
        s.linkname = link
        s.modTime = 1_700_000_000_000_000_000
        var p = Fsutil_Types_Packet()
        p.type = .packetStat
        p.stat = s
        return p
    }
    static let dir: UInt32 = 1 << 31 | 0o755
    static let symlink: UInt32 = 1 << 27 | 0o777
    static func end() -> Fsutil_Types_Packet {
        var p = Fsutil_Types_Packet()
        p.type = .packetStat
        return p
    }
    static func data(_ id: UInt32, _ bytes: [UInt8]) -> Fsutil_Types_Packet {
        var p = Fsutil_Types_Packet()
        p.type = .packetData
        p.id = id
        p.data = Data(bytes)
        return p
    }
    static func packet(_ t: Fsutil_Types_Packet.PacketType) -> Fsutil_Types_Packet {
        var p = Fsutil_Types_Packet()
        p.type = t
        return p
    }

    @Test func aWalkBecomesATarWithFilesAskedForOneAtATime() throws {
        let sink = Sink()
        var r = FileSyncReceiver(tar: TarWriter { sink.bytes += $0 })
        #expect(try r.receive(Self.stat("app", mode: Self.dir)).send.isEmpty)
        #expect(try r.receive(Self.stat("app/main.sh", mode: 0o755, size: 5)).send.isEmpty)
        #expect(try r.receive(Self.stat("app/link", mode: Self.symlink, link: "main.sh")).send.isEmpty)
        #expect(try r.receive(Self.stat("b.txt", mode: 0o644, size: 0)).send.isEmpty)
        // The end of the walk: the first file is asked for by its index in the walk.
        var step = try r.receive(Self.end())
        #expect(step.send.map(\.type) == [.packetReq] && step.send.first?.id == 1)
        #expect(try r.receive(Self.data(1, Array("ec".utf8))).send.isEmpty)
        #expect(try r.receive(Self.data(1, Array("ho\n".utf8))).send.isEmpty)
        step = try r.receive(Self.data(1, []))
        #expect(step.send.first?.id == 3)
        step = try r.receive(Self.data(3, []))
        #expect(step.send.map(\.type) == [.packetFin])
        #expect(try r.receive(Self.packet(.packetFin)).done)
        #expect(r.bytesReceived == 5 && r.entryCount == 4)

        let path = NSTemporaryDirectory() + "/bk-\(UUID().uuidString).tar"
        defer { unlink(path) }
        try Data(sink.bytes).write(to: URL(fileURLWithPath: path))
        let reader = try ArchiveReader(path: path)
        var seen: [String: (TarEntry.Kind, UInt32, String)] = [:]
        var content: [UInt8] = []
        while let e = try reader.next() {
            seen[e.path] = (e.kind, e.mode, e.linkTarget)
            if e.path == "app/main.sh" { content = try reader.readAllData() }
        }
        #expect(seen["app/"]?.0 == .directory || seen["app"]?.0 == .directory)
        #expect(seen["app/main.sh"]?.0 == .file && seen["app/main.sh"]?.1 == 0o755 && content == Array("echo\n".utf8))
        #expect(seen["app/link"]?.0 == .symlink && seen["app/link"]?.2 == "main.sh")
        #expect(seen["b.txt"]?.0 == .file)
    }

    /// One whole transfer of `walk` (path, mode, content or link target) into `sink`: returns the
    /// paths the receiver asked for.
    static func transfer(_ walk: [(String, UInt32, String)], into sink: GenerationSink) throws -> [String] {
        var r = FileSyncReceiver(sink: sink)
        for (path, mode, v) in walk {
            let isFile = mode & (Self.dir | Self.symlink) & ~0o777 == 0
            _ = try r.receive(Self.stat(path, mode: mode, size: isFile ? Int64(v.utf8.count) : 0, link: isFile ? "" : v))
        }
        var asked: [String] = []
        var outstanding: [UInt32] = []
        var finished = false
        func take(_ step: FileSyncReceiver.Step) {
            outstanding += step.send.filter { $0.type == .packetReq }.map(\.id)
            if step.send.contains(where: { $0.type == .packetFin }) { finished = true }
        }
        take(try r.receive(Self.end()))
        while !finished && !outstanding.isEmpty {
            #expect(outstanding.count <= sink.window)
            // Newest first, each file's first byte before any file's rest: DATA of the files in
            // flight interleaves by id, as fsutil's four sending goroutines interleave it.
            let batch = Array(outstanding.reversed())
            outstanding = []
            for id in batch where !walk[Int(id)].2.isEmpty { _ = try r.receive(Self.data(id, Array(walk[Int(id)].2.utf8.prefix(1)))) }
            for id in batch {
                asked.append(walk[Int(id)].0)
                let rest = Array(walk[Int(id)].2.utf8.dropFirst())
                if !rest.isEmpty { _ = try r.receive(Self.data(id, rest)) }
                take(try r.receive(Self.data(id, [])))
            }
        }
        #expect(finished && outstanding.isEmpty)
        return asked
    }

    @Test func keptContextsAreUpdatedInPlaceOrLinkedIntoTheNextGeneration() throws {
        let key = NSTemporaryDirectory() + "bk-gen-\(UUID().uuidString)"
        defer { FS.removeAll(key) }
        let first: [(String, UInt32, String)] = [
            ("a", Self.dir, ""), ("a/one.txt", 0o644, "one"), ("a/two.txt", 0o600, "two"), ("gone", Self.dir, ""), ("gone/x", 0o644, "x"),
            ("link", Self.symlink, "a/one.txt"), ("turns", 0o644, "file"),
        ]
        var lease = LocalContextLease(keyDir: key, generation: 0, base: nil, baseManifest: nil)
        var sink = try GenerationSink(lease)
        #expect(try Self.transfer(first, into: sink).sorted() == ["a/one.txt", "a/two.txt", "gone/x", "turns"])
        let g0 = key + "/g0"
        #expect((try? FS.readString(g0 + "/a/one.txt")) == "one")
        var st = Glibc.stat()
        #expect(lstat(g0 + "/a/two.txt", &st) == 0 && st.st_mode & 0o7777 == 0o600)

        // No build reads g0: updated in place. Only the changed file travels; what the client no
        // longer has goes; a file that became a directory (and a link that changed) is remade.
        let second: [(String, UInt32, String)] = [
            ("a", Self.dir, ""), ("a/one.txt", 0o644, "one"), ("a/two.txt", 0o600, "TWO!"), ("link", Self.symlink, "a/two.txt"),
            ("turns", Self.dir, ""), ("turns/inside", 0o644, "in"),
        ]
        lease = LocalContextLease(keyDir: key, generation: 0, base: 0, baseManifest: sink.manifest)
        sink = try GenerationSink(lease)
        #expect(try Self.transfer(second, into: sink).sorted() == ["a/two.txt", "turns/inside"])
        #expect((try? FS.readString(g0 + "/a/two.txt")) == "TWO!" && !FS.exists(g0 + "/gone"))
        #expect((try? FS.readString(g0 + "/turns/inside")) == "in")
        var buf = [CChar](repeating: 0, count: 64)
        #expect(readlink(g0 + "/link", &buf, 63) == 9)

        // A build reads g0: the next transfer makes g1, the unchanged file a link to g0's inode,
        // g0 untouched. After a restart (no manifest in memory) the base is scanned from disk.
        var before = Glibc.stat()
        _ = lstat(g0 + "/a/one.txt", &before)
        lease = LocalContextLease(keyDir: key, generation: 1, base: 0, baseManifest: nil)
        sink = try GenerationSink(lease)
        #expect(try Self.transfer(second.map { $0.0 == "turns/inside" ? ($0.0, $0.1, "changed") : $0 }, into: sink) == ["turns/inside"])
        var after = Glibc.stat()
        #expect(lstat(key + "/g1/a/one.txt", &after) == 0 && after.st_ino == before.st_ino)
        #expect((try? FS.readString(key + "/g1/turns/inside")) == "changed" && (try? FS.readString(g0 + "/turns/inside")) == "in")
    }

    @Test func aDirectoryAsksForAWindowOfFilesAtOnce() throws {
        let key = NSTemporaryDirectory() + "bk-win-\(UUID().uuidString)"
        defer { FS.removeAll(key) }
        let sink = try GenerationSink(LocalContextLease(keyDir: key, generation: 0, base: nil, baseManifest: nil))
        var r = FileSyncReceiver(sink: sink)
        for i in 0..<40 { _ = try r.receive(Self.stat("f\(i)", mode: 0o644, size: 2)) }
        // One round trip for a window of files, not one per file (before: one REQ at a time).
        let first = try r.receive(Self.end()).send
        #expect(first.count == sink.window && first.allSatisfy { $0.type == .packetReq } && first.map(\.id) == (0..<16).map(UInt32.init))
        // DATA only for files in flight; ending one asks for the next.
        #expect(throws: FileSyncReceiver.Failure.self) { _ = try r.receive(Self.data(20, [1])) }
        var r2 = FileSyncReceiver(sink: try GenerationSink(LocalContextLease(keyDir: key, generation: 1, base: nil, baseManifest: nil)))
        for i in 0..<40 { _ = try r2.receive(Self.stat("f\(i)", mode: 0o644, size: 2)) }
        _ = try r2.receive(Self.end())
        _ = try r2.receive(Self.data(3, [7]))
        _ = try r2.receive(Self.data(9, [8, 9]))
        #expect(try r2.receive(Self.data(9, [])).send.map(\.id) == [16])
        #expect(throws: FileSyncReceiver.Failure.self) { _ = try r2.receive(Self.data(3, [])) }  // 1 byte of 2
    }

    @Test func aReturnThatOvertakesItsSolveWaitsForIt() async throws {
        // Compose's second solve of a build returns at once; its Return reached berthd before the
        // Control.Solve that opens the job about once in 50 builds, and failed with "no such job".
        let g = GatewayJobs()
        let returned = Task { try await g.deliver("r1", .success(Moby_Buildkit_V1_Frontend_Result())) }
        try await Task.sleep(nanoseconds: 50_000_000)
        try await g.open("r1", session: "s", attrs: [:])
        try await returned.value
        guard case .success = await g.result("r1") else {
            Issue.record("the build's outcome was lost")
            return
        }
    }

    func failure(_ packets: [Fsutil_Types_Packet]) -> FileSyncReceiver.Failure? {
        var r = FileSyncReceiver(tar: TarWriter { _ in })
        do {
            for p in packets { _ = try r.receive(p) }
        } catch { return error }
        return nil
    }

    @Test func hostilePathsAndSizesAreRefused() {
        for bad in ["../escape", "/etc/passwd", "a/../../b", "a//b", "./a", "a/.", "", "a\0b"] {
            #expect(failure([Self.stat(bad, mode: 0o644)]) != nil, "\(bad)")
        }
        // A child before its directory, a name twice, a negative or huge size.
        #expect(failure([Self.stat("d/f", mode: 0o644)]) != nil)
        #expect(failure([Self.stat("f", mode: 0o644), Self.stat("f", mode: 0o644)]) != nil)
        #expect(failure([Self.stat("f", mode: 0o644, size: -1)]) != nil)
        #expect(failure([Self.stat("f", mode: 0o644, size: 1 << 50)]) != nil)
        // A hard link to something not sent before it as a file.
        #expect(failure([Self.stat("h", mode: 0o644, link: "/etc/shadow")]) != nil)
        #expect(failure([Self.stat("d", mode: Self.dir), Self.stat("h", mode: 0o644, link: "d")]) != nil)
    }

    @Test func dataMustBeAskedForAndAddUpToTheSize() {
        let walk = [Self.stat("f", mode: 0o644, size: 3), Self.end()]
        // DATA for a file not asked for (or before the walk ended).
        #expect(failure([Self.stat("f", mode: 0o644, size: 3), Self.data(0, [1])]) != nil)
        #expect(failure(walk + [Self.data(7, [1])]) != nil)
        // More, or fewer, bytes than the STAT said.
        #expect(failure(walk + [Self.data(0, [1, 2, 3, 4])]) != nil)
        #expect(failure(walk + [Self.data(0, [1, 2]), Self.data(0, [])]) != nil)
        // The sender's error, a FIN too early, a REQ from the sender, STAT after the end.
        var err = Self.packet(.packetErr)
        err.data = Data("permission denied".utf8)
        #expect(failure([err]) == .fromSender("permission denied"))
        #expect(failure([Self.packet(.packetFin)]) != nil)
        #expect(failure([Self.packet(.packetReq)]) != nil)
        #expect(failure(walk + [Self.stat("g", mode: 0o644)]) != nil)
        #expect(failure(walk + [Self.data(0, [1, 2, 3]), Self.data(0, [])]) == nil)
    }

    @Test func goFileModesBecomeUnixPermissions() {
        #expect(FileSyncReceiver.permissions(0o755) == 0o755)
        #expect(FileSyncReceiver.permissions(1 << 23 | 1 << 22 | 1 << 20 | 0o700) == 0o7700)
        #expect(FileSyncReceiver.isRegular(0o644) && !FileSyncReceiver.isRegular(Self.dir) && !FileSyncReceiver.isRegular(Self.symlink))
    }

    @Test func theBuildersStreamBecomesVertexesAndLogs() {
        var t = ProgressTranslator(ref: "r1")
        var out = t.translate(["stream": "Step 1/2 : FROM busybox\n"])
        #expect(out.count == 1 && out[0].vertexes.first?.name == "[1/2] FROM busybox" && out[0].vertexes.first?.hasStarted == true)
        let first = out[0].vertexes[0].digest
        #expect(t.translate(["stream": " ---> abc123\n"]).isEmpty)
        out = t.translate(["stream": "Step 2/2 : RUN make\n"])
        // The first completes, the second starts.
        #expect(out.count == 2 && out[0].vertexes[0].digest == first && out[0].vertexes[0].hasCompleted)
        out = t.translate(["stream": "compiling\n"])
        #expect(out.first?.logs.first?.msg == Data("compiling\n".utf8) && out.first?.logs.first?.vertex != first)
        #expect(t.translate(["stream": " ---> Using cache\n"]).isEmpty)
        out = t.complete()
        #expect(out.first?.vertexes.first?.cached == true && out.first?.vertexes.first?.hasCompleted == true)
        _ = t.translate(["aux": ["ID": "sha256:abc"]])
        #expect(t.imageID == "sha256:abc")
        // Output that only looks like a step title stays output.
        #expect(ProgressTranslator.stepTitle("Step x/y : fake\n") == nil)
        #expect(ProgressTranslator.stepTitle("Step 3/9 : COPY . /\n") == "[3/9] COPY . /")
    }

    @Test func aSolvesOptionsAsABuildRequest() throws {
        let b = try Solver.buildRequest(
            frontend: "dockerfile.v0",
            attrs: [
                "filename": "Containerfile", "target": "prod", "build-arg:V": "1", "label:team": "x", "no-cache": "", "add-hosts": "db=10.0.0.2",
                "image-resolve-mode": "pull", "attest:provenance": "mode=min",
            ], hasDefinition: false)
        #expect(b.dockerfile == "Containerfile" && b.target == "prod" && b.buildArgs == ["V": "1"] && b.labels == ["team": "x"])
        #expect(b.noCache && b.pull && b.extraHosts == ["db:10.0.0.2"])
        // --no-cache-filter: the named stages only.
        let f = try Solver.buildRequest(frontend: "dockerfile.v0", attrs: ["no-cache": "Deps,test"], hasDefinition: false)
        #expect(!f.noCache && f.noCacheStages == ["deps", "test"])
        // A platform attr of "," split into nothing and trapped.
        #expect(throws: (any Error).self) { try Solver.buildRequest(frontend: "dockerfile.v0", attrs: ["platform": ","], hasDefinition: false) }
        // What Berth's builder cannot do is refused by name, never ignored.
        for (attrs, words) in [
            (["ulimit": "nofile=1024"], "ulimit"), (["platform": "linux/s390x"], "s390x"),
            (["force-network-mode": "sandbox"], "sandbox"),
        ] {
            #expect(throws: (any Error).self) { try Solver.buildRequest(frontend: "dockerfile.v0", attrs: attrs, hasDefinition: false) }
            do { _ = try Solver.buildRequest(frontend: "dockerfile.v0", attrs: attrs, hasDefinition: false) } catch {
                #expect("\(error)".contains(words), "\(error)")
            }
        }
        #expect(throws: (any Error).self) { try Solver.buildRequest(frontend: "gateway.v0", attrs: [:], hasDefinition: false) }
        #expect(throws: (any Error).self) { try Solver.buildRequest(frontend: "dockerfile.v0", attrs: [:], hasDefinition: true) }
    }

    @Test func dockerignoreLinesAsExcludePatterns() {
        #expect(Solver.ignorePatterns("# comment\n\n  node_modules \n/build\n!build/keep\r\n*.log\n/\n") == ["node_modules", "build", "!build/keep", "*.log"])
    }

    @Test func headerValuesOutsidePrintableASCIIAreEscapedAsGoDoes() {
        #expect(BuildSession.queryEscape("a b/ü") == "a+b%2F%C3%BC")
    }
}

@Suite struct RunMountTests {
    @Test func mountSpecsAsBuildKitReadsThem() throws {
        var m = try RunMount.parse("type=cache,target=/root/.cache,sharing=locked,mode=0700,uid=10")
        #expect(m.kind == .cache && m.target == "/root/.cache" && m.id == "/root/.cache" && m.sharing == "locked" && m.mode == 0o700 && m.uid == 10)
        m = try RunMount.parse("type=secret,id=npmrc")
        #expect(m.kind == .secret && m.target == "/run/secrets/npmrc" && m.readOnly && !m.required)
        m = try RunMount.parse("type=secret,target=/root/.netrc,required")
        #expect(m.id == ".netrc" && m.required)
        m = try RunMount.parse("type=secret,id=tok,env=TOKEN")
        #expect(m.target.isEmpty && m.env == "TOKEN")
        m = try RunMount.parse("source=go.mod,target=/src/go.mod")
        #expect(m.kind == .bind && m.readOnly && m.source == "go.mod")
        m = try RunMount.parse("type=tmpfs,target=/tmp,size=1048576")
        #expect(m.kind == .tmpfs && m.size == 1 << 20)
        for bad in [
            "type=nfs,target=/x", "type=cache", "type=cache,target=/x,sharing=sometimes", "type=cache,target=/x,mode=999999",
            "type=cache,target=/x,uid=-1", "type=bind,target=/x,rw", "type=cache,target=/x,colour=blue", "type=tmpfs,target=/t,size=-5",
            "type=secret",
            // A field that is only "=" had no key at all and trapped (the dockerfile fuzzer's crash): refused instead.
            "=", "type=cache,target=/x,=", ",,=,,", "=x",
        ] {
            #expect(throws: RunMount.Invalid.self, "\(bad)") { try RunMount.parse(bad) }
        }
    }
}
