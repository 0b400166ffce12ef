import Foundation
import JSON
import Sys
import Testing

@testable import Runtime

/// The OCI config we generate against what dockerd 20.10 generated for `docker run alpine sleep 1000`.
@Suite struct RuntimeSpecTests {
    static let referencePath =
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path + "/shared/reference/docker-20.10-captured/oci-config/default.json"

    func spec() -> JSON {
        let s = BundleSpec(
            id: "abc", rootfs: "/r", args: ["sleep", "1000"], env: ["PATH=/bin"], cwd: "/",
            user: ResolvedUser(uid: 0, gid: 0, additionalGids: [0, 10], home: "/root"), hostname: "abc",
            resolvConf: "/c/resolv.conf", hostsFile: "/c/hosts", hostnameFile: "/c/hostname")
        return OCISpecBuilder.build(s)
    }

    @Test func matchesDockerDefaults() throws {
        guard let ref = try? JSON.parse(FS.read(Self.referencePath)) else { return }  // reference not beside the checkout
        let ours = spec()
        #expect(ours["process"]["capabilities"] == ref["process"]["capabilities"])
        #expect(ours["linux"]["maskedPaths"] == ref["linux"]["maskedPaths"])
        #expect(ours["linux"]["readonlyPaths"] == ref["linux"]["readonlyPaths"])
        #expect(ours["linux"]["namespaces"] == ref["linux"]["namespaces"])
        #expect(ours["linux"]["resources"]["devices"] == ref["linux"]["resources"]["devices"])
        #expect(ours["linux"]["seccomp"] == ref["linux"]["seccomp"])
        #expect(ours["linux"]["sysctl"] == ref["linux"]["sysctl"])
        let destinations = { (j: JSON) in (j["mounts"].array ?? []).compactMap { $0["destination"].string } }
        #expect(destinations(ours) == destinations(ref))
        #expect((ours["mounts"].array ?? []).prefix(7) == (ref["mounts"].array ?? []).prefix(7))
    }

    @Test func initMatchesDocker() throws {
        var s = BundleSpec(
            id: "abc", rootfs: "/r", args: ["sleep", "1000"], env: ["PATH=/bin"], cwd: "/",
            user: ResolvedUser(uid: 0, gid: 0, additionalGids: [0, 10], home: "/root"), hostname: "abc",
            resolvConf: "/c/resolv.conf", hostsFile: "/c/hosts", hostnameFile: "/c/hostname")
        s.initBinary = "/usr/bin/docker-init"
        let ours = OCISpecBuilder.build(s)
        #expect(ours["process"]["args"] == ["/sbin/docker-init", "--", "sleep", "1000"])
        let path = Self.referencePath.replacingOccurrences(of: "default.json", with: "init.json")
        guard let ref = try? JSON.parse(FS.read(path)) else { return }  // reference not beside the checkout
        #expect(ours["process"]["args"] == ref["process"]["args"])
        let destinations = { (j: JSON) in (j["mounts"].array ?? []).compactMap { $0["destination"].string } }
        #expect(destinations(ours) == destinations(ref))
        let initMount = { (j: JSON) in (j["mounts"].array ?? []).first { $0["destination"] == "/sbin/docker-init" } }
        #expect(initMount(ours) == initMount(ref))
    }

    @Test func resourceLimits() {
        var s = BundleSpec(
            id: "x", rootfs: "/r", args: ["true"], env: [], cwd: "/", user: ResolvedUser(uid: 0, gid: 0, additionalGids: [], home: "/"),
            hostname: "x", resolvConf: "", hostsFile: "", hostnameFile: "")
        s.memory = 64 << 20
        s.cpuQuota = 50_000
        s.pidsLimit = 20
        let j = OCISpecBuilder.build(s)
        #expect(j["linux"]["resources"]["memory"]["limit"].int == 64 << 20)
        #expect(j["linux"]["resources"]["memory"]["swap"].int == 128 << 20)
        #expect(j["linux"]["resources"]["cpu"]["quota"].int == 50_000)
        #expect(j["linux"]["resources"]["cpu"]["period"].int == 100_000)
        #expect(j["linux"]["resources"]["pids"]["limit"].int == 20)
        #expect(j["linux"]["cgroupsPath"].string == "/berth/x")
    }

    @Test func capabilityAddDrop() {
        let caps = OCISpecBuilder.capabilities(add: ["NET_ADMIN"], drop: ["chown", "CAP_KILL"])
        #expect(caps.contains("CAP_NET_ADMIN"))
        #expect(!caps.contains("CAP_CHOWN") && !caps.contains("CAP_KILL"))
        #expect(OCISpecBuilder.capabilities(add: [], drop: ["ALL"]).isEmpty)
    }

    @Test func resolvesUsersFromTheImage() throws {
        let passwd = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n"
        let group = "root:x:0:\nwheel:x:10:root\nnogroup:x:65534:\n"
        #expect(try UserResolver.resolve("", passwd: passwd, group: group) == ResolvedUser(uid: 0, gid: 0, additionalGids: [0, 10], home: "/root"))
        #expect(try UserResolver.resolve("nobody", passwd: passwd, group: group).uid == 65534)
        #expect(try UserResolver.resolve("1000:wheel", passwd: passwd, group: group) == ResolvedUser(uid: 1000, gid: 10, additionalGids: [10], home: "/"))
        #expect(throws: UserResolver.NotFound.self) { try UserResolver.resolve("ghost", passwd: passwd, group: group) }
        // An image's `User` of ":" split into no parts at all and trapped the daemon at start.
        #expect(try UserResolver.resolve(":", passwd: passwd, group: group).uid == 0)
        #expect(try UserResolver.resolve("nobody:", passwd: passwd, group: group).gid == 65534)
        // A group file the image controls may hold any number: out-of-range gids are not added.
        let hostile = "root:x:0:\nbig:x:99999999999:root\nneg:x:-4:root\n"
        #expect(try UserResolver.resolve("root", passwd: passwd, group: hostile).additionalGids == [0])
    }

    @Test func homeComesFromPasswdWhenTheEnvironmentLeavesItOut() {
        // runc's rule (its init sets it; berth-runtime's does not, so the spec carries it).
        #expect(UserResolver.withHome(["PATH=/bin", "HOSTNAME=h"], home: "/root") == ["PATH=/bin", "HOSTNAME=h", "HOME=/root"])
        #expect(UserResolver.withHome(["HOME=/x", "A=1"], home: "/root") == ["HOME=/x", "A=1"])
        // Empty is unset, as for Go's Getenv, and is replaced where it stands.
        #expect(UserResolver.withHome(["A=1", "HOME=", "B=2"], home: "/home") == ["A=1", "HOME=/home", "B=2"])
        #expect(UserResolver.withHome(["HOMEDIR=/y"], home: "/") == ["HOMEDIR=/y", "HOME=/"])
    }
}

@Suite struct OCIRuntimeTests {
    @Test func eachRuntimeKeepsItsStateUnderARootOfItsOwn() {
        #expect(OCIRuntime.stock.argv(execRoot: "/run/b") == ["runc", "--root", "/run/b/runc"])
        let crun = OCIRuntime(name: "crun", path: "/usr/bin/crun", args: ["--cgroup-manager", "cgroupfs"])
        #expect(crun.argv(execRoot: "/run/b") == ["/usr/bin/crun", "--cgroup-manager", "cgroupfs", "--root", "/run/b/runtime-crun"])
        for bad in ["", ".", "..", "a/b", "a b", String(repeating: "x", count: 65), "tab\t"] { #expect(!OCIRuntime.validName(bad), "\(bad)") }
        for good in ["crun", "berth-runtime", "io.containerd.runsc.v1", "nvidia_2"] { #expect(OCIRuntime.validName(good)) }
    }
}

/// `<runtime> --version` read as dockerd's parseRuntimeVersion reads it (`docker version`'s
/// runtime component, `docker info`'s RuncCommit).
@Suite struct RuntimeVersionTests {
    @Test func runcAsDebianBuildsIt() {
        let out = "runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u1\nspec: 1.0.2-dev\ngo: go1.19.8\nlibseccomp: 2.5.4\n"
        #expect(RuntimeVersion.parse(out) == RuntimeVersion(runtime: "runc", version: "1.1.5+ds1", commit: "1.1.5+ds1-1+deb12u1"))
    }

    @Test func berthRuntimeHasNoCommitLine() {
        #expect(RuntimeVersion.parse("berth-runtime version 1.0.0\nspec: 1.1.0\n") == RuntimeVersion(runtime: "berth-runtime", version: "1.0.0", commit: ""))
    }

    @Test func crunAndOddShapes() {
        let crun = "crun version 1.8.1\ncommit: f8a096be060b22ccd3d5f3ebe44108517fbf6c30\nrundir: /run/crun\nspec: 1.0.0\n+SYSTEMD +SELINUX +SECCOMP\n"
        #expect(RuntimeVersion.parse(crun) == RuntimeVersion(runtime: "crun", version: "1.8.1", commit: "f8a096be060b22ccd3d5f3ebe44108517fbf6c30"))
        // The version is what follows the word's last occurrence, as Go's strings.Split gives it.
        #expect(RuntimeVersion.parse("my version runtime version 2.0")?.version == "2.0")
        #expect(RuntimeVersion.parse("commit: abc")?.commit == "abc")
        #expect(RuntimeVersion.parse("usage: foo [options]\n") == nil)
        #expect(RuntimeVersion.parse("") == nil)
    }
}
