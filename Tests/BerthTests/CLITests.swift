import JSON
import Sys
import Testing

@testable import CLI
@testable import Client

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

    @Test func contentTrustIsReadAsTheDockerCLIReadsIt() {
        for (value, trusted) in [(nil, false), ("", false), ("0", false), ("false", false), ("F", false), ("1", true), ("true", true), ("yes", true)] {
            #expect(ContentTrust.enabled(byEnvironment: value) == trusted, "DOCKER_CONTENT_TRUST=\(value ?? "unset")")
        }
        #expect(GoStrconv.parseBool("True") == true && GoStrconv.parseBool("FALSE") == false && GoStrconv.parseBool("no") == nil)
    }

    /// Asked for, content trust is refused (Berth cannot verify a signature); turned off, or for
    /// a reference by digest, the command goes ahead.
    @Test func contentTrustAskedForIsRefusedNotSkipped() throws {
        let spec = [ContentTrust.flag]
        let none = try Flags.parse([], spec)
        let off = try Flags.parse(["--disable-content-trust"], spec)
        let on = try Flags.parse(["--disable-content-trust=false"], spec)
        let bad = try Flags.parse(["--disable-content-trust=maybe"], spec)
        try ContentTrust.requireOff(none, image: "busybox", code: 1, environment: nil)
        try ContentTrust.requireOff(off, image: "busybox", code: 1, environment: "1")
        try ContentTrust.requireOff(none, image: "busybox@sha256:" + String(repeating: "a", count: 64), code: 1, environment: "1")
        for (flags, env) in [(none, "1"), (none, "yes"), (on, nil), (on, "0")] {
            do {
                try ContentTrust.requireOff(flags, image: "busybox", code: 7, environment: env)
                Issue.record("trust asked for (\(env ?? "unset")) went ahead")
            } catch let e as CLIError {
                #expect(e.code == 7 && e.description.contains("content trust is not supported"))
            }
        }
        #expect(throws: CLIError.self) { try ContentTrust.requireOff(bad, image: "busybox", code: 1, environment: nil) }
        do {
            _ = try RunOptions(["--disable-content-trust=maybe", "busybox"])
            Issue.record("a flag value that is no boolean was taken")
        } catch let e as CLIError {
            #expect(e.code == 125 && e.description.contains("strconv.ParseBool: parsing \"maybe\": invalid syntax"))
        }
    }

    /// The docker CLI's `--platform` defaults to DOCKER_DEFAULT_PLATFORM; an empty value asks for none.
    @Test func platformFallsBackToTheDockerDefault() throws {
        let spec = [FlagSpec("--platform", value: true)]
        #expect(try Flags.parse([], spec).platform(default: nil) == nil)
        #expect(try Flags.parse([], spec).platform(default: "") == nil)
        #expect(try Flags.parse([], spec).platform(default: "linux/arm64") == "linux/arm64")
        #expect(try Flags.parse(["--platform", "linux/amd64"], spec).platform(default: "linux/arm64") == "linux/amd64")
        #expect(try Flags.parse(["--platform="], spec).platform(default: "linux/arm64") == nil)
    }

    /// dockerd's refusal of a version too new names its own; only an older one is taken.
    @Test func apiVersionFromADaemonsRefusal() {
        let refusal = "Error response from daemon: client version 1.44 is too new. Maximum supported API version is 1.41"
        #expect(DaemonClient.versionNamedInRefusal(refusal, of: "1.44") == "1.41")
        #expect(DaemonClient.versionNamedInRefusal(refusal, of: "1.43") == nil)
        #expect(DaemonClient.versionNamedInRefusal("client version 1.44 is too new. Maximum supported API version is 1.50", of: "1.44") == nil)
        #expect(DaemonClient.versionNamedInRefusal("client version 1.44 is too new. Maximum supported API version is x", of: "1.44") == nil)
        #expect(DaemonClient.versionNamedInRefusal("No such container: w", of: "1.44") == nil)
        #expect(DaemonClient.isOlder("1.9", than: "1.41") && !DaemonClient.isOlder("1.41", than: "1.41") && !DaemonClient.isOlder("2", than: "1.41"))
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

    @Test func formatterTablesAndPlainFormats() throws {
        let rows: [JSONValue] = [["ID": "abc", "Name": "web"], ["ID": "defghijklmnop", "Name": "db"]]
        let header: JSONValue = ["ID": "CONTAINER ID", "Name": "NAME"]
        #expect(
            try Formatter(format: "table {{.ID}}\\t{{.Name}}", header: header).render(rows)
                == "CONTAINER ID    NAME\nabc             web\ndefghijklmnop   db\n")
        // The header goes through Docker's header functions: `upper` leaves the title as is.
        #expect(try Formatter(format: "table {{upper .Name}}", header: header).render(rows) == "NAME\nWEB\nDB\n")
        #expect(try Formatter(format: "{{.ID}}: {{.Name}}", header: header).render(rows) == "abc: web\ndefghijklmnop: db\n")
        #expect(try Formatter(format: "json").render([rows[0]]) == #"{"ID":"abc","Name":"web"}"# + "\n")
        #expect(throws: CLIError.self) { try Formatter(format: "{{nope}}").render(rows) }
        #expect(try Formatter.inspect("{{.ID}}", rows) == "abc\ndefghijklmnop\n")
        #expect(throws: CLIError.self) { try Formatter.inspect("{{.Missing}}", rows) }
    }

    @Test func tabWriterColumnBlocks() {
        // Lines with fewer cells end a column block, as Go's elastic tabstops do.
        #expect(
            TabWriter().format("a\tb\tc\nlonger-cell\tx\nsolo\nq\tr\n")
                == "a             b         c\nlonger-cell   x\nsolo\nq         r\n")
        #expect(TabWriter().format("x\t\ty\n") == "x                   y\n")
    }

    @Test func displayablePorts() {
        let ports: [JSONValue] = [
            ["IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 80, "Type": "tcp"],
            ["IP": "0.0.0.0", "PrivatePort": 81, "PublicPort": 81, "Type": "tcp"],
            ["IP": "0.0.0.0", "PrivatePort": 443, "PublicPort": 8443, "Type": "tcp"],
            ["PrivatePort": 53, "Type": "udp"],
        ]
        #expect(Rows.displayablePorts(ports) == "53/udp, 0.0.0.0:80-81->80-81/tcp, 0.0.0.0:8443->443/tcp")
    }

    @Test func timestamps() {
        #expect(Timestamp.parse("2024-01-02T03:04:05.5Z")?.nanos == 1_704_164_645_500_000_000)
        #expect(Timestamp.parse("1700000000.000000001")?.nanos == 1_700_000_000_000_000_001)
        #expect(Timestamp(nanos: 1_704_164_645_500_000_000).rfc3339Nano == "2024-01-02T03:04:05.500000000Z")
        #expect(Timestamp(nanos: 1_704_164_645_500_000_000).goRFC3339Nano == "2024-01-02T03:04:05.5Z")
    }

    @Test func relativeTimesAsDockerdReadsThem() {
        #expect(Timestamp.parseGoDuration("1h30m") == 5_400_000_000_000)
        #expect(Timestamp.parseGoDuration("1.5h") == 5_400_000_000_000)
        #expect(Timestamp.parseGoDuration("300ms") == 300_000_000 && Timestamp.parseGoDuration("2m3s") == 123_000_000_000)
        #expect(Timestamp.parseGoDuration("-10s") == -10_000_000_000 && Timestamp.parseGoDuration("0") == 0)
        for bad in ["", "10", "h", "1x", "1h30", "soon"] { #expect(Timestamp.parseGoDuration(bad) == nil, "\(bad)") }
        let now = Timestamp(nanos: 1_704_164_645_000_000_000)
        #expect(Timestamp.parseRelative("24h", now: now)?.nanos == now.nanos - 86_400_000_000_000)
        #expect(Timestamp.parseRelative("2024-01-02", now: now)?.nanos == 1_704_153_600_000_000_000)
        #expect(Timestamp.parseRelative("2024-01-02T03:04:05", now: now)?.nanos == 1_704_164_645_000_000_000)
        #expect(Timestamp.parseRelative("1704164645", now: now)?.nanos == 1_704_164_645_000_000_000)
        #expect(Timestamp.parseRelative("soon", now: now) == nil)
    }
}

typealias JSONValue = JSON
