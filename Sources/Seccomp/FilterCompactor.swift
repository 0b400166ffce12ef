/// Shrinks the filters libseccomp writes, without changing one decision.
///
/// libseccomp tests an architecture's system calls as a chain of `jeq #nr`, one instruction per
/// system call, tried in order: Docker's default profile becomes 960 instructions. The kernel
/// checks, converts and JIT-compiles a filter in time proportional to its length (about 0.75 ms
/// for those 960 here, paid by every container's init and every `exec`), and every system call of
/// the container then walks the chain. Each chain is a pure function of the accumulator (equal to
/// one constant → that constant's target; none → the next instruction), so it is replaced by a
/// binary search over the ranges of consecutive numbers that share a target. The rest of the
/// program is kept as it is, its jumps moved to the new positions.
///
/// Belt and braces: the compacted program is run beside the original on every architecture the
/// filter names (and one it does not), on every system call number below 1024 (and the x32 ones,
/// and each number the filter mentions), with arguments all zeros and all ones; one different
/// answer, or a jump that no longer fits, and the original program is used.
public enum FilterCompactor {
    /// The compacted filter, or the input unchanged when it cannot be shortened safely.
    public static func compact(_ bytes: [UInt8]) -> [UInt8] {
        guard let program = BPFInstruction.decode(bytes), let smaller = compact(program), smaller.count < program.count,
            decidesAlike(program, smaller)
        else { return bytes }
        return BPFInstruction.encode(smaller)
    }

    /// A jump's destination while the program is rebuilt: an instruction of the original program,
    /// or one of the code generated for a chain.
    enum Destination: Equatable {
        case original(Int)
        case generated(Int)
    }

    struct PendingInstruction {
        var code: UInt16
        var k: UInt32
        var whenTrue: Destination?
        var whenFalse: Destination?
    }

    /// Consecutive system call numbers sent to the same place.
    struct KeyRange: Equatable {
        var lo: UInt32
        var hi: UInt32
        var target: Int
    }

    static func compact(_ p: [BPFInstruction]) -> [BPFInstruction]? {
        guard !p.isEmpty else { return nil }
        var isTarget = [Bool](repeating: false, count: p.count)
        for (i, ins) in p.enumerated() {
            var targets: [Int] = []
            if ins.code == BPFInstruction.jumpAlways {
                targets = [i + 1 + Int(ins.k)]
            } else if ins.isConditionalJump {
                targets = [i + 1 + Int(ins.jt), i + 1 + Int(ins.jf)]
            }
            for t in targets {
                guard t < p.count else { return nil }  // the kernel would refuse it; leave it to say so
                // Going on to the next instruction is not an entry from elsewhere.
                if t > i + 1 { isTarget[t] = true }
            }
        }

        // Pieces of the new program: original instructions kept, or a chain's replacement.
        var pieces: [(firstOriginal: Int, code: [PendingInstruction])] = []
        var i = 0
        while i < p.count {
            var end = i
            // A member goes on to the next test when it fails, and leaves the chain when it matches.
            while end < p.count, p[end].code == BPFInstruction.jumpEqual, p[end].jf == 0, p[end].jt != 0, end == i || !isTarget[end] { end += 1 }
            if end - i >= 4, end < p.count {
                let ranges = keyRanges(p, i..<end)
                var code: [PendingInstruction] = []
                search(ranges[...], min: 0, max: UInt64(UInt32.max), fallThrough: .original(end), into: &code)
                if code.count < end - i {
                    pieces.append((i, code))
                    i = end
                    continue
                }
            }
            let last = max(end, i + 1)
            for j in i..<last { pieces.append((j, [pending(p[j], at: j)])) }
            i = last
        }

        // New positions, then every jump resolved against them.
        var newIndex = [Int](repeating: -1, count: p.count)
        var starts: [Int] = []
        var n = 0
        for piece in pieces {
            newIndex[piece.firstOriginal] = n
            starts.append(n)
            n += piece.code.count
        }
        var out: [BPFInstruction] = []
        out.reserveCapacity(n)
        for (pieceIndex, piece) in pieces.enumerated() {
            for (offset, ins) in piece.code.enumerated() {
                let here = starts[pieceIndex] + offset
                func distance(_ d: Destination?) -> Int? {
                    guard let d else { return 0 }
                    let to: Int
                    switch d {
                    case .original(let o): to = newIndex[o]
                    case .generated(let g): to = starts[pieceIndex] + g
                    }
                    return to < 0 ? nil : to - here - 1
                }
                guard let jt = distance(ins.whenTrue), let jf = distance(ins.whenFalse), jt >= 0, jf >= 0 else { return nil }
                if ins.code == BPFInstruction.jumpAlways {
                    out.append(BPFInstruction(code: ins.code, k: UInt32(jt)))
                } else if ins.code & 0x07 == 0x05 {
                    guard jt <= 255, jf <= 255 else { return nil }
                    out.append(BPFInstruction(code: ins.code, jt: UInt8(jt), jf: UInt8(jf), k: ins.k))
                } else {
                    out.append(BPFInstruction(code: ins.code, k: ins.k))
                }
            }
        }
        return out
    }

    /// An original instruction with its jumps as destinations.
    static func pending(_ ins: BPFInstruction, at i: Int) -> PendingInstruction {
        if ins.code == BPFInstruction.jumpAlways {
            return PendingInstruction(code: ins.code, k: 0, whenTrue: .original(i + 1 + Int(ins.k)), whenFalse: nil)
        }
        if ins.isConditionalJump {
            return PendingInstruction(code: ins.code, k: ins.k, whenTrue: .original(i + 1 + Int(ins.jt)), whenFalse: .original(i + 1 + Int(ins.jf)))
        }
        return PendingInstruction(code: ins.code, k: ins.k, whenTrue: nil, whenFalse: nil)
    }

    /// The chain as sorted ranges; the first test of a number decides it, as in the chain.
    static func keyRanges(_ p: [BPFInstruction], _ chain: Range<Int>) -> [KeyRange] {
        var target: [UInt32: Int] = [:]
        for j in chain where target[p[j].k] == nil { target[p[j].k] = j + 1 + Int(p[j].jt) }
        var ranges: [KeyRange] = []
        for k in target.keys.sorted() {
            let t = target[k]!
            if let last = ranges.last, last.target == t, UInt64(last.hi) + 1 == UInt64(k) {
                ranges[ranges.count - 1].hi = k
            } else {
                ranges.append(KeyRange(lo: k, hi: k, target: t))
            }
        }
        return ranges
    }

    /// Binary search over the ranges; `min` and `max` are what the tests above already proved of
    /// the accumulator, so a leaf tests only the bounds still in doubt.
    static func search(_ r: ArraySlice<KeyRange>, min: UInt64, max: UInt64, fallThrough: Destination, into code: inout [PendingInstruction]) {
        if r.count == 1, let leaf = r.first {
            let hit = Destination.original(leaf.target)
            let lowKnown = min >= UInt64(leaf.lo)
            let highKnown = max <= UInt64(leaf.hi)
            switch (lowKnown, highKnown) {
            case (true, true):
                code.append(PendingInstruction(code: BPFInstruction.jumpAlways, k: 0, whenTrue: hit, whenFalse: nil))
            case (true, false):
                code.append(PendingInstruction(code: BPFInstruction.jumpGreater, k: leaf.hi, whenTrue: fallThrough, whenFalse: hit))
            case (false, true):
                code.append(PendingInstruction(code: BPFInstruction.jumpGreaterOrEqual, k: leaf.lo, whenTrue: hit, whenFalse: fallThrough))
            case (false, false) where leaf.lo == leaf.hi:
                code.append(PendingInstruction(code: BPFInstruction.jumpEqual, k: leaf.lo, whenTrue: hit, whenFalse: fallThrough))
            case (false, false):
                let next = Destination.generated(code.count + 1)
                code.append(PendingInstruction(code: BPFInstruction.jumpGreaterOrEqual, k: leaf.lo, whenTrue: next, whenFalse: fallThrough))
                code.append(PendingInstruction(code: BPFInstruction.jumpGreater, k: leaf.hi, whenTrue: fallThrough, whenFalse: hit))
            }
            return
        }
        let mid = r.startIndex + r.count / 2
        let split = r[mid].lo
        let node = code.count
        code.append(PendingInstruction(code: BPFInstruction.jumpGreaterOrEqual, k: split, whenTrue: nil, whenFalse: .generated(node + 1)))
        search(r[..<mid], min: min, max: UInt64(split) - 1, fallThrough: fallThrough, into: &code)
        code[node].whenTrue = .generated(code.count)
        search(r[mid...], min: UInt64(split), max: max, fallThrough: fallThrough, into: &code)
    }

    /// The two programs give the same action on the sampled system calls.
    static func decidesAlike(_ a: [BPFInstruction], _ b: [BPFInstruction]) -> Bool {
        // Architectures: each constant the filter compares the architecture word with, and one unknown.
        var arches: Set<UInt32> = [0]
        var numbers = Set<UInt32>(0..<1024)
        for x in 0..<1024 { numbers.insert(0x4000_0000 | UInt32(x)) }  // x32
        numbers.formUnion([0x3fff_ffff, 0x4000_03ff + 1, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff])
        var loaded: UInt32? = nil
        for ins in a {
            if ins.code == BPFInstruction.loadAbsoluteWord { loaded = ins.k; continue }
            guard ins.isConditionalJump else { continue }
            if loaded == 4 { arches.insert(ins.k) }
            if loaded == 0 { numbers.formUnion([ins.k &- 1, ins.k, ins.k &+ 1]) }
        }
        let argumentSets: [[UInt64]] = [[0, 0, 0, 0, 0, 0], [UInt64](repeating: .max, count: 6)]
        for arch in arches {
            for nr in numbers {
                for args in argumentSets {
                    let data = SeccompData(nr: nr, arch: arch, args: args)
                    guard let x = BPFInterpreter.run(a, data), let y = BPFInterpreter.run(b, data), x == y else { return false }
                }
            }
        }
        return true
    }
}
