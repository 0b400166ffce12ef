import Glibc
import JSON
import Sys
import Testing

@testable import Engine

@Suite struct ProtocolTests {
    @Test func exitRecordsReadOldAndNewShims() {
        #expect(ExitRecord("137 1700000000000000000 oom\n") == ExitRecord(code: 137, nanos: 1_700_000_000_000_000_000, oomKilled: true))
        #expect(ExitRecord("0 1700000000000000000\n") == ExitRecord(code: 0, nanos: 1_700_000_000_000_000_000))
        #expect(ExitRecord("3")?.nanos == -1)
        #expect(ExitRecord("") == nil && ExitRecord("x 1") == nil && ExitRecord("99999999999 1") == nil)
        #expect(ExitRecord(ExitRecord(code: 9, nanos: 5, oomKilled: true).text) == ExitRecord(code: 9, nanos: 5, oomKilled: true))
        #expect(ExitRecord.settled(nil).code == 255 && ExitRecord.settled("garbage").nanos > 0)
        #expect(ExitRecord.settled("7").code == 7 && ExitRecord.settled("7").nanos > 0)
    }

    @Test func oomCounterFileIsFoundInV1V2AndCgroupNamespaces() {
        let hybrid = "12:pids:/berth/abc\n6:memory:/berth/abc\n1:name=systemd:/\n0::/berth/abc\n"
        let mounts = """
            36 25 0:31 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
            30 25 0:27 / /sys/fs/cgroup/unified rw,nosuid shared:9 - cgroup2 cgroup2 rw
            """
        #expect(OOMKills.counterFile(procCgroup: hybrid, mountinfo: mounts) == "/sys/fs/cgroup/memory/berth/abc/memory.oom_control")
        let v2Only = "0::/system.slice/berth-abc\n"
        let v2Mounts = "30 25 0:27 / /sys/fs/cgroup rw shared:9 - cgroup2 cgroup2 rw,nsdelegate\n"
        #expect(OOMKills.counterFile(procCgroup: v2Only, mountinfo: v2Mounts) == "/sys/fs/cgroup/system.slice/berth-abc/memory.events")
        // A mount of part of the hierarchy (a cgroup namespace's view) is taken relative to its root.
        let nsMounts = "30 25 0:27 /system.slice /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
        #expect(OOMKills.counterFile(procCgroup: v2Only, mountinfo: nsMounts) == "/sys/fs/cgroup/berth-abc/memory.events")
        #expect(OOMKills.counterFile(procCgroup: "0::/elsewhere\n", mountinfo: nsMounts) == nil)
        #expect(OOMKills.counterFile(procCgroup: "garbage", mountinfo: "also garbage - x") == nil)
        #expect(OOMKills.count("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n") == 2)
        #expect(OOMKills.count("low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\noom_group_kill 0\n") == 1)
        #expect(OOMKills.count("oom_kill -5\n") == 0 && OOMKills.count("") == 0)
        // From the directories a create made: v1's memory controller first, else the v2 directory.
        #expect(
            OOMKills.counterFile(memoryV1: "/sys/fs/cgroup/memory/berth/abc", unified: "/sys/fs/cgroup/unified/berth/abc")
                == "/sys/fs/cgroup/memory/berth/abc/memory.oom_control")
        #expect(OOMKills.counterFile(memoryV1: nil, unified: "/sys/fs/cgroup/berth/abc") == "/sys/fs/cgroup/berth/abc/memory.events")
        #expect(OOMKills.counterFile(memoryV1: nil, unified: nil) == nil)
    }

    @Test func aRewriteKeepsTheFileItsBindMountsSeeAndReplacesAnythingElse() throws {
        let base = try FS.makeTempDirectory("/tmp/berth-rewrite-")
        defer { FS.removeAll(base) }
        func inode(_ p: String) -> UInt64 {
            var st = stat()
            return lstat(p, &st) == 0 ? UInt64(st.st_ino) : 0
        }
        func isRegular(_ p: String) -> Bool {
            var st = stat()
            return lstat(p, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
        }
        let hosts = base + "/hosts"
        try FS.rewrite(hosts, "127.0.0.1\tlocalhost\n10.0.0.2\tweb\n")
        let first = inode(hosts)
        try FS.rewrite(hosts, "short\n")  // shorter: no tail of the old text left
        #expect(try FS.readString(hosts) == "short\n")
        #expect(inode(hosts) == first)
        try FS.rewrite(hosts, String(repeating: "x", count: 9000))
        #expect(try FS.readString(hosts).count == 9000)
        #expect(inode(hosts) == first)
        // A symlink is not followed (its target stays as it was) and a FIFO is not opened for
        // writing (which would wait for a reader): each is replaced by a regular file.
        let target = base + "/target"
        try FS.writeAtomic(target, "untouched")
        #expect(symlink(target, base + "/link") == 0)
        try FS.rewrite(base + "/link", "new")
        #expect(try FS.readString(target) == "untouched")
        #expect(isRegular(base + "/link"))
        #expect(try FS.readString(base + "/link") == "new")
        #expect(mkfifo(base + "/fifo", 0o644) == 0)
        try FS.rewrite(base + "/fifo", "new")
        #expect(isRegular(base + "/fifo"))
        #expect(try FS.readString(base + "/fifo") == "new")
    }

    @Test func mkdirAllMakesMissingParentsAndAcceptsWhatExists() throws {
        let base = try FS.makeTempDirectory("/tmp/berth-mkdir-")
        defer { FS.removeAll(base) }
        try FS.mkdirAll(base + "/a/b/c/", mode: 0o750)
        #expect(FS.isDirectory(base + "/a/b/c"))
        try FS.mkdirAll(base + "/a/b")  // exists: nothing to do
        try FS.mkdirAll(base + "/a//b/d")
        #expect(FS.isDirectory(base + "/a/b/d"))
        // A file in the way of a parent is an error, not a silent success.
        try FS.writeAtomic(base + "/f", "x")
        #expect(throws: SysError.self) { try FS.mkdirAll(base + "/f/g/h") }
    }

    @Test func shimFramesSurviveArbitrarySplits() {
        let frames = [ShimFrame(.stdout, Array("hello".utf8)), ShimFrame(.exited, text: "3 1700000000000000000"), ShimFrame(.stdin, [])]
        let bytes = frames.flatMap { $0.encoded() }
        for split in 0...bytes.count {
            var d = ShimFrameDecoder()
            d.feed(bytes[..<split])
            var got: [ShimFrame] = []
            while let f = d.next() { got.append(f) }
            d.feed(bytes[split...])
            while let f = d.next() { got.append(f) }
            #expect(got.map(\.kind) == [.stdout, .exited, .stdin])
            #expect(got[1].text == "3 1700000000000000000")
        }
    }

    @Test func spareShimArgumentsComeThroughAPipeWhole() throws {
        let args = ["--id", "abc", "--log", "", "--bundle", "/run/x y", "--tty"]
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]) }
        // Written in two pieces with the length split: a reader must wait for the whole.
        let bytes = try #require(SpareArguments.encode(args))
        try FS.writeAll(fd: fds[1], Array(bytes[..<2]))
        try FS.writeAll(fd: fds[1], Array(bytes[2...]))
        #expect(SpareArguments.read(fd: fds[0]) == args)
        // The end of the pipe, or a message cut short: nothing (the spare exits).
        try FS.writeAll(fd: fds[1], Array(bytes[..<9]))
        close(fds[1])
        #expect(SpareArguments.read(fd: fds[0]) == nil)
        #expect(SpareArguments.encode(["a\u{0}b"]) == nil)
        // Another kind of frame is not arguments.
        var other: [Int32] = [0, 0]
        #expect(pipe(&other) == 0)
        try FS.writeAll(fd: other[1], ShimFrame(.start, Array("x\u{0}".utf8)).encoded())
        close(other[1])
        #expect(SpareArguments.read(fd: other[0]) == nil)
        close(other[0])
        #expect(SpareArguments.encode([String(repeating: "x", count: SpareArguments.maxBytes)]) == nil)
    }

    @Test func aSpareRefusesALengthOverItsBound() {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]) }
        let n = UInt32(SpareArguments.maxBytes + 1)
        let head = [ShimFrameKind.arguments.rawValue, UInt8(n >> 24), UInt8((n >> 16) & 0xff), UInt8((n >> 8) & 0xff), UInt8(n & 0xff)]
        try? FS.writeAll(fd: fds[1], head + [0x61, 0])
        close(fds[1])
        #expect(SpareArguments.read(fd: fds[0]) == nil)
    }

    @Test func aShimsResumeStateSurvivesItsOwnEncodingAndRefusesAnythingElse() {
        let state = ShimResumeState(containerPid: 4242, listenFd: 6, outFd: 5, errFd: 7, stdinFd: -1, masterFd: -1, clients: [8, 11])
        #expect(state.encoded() == "pid=4242,listen=6,out=5,err=7,in=-1,master=-1,clients=8:11")
        #expect(ShimResumeState.parse(state.encoded()) == state)
        #expect(state.descriptors == [6, 5, 7, 8, 11])
        // A terminal's master is also its input; no client yet.
        let terminal = ShimResumeState(containerPid: 9, listenFd: 4, outFd: -1, errFd: -1, stdinFd: 12, masterFd: 12, clients: [])
        #expect(ShimResumeState.parse(terminal.encoded()) == terminal)
        #expect(terminal.descriptors == [4, 12])
        for bad in [
            "", "pid=1", "pid=0,listen=6,out=5,err=7,in=-1,master=-1,clients=", "pid=-3,listen=6,out=5,err=7,in=-1,master=-1,clients=",
            "pid=1,listen=-1,out=5,err=7,in=-1,master=-1,clients=",  // the listening socket is not optional
            "pid=1,listen=2,out=5,err=7,in=-1,master=-1,clients=",  // nor stdio
            "pid=1,listen=6,out=5,err=7,in=-2,master=-1,clients=", "pid=1,listen=6,out=5,err=99999999999,in=-1,master=-1,clients=",
            "pid=1,listen=6,out=5,err=5,in=-1,master=-1,clients=",  // one descriptor, two purposes
            "pid=1,listen=6,out=5,err=7,in=6,master=-1,clients=", "pid=1,listen=6,out=5,err=7,in=-1,master=-1,clients=8:8",
            "pid=1,listen=6,out=5,err=7,in=-1,master=-1,clients=8::9", "pid=1,listen=6,out=5,err=7,in=-1,master=-1,clients=x",
            "pid=1,pid=1,listen=6,out=5,err=7,in=-1,master=-1", "pid=1,listen=6,out=5,err=7,in=-1,master=-1,clients=,extra=1",
            "pid=1,listen=6,out=5,err=7,in=-1,master=-1,clients", "pid=1,listen=6,out=5,err=7,in=-1,master=-1,port=8",
        ] {
            #expect(ShimResumeState.parse(bad) == nil, "\(bad)")
        }
        let many = "pid=1,listen=6,out=5,err=7,in=-1,master=-1,clients=" + (10..<1035).map(String.init).joined(separator: ":")
        #expect(ShimResumeState.parse(many) == nil)
    }

    @Test func fastLogLineParserAgreesWithTheJSONParser() {
        let lines = [
            #"{"log":"plain\n","stream":"stdout","time":"2024-01-01T00:00:01.000000001Z"}"#,
            #"{"log":"q\"b\\s\tt\r\n","stream":"stderr","time":"2024-01-01T00:00:02Z"}"#,
            #"{"log":"\u001b[1m\n","stream":"stdout","time":"2024-01-01T00:00:03Z"}"#,
            #"{"stream":"stdout","log":"reordered\n","time":"2024-01-01T00:00:04Z"}"#,
        ]
        for l in lines {
            let e = LogReader.parse(ArraySlice(Array(l.utf8)))!
            let j = try! JSON.parse(Array(l.utf8))
            #expect(e.text == Array(j["log"].string!.utf8))
            #expect(e.stream == (j["stream"].string == "stderr" ? 2 : 1))
            #expect(e.time == Timestamp.parse(j["time"].string!)!)
        }
        #expect(LogReader.parseShimLine(ArraySlice(Array(lines[0].utf8))) != nil)
        #expect(LogReader.parseShimLine(ArraySlice(Array(lines[2].utf8))) == nil)  // a \u escape: the full parser decodes it
    }

    @Test func jsonFileLogLinesWithFilters() {
        let text = """
            {"log":"a\\n","stream":"stdout","time":"2024-01-01T00:00:01.000000000Z"}
            {"log":"b\\n","stream":"stderr","time":"2024-01-01T00:00:02.000000000Z"}
            {"log":"c\\n","stream":"stdout","time":"2024-01-01T00:00:03.000000000Z"}

            """
        var o = LogOptions()
        #expect(LogReader.entries(in: Array(text.utf8), o).map { String(decoding: $0.text, as: UTF8.self) } == ["a\n", "b\n", "c\n"])
        o.stderr = false
        #expect(LogReader.entries(in: Array(text.utf8), o).count == 2)
        o = LogOptions()
        o.since = Timestamp.parse("2024-01-01T00:00:02Z")
        o.until = Timestamp.parse("2024-01-01T00:00:02.5Z")
        let e = LogReader.entries(in: Array(text.utf8), o)
        #expect(e.count == 1 && e[0].stream == 2)
    }

    /// Stored logs are streamed in 1 MiB chunks: lines across chunk and file boundaries, rotated
    /// files first, `--tail` across files, a partial last line left for follow.
    @Test func storedLogsStreamAcrossChunksAndFiles() async throws {
        let dir = "/tmp/berth-logtest-\(getpid())"
        try FS.mkdirAll(dir)
        defer { FS.removeAll(dir) }
        func line(_ i: Int) -> String {
            "{\"log\":\"line \(i) \(String(repeating: "x", count: 100))\\n\",\"stream\":\"stdout\",\"time\":\"2024-01-01T00:00:01.000000000Z\"}\n"
        }
        // 30,000 lines (~4 MiB) in the rotated file, 10 in the live one plus half a line.
        try FS.writeAtomic(dir + "/c.log.1", (0..<30_000).map(line).joined())
        try FS.writeAtomic(dir + "/c.log", (30_000..<30_010).map(line).joined() + "{\"log\":\"partial")
        let seen = Collected()
        await LogReader.read(path: dir + "/c.log", options: LogOptions(), stillRunning: { false }) {
            await seen.add($0); return true
        }
        let all = await seen.texts
        #expect(all.count == 30_010 && all.first!.hasPrefix("line 0 ") && all.last!.hasPrefix("line 30009 "))
        #expect(await seen.batches > 4)  // chunked, not one read
        var o = LogOptions()
        o.tail = 15
        let tail = Collected()
        await LogReader.read(path: dir + "/c.log", options: o, stillRunning: { false }) {
            await tail.add($0); return true
        }
        #expect(await tail.texts.map { String($0.split(separator: " ")[1]) } == (29_995..<30_010).map(String.init))
        // Read from the end in 64 KiB chunks: lines cut by chunk edges, more than a file holds.
        o.tail = 2_000
        let many = Collected()
        await LogReader.read(path: dir + "/c.log", options: o, stillRunning: { false }) {
            await many.add($0); return true
        }
        #expect(await many.texts.map { String($0.split(separator: " ")[1]) } == (28_010..<30_010).map(String.init))
        o.tail = 40_000
        let beyond = Collected()
        await LogReader.read(path: dir + "/c.log", options: o, stillRunning: { false }) {
            await beyond.add($0); return true
        }
        #expect(await beyond.texts.count == 30_010)
        let (_, live) = LogReader.tailFromEnd(files: [dir + "/c.log"], count: 1, o)
        #expect(live == Int64((30_000..<30_010).map(line).joined().utf8.count))  // follow resumes at the partial line
        o.tail = 0
        let none = Collected()
        await LogReader.read(path: dir + "/c.log", options: o, stillRunning: { false }) {
            await none.add($0); return true
        }
        #expect(await none.texts.isEmpty)
    }
}

actor Collected {
    var texts: [String] = []
    var batches = 0
    func add(_ b: [LogEntry]) { texts += b.map { String(decoding: $0.text, as: UTF8.self) }; batches += 1 }
}
