import BerthNet
import DockerAPI
import Foundation
import JSON
import Testing

@testable import Engine
@testable import Runtime

/// Rootless berthd's pure parts: the id range its own namespace maps, the spec without
/// cgroups, the limits it discards in dockerd's words, and slirp4netns's forwarding request.
@Suite struct RootlessTests {
    @Test func theRunOfIDsFromZeroInAMap() {
        // Root is the user, 1… the subordinate range: 0…65536 usable for ping_group_range.
        #expect(UsernsRemap.contiguousTop(ofMap: "         0       1001          1\n         1     165536      65536\n") == 65536)
        // Lines in any order; a gap ends the run.
        #expect(UsernsRemap.contiguousTop(ofMap: "1 165536 10\n0 1001 1\n20 300000 5\n") == 10)
        // The host's namespace (everything mapped) and a map without 0: no narrowing.
        #expect(UsernsRemap.contiguousTop(ofMap: "0 0 4294967295\n") == nil)
        #expect(UsernsRemap.contiguousTop(ofMap: "5 1000 1\n") == nil)
        #expect(UsernsRemap.contiguousTop(ofMap: "") == nil)
    }

    func bundle() -> BundleSpec {
        var s = BundleSpec(
            id: "x", rootfs: "/r", args: ["true"], env: [], cwd: "/", user: ResolvedUser(uid: 0, gid: 0, additionalGids: [], home: "/"),
            hostname: "x", resolvConf: "", hostsFile: "", hostnameFile: "")
        s.memory = 64 << 20
        s.pidsLimit = 20
        return s
    }

    @Test func withoutCgroupsTheSpecNamesNoPathAndNoResources() {
        var s = bundle()
        #expect(OCISpecBuilder.build(s)["linux"]["cgroupsPath"] == "/berth/x")
        s.cgroups = false
        s.daemonGroupTop = 65536
        let spec = OCISpecBuilder.build(s)
        #expect(spec["linux"]["cgroupsPath"].isNull && spec["linux"]["resources"].isNull)
        #expect(spec["linux"]["sysctl"]["net.ipv4.ping_group_range"] == "0 65536")
    }

    @Test func limitsAreDiscardedWithDockerdsWarnings() throws {
        var r = Resources(json: ["Memory": 67_108_864, "PidsLimit": 50, "CpuShares": 512, "NanoCpus": 1_000_000_000, "CpusetCpus": "0"])
        let warnings = try ResourceChecks.check(&r, update: false, host: .none, cpuCount: 2)
        #expect(warnings.contains("Your kernel does not support memory limit capabilities or the cgroup is not mounted. Limitation discarded."))
        #expect(warnings.contains("Your kernel does not support PIDs limit capabilities or the cgroup is not mounted. PIDs limit discarded."))
        #expect(warnings.contains("Your kernel does not support CPU shares or the cgroup is not mounted. Shares discarded."))
        #expect(warnings.contains("Your kernel does not support cpuset or the cgroup is not mounted. Cpuset discarded."))
        #expect(r.memory == 0 && r.pidsLimit == nil && r.cpuShares == 0 && r.nanoCpus == 0 && r.cpusetCpus.isEmpty)
        // Nothing asked for, nothing said.
        var plain = Resources(json: [:])
        #expect(try ResourceChecks.check(&plain, update: false, host: .none, cpuCount: 2).isEmpty)
    }

    @Test func slirpForwardsTheSamePortToTheNamespacesAddress() throws {
        let req = SlirpPorts.addRequest(proto: "udp", hostIP: "127.0.0.1", port: 5353)
        #expect(req["execute"] == "add_hostfwd")
        #expect(req["arguments"] == ["proto": "udp", "host_addr": "127.0.0.1", "host_port": 5353, "guest_addr": "10.0.2.100", "guest_port": 5353])
    }
}

/// The cgroup v2 delegation a rootless daemon takes as its tree, on a fake cgroup2 tree (the
/// kernel's own files made by hand: this project's host is hybrid, so it has none to give).
@Suite struct CgroupDelegationTests {
    func tree(controllers: String, hybrid: Bool = false) throws -> String {
        let root = NSTemporaryDirectory() + "cg-" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        let own = root + "/user.slice/user-1000.slice/user@1000.service/app.slice/berthd.service"
        for d in [own + "/daemon", own + "/containers"] { try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true) }
        if !hybrid { try "cpuset cpu io memory pids hugetlb".write(toFile: root + "/cgroup.controllers", atomically: false, encoding: .utf8) }
        for (f, text) in [
            ("/cgroup.controllers", controllers), ("/cgroup.procs", "4242\n4343\n"), ("/cgroup.subtree_control", ""),
            ("/daemon/cgroup.procs", ""), ("/containers/cgroup.subtree_control", ""), ("/containers/cpuset.cpus.effective", "0-3\n"),
            ("/containers/io.weight", "default 100\n"),
        ] {
            try text.write(toFile: own + f, atomically: false, encoding: .utf8)
        }
        return root
    }

    let selfCgroup = "0::/user.slice/user-1000.slice/user@1000.service/app.slice/berthd.service\n"

    @Test func aDelegatedCgroupBecomesTheContainersTree() throws {
        let root = try tree(controllers: "cpu io memory pids")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let (d, _) = CgroupDelegation.prepare(root: root, selfCgroup: selfCgroup)
        let own = "/user.slice/user-1000.slice/user@1000.service/app.slice/berthd.service"
        #expect(d == CgroupDelegation(containersPath: own + "/containers", controllers: ["cpu", "io", "memory", "pids"]))
        // The daemon's processes moved to the leaf (each pid written in turn).
        #expect(try String(contentsOfFile: root + own + "/daemon/cgroup.procs", encoding: .utf8) == "4343")
        let s = try #require(d).support(root: root)
        #expect(s.limits && s.memory && s.pids && s.cpu && !s.cpuset && s.cpus == "0-3" && s.blkioWeight)
        // Restarted from inside its own leaf, the tree is the same.
        #expect(CgroupDelegation.prepare(root: root, selfCgroup: "0::\(own)/daemon\n").0 == d)
    }

    @Test func noDelegationSaysWhy() throws {
        let hybrid = try tree(controllers: "cpu memory", hybrid: true)
        #expect(CgroupDelegation.prepare(root: hybrid, selfCgroup: selfCgroup).why.contains("cgroup v1 or hybrid"))
        let bare = try tree(controllers: "hugetlb")
        defer { for r in [hybrid, bare] { try? FileManager.default.removeItem(atPath: r) } }
        let (d, why) = CgroupDelegation.prepare(root: bare, selfCgroup: selfCgroup)
        #expect(d == nil && why.contains("none of the memory, pids and cpu controllers"))
        #expect(CgroupDelegation.prepare(root: bare, selfCgroup: "0::/\n").why.contains("root cgroup"))
    }

    @Test func limitsOfMissingControllersAreDiscarded() throws {
        var s = CgroupSupport(cpus: "0-1", mems: "0")
        s.pids = false
        var r = Resources(json: ["Memory": 67_108_864, "PidsLimit": 50])
        let w = try ResourceChecks.check(&r, update: false, host: s, cpuCount: 2)
        #expect(w == ["Your kernel does not support PIDs limit capabilities or the cgroup is not mounted. PIDs limit discarded."])
        #expect(r.memory == 67_108_864 && r.pidsLimit == nil)
    }
}
