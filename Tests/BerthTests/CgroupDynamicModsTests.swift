import Glibc
import Testing

@testable import Sys

/// berthd's host-wide `favordynmods` switch, decided from mountinfo text and checked against a
/// recording kernel, so no host is touched.
@Suite struct CgroupDynamicModsTests {
    /// Records what berthd asked of the kernel; mountinfo and the reconfigure's answer are given.
    final class RecordingKernel: CgroupDynamicMods.Kernel, @unchecked Sendable {
        let text: String
        let refuse: Int32?
        var calls: [(mountPoint: String, flags: [String])] = []
        init(_ text: String, refuse: Int32? = nil) { self.text = text; self.refuse = refuse }
        func mountInfo() throws(SysError) -> String { text }
        func reconfigure(mountPoint: String, flags: [String]) throws(SysError) {
            calls.append((mountPoint, flags))
            if let e = refuse { throw SysError("reconfigure \(mountPoint)", errno: e) }
        }
    }

    static let hybrid = """
        22 28 0:20 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
        30 22 0:25 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
        31 30 0:26 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
        32 30 0:27 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,memory

        """

    @Test func hybridHostKeepsItsOptionsAndGainsTheFastMoves() {
        let kernel = RecordingKernel(Self.hybrid)
        #expect(CgroupDynamicMods.favor(kernel) == .enabled("/sys/fs/cgroup/unified"))
        #expect(kernel.calls.count == 1)
        #expect(kernel.calls.first?.mountPoint == "/sys/fs/cgroup/unified")
        // A reconfigure sets exactly what it is given: nsdelegate and memory_recursiveprot must
        // survive, and rw (the access, not a cgroup2 option) must not be passed as a flag.
        #expect(kernel.calls.first?.flags == ["nsdelegate", "memory_recursiveprot", "favordynmods"])
    }

    @Test func unifiedOnlyHost() {
        let kernel = RecordingKernel("35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate\n")
        #expect(CgroupDynamicMods.favor(kernel) == .enabled("/sys/fs/cgroup"))
        #expect(kernel.calls.map(\.flags) == [["nsdelegate", "favordynmods"]])
    }

    @Test func alreadySetIsLeftAlone() {
        let kernel = RecordingKernel(Self.hybrid.replacingOccurrences(of: "rw,nsdelegate,memory", with: "rw,nsdelegate,favordynmods,memory"))
        #expect(CgroupDynamicMods.favor(kernel) == .alreadyEnabled("/sys/fs/cgroup/unified"))
        #expect(kernel.calls.isEmpty)
    }

    @Test func v1OnlyHostHasNothingToSet() {
        let v1 = Self.hybrid.split(separator: "\n").filter { !$0.contains("cgroup2") }.joined(separator: "\n")
        let kernel = RecordingKernel(v1)
        #expect(CgroupDynamicMods.favor(kernel) == .noCgroup2)
        #expect(kernel.calls.isEmpty)
    }

    @Test func aRefusalIsReportedNotThrown() {
        let kernel = RecordingKernel(Self.hybrid, refuse: EPERM)
        let outcome = CgroupDynamicMods.favor(kernel)
        #expect(outcome == .refused("reconfigure /sys/fs/cgroup/unified: Operation not permitted"))
        #expect(outcome.description == "favordynmods not set: reconfigure /sys/fs/cgroup/unified: Operation not permitted")
    }

    @Test func escapedMountPointAndOptionalFields() {
        // mountinfo writes a space in a path as \040; optional fields (shared:, master:) vary.
        let line = "40 22 0:31 / /mnt/cg\\040two rw,relatime shared:3 master:1 - cgroup2 none rw\n"
        #expect(CgroupDynamicMods.cgroup2Mount(in: line)?.path == "/mnt/cg two")
        let kernel = RecordingKernel(line)
        #expect(CgroupDynamicMods.favor(kernel) == .enabled("/mnt/cg two"))
        #expect(kernel.calls.map(\.flags) == [["favordynmods"]])
    }

    @Test func aPathNamedLikeTheTypeIsNotMistakenForIt() {
        // A mount point containing " - cgroup2 " cannot appear raw (spaces are escaped), so only
        // the real separator counts.
        let line = "41 22 0:32 / /x\\040-\\040cgroup2\\040y rw - tmpfs tmpfs rw\n"
        #expect(CgroupDynamicMods.cgroup2Mount(in: line) == nil)
    }
}
