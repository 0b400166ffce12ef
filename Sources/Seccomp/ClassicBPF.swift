/// Classic BPF as seccomp runs it: the instruction format, and an interpreter over
/// `struct seccomp_data` used to check that a rewritten filter decides every sampled system call
/// exactly as the original (FilterCompactor).
public struct BPFInstruction: Equatable, Sendable {
    public var code: UInt16
    public var jt: UInt8
    public var jf: UInt8
    public var k: UInt32

    public init(code: UInt16, jt: UInt8 = 0, jf: UInt8 = 0, k: UInt32) {
        self.code = code; self.jt = jt; self.jf = jf; self.k = k
    }

    // The opcodes the compactor reads and writes (linux/bpf_common.h).
    static let loadAbsoluteWord: UInt16 = 0x20
    static let jumpAlways: UInt16 = 0x05
    static let jumpEqual: UInt16 = 0x15
    static let jumpGreater: UInt16 = 0x25
    static let jumpGreaterOrEqual: UInt16 = 0x35

    var isConditionalJump: Bool { code & 0x07 == 0x05 && code != Self.jumpAlways }

    /// `struct sock_filter[]` as the kernel takes it (little-endian on every architecture we run on).
    public static func decode(_ bytes: [UInt8]) -> [BPFInstruction]? {
        guard bytes.count % 8 == 0 else { return nil }
        return stride(from: 0, to: bytes.count, by: 8).map { (i: Int) -> BPFInstruction in
            let code = UInt16(bytes[i]) | UInt16(bytes[i + 1]) << 8
            var k: UInt32 = 0
            for b in (4..<8).reversed() { k = k << 8 | UInt32(bytes[i + b]) }
            return BPFInstruction(code: code, jt: bytes[i + 2], jf: bytes[i + 3], k: k)
        }
    }

    public static func encode(_ program: [BPFInstruction]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(program.count * 8)
        for i in program {
            out += [UInt8(i.code & 0xff), UInt8(i.code >> 8), i.jt, i.jf]
            out += [UInt8(i.k & 0xff), UInt8(i.k >> 8 & 0xff), UInt8(i.k >> 16 & 0xff), UInt8(i.k >> 24)]
        }
        return out
    }
}

/// What seccomp hands the filter for one system call.
public struct SeccompData: Sendable {
    public var nr: UInt32
    public var arch: UInt32
    public var instructionPointer: UInt64 = 0
    public var args: [UInt64] = [0, 0, 0, 0, 0, 0]

    public init(nr: UInt32, arch: UInt32, args: [UInt64] = [0, 0, 0, 0, 0, 0]) {
        self.nr = nr; self.arch = arch; self.args = args
    }

    /// The 32-bit word at a byte offset of the struct, as `BPF_LD|BPF_W|BPF_ABS` reads it.
    func word(at offset: UInt32) -> UInt32? {
        switch offset {
        case 0: return nr
        case 4: return arch
        case 8: return UInt32(truncatingIfNeeded: instructionPointer)
        case 12: return UInt32(truncatingIfNeeded: instructionPointer >> 32)
        case 16..<64 where offset % 4 == 0:
            let arg = args[Int(offset - 16) / 8]
            return offset % 8 == 0 ? UInt32(truncatingIfNeeded: arg) : UInt32(truncatingIfNeeded: arg >> 32)
        default: return nil
        }
    }
}

/// Runs a classic-BPF seccomp program. Returns the action word, or nil for a program the kernel
/// would refuse or that this interpreter does not know (an unknown opcode, a jump out of range,
/// a load outside seccomp_data, running off the end).
public enum BPFInterpreter {
    public static func run(_ program: [BPFInstruction], _ data: SeccompData) -> UInt32? {
        var a: UInt32 = 0
        var x: UInt32 = 0
        var scratch = [UInt32](repeating: 0, count: 16)
        var pc = 0
        // Jumps only go forward, so a program ends within its length in steps.
        while pc < program.count {
            let i = program[pc]
            pc += 1
            switch i.code {
            case 0x20: guard let w = data.word(at: i.k) else { return nil }; a = w  // ld [k]
            case 0x00: a = i.k  // ld #k
            case 0x01: x = i.k  // ldx #k
            case 0x60: guard i.k < 16 else { return nil }; a = scratch[Int(i.k)]  // ld M[k]
            case 0x61: guard i.k < 16 else { return nil }; x = scratch[Int(i.k)]  // ldx M[k]
            case 0x02: guard i.k < 16 else { return nil }; scratch[Int(i.k)] = a  // st M[k]
            case 0x03: guard i.k < 16 else { return nil }; scratch[Int(i.k)] = x  // stx M[k]
            case 0x07: x = a  // tax
            case 0x87: a = x  // txa
            case 0x04: a = a &+ i.k
            case 0x0c: a = a &+ x
            case 0x14: a = a &- i.k
            case 0x1c: a = a &- x
            case 0x24: a = a &* i.k
            case 0x2c: a = a &* x
            case 0x34: guard i.k != 0 else { return nil }; a /= i.k
            case 0x3c: guard x != 0 else { return 0 }; a /= x
            case 0x44: a |= i.k
            case 0x4c: a |= x
            case 0x54: a &= i.k
            case 0x5c: a &= x
            case 0x64: a = i.k < 32 ? a << i.k : 0
            case 0x6c: a = x < 32 ? a << x : 0
            case 0x74: a = i.k < 32 ? a >> i.k : 0
            case 0x7c: a = x < 32 ? a >> x : 0
            case 0x84: a = 0 &- a
            case 0xa4: a ^= i.k
            case 0xac: a ^= x
            case 0x05: pc += Int(i.k)  // ja
            case 0x15, 0x25, 0x35, 0x45, 0x1d, 0x2d, 0x3d, 0x4d:
                let operand = i.code & 0x08 != 0 ? x : i.k
                let taken: Bool
                switch i.code & 0xf0 {
                case 0x10: taken = a == operand
                case 0x20: taken = a > operand
                case 0x30: taken = a >= operand
                default: taken = a & operand != 0
                }
                pc += Int(taken ? i.jt : i.jf)
            case 0x06: return i.k  // ret #k
            case 0x16: return a  // ret a
            default: return nil
            }
        }
        return nil
    }
}
