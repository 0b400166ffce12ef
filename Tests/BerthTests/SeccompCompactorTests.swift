import Glibc
import JSON
import Seccomp
import Testing

@testable import Runtime

/// FilterCompactor: libseccomp's chains of `jeq #nr` become range searches, and no decision moves.
@Suite struct SeccompCompactorTests {
    static let x86_64: UInt32 = 0xc000_003e
    static let i386: UInt32 = 0x4000_0003
    static let allow: UInt32 = 0x7fff_0000
    static let eperm: UInt32 = 0x0005_0000 | UInt32(EPERM)

    func programs() throws -> (original: [BPFInstruction], compacted: [BPFInstruction]) {
        let profile = try JSON.parse(DefaultSeccomp.json)
        let original = try #require(BPFInstruction.decode(try SeccompCompiler.compile(profile, compacted: false)))
        let compacted = try #require(BPFInstruction.decode(try SeccompCompiler.compile(profile)))
        return (original, compacted)
    }

    @Test func dockersProfileShrinksByMoreThanHalf() throws {
        let (original, compacted) = try programs()
        #expect(original.count > 900)  // libseccomp 2.5: 960
        #expect(compacted.count * 2 < original.count, "\(compacted.count) of \(original.count) instructions")
    }

    /// Every system call number of the three architectures (and past them), with a seeded spread
    /// of arguments: the same action from both programs.
    @Test func dockersProfileDecidesAlike() throws {
        let (original, compacted) = try programs()
        var rng = SplitMix(seed: 0x5eed)
        for arch in [Self.x86_64, Self.i386, 0xc000_00b7, 0] {
            for base: UInt32 in [0, 0x4000_0000] {
                for nr in base..<(base + 1100) {
                    var args = [UInt64](repeating: 0, count: 6)
                    for _ in 0..<3 {
                        let data = SeccompData(nr: nr, arch: arch, args: args)
                        let a = BPFInterpreter.run(original, data)
                        #expect(a != nil && a == BPFInterpreter.run(compacted, data), "arch \(arch) nr \(nr) args \(args)")
                        args = args.map { _ in rng.next() & (rng.next() & 1 == 0 ? 0xffff_ffff : .max) }
                    }
                }
            }
        }
    }

    /// What the profile means, checked on the compacted program.
    @Test func dockersProfileStillMeansWhatItSays() throws {
        let (_, p) = try programs()
        func decide(_ nr: UInt32, _ arch: UInt32 = Self.x86_64, _ arg0: UInt64 = 0) -> UInt32? {
            BPFInterpreter.run(p, SeccompData(nr: nr, arch: arch, args: [arg0, 0, 0, 0, 0, 0]))
        }
        #expect(decide(0) == Self.allow)  // read
        #expect(decide(169) == Self.eperm)  // reboot
        #expect(decide(272) == Self.eperm)  // unshare
        #expect(decide(135, Self.x86_64, 0) == Self.allow)  // personality(0)
        #expect(decide(135, Self.x86_64, 1) == Self.eperm)  // personality(1)
        #expect(decide(56, Self.x86_64, 0x1000_0000) == Self.eperm)  // clone(CLONE_NEWUSER)
        #expect(decide(56, Self.x86_64, 0x11) == Self.allow)  // clone(SIGCHLD | …)
        #expect(decide(435) == 0x0005_0000 | UInt32(ENOSYS))  // clone3
        #expect(decide(0x4000_0000) == Self.allow)  // x32 read
        #expect(decide(3, Self.i386) == Self.allow)  // i386 read
        #expect(decide(88, Self.i386) == Self.eperm)  // i386 reboot
        #expect(decide(0, 0xc000_00b7) == 0)  // an architecture not in the profile is killed
    }

    @Test func aChainIsOnlyMergedWhereNothingJumpsIntoIt() throws {
        // ld nr; jeq 3 → the test of 7; jeq 1…12 → ret allow; ret eperm. The jump into the chain
        // means 3 is then only tested against 7…12, so it is refused: merging the whole chain
        // into one range 1…12 would allow it.
        var p: [BPFInstruction] = [BPFInstruction(code: 0x20, k: 0), BPFInstruction(code: 0x15, jt: 6, jf: 0, k: 3)]
        for k: UInt32 in 1...12 { p.append(BPFInstruction(code: 0x15, jt: UInt8(13 - Int(k)), jf: 0, k: k)) }
        p += [BPFInstruction(code: 0x06, k: Self.eperm), BPFInstruction(code: 0x06, k: Self.allow)]
        #expect(BPFInterpreter.run(p, SeccompData(nr: 3, arch: 0)) == Self.eperm)
        let out = try #require(BPFInstruction.decode(FilterCompactor.compact(BPFInstruction.encode(p))))
        #expect(out.count < p.count)
        for nr: UInt32 in 0..<110 {
            let d = SeccompData(nr: nr, arch: 0)
            #expect(BPFInterpreter.run(p, d) == BPFInterpreter.run(out, d), "nr \(nr)")
        }
    }

    @Test func programsItCannotImproveOrReadComeBackUnchanged() {
        let short: [BPFInstruction] = [
            BPFInstruction(code: 0x20, k: 0), BPFInstruction(code: 0x15, jt: 0, jf: 1, k: 1), BPFInstruction(code: 0x06, k: 0),
            BPFInstruction(code: 0x06, k: Self.allow),
        ]
        #expect(FilterCompactor.compact(BPFInstruction.encode(short)) == BPFInstruction.encode(short))
        let outOfRange = [BPFInstruction(code: 0x05, k: 40), BPFInstruction(code: 0x06, k: 0)]
        #expect(FilterCompactor.compact(BPFInstruction.encode(outOfRange)) == BPFInstruction.encode(outOfRange))
        #expect(FilterCompactor.compact([1, 2, 3]) == [1, 2, 3])
        #expect(FilterCompactor.compact([]) == [])
    }

    @Test func interpreterReadsSeccompData() {
        let data = SeccompData(nr: 7, arch: Self.x86_64, args: [0x1_0000_0002, 0, 0, 0, 0, 0xffff_ffff_0000_0000])
        func load(_ k: UInt32) -> UInt32? { BPFInterpreter.run([BPFInstruction(code: 0x20, k: k), BPFInstruction(code: 0x16, k: 0)], data) }
        #expect(load(0) == 7)
        #expect(load(4) == Self.x86_64)
        #expect(load(16) == 2 && load(20) == 1)
        #expect(load(60) == 0xffff_ffff)
        #expect(load(64) == nil && load(2) == nil)
        #expect(BPFInterpreter.run([BPFInstruction(code: 0x15, jt: 0, jf: 0, k: 0)], data) == nil)  // runs off the end
    }
}

/// A small deterministic generator, so a failure names inputs that reproduce.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
