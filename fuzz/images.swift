import JSON

/// Image references and digests (from clients and registries) and image config documents (from
/// registries, `load` and `import`), compiled with OCI's Reference, Digest and ImageConfig sources.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzImages(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let text = String(decoding: bytes, as: UTF8.self)
    if let r = try? Reference(parsing: text) {
        // What we print must parse back to the same reference (tags, pulls and pushes rely on it).
        precondition((try? Reference(parsing: r.description)) == r, "reference does not round-trip: \(text)")
        _ = r.familiar
    }
    if let d = Digest(parsing: text) { precondition(Digest(parsing: d.description) == d) }
    if let j = try? JSON.parse(bytes) {
        let c = ImageConfig(json: j)
        _ = c.json.serialized()
        _ = c.diffIDs
        _ = c.labels
    }
    return 0
}
