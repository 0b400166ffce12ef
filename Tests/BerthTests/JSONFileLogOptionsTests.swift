import Glibc
import GzipFile
import JSON
import Sys
import Testing

@testable import CLI
@testable import Engine

/// json-file's options (labels, env, tag, compress, max-size, max-file) as dockerd's driver reads
/// them, the `attrs` every entry then carries, and the gzip a rotated log is kept in.
@Suite struct JSONFileLogOptionsTests {
    let subject = JSONFileLogSettings.Subject(
        id: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", name: "web", entrypoint: "echo", args: ["hi", "there"],
        imageID: "sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210", imageName: "busybox",
        created: Timestamp.parse("2026-12-01T07:24:52.6236334Z")!, env: ["FOO=bar", "Q=a b&c", "BARE", "EMPTY="],
        labels: ["com.a": "1", "b": "x,y", "other": "z"], logPath: "/data/c.log", hostname: "vm")

    func failure(_ options: [String: String]) -> String? {
        do {
            _ = try JSONFileLogSettings.resolve(options, for: subject)
            return nil
        } catch {
            return error.description
        }
    }

    @Test func valuesAreCheckedWithDockerdsWords() {
        let prefix = "failed to initialize logging driver: "
        #expect(failure(["max-file": "0"]) == prefix + "max-file cannot be less than 1")
        #expect(failure(["max-file": "x"]) == prefix + "strconv.Atoi: parsing \"x\": invalid syntax")
        #expect(failure(["max-size": "abc"]) == prefix + "invalid size: 'abc'")
        #expect(failure(["max-size": "0"]) == prefix + "max-size must be a positive number")
        #expect(failure(["max-size": "1e30"]) == prefix + "invalid size: '1e30'")  // beyond Int64: refused, not a trap
        #expect(failure(["compress": "yes"]) == prefix + "strconv.ParseBool: parsing \"yes\": invalid syntax")
        #expect(failure(["compress": "true"]) == prefix + "compress cannot be true when max-file is less than 2 or max-size is not set")
        #expect(failure(["compress": "true", "max-size": "1m"]) != nil)  // max-file 1 (Berth's default 3 is not the user's)
        #expect(failure(["compress": "true", "max-size": "1m", "max-file": "2"]) == nil)
        #expect(failure(["labels-regex": "("])?.hasPrefix(prefix + "error parsing regexp: ") == true)
        #expect(failure(["env-regex": "("])?.hasPrefix(prefix + "error parsing regexp: ") == true)
        #expect(failure(["tag": "{{.Name"])?.hasPrefix(prefix + "template: ") == true)
        #expect(failure(["tag": "{{.Bogus}}"])?.contains("Bogus") == true)
        // A tag that would run away is stopped by the template's bounds.
        let nested = String(repeating: "{{range $.ContainerEnv}}", count: 8) + "{{.}}" + String(repeating: "{{end}}", count: 8)
        #expect(failure(["tag": nested]) != nil)
    }

    @Test func sizesAndCountsAsGiven() throws {
        let s = try JSONFileLogSettings.resolve(["max-size": "10m", "max-file": "15", "compress": "1"], for: subject)
        #expect(s.maxSize == 10_000_000 && s.maxFiles == 15 && s.compress && s.attributes.isEmpty)
        #expect(try JSONFileLogSettings.resolve([:], for: subject) == JSONFileLogSettings())
        #expect(HumanSize.decimal("2k") == 2000 && HumanSize.decimal("1.5 MB") == 1_500_000 && HumanSize.decimal("3KiB") == 3000)
        #expect(HumanSize.decimal("100") == 100 && HumanSize.decimal("7b") == 7)
        #expect(HumanSize.decimal("1x") == nil && HumanSize.decimal("1kbb") == nil && HumanSize.decimal("-1k") == nil && HumanSize.decimal("inf") == nil)
        #expect(HumanSize.decimal("99999999999p") == nil)
        // The CLI's own size parser (-m, --shm-size) trapped on these.
        #expect(RunOptions.parseBytes("1e30") == nil && RunOptions.parseBytes("inf") == nil && RunOptions.parseBytes("2g") == 2 << 30)
        #expect(JSONFileLogSettings.goTimeString(Timestamp.parse("2026-12-01T07:24:52Z")!) == "2026-12-01 07:24:52 +0000 UTC")
    }

    /// The same attrs, byte for byte, as dockerd 20.10 wrote here for the same options.
    @Test func attributesAsDockerdEncodesThem() throws {
        let s = try JSONFileLogSettings.resolve(
            ["labels": "com.a,b,missing", "env": "FOO,Q,BARE", "tag": "{{.Name}}/{{.ImageName}}/{{.ID}}"], for: subject)
        #expect(
            String(decoding: s.attributesJSON, as: UTF8.self)
                == #"{"FOO":"bar","Q":"a b\u0026c","b":"x,y","com.a":"1","tag":"web/busybox/0123456789ab"}"#)
        let r = try JSONFileLogSettings.resolve(["labels-regex": "^o", "env-regex": "^EMP", "tag": "plain"], for: subject)
        #expect(r.attributes == ["other": "z", "EMPTY": "", "tag": "plain"])
        let t = try JSONFileLogSettings.resolve(
            ["tag": "{{.Command}} {{.ImageID}} {{.DaemonName}}|{{.ContainerName}}|{{.ContainerArgs}}|{{.ContainerCreated}}|{{.Hostname}}"], for: subject)
        #expect(t.attributes["tag"] == "echo hi there fedcba987654 docker|/web|[hi there]|2026-12-01 07:24:52.6236334 +0000 UTC|vm")
        var out: [UInt8] = []
        JSONFileLogSettings.goString("<a>\n\u{1}\u{2028}é", into: &out)
        #expect(String(decoding: out, as: UTF8.self) == #""\u003ca\u003e\n\u0001\u2028é""#)
    }

    /// `logs --details`: the stored attributes sorted and query-escaped, from the fast line
    /// scanner and the full parser alike.
    @Test func entriesCarryTheirAttributesToDetails() {
        let line = #"{"log":"hi\n","stream":"stderr","attrs":{"Q":"a b\u0026c","b":"x,y}","tag":"la/busybox"},"time":"2026-12-01T07:24:51.975642242Z"}"#
        let fast = LogReader.parseShimLine(ArraySlice(Array(line.utf8)))
        #expect(fast != nil)
        #expect(fast?.stream == 2 && fast?.text == Array("hi\n".utf8) && fast?.time == Timestamp.parse("2026-12-01T07:24:51.975642242Z"))
        #expect(String(decoding: fast?.details ?? [], as: UTF8.self) == "Q=a+b%26c,b=x%2Cy%7D,tag=la%2Fbusybox")
        let reordered = #"{"attrs":{"k":"v"},"log":"x\n","stream":"stdout","time":"2026-12-01T07:24:51Z"}"#
        #expect(String(decoding: LogReader.parse(ArraySlice(Array(reordered.utf8)))?.details ?? [], as: UTF8.self) == "k=v")
        let plain = #"{"log":"x\n","stream":"stdout","time":"2026-12-01T07:24:51Z"}"#
        #expect(LogReader.parse(ArraySlice(Array(plain.utf8)))?.details == [])
        #expect(LogReader.parseShimLine(ArraySlice(Array(#"{"log":"x","stream":"stdout","attrs":{"k":"v","time":"t"}"#.utf8))) == nil)
    }

    @Test func gzipRoundTripsAndDecompressionIsBounded() throws {
        let dir = "/tmp/berth-gz-\(getpid())"
        try FS.mkdirAll(dir)
        defer { FS.removeAll(dir) }
        let text = (0..<50_000).map { "{\"log\":\"line \($0)\\n\"}\n" }.joined()
        try FS.writeAtomic(dir + "/plain", Array(text.utf8))
        let src = open(dir + "/plain", O_RDONLY), gz = open(dir + "/plain.gz", O_RDWR | O_CREAT | O_TRUNC, 0o600)
        defer { close(src); close(gz) }
        try GzipFile.compress(from: src, to: gz)
        #expect(lseek(gz, 0, SEEK_END) < Int64(text.utf8.count / 4))
        func inflate(limit: Int64) throws(GzipFile.Failure) -> [UInt8] {
            lseek(gz, 0, SEEK_SET)
            let out = open(dir + "/back", O_RDWR | O_CREAT | O_TRUNC, 0o600)
            defer { close(out) }
            try GzipFile.decompress(from: gz, to: out, limit: limit)
            return (try? FS.read(dir + "/back")) ?? []
        }
        #expect(try inflate(limit: 1 << 30) == Array(text.utf8))
        #expect(throws: GzipFile.Failure.self) { try inflate(limit: 1000) }
        // Cut short, and not gzip at all: errors, not a hang or a trap.
        ftruncate(gz, 100)
        #expect(throws: GzipFile.Failure.self) { try inflate(limit: 1 << 30) }
        lseek(gz, 0, SEEK_SET)
        _ = ftruncate(gz, 0)
        _ = write(gz, "not gzip at all", 15)
        #expect(throws: GzipFile.Failure.self) { try inflate(limit: 1 << 30) }
    }

    /// Rotated files are read oldest first, gzipped ones decompressed, however many max-file kept.
    @Test func readerFindsEveryRotatedFileCompressedOrNot() async throws {
        let dir = "/tmp/berth-rotated-\(getpid())"
        try FS.mkdirAll(dir)
        defer { FS.removeAll(dir) }
        func line(_ i: Int) -> String { "{\"log\":\"\(i)\\n\",\"stream\":\"stdout\",\"time\":\"2024-01-01T00:00:01.000000000Z\"}\n" }
        // .12 … .1 (oldest first: .12 holds 0), every other one gzipped, then the live file.
        for n in 1...12 {
            let name = "\(dir)/c.log.\(n)"
            try FS.writeAtomic(name, Array(line(12 - n).utf8))
            if n % 2 == 0 {
                let src = open(name, O_RDONLY), gz = open(name + ".gz", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
                try GzipFile.compress(from: src, to: gz)
                close(src); close(gz)
                unlink(name)
            }
        }
        try FS.writeAtomic(dir + "/c.log", Array(line(12).utf8))
        #expect(LogReader.rotatedFiles(dir + "/c.log").count == 12)
        let seen = Collected()
        await LogReader.read(path: dir + "/c.log", options: LogOptions(), stillRunning: { false }) {
            await seen.add($0); return true
        }
        #expect(await seen.texts == (0...12).map { "\($0)\n" })
        var o = LogOptions()
        o.tail = 3
        let tail = Collected()
        await LogReader.read(path: dir + "/c.log", options: o, stillRunning: { false }) {
            await tail.add($0); return true
        }
        #expect(await tail.texts == ["10\n", "11\n", "12\n"])
    }
}
