import JSON
@testable import Runtime
import Sys
import Testing

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
        #expect(CgroupMembership.procsFiles(procCgroup: procCgroup, mountinfo: Self.mountinfo) == [
            "/mnt/pids dir/berth/c1/cgroup.procs",          // a subtree mount, escaped name
            "/sys/fs/cgroup/memory/berth/c1/cgroup.procs",
            "/sys/fs/cgroup/cpu,cpuacct/berth/c1/cgroup.procs",
            // blkio is not mounted: skipped
            "/sys/fs/cgroup/systemd/berth/c1/cgroup.procs",
            "/sys/fs/cgroup/unified/berth/c1/cgroup.procs",
        ])
    }

    @Test func unifiedOnlyHost() {
        let mi = "28 22 0:25 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
        #expect(CgroupMembership.procsFiles(procCgroup: "0::/system.slice/berth-c1.scope\n", mountinfo: mi)
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
        let process = try JSON.parse("""
            {"args":["sh","-c","echo hi"],"env":["PATH=/bin","TERM=xterm"],"cwd":"/tmp","terminal":true,
             "consoleSize":{"height":24,"width":80},"user":{"uid":1000,"gid":100,"additionalGids":[100,27]},
             "capabilities":{"bounding":["CAP_KILL"],"effective":["CAP_KILL"],"permitted":["CAP_KILL"]},
             "noNewPrivileges":true,"oomScoreAdj":0}
            """)
        let cmd = ExecHelperCommand(helper: "/b/berth-exec", process: process, targetPid: 42, seccompFile: "/c/seccomp.bpf",
                                    cgroupFiles: ["/cg/a/cgroup.procs"], pidFile: "/c/x.pid")
        #expect(cmd.argv == ["/b/berth-exec", "--pid", "42", "--cwd", "/tmp", "--user", "1000:100:100,27", "--caps", "20:20:20:0:0",
                             "--nnp", "--seccomp", "/c/seccomp.bpf", "--cgroup", "/cg/a/cgroup.procs", "--tty", "24:80", "--oom", "0",
                             "--pid-file", "/c/x.pid", "--", "sh", "-c", "echo hi"])
        #expect(cmd.env == ["PATH=/bin", "TERM=xterm"])
        let plain = ExecHelperCommand(helper: "h", process: try JSON.parse(#"{"args":["true"]}"#), targetPid: 1, seccompFile: nil, cgroupFiles: [], pidFile: nil)
        #expect(plain.argv == ["h", "--pid", "1", "--cwd", "/", "--user", "0:0", "--caps", "0:0:0:0:0", "--", "true"])
    }

    @Test func seccompProfileCompiles() throws {
        let bpf = try SeccompCompiler.compile(try JSON.parse(DefaultSeccomp.json))
        #expect(bpf.count > 0 && bpf.count % 8 == 0)   // struct sock_filter is 8 bytes
        let failure = #expect(throws: SeccompCompiler.Failure.self) { try SeccompCompiler.compile(try JSON.parse(#"{"defaultAction":"SCMP_ACT_NOPE"}"#)) }
        #expect(failure?.message.contains("SCMP_ACT_NOPE") == true)
    }
}
