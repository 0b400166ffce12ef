import DockerAPI

/// What berthd takes from a request head once SwiftNIO's parser (llhttp, fuzzed upstream) has
/// split it: the target (version prefix, percent escapes, query), the upload classification and
/// the Content-Length it acts on. Any bytes give values, never a trap.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTPHead(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let lines = text.split(separator: "\r\n", omittingEmptySubsequences: false)
    guard let first = lines.first else { return 0 }
    let words = first.split(separator: " ", maxSplits: 2)
    let method = words.first.map(String.init) ?? "GET"
    let uri = words.count > 1 ? String(words[1]) : String(first)
    let t = RequestTarget(uri: uri)
    precondition(t.path.utf8.first == UInt8(ascii: "/"), "a path that does not start with /: \(t.path)")
    if let v = t.version { precondition(!v.isEmpty && v.allSatisfy { $0.isASCII && ($0.isNumber || $0 == ".") }) }
    _ = RequestTarget.isUpload(method: method, uri: uri)
    for line in lines.dropFirst() {
        let kv = line.split(separator: ":", maxSplits: 1)
        if kv.count == 2, kv[0].lowercased() == "content-length" {
            _ = Int(kv[1].drop { $0 == " " })
        }
    }
    return 0
}
