import Archive
import DockerAPI
import Foundation
import JSON
import OCI
import Sys
import Testing

@testable import Engine

@Suite struct EngineShapeTests {
    @Test func labelFiltersWithoutAKeyDoNotTrap() {
        // `--filter label==` split into no parts and trapped the daemon.
        #expect(!DockerShapes.matchLabels(["a": "1"], ["="]))
        #expect(DockerShapes.matchLabels(["a": ""], ["a="]) && !DockerShapes.matchLabels(["a": "1"], ["a="]))
        #expect(DockerShapes.matchLabels(["a": "1"], ["a"]) && DockerShapes.matchLabels(["a": "1"], ["a=1"]))
    }

    @Test func hostConfigKeepsDockerOrderAndDefaults() throws {
        let h = DockerShapes.hostConfig(HostConfig(json: ["Memory": 1024, "AutoRemove": true, "RestartPolicy": ["Name": ""]])).json
        #expect(h.object?.keys.first == "Binds")
        #expect(h["LogConfig"]["Type"].string == "json-file")
        #expect(h["Memory"].int == 1024)
        #expect(h["MemorySwap"].int == 2048)
        #expect(h["RestartPolicy"]["Name"].string == "no")
        #expect(h["AutoRemove"].bool == true)
    }

    @Test func statusText() {
        var s = ContainerState()
        #expect(DockerShapes.statusText(s) == "Created")
        s.status = "exited"; s.exitCode = 3; s.finishedAt = .now()
        #expect(DockerShapes.statusText(s) == "Exited (3) Less than a second ago")
    }

    @Test func importChanges() throws {
        let c = try ConfigChanges.apply(
            ["CMD [\"sh\"]", "ENV A=1 B=\"two words\"", "WORKDIR /w", "LABEL x=y", "EXPOSE 80"], to: DockerShapes.emptyContainerConfig)
        #expect(c["Cmd"].stringArray == ["sh"])
        #expect(c["Env"].stringArray == ["A=1", "B=two words"])
        #expect(c["WorkingDir"].string == "/w")
        #expect(c["Labels"]["x"].string == "y")
        #expect(c["ExposedPorts"]["80/tcp"].object != nil)
        #expect(throws: ConfigChanges.Invalid.self) { try ConfigChanges.apply(["RUN true"], to: [:]) }
    }

    @Test func resolvConfDropsLoopbackServers() {
        let r = DockerShapes.resolvConf(host: "nameserver 127.0.0.53\nsearch lan\n")
        #expect(r.contains("nameserver 8.8.8.8") && !r.contains("127.0.0.53") && r.contains("search lan"))
    }

    @Test func signals() {
        #expect(Signals.parse("KILL") == 9 && Signals.parse("SIGTERM") == 15 && Signals.parse("2") == 2 && Signals.parse("BOGUS") == nil)
    }

    @Test func globs() {
        #expect(Glob.match("busy*", "busybox") && !Glob.match("b*", "me/bb") && Glob.match("me/*", "me/bb"))
    }
}

@Suite struct DetachKeyTests {
    @Test func parsesDockerSpecs() {
        #expect(DetachMatcher.parse("") == [0x10, 0x11])
        #expect(DetachMatcher.parse("ctrl-a,x") == [1, 0x78])
        #expect(DetachMatcher.parse("ctrl-@,ctrl-[") == [0, 27])
        #expect(DetachMatcher.parse("ctrl-ab") == nil)
        #expect(DetachMatcher.parse("abc") == nil)
    }

    @Test func holdsBackPartialSequences() {
        var m = DetachMatcher(keys: [0x10, 0x11])
        var r = m.feed([0x61, 0x10])
        #expect(r.pass == [0x61] && !r.detach)
        r = m.feed([0x62])  // not the second key: the held ctrl-p goes through
        #expect(r.pass == [0x10, 0x62] && !r.detach)
        r = m.feed([0x10])
        #expect(r.pass == [] && !r.detach)
        r = m.feed([0x11, 0x63])
        #expect(r.detach && r.pass.isEmpty)
    }
}

@Suite struct BuildContextTests {
    @Test func cleanPathsTakeTheShortWayAndOthersAreCleaned() {
        let cases: [(String, String)] = [
            ("", ""), ("a", "a"), ("a/b", "a/b"), ("...", "..."), ("..a/b.", "..a/b."), (".hidden/x", ".hidden/x"),
            ("./a", "a"), ("a/./b", "a/b"), ("a//b", "a/b"), ("/a", "a"), ("a/", "a"), ("a/..", ""), (".", ""), ("..", ""),
            ("a/../../b", "b"), ("./", ""), ("a/b/..", "a"), ("x/.../y", "x/.../y"),
        ]
        for (path, clean) in cases {
            #expect(BuildContext.clean(path) == clean, "\(path)")
            #expect(BuildContext.isClean(path) == (path == clean), "\(path)")
        }
    }

    /// A context tar: big/ (two files), one.txt, and a link.
    func makeContext() throws -> (tar: String, dir: String) {
        let base = NSTemporaryDirectory() + "berth-ctx-\(UUID().uuidString)"
        try FS.mkdirAll(base)
        var bytes: [UInt8] = []
        let w = TarWriter { bytes += $0 }
        try w.addDirectory("big", mode: 0o750)
        try w.addFile("big/a", Array(repeating: 0x61, count: 5000))
        try w.addFile("big/b", Array("bee".utf8), mode: 0o600)
        try w.addFile("one.txt", Array("one\n".utf8))
        try w.addSymlink("link", target: "big/a")
        try w.finish()
        try FS.writeAtomic(base + "/ctx.tar", bytes)
        return (base + "/ctx.tar", base + "/ctx")
    }

    @Test func cacheKeysSpellEntryKindsAsBefore() {
        // The kind names key COPY steps: spelled without reflection, but as reflection did, so
        // caches of earlier builds still match.
        for k: TarEntry.Kind in [.file, .directory, .symlink, .hardlink, .charDevice, .blockDevice, .fifo, .other] {
            #expect(BuildRun.kindName(k) == "\(k)")
        }
    }

    @Test func aStepUnpacksOnlyTheSourcesItCopies() throws {
        let (tar, dir) = try makeContext()
        let ctx = try BuildContext(tar: tar, dir: dir, digestFile: dir + ".digests", keep: [])
        try ctx.materialize(["one.txt"])
        #expect(FS.exists(dir + "/one.txt"))
        #expect(!FS.exists(dir + "/big"))  // before: the whole context was written for one file
        try ctx.materialize(["big"])
        var st = stat()
        #expect(stat(dir + "/big", &st) == 0 && st.st_mode & 0o7777 == 0o750)
        #expect(FS.exists(dir + "/big/b") && !FS.exists(dir + "/link"))
        try ctx.materialize(["big/a", "one.txt"])  // already there: nothing rewritten, no error
        try ctx.materialize()
        #expect(FS.exists(dir + "/link"))
    }

    @Test func digestsComeFromTheTarWithoutUnpacking() throws {
        let (tar, dir) = try makeContext()
        let ctx = try BuildContext(tar: tar, dir: dir, digestFile: dir + ".digests", keep: [])
        #expect(try ctx.digest("big/b") == Digest.of("bee").hex)
        #expect(try ctx.digest("one.txt") == Digest.of("one\n").hex)
        #expect(!FS.exists(dir))
    }
}

@Suite struct SignalReadinessTests {
    static func status(caught: String, ignored: String = "0000000000000000", blocked: String = "0000000000000000") -> String {
        "Name:\tsh\nState:\tS (sleeping)\nSigQ:\t0/96362\nSigPnd:\t0000000000000000\nShdPnd:\t0000000000000000\n"
            + "SigBlk:\t\(blocked)\nSigIgn:\t\(ignored)\nSigCgt:\t\(caught)\nCapInh:\t0000000000000000\n"
    }

    @Test func aSignalIsKeptWhenCaughtIgnoredOrBlocked() {
        // Bit 14 is SIGTERM (15): signal n is bit n-1 of each mask.
        #expect(SignalReadiness.wouldKeep(15, status: Self.status(caught: "0000000000004000")) == true)
        #expect(SignalReadiness.wouldKeep(15, status: Self.status(caught: "0", ignored: "0000000000004000")) == true)
        // systemd and other signalfd users block the signal and never catch it.
        #expect(SignalReadiness.wouldKeep(15, status: Self.status(caught: "0", blocked: "0000000000004000")) == true)
        // A fresh program: nothing caught yet, so a namespace's init would drop it.
        #expect(SignalReadiness.wouldKeep(15, status: Self.status(caught: "0000000000010002")) == false)
        // Real-time signals up to 64 have their bits; SIGHUP is bit 0.
        #expect(SignalReadiness.wouldKeep(64, status: Self.status(caught: "8000000000000000")) == true)
        #expect(SignalReadiness.wouldKeep(1, status: Self.status(caught: "0000000000000001")) == true)
    }

    @Test func malformedOrMissingMasksAndOutOfRangeSignalsGiveNoAnswer() {
        #expect(SignalReadiness.wouldKeep(15, status: "Name:\tsh\n") == nil)
        #expect(SignalReadiness.wouldKeep(15, status: Self.status(caught: "zz")) == nil)
        #expect(SignalReadiness.wouldKeep(15, status: Self.status(caught: "10000000000000000")) == nil)
        #expect(SignalReadiness.wouldKeep(0, status: Self.status(caught: "ffffffffffffffff")) == nil)
        #expect(SignalReadiness.wouldKeep(65, status: Self.status(caught: "ffffffffffffffff")) == nil)
        #expect(SignalReadiness.wouldKeep(-1, status: Self.status(caught: "ffffffffffffffff")) == nil)
        #expect(SignalReadiness.alwaysDelivered(9) && SignalReadiness.alwaysDelivered(19) && !SignalReadiness.alwaysDelivered(15))
    }
}
