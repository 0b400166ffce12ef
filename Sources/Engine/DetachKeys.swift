/// Docker's detach sequence (`ctrl-p,ctrl-q` by default; `--detach-keys`), matched in a client's
/// stdin: bytes that might start the sequence are held back until it is clear they do not.
public struct DetachMatcher: Sendable {
    public let keys: [UInt8]
    private var held: [UInt8] = []

    public static let defaultKeys: [UInt8] = [0x10, 0x11]

    /// `ctrl-p,ctrl-q`, `ctrl-a,x`; nil when malformed.
    public static func parse(_ spec: String) -> [UInt8]? {
        if spec.isEmpty { return defaultKeys }
        var out: [UInt8] = []
        for part in spec.split(separator: ",") {
            let p = part.lowercased()
            if p.hasPrefix("ctrl-") {
                let k = p.dropFirst(5)
                guard k.count == 1, let c = k.unicodeScalars.first else { return nil }
                switch c {
                case "a"..."z": out.append(UInt8(c.value - 96))
                case "@": out.append(0)
                case "[": out.append(27)
                case "\\": out.append(28)
                case "]": out.append(29)
                case "^": out.append(30)
                case "_": out.append(31)
                default: return nil
                }
            } else if p.count == 1, let c = p.unicodeScalars.first, c.isASCII {
                out.append(UInt8(c.value))
            } else {
                return nil
            }
        }
        return out.isEmpty ? nil : out
    }

    public init(keys: [UInt8]) { self.keys = keys }

    /// Returns the bytes to pass on, and whether the full sequence was typed.
    public mutating func feed(_ bytes: [UInt8]) -> (pass: [UInt8], detach: Bool) {
        var pass: [UInt8] = []
        for b in bytes {
            if b == keys[held.count] {
                held.append(b)
                if held.count == keys.count { return (pass, true) }
            } else {
                pass += held
                held = []
                if b == keys[0] { held.append(b) } else { pass.append(b) }
            }
        }
        return (pass, false)
    }
}
