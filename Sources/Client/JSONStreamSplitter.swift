import JSON

/// Splits a chunked byte stream into JSON messages.
public struct JSONStreamSplitter {
    public init() {}
    private var buffer: [UInt8] = []
    public mutating func feed(_ bytes: [UInt8]) -> [JSON] {
        buffer += bytes
        var out: [JSON] = []
        while let nl = buffer.firstIndex(of: 0x0A) {
            let line = Array(buffer[..<nl])
            buffer.removeFirst(nl + 1)
            if let j = try? JSON.parse(line) { out.append(j) }
        }
        return out
    }
}
