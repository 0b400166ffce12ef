import Sys
import Testing

@Suite struct ResidentTrimTests {
    // The shape of /proc/<pid>/smaps: a mapping line, then its fields. The path column is padded.
    static let smaps = """
        00400000-0092d000 r-xp 00000000 fe:00 5318770                            /usr/bin/berthd
        Size:               5300 kB
        Rss:                1200 kB
        Private_Clean:      1200 kB
        Private_Dirty:         0 kB
        Anonymous:             0 kB
        Swap:                  0 kB
        SwapPss:               0 kB
        VmFlags: rd ex mr mw me
        0092d000-00a00000 r--p 0052d000 fe:00 5318770                            /usr/bin/berthd
        Private_Dirty:       848 kB
        Anonymous:           848 kB
        VmFlags: rd mr mw me ac
        00a00000-00a10000 rw-p 00600000 fe:00 5318770                            /usr/bin/berthd
        Private_Dirty:        64 kB
        VmFlags: rd wr mr mw me ac
        7f0000000000-7f0000100000 r-xp 00000000 fe:00 42                         /opt/lib/libpoked.so
        Private_Dirty:         4 kB
        Anonymous:             4 kB
        VmFlags: rd ex mr mw me
        7f0000200000-7f0000300000 r-xp 00000000 fe:00 43                         /opt/lib/liblocked.so
        Private_Dirty:         0 kB
        Anonymous:             0 kB
        VmFlags: rd ex mr mw me lo
        7f0000400000-7f0000600000 r-xp 00000000 fe:00 44                         /opt/lib/libswiftCore.so
        Private_Dirty:         0 kB
        Anonymous:             0 kB
        Swap:                  0 kB
        VmFlags: rd ex mr mw me
        7f0000700000-7f0000800000 rw-p 00000000 00:00 0
        Private_Dirty:       512 kB
        7fff00000000-7fff00002000 r-xp 00000000 00:00 0                          [vdso]
        Private_Dirty:         0 kB
        VmFlags: rd ex mr mw me de sd
        """

    @Test func onlyCleanPrivateCodeOfFilesIsTrimmed() {
        #expect(
            ResidentTrim.codeRanges(smaps: Self.smaps) == [
                .init(start: 0x40_0000, length: 0x52_d000),
                .init(start: 0x7f00_0040_0000, length: 0x20_0000),
            ])
    }

    @Test func aFieldItCannotReadCountsAsWritten() {
        let s = """
            00400000-00500000 r-xp 00000000 fe:00 1 /bin/x
            Private_Dirty:       ?? kB
            """
        #expect(ResidentTrim.codeRanges(smaps: s).isEmpty)
    }

    @Test func trimmingThisProcessShrinksItsMappedCodeAndItRunsOn() throws {
        func rssFile() throws -> Int {
            let status = try FS.readString("/proc/self/status")
            let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("RssFile:") })
            return Int(line.split(separator: " ")[1]) ?? 0
        }
        let before = try rssFile()
        let advised = ResidentTrim.trimSelf()
        let after = try rssFile()
        #expect(advised > 0)
        #expect(after < before, "RssFile \(before) kB before the trim, \(after) kB after")
        // The code it dropped is mapped again on use.
        #expect(ResidentTrim.codeRanges(smaps: Self.smaps).count == 2)
    }

    @Test func aQuietSpellTrimsOnceAndARequestStartsAnother() {
        var p = IdleTrimPolicy(quietTicks: 3)
        let ticks = [0, 0, 0, 0, 5, 5, 5, 5, 6, 7].map { p.tick(requests: UInt64($0)) }
        // Three quiet ticks trim once; a request starts a new spell; a busy daemon never trims.
        #expect(ticks == [false, false, true, false, false, false, false, true, false, false])
    }
}
