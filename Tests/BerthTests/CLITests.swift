@testable import CLI
import Sys
import Testing

@Suite struct CLITests {
    @Test func runFlagsStopAtTheImage() throws {
        let o = try RunOptions(["-dit", "--rm", "--name=web", "-e", "A=1", "-eB=2", "busybox", "ls", "-l", "--rm"])
        #expect(o.flags.bool("detach") && o.flags.bool("interactive") && o.flags.bool("tty") && o.flags.bool("rm"))
        #expect(o.flags.string("name") == "web")
        #expect(o.flags.list("env") == ["A=1", "B=2"])
        #expect(o.image == "busybox")
        #expect(o.command == ["ls", "-l", "--rm"])
    }

    @Test func explicitFalse() throws {
        let f = try Flags.parse(["--rm=false", "-H=false", "x"], [FlagSpec("--rm"), FlagSpec("-H", "--human")])
        #expect(!f.bool("rm") && !f.bool("human"))
    }

    @Test func unknownFlagsAreErrors() {
        #expect(throws: CLIError.self) { try Flags.parse(["--nope"], []) }
        #expect(throws: CLIError.self) { try Flags.parse(["-z"], [FlagSpec("-a")]) }
    }

    @Test func createBodyCarriesResources() throws {
        let o = try RunOptions(["-m", "64m", "--cpus", "0.5", "--pids-limit", "10", "-l", "a=b", "--entrypoint", "sh", "busybox", "-c", "true"])
        let b = try o.body()
        #expect(b["HostConfig"]["Memory"].int == 64 << 20)
        #expect(b["HostConfig"]["NanoCpus"].int == 500_000_000)
        #expect(b["HostConfig"]["PidsLimit"].int == 10)
        #expect(b["Labels"]["a"].string == "b")
        #expect(b["Entrypoint"].stringArray == ["sh"])
        #expect(b["Cmd"].stringArray == ["-c", "true"])
    }

    @Test func goDurations() {
        #expect(RunOptions.goDuration("30s") == 30_000_000_000)
        #expect(RunOptions.goDuration("1m30s") == 90_000_000_000)
        #expect(RunOptions.goDuration("250ms") == 250_000_000)
        #expect(RunOptions.goDuration("1.5h") == 5_400_000_000_000)
        #expect(RunOptions.goDuration("10") == nil)
        #expect(RunOptions.goDuration("5x") == nil)
    }

    @Test func humanUnits() {
        #expect(Out.humanSize(1_982_256) == "1.98MB")
        #expect(Out.humanSize(999) == "999B")
        #expect(Out.humanSize(123_456_789) == "123MB")
        #expect(humanDuration(seconds: 0) == "Less than a second")
        #expect(humanDuration(seconds: 75) == "About a minute")
        #expect(humanDuration(seconds: 3 * 3600) == "3 hours")
    }

    @Test func templates() throws {
        let data: JSONValue = ["State": ["Status": "running", "ExitCode": 0], "Name": "/x"]
        #expect(try Template.render("{{.State.Status}} {{.State.ExitCode}} {{.Name}}", data) == "running 0 /x")
        #expect(try Template.render("{{json .State}}", data) == #"{"Status":"running","ExitCode":0}"#)
    }

    @Test func timestamps() {
        #expect(Timestamp.parse("2024-01-02T03:04:05.5Z")?.nanos == 1_704_164_645_500_000_000)
        #expect(Timestamp.parse("1700000000.000000001")?.nanos == 1_700_000_000_000_000_001)
        #expect(Timestamp(nanos: 1_704_164_645_500_000_000).rfc3339Nano == "2024-01-02T03:04:05.500000000Z")
        #expect(Timestamp(nanos: 1_704_164_645_500_000_000).goRFC3339Nano == "2024-01-02T03:04:05.5Z")
    }
}

import JSON
typealias JSONValue = JSON
