import Glibc
import JSON
import Seccomp
import Sys
import Testing

@testable import Runtime

/// What berthd hands berth-exec: cgroup files from /proc text, capability masks, the command line.
@Suite struct ExecHelperTests {
    static let mountinfo = """
        25 1 0:23 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755
        30 25 0:26 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw,nsdelegate
        31 25 0:27 / /sys/fs/cgroup/systemd rw,nosuid shared:11 - cgroup cgroup rw,xattr,name=systemd
        35 25 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:15 - cgroup cgroup rw,cpu,cpuacct
        36 25 0:32 / /sys/fs/cgroup/memory rw,nosuid shared:16 - cgroup cgroup rw,memory
        37 25 0:33 /sub /mnt/pids\\040dir rw shared:17 - cgroup cgroup rw,pids
        """

    @Test func hybridHierarchiesMapToTheirMounts() {
        let procCgroup = """
            12:pids:/sub/berth/c1
            5:memory:/berth/c1
            4:cpu,cpuacct:/berth/c1
            3:blkio:/berth/c1
            1:name=systemd:/berth/c1
            0::/berth/c1
            """
        #expect(
            CgroupMembership.procsFiles(procCgroup: procCgroup, mountinfo: Self.mountinfo) == [
                "/mnt/pids dir/berth/c1/cgroup.procs",  // a subtree mount, escaped name
                "/sys/fs/cgroup/memory/berth/c1/cgroup.procs",
                "/sys/fs/cgroup/cpu,cpuacct/berth/c1/cgroup.procs",
                // blkio is not mounted: skipped
                "/sys/fs/cgroup/systemd/berth/c1/cgroup.procs",
                "/sys/fs/cgroup/unified/berth/c1/cgroup.procs",
            ])
    }

    @Test func unifiedOnlyHost() {
        let mi = "28 22 0:25 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
        #expect(
            CgroupMembership.procsFiles(procCgroup: "0::/system.slice/berth-c1.scope\n", mountinfo: mi)
                == ["/sys/fs/cgroup/system.slice/berth-c1.scope/cgroup.procs"])
        #expect(CgroupMembership.procsFiles(procCgroup: "0::/\n", mountinfo: mi) == ["/sys/fs/cgroup/cgroup.procs"])
    }

    @Test func capabilityMasks() {
        #expect(LinuxCapabilities.mask([]) == 0)
        #expect(LinuxCapabilities.mask(["CAP_CHOWN", "kill", "CAP_NET_RAW", "CAP_NOPE"]) == (1 << 0) | (1 << 5) | (1 << 13))
        #expect(LinuxCapabilities.mask(OCISpecBuilder.allCapabilities) == 0x3f_ffff_ffff)
        #expect(LinuxCapabilities.mask(["CAP_CHECKPOINT_RESTORE"]) == 1 << 40)
    }

    @Test func commandLine() throws {
        let process = try JSON.parse(
            """
            {"args":["sh","-c","echo hi"],"env":["PATH=/bin","TERM=xterm"],"cwd":"/tmp","terminal":true,
             "consoleSize":{"height":24,"width":80},"user":{"uid":1000,"gid":100,"additionalGids":[100,27]},
             "capabilities":{"bounding":["CAP_KILL"],"effective":["CAP_KILL"],"permitted":["CAP_KILL"]},
             "noNewPrivileges":true,"oomScoreAdj":0}
            """)
        let cmd = ExecHelperCommand(
            helper: "/b/berth-exec", process: process, targetPid: 42, seccompFile: "/c/seccomp.bpf",
            cgroupFiles: ["/cg/a/cgroup.procs"], pidFile: "/c/x.pid")
        #expect(
            cmd.argv == [
                "/b/berth-exec", "--pid", "42", "--cwd", "/tmp", "--user", "1000:100:100,27", "--caps", "20:20:20:0:0",
                "--nnp", "--seccomp", "/c/seccomp.bpf", "--cgroup", "/cg/a/cgroup.procs", "--tty", "24:80", "--oom", "0",
                "--pid-file", "/c/x.pid", "--", "sh", "-c", "echo hi",
            ])
        #expect(cmd.env == ["PATH=/bin", "TERM=xterm"])
        let plain = ExecHelperCommand(
            helper: "h", process: try JSON.parse(#"{"args":["true"]}"#), targetPid: 1, seccompFile: nil, cgroupFiles: [], pidFile: nil)
        #expect(plain.argv == ["h", "--pid", "1", "--cwd", "/", "--user", "0:0", "--caps", "0:0:0:0:0", "--", "true"])
    }

    @Test func seccompProfileCompiles() throws {
        let bpf = try SeccompCompiler.compile(try JSON.parse(DefaultSeccomp.json))
        #expect(bpf.count > 0 && bpf.count % 8 == 0)  // struct sock_filter is 8 bytes
        let failure = #expect(throws: SeccompCompiler.Failure.self) { try SeccompCompiler.compile(try JSON.parse(#"{"defaultAction":"SCMP_ACT_NOPE"}"#)) }
        #expect(failure?.message.contains("SCMP_ACT_NOPE") == true)
    }
}

/// `--privileged`: the host's devices as runc lists them, and the spec dockerd would write.
@Suite struct PrivilegedTests {
    /// glibc's makedev (a macro Swift does not import).
    func dev(_ major: UInt, _ minor: UInt) -> dev_t {
        ((major & 0xffff_f000) << 32) | ((major & 0xfff) << 8) | ((minor & 0xffff_ff00) << 12) | (minor & 0xff)
    }

    @Test func hostDevicesSkipsRuncsExclusions() throws {
        guard getuid() == 0 else { return }  // mknod needs root (CI is root)
        let root = "/tmp/berth-devtest-\(getpid())"
        defer { FS.removeAll(root) }
        for d in ["", "/pts", "/snd", "/shm"] { try FS.mkdirAll(root + d) }
        #expect(mknod(root + "/null", S_IFCHR | 0o666, dev(1, 3)) == 0)
        #expect(mknod(root + "/snd/timer", S_IFCHR | 0o660, dev(116, 33)) == 0)
        #expect(mknod(root + "/loop9", S_IFBLK | 0o660, dev(7, 9)) == 0)
        #expect(mknod(root + "/pts/0", S_IFCHR | 0o620, dev(136, 0)) == 0)
        #expect(mknod(root + "/shm/x", S_IFCHR | 0o600, dev(1, 5)) == 0)
        #expect(mknod(root + "/console", S_IFCHR | 0o600, dev(5, 1)) == 0)
        #expect(symlink(root + "/null", root + "/alias") == 0)
        chmod(root + "/loop9", 0o660)  // mknod's mode passed through the umask
        let devs = HostDevices.list(root)
        #expect(devs.map(\.path) == [root + "/loop9", root + "/null", root + "/snd/timer"])
        #expect(devs[0] == HostDevices.Device(path: root + "/loop9", type: "b", major: 7, minor: 9, mode: 0o660, uid: 0, gid: 0))
        #expect(devs[2].major == 116 && devs[2].minor == 33 && devs[2].type == "c")
    }

    @Test func privilegedSpec() {
        var s = BundleSpec(
            id: "p", rootfs: "/r", args: ["sh"], env: [], cwd: "/", user: ResolvedUser(uid: 0, gid: 0, additionalGids: [], home: "/"),
            hostname: "p", resolvConf: "/c/r", hostsFile: "/c/h", hostnameFile: "/c/n")
        s.privileged = true
        s.capDrop = ["ALL"]
        s.allCapabilities = ["CAP_CHOWN", "CAP_SYS_ADMIN"]
        s.hostDevices = [HostDevices.Device(path: "/dev/kvm", type: "c", major: 10, minor: 232, mode: 0o660, uid: 0, gid: 104)]
        let spec = OCISpecBuilder.build(s)
        #expect(spec["process"]["capabilities"]["bounding"] == JSON.strings(["CAP_CHOWN", "CAP_SYS_ADMIN"]))
        #expect(spec["linux"]["seccomp"].isNull && spec["linux"]["maskedPaths"].isNull && spec["linux"]["readonlyPaths"].isNull)
        #expect(spec["linux"]["resources"]["devices"] == [["allow": true, "access": "rwm"]])
        #expect(spec["linux"]["devices"] == [["path": "/dev/kvm", "type": "c", "major": 10, "minor": 232, "fileMode": 432, "uid": 0, "gid": 104]])
        let sys = (spec["mounts"].array ?? []).first { $0["destination"] == "/sys" }
        #expect(sys?["options"] == ["nosuid", "noexec", "nodev"])
        s.privileged = false
        let plain = OCISpecBuilder.build(s)
        #expect(plain["linux"]["devices"].isNull && !plain["linux"]["seccomp"].isNull)
        #expect((plain["mounts"].array ?? []).first { $0["destination"] == "/sys" }?["options"] == ["nosuid", "noexec", "nodev", "ro"])
    }
}
