/// Base64 (standard and URL alphabets) without Foundation, for auth headers and config.json.
public enum Base64 {
    static let std = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    static let url = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    public static func encode(_ bytes: [UInt8], urlSafe: Bool = false) -> String {
        let t = urlSafe ? url : std
        var out = [UInt8]()
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i + 2 < bytes.count {
            let n = Int(bytes[i]) << 16 | Int(bytes[i + 1]) << 8 | Int(bytes[i + 2])
            out += [t[n >> 18], t[(n >> 12) & 63], t[(n >> 6) & 63], t[n & 63]]
            i += 3
        }
        let rest = bytes.count - i
        if rest == 1 {
            let n = Int(bytes[i]) << 16
            out += [t[n >> 18], t[(n >> 12) & 63], 61, 61]
        } else if rest == 2 {
            let n = Int(bytes[i]) << 16 | Int(bytes[i + 1]) << 8
            out += [t[n >> 18], t[(n >> 12) & 63], t[(n >> 6) & 63], 61]
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes either alphabet, padded or not; nil on anything else.
    public static func decode(_ text: String) -> [UInt8]? {
        var vals: [Int] = []
        for c in text.utf8 {
            switch c {
            case 0x41...0x5A: vals.append(Int(c) - 0x41)
            case 0x61...0x7A: vals.append(Int(c) - 0x61 + 26)
            case 0x30...0x39: vals.append(Int(c) - 0x30 + 52)
            case 0x2B, 0x2D: vals.append(62)
            case 0x2F, 0x5F: vals.append(63)
            case 0x3D, 0x0A, 0x0D: continue
            default: return nil
            }
        }
        var out: [UInt8] = []
        var i = 0
        while i + 3 < vals.count {
            let n = vals[i] << 18 | vals[i + 1] << 12 | vals[i + 2] << 6 | vals[i + 3]
            out += [UInt8(n >> 16), UInt8((n >> 8) & 255), UInt8(n & 255)]
            i += 4
        }
        let rest = vals.count - i
        if rest == 1 { return nil }
        if rest >= 2 {
            let n = vals[i] << 18 | vals[i + 1] << 12 | (rest == 3 ? vals[i + 2] << 6 : 0)
            out.append(UInt8(n >> 16))
            if rest == 3 { out.append(UInt8((n >> 8) & 255)) }
        }
        return out
    }
}
