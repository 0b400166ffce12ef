import CSys
import Glibc
import JSON
import Sys
import Testing

@testable import ContainerRuntime

/// berth-runtime's logic without root: mount options, cgroup plans and paths, the spec's
/// validation, and the cgroup manager against a recording fake of the cgroup file system.
struct ContainerRuntimeTests {
    final class RecordingCgroupFiles: CgroupFiles {
        var files: [String: String] = [:]
        var dirs: Set<String> = []
        var writes: [(String, String)] = []
        var refuse: Set<String> = []
        /// What the kernel keeps of a written value (v1 clamps cpu.shares, for one), when not the value itself.
        var kernelKeeps: (String, String) -> String = { _, value in value }
        func makeDirectory(_ path: String) throws(RuntimeFailure) { dirs.insert(path) }
        func write(_ path: String, _ value: String) throws(RuntimeFailure) {
            if refuse.contains(path) { throw RuntimeFailure("failed to write \(value) to \(path): invalid argument") }
            writes.append((path, value))
            files[path] = kernelKeeps(path, value)
        }
        func read(_ path: String) -> String? { files[path] }
        func exists(_ path: String) -> Bool { dirs.contains(path) || files[path] != nil }
        var removed: [String] = []
        func removeDirectory(_ path: String) -> Bool {
            removed.append(path)
            dirs.remove(path)
            return true
        }
        var filters: [String: [DeviceRule]] = [:]
        func attachDeviceFilter(_ dir: String, _ rules: [DeviceRule]) throws(RuntimeFailure) { filters[dir] = rules }
    }

    @Test func mountOptionsSplitFlagsPropagationAndData() {
        let o = MountOptions(["nosuid", "noexec", "ro", "rprivate", "mode=755", "size=65536k", "x-hint"])
        #expect(o.flags == MountFlags.nosuid | MountFlags.noexec | MountFlags.rdonly)
        #expect(o.propagation == [MountFlags.private | MountFlags.rec])
        #expect(o.dataString == "mode=755,size=65536k")
        let b = MountOptions(["rbind", "rw"], type: "bind")
        #expect(b.bind && b.recursive)
        #expect(b.flags & MountFlags.rdonly == 0)
        #expect(b.remountFlags == 0)
        // A later option wins, as with mount(8).
        #expect(MountOptions(["ro", "rw"]).flags & MountFlags.rdonly == 0)
        #expect(MountOptions(["bind", "ro"]).remountFlags == MountFlags.rdonly)
    }

    @Test func cgroupPlanV1FollowsRuncsFiles() throws {
        let r = try JSON.parse(
            """
            {"memory": {"limit": 67108864, "swap": 134217728, "swappiness": 10},
             "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0"},
             "pids": {"limit": 0},
             "devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                         {"allow": true, "type": "c", "major": 136, "access": "rw"}]}
            """)
        let plan = try CgroupPlan.v1(r).map { "\($0.controller)/\($0.file)=\($0.value)" }
        #expect(
            plan == [
                "memory/memory.limit_in_bytes=67108864", "memory/memory.memsw.limit_in_bytes=134217728", "memory/memory.swappiness=10",
                "cpu/cpu.shares=512", "cpu/cpu.cfs_period_us=100000", "cpu/cpu.cfs_quota_us=50000", "cpuset/cpuset.cpus=0", "pids/pids.max=max",
                "devices/devices.deny=a", "devices/devices.allow=c 1:3 rwm", "devices/devices.allow=c 136:* rw",
            ])
        #expect(throws: RuntimeFailure.self) { try CgroupPlan.v1(JSON.parse(#"{"memory": {"swappiness": 101}}"#)) }
        #expect(throws: RuntimeFailure.self) { try CgroupPlan.v1(JSON.parse(#"{"devices": [{"allow": true, "type": "x"}]}"#)) }
        #expect(throws: RuntimeFailure.self) { try CgroupPlan.v1(JSON.parse(#"{"devices": [{"allow": true, "access": "rwz"}]}"#)) }
    }

    @Test func anAllowRuleAlreadyInForceIsNotWrittenAgain() throws {
        // Docker's spec allows six devices that the defaults added after it allow again.
        let docker = try JSON.parse(
            """
            {"devices": [{"allow": false, "access": "rwm"},
              {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
              {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rwm"}, {"allow": false, "type": "c", "major": 10, "minor": 229, "access": "rwm"},
              {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rwm"}]}
            """)
        let plan = try CgroupPlan.v1(CgroupPlan.withDefaultDevices(docker)).map(\.value)
        #expect(plan.count == Set(plan).count + 2)
        // c 10:229 comes back after the deny that took it away; c 1:3 and c 1:5 are written once.
        #expect(plan.filter { $0 == "c 10:229 rwm" }.count == 3)
        #expect(plan.filter { $0 == "c 1:3 rwm" }.count == 1 && plan.filter { $0 == "c 1:5 rwm" }.count == 1)
        let w: [(allow: Bool, rule: String)] = [(true, "c 1:3 rwm"), (false, "c 4:* rwm"), (false, "b 1:3 rwm")]
        #expect(CgroupPlan.isRepeatedAllow("c 1:3 rwm", after: w))
        #expect(!CgroupPlan.isRepeatedAllow("c 1:3 rw", after: w))
        #expect(!CgroupPlan.isRepeatedAllow("c 1:3 rwm", after: w + [(false, "c *:* m")]))
        #expect(!CgroupPlan.isRepeatedAllow("c 1:3 rwm", after: w + [(false, "a")]))
        #expect(!CgroupPlan.isRepeatedAllow("c 1:3 rwm", after: w + [(false, "c 1:7 rwm")]))
        #expect(CgroupPlan.isRepeatedAllow("a", after: [(true, "a")]) && !CgroupPlan.isRepeatedAllow("a", after: [(true, "a"), (false, "c 1:3 r")]))
    }

    @Test func theDeviceRulesCanGoOnApartFromTheOtherLimits() throws {
        let r = try JSON.parse(
            #"{"devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"}], "pids": {"limit": 9}}"#)
        let fake = RecordingCgroupFiles()
        let v1 = CgroupManager(paths: CgroupPaths(byController: ["devices": "/cg/devices/c", "pids": "/cg/pids/c"], unified: nil), files: fake, v2Only: false)
        try v1.apply(r, .devices)
        #expect(fake.writes.map { "\($0.0)=\($0.1)" } == ["/cg/devices/c/devices.deny=a", "/cg/devices/c/devices.allow=c 1:3 rw"])
        fake.writes = []
        try v1.apply(r, .allButDevices)
        #expect(fake.writes.map { "\($0.0)=\($0.1)" } == ["/cg/pids/c/pids.max=9"])
        let v2fake = RecordingCgroupFiles()
        let v2 = CgroupManager(paths: CgroupPaths(byController: [:], unified: "/cg/c"), files: v2fake, v2Only: true)
        try v2.apply(r, .devices)
        #expect(v2fake.writes.isEmpty && v2fake.filters["/cg/c"]?.count == 2)
        v2fake.filters = [:]
        try v2.apply(r, .allButDevices)
        #expect(v2fake.writes.map(\.0) == ["/cg/c/pids.max"] && v2fake.filters.isEmpty)
        // The spec's own rules may start the container with a terminal: its pty is opened after
        // the mounts, so the rules then wait for the init to be ready.
        var config = try RuntimeConfig.decode(JSON.parse(DefaultSpec.json.serializedBytes()), bundle: "/b")
        config.process.terminal = false
        #expect(InitStage.rulesMayGoOnEarly(config))
        config.process.terminal = true
        #expect(!InitStage.rulesMayGoOnEarly(config))
    }

    @Test func cgroupPlanV2ConvertsV1Values() throws {
        let r = try JSON.parse(
            #"{"memory": {"limit": 1000, "swap": 3000}, "cpu": {"shares": 1024, "quota": 20000}, "pids": {"limit": 5}, "unified": {"memory.high": "900"}}"#)
        let plan = try CgroupPlan.v2(r).map { "\($0.file)=\($0.value)" }
        #expect(plan == ["memory.max=1000", "memory.swap.max=2000", "cpu.weight=39", "cpu.max=20000 100000", "pids.max=5", "memory.high=900"])
        #expect(CgroupPlan.sharesToWeight(2) == 1 && CgroupPlan.sharesToWeight(262_144) == 10000)
        // A unified key is a file name in the container's own directory, never a path.
        #expect(throws: RuntimeFailure.self) { try CgroupPlan.v2(JSON.parse(#"{"unified": {"../../cgroup.procs": "1"}}"#)) }
        #expect(throws: RuntimeFailure.self) { try CgroupPlan.v2(JSON.parse(#"{"memory": {"limit": 3000, "swap": 1000}}"#)) }
    }

    @Test func cgroupPathsFromLayoutAbsoluteAndRelative() {
        let mountinfo = """
            32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
            35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
            40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
            41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
            """
        let layout = CgroupLayout(mountinfo: mountinfo)
        #expect(layout.v1 == ["cpu": "/sys/fs/cgroup/cpu", "memory": "/sys/fs/cgroup/memory", "name=systemd": "/sys/fs/cgroup/systemd"])
        #expect(!layout.v2Only)
        let own = "4:memory:/process_api/x\n1:cpu:/\n0::/\n"
        let abs = CgroupPaths(layout: layout, cgroupsPath: "/berth/c1", id: "c1", ownCgroup: own)
        #expect(
            abs.byController == [
                "cpu": "/sys/fs/cgroup/cpu/berth/c1", "memory": "/sys/fs/cgroup/memory/berth/c1", "name=systemd": "/sys/fs/cgroup/systemd/berth/c1",
            ])
        #expect(abs.unified == "/sys/fs/cgroup/unified/berth/c1")
        // Relative: below the caller's own cgroup in each hierarchy; none given: the id.
        let rel = CgroupPaths(layout: layout, cgroupsPath: nil, id: "c2", ownCgroup: own)
        #expect(rel.byController["memory"] == "/sys/fs/cgroup/memory/process_api/x/c2")
        #expect(rel.byController["cpu"] == "/sys/fs/cgroup/cpu/c2")
        // `..` cannot climb out of the hierarchy.
        let up = CgroupPaths(layout: layout, cgroupsPath: "/../../etc", id: "c3", ownCgroup: own)
        #expect(up.byController["cpu"] == "/sys/fs/cgroup/cpu/etc")
        let v2 = CgroupLayout(mountinfo: "28 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n")
        #expect(v2.v2Only)
    }

    @Test func managerCopiesCpusetDownAndOrdersMemorySwap() throws {
        let fake = RecordingCgroupFiles()
        fake.dirs = ["/cg/cpuset", "/cg/memory/a"]
        fake.files = ["/cg/cpuset/cpuset.cpus": "0-1\n", "/cg/cpuset/cpuset.mems": "0\n", "/cg/memory/a/memory.memsw.limit_in_bytes": "100"]
        let paths = CgroupPaths(byController: ["cpuset": "/cg/cpuset/a", "memory": "/cg/memory/a"], unified: nil)
        let m = CgroupManager(paths: paths, files: fake, v2Only: false)
        try m.create()
        #expect(fake.files["/cg/cpuset/a/cpuset.cpus"] == "0-1" && fake.files["/cg/cpuset/a/cpuset.mems"] == "0")
        fake.writes = []
        // Raising the limit above memory+swap: memory+swap goes first (the kernel refuses the other order).
        try m.apply(try JSON.parse(#"{"memory": {"limit": 200, "swap": 400}}"#))
        #expect(fake.writes.map(\.0) == ["/cg/memory/a/memory.memsw.limit_in_bytes", "/cg/memory/a/memory.limit_in_bytes"])
        try m.join("0")
        #expect(fake.files["/cg/cpuset/a/cgroup.procs"] == "0" && fake.files["/cg/memory/a/cgroup.procs"] == "0")
        // A controller this host does not mount is an error when asked for, never ignored.
        #expect(throws: RuntimeFailure.self) { try m.apply(JSON.parse(#"{"hugepageLimits": [{"pageSize": "2MB", "limit": 1}]}"#)) }
        fake.refuse = ["/cg/memory/a/memory.limit_in_bytes"]
        #expect(throws: RuntimeFailure.self) { try m.apply(JSON.parse(#"{"memory": {"limit": 1}}"#)) }
    }

    @Test func cpuSharesTheKernelClampsAreRefusedInRuncsWords() throws {
        let fake = RecordingCgroupFiles()
        fake.kernelKeeps = { path, value in
            guard path.hasSuffix("/cpu.shares"), let v = UInt64(value) else { return value }
            return String(min(max(v, 2), 262_144))
        }
        let m = CgroupManager(paths: CgroupPaths(byController: ["cpu": "/cg/cpu/a"], unified: nil), files: fake, v2Only: false)
        try m.apply(try JSON.parse(#"{"cpu": {"shares": 512}}"#))
        #expect(fake.files["/cg/cpu/a/cpu.shares"] == "512")
        for (shares, words) in [
            ("1", "the minimum allowed cpu-shares is 2"), ("99999999", "the maximum allowed cpu-shares is 262144"),
            // `update --cpu-shares -1`: the unsigned number runc gets from dockerd, clamped to the maximum.
            ("-1", "the maximum allowed cpu-shares is 262144"),
        ] {
            let resources = try JSON.parse(#"{"cpu": {"shares": \#(shares)}}"#)
            do {
                try m.apply(resources)
                Issue.record("shares \(shares) accepted")
            } catch { #expect(error.message == words) }
        }
        #expect(fake.writes.last?.1 == "18446744073709551615")
    }

    @Test func v2DeviceRulesBecomeAProgramOnTheContainersDirectory() throws {
        let fake = RecordingCgroupFiles()
        let m = CgroupManager(paths: CgroupPaths(byController: [:], unified: "/cg/c"), files: fake, v2Only: true)
        let r = try JSON.parse(
            #"{"devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"}], "pids": {"limit": 9}}"#)
        try m.apply(r)
        #expect(fake.files["/cg/c/pids.max"] == "9")
        #expect(
            fake.filters["/cg/c"] == [
                DeviceRule(kind: .all, major: -1, minor: -1, access: 7, allow: false), DeviceRule(kind: .char, major: 1, minor: 3, access: 6, allow: true),
            ])
    }

    @Test func specValidationRejectsBadValues() throws {
        func decode(_ text: String) throws -> RuntimeConfig {
            try RuntimeConfig.decode(JSON.parse(text), bundle: "/b")
        }
        let ok = try decode(
            #"{"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 1000, "gid": 1000}, "oomScoreAdj": 5}, "linux": {"namespaces": [{"type": "pid"}, {"type": "network", "path": "/proc/1/ns/net"}]}}"#
        )
        #expect(ok.rootPath == "/b/rootfs")
        #expect(ok.process.uid == 1000 && ok.process.oomScoreAdj == 5)
        #expect(ok.namespace("network")?.path == "/proc/1/ns/net" && ok.namespace("pid")?.path == nil)
        let bad = [
            #"{"root": {"path": "r"}}"#,  // no ociVersion
            #"{"ociVersion": "1", "root": {"path": "r"}, "process": {"args": [], "cwd": "/"}}"#,
            #"{"ociVersion": "1", "root": {"path": "r"}, "process": {"args": ["sh"], "cwd": "rel"}}"#,
            #"{"ociVersion": "1", "root": {"path": "r"}, "process": {"args": ["sh"], "cwd": "/", "user": {"uid": -1}}}"#,
            #"{"ociVersion": "1", "root": {"path": "r"}, "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 4294967296}}}"#,
            #"{"ociVersion": "1", "root": {"path": "r"}, "process": {"args": ["sh"], "cwd": "/", "oomScoreAdj": 1001}}"#,
            #"{"ociVersion": "1", "root": {"path": "r"}, "process": {"args": ["sh"], "cwd": "/", "rlimits": [{"type": "RLIMIT_BOGUS"}]}}"#,
            #"{"ociVersion": "1", "root": {"path": "r"}, "linux": {"namespaces": [{"type": "pid"}, {"type": "pid"}]}}"#,
            #"{"ociVersion": "1", "root": {"path": "r"}, "linux": {"namespaces": [{"type": "bogus"}]}}"#,
            #"{"ociVersion": "1", "root": {"path": "r"}, "linux": {"namespaces": [{"type": "user"}]}}"#,
            #"{"ociVersion": "1", "root": {"path": "r"}, "linux": {"uidMappings": [{"containerID": 0, "hostID": 1, "size": 1}]}}"#,
            #"{"ociVersion": "1", "root": {"path": "r"}, "mounts": [{"destination": "relative"}]}"#,
            #"{"ociVersion": "1", "root": {"path": "r"}, "hooks": {"prestart": [{"path": "rel"}]}}"#,
            #"{"ociVersion": "1", "root": {"path": "r"}, "linux": {"rootfsPropagation": "sideways"}}"#,
        ]
        for text in bad {
            #expect(throws: RuntimeConfig.Invalid.self, "\(text)") { try decode(text) }
        }
    }

    @Test func seccompFiltersAreCachedByTheirExactProfile() throws {
        let root = "/tmp/berth-seccomp-cache-\(getpid())"
        defer { FS.removeAll(root) }
        let cache = SeccompCache(root: root)
        let a = try JSON.parse(#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}"#)
        let b = try JSON.parse(#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["rmdir"], "action": "SCMP_ACT_ERRNO"}]}"#)
        let first = try cache.filter(for: a)
        #expect(!first.isEmpty && first.count % 8 == 0)
        let files = try FS.list(root + "/.seccomp")
        #expect(files.count == 1)
        // A cached entry whose profile differs (a hash collision, or a file someone altered)
        // is a miss: the filter is compiled again, never taken for another profile's.
        try FS.writeAtomic(root + "/.seccomp/" + files[0], try FS.read(root + "/.seccomp/" + files[0]).map { $0 == UInt8(ascii: "m") ? UInt8(ascii: "r") : $0 })
        #expect(try cache.filter(for: a) == first)
        #expect(try cache.filter(for: b) != first)
        #expect(try cache.filter(for: a) == first)
        // What a runtime with another compiler cached for the same profile is not used.
        FS.removeAll(root + "/.seccomp")
        let oldKey = a.serializedBytes()
        let stale: [UInt8] = [6, 0, 0, 0, 0, 0, 0, 0]  // ret KILL
        cache.store(root + "/.seccomp/" + SeccompCache.name(oldKey), oldKey, stale)
        #expect(try cache.filter(for: a) == first)
    }

    @Test func containerIDsAreSafePathComponents() {
        #expect(ContainerState.validID("abc-1.2_3+4"))
        for bad in ["", ".", "..", "a/b", "../x", "a b", String(repeating: "a", count: 1025)] { #expect(!ContainerState.validID(bad)) }
    }
}

/// The cgroup-device BPF program against the kernel: the only device fence on a v2-only host.
/// Runs where a v2 hierarchy is mounted (the unified one on a hybrid host such as CI's), as root.
@Suite struct HostDeviceFilterTests {
    @Test func theProgramRefusesWhatTheRulesDenyAndAllowsTheRest() throws {
        guard getuid() == 0 else { return }
        let layout = CgroupLayout(mountinfo: (try? FS.readString("/proc/self/mountinfo")) ?? "")
        guard let v2 = layout.unified else { return }
        let dir = v2 + "/berth-devtest-\(getpid())"
        try FS.mkdirAll(dir)
        defer { _ = HostCgroupFiles().removeDirectory(dir) }
        // Everything denied, then /dev/null (c 1:3) allowed: the last rule is tried first.
        try HostCgroupFiles().attachDeviceFilter(
            dir, [DeviceRule(kind: .all, major: -1, minor: -1, access: 7, allow: false), DeviceRule(kind: .char, major: 1, minor: 3, access: 6, allow: true)])
        let script = """
            echo $$ > \(dir)/cgroup.procs || exit 9
            head -c 0 /dev/null && echo null-ok
            head -c 1 /dev/zero >/dev/null 2>&1 && echo zero-ok
            exit 0
            """
        let out = try Proc.run(["/bin/sh", "-c", script])
        #expect(out.status == 0, "\(out.stderrText)")
        #expect(out.stdoutText.contains("null-ok"))
        #expect(!out.stdoutText.contains("zero-ok"), "c 1:5 was not denied")
    }
}

/// The start path's shortcuts keep their answers.
@Suite struct StartPathShortcutTests {
    @Test func mountinfoIsNarrowedToTheTypesAsked() {
        let info = """
            22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda rw
            35 22 0:30 / /sys/fs/cgroup/memory rw,nosuid shared:12 - cgroup cgroup rw,memory
            41 22 0:38 / /sys/fs/cgroup/unified rw,relatime shared:8 - cgroup2 cgroup2 rw
            90 22 0:50 / /var/lib/berth/containers/a\\040b/rootfs rw - overlay overlay rw,lowerdir=/x - cgroup y
            91 22 0:4 net:[4026532] /run/netns/c rw shared:5 - nsfs nsfs rw
            """
        #expect(
            MountInfo.lines(ofTypes: ["cgroup", "cgroup2"], in: info) == """
                35 22 0:30 / /sys/fs/cgroup/memory rw,nosuid shared:12 - cgroup cgroup rw,memory
                41 22 0:38 / /sys/fs/cgroup/unified rw,relatime shared:8 - cgroup2 cgroup2 rw

                """)
        #expect(MountInfo.lines(ofTypes: ["nsfs"], in: info).hasPrefix("91 "))
        #expect(MountInfo.lines(ofTypes: ["cgroup"], in: "") == "")
        let layout = CgroupLayout(mountinfo: info)
        #expect(layout.v1 == ["memory": "/sys/fs/cgroup/memory"] && layout.unified == "/sys/fs/cgroup/unified")
    }

    @Test func onlyASharedOrNonRecursivePropagationNeedsTheParentScan() {
        #expect(!RootfsSetup.mountsMayStayShared(after: MountFlags.slave | MountFlags.rec))
        #expect(!RootfsSetup.mountsMayStayShared(after: MountFlags.private | MountFlags.rec))
        #expect(RootfsSetup.mountsMayStayShared(after: MountFlags.shared | MountFlags.rec))
        #expect(RootfsSetup.mountsMayStayShared(after: MountFlags.slave))
    }

    @Test func stateRemembersWhetherStartMustReadTheSpec() throws {
        var s = ContainerState(
            id: "c", pid: 5, startTime: 9, bundle: "/b", rootfs: "/b/rootfs", created: "", annotations: [:], cgroups: nil, v2Only: false)
        s.hasPoststartHooks = false
        s.hasPoststopHooks = false
        let back = ContainerState(try JSON.parse(s.json.serialized()))
        #expect(back?.hasPoststartHooks == false && back?.hasPoststopHooks == false)
        // A state written before the fields: the spec is read, as it always was.
        let old = ContainerState(try JSON.parse(#"{"id": "c", "pid": 5}"#))
        #expect(old?.hasPoststartHooks == true && old?.hasPoststopHooks == true)
    }
}

@Suite struct SubdirectoryListingTests {
    /// Only real directories: files and a link to a directory are not descended into.
    @Test func listsDirectoriesOnly() throws {
        let root = "/tmp/berth-subdirs-\(getpid())"
        defer { FS.removeAll(root) }
        try FS.mkdirAll(root + "/a/inner")
        try FS.mkdirAll(root + "/b")
        try FS.writeAtomic(root + "/file", Array("x".utf8))
        #expect(symlink(root + "/a", root + "/link") == 0)
        #expect(FS.subdirectories(root).sorted() == ["a", "b"])
        #expect(FS.subdirectories(root + "/missing").isEmpty)
        #expect(!FS.isEmptyDirectory(root) && FS.isEmptyDirectory(root + "/b") && !FS.isEmptyDirectory(root + "/missing"))
        #expect(HostCgroupFiles().removeDirectory(root + "/a"))
        #expect(!FS.exists(root + "/a"))
    }
}

@Suite struct HostCgroupRemovalTests {
    /// One rmdir for an empty cgroup; child cgroups (a container may make its own) go first.
    @Test func aCgroupWithChildrenIsRemovedWhole() throws {
        guard getuid() == 0 else { return }
        let layout = CgroupLayout(mountinfo: (try? FS.readString("/proc/self/mountinfo")) ?? "")
        guard let base = layout.v1["pids"] ?? layout.unified else { return }
        let dir = base + "/berth-rmtest-\(getpid())"
        try FS.mkdirAll(dir + "/child/grandchild")
        #expect(HostCgroupFiles().removeDirectory(dir))
        #expect(!FS.exists(dir))
        #expect(HostCgroupFiles().removeDirectory(dir))  // already gone: removed
    }
}

@Suite struct MountPointTests {
    /// statx's mount-root attribute and the mountinfo scan agree: a tmpfs mounted on a directory
    /// is a mount point, the directory beside it and a missing path are not.
    @Test func mountPointsAreToldApart() throws {
        guard getuid() == 0 else { return }
        let root = "/tmp/berth-mountpoint-\(getpid())"
        try FS.mkdirAll(root + "/m")
        try FS.mkdirAll(root + "/plain")
        defer {
            umount2(root + "/m", Int32(MNT_DETACH))
            FS.removeAll(root)
        }
        #expect(mount("tmpfs", root + "/m", "tmpfs", 0, nil) == 0)
        #expect(FS.isMountPoint(root + "/m"))
        #expect(!FS.isMountPoint(root + "/plain"))
        #expect(!FS.isMountPoint(root + "/missing"))
        #expect(berth_is_mount_root(root + "/m") == 1)  // this kernel reports the attribute
        #expect(FS.isMountPoint("/proc"))
    }
}

/// The create and exec loops act on the child's reports in the order the pid needs: the
/// container's process may report ready before the stage that forked it reports its pid.
@Suite struct ChildReportsTests {
    func drain(_ script: [String]) -> [String] {
        var queue = script.map { (UInt8(ascii: Unicode.Scalar($0.utf8.first!)), String($0.dropFirst())) }
        var reports = ChildReports()
        var out: [String] = []
        while let (kind, text) = reports.next({ queue.isEmpty ? nil : queue.removeFirst() }) {
            out.append(String(UnicodeScalar(kind)) + text)
        }
        return out
    }

    @Test func readyBeforeThePidIsActedOnAfterIt() {
        // The failure CI-like load produced: "R" first, the loop stopped with no pid.
        #expect(drain(["R", "P4242"]) == ["P4242", "R"])
        #expect(drain(["H", "R", "P7"]) == ["P7", "H", "R"])
        #expect(drain(["H", "P7", "R"]) == ["P7", "H", "R"])
        // Device nodes made before the pid came: the rules wait for it, so a failure can kill the init.
        #expect(drain(["D", "P7", "R"]) == ["P7", "D", "R"])
        #expect(drain(["P7", "D", "R"]) == ["P7", "D", "R"])
    }

    @Test func theUsualOrderAndErrorsPassUnchanged() {
        #expect(drain(["P7", "H", "R"]) == ["P7", "H", "R"])
        #expect(drain(["U", "P7", "R"]) == ["U", "P7", "R"])
        #expect(drain(["Eno such file"]) == ["Eno such file"])
        // An error from the process itself is not held: the create fails with its words.
        #expect(drain(["Eexec: not found", "P7"]) == ["Eexec: not found", "P7"])
    }

    @Test func reportsWithoutAPidAreDroppedAtTheEnd() {
        #expect(drain(["R"]) == [])
    }
}
