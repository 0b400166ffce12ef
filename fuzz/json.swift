import JSON

/// The JSON parser (every request body, every stored record): no input may trap, and what it
/// accepts must serialise and parse back to the same value.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let value = try? JSON.parse(bytes) else { return 0 }
    let again = try? JSON.parse(value.serializedBytes())
    precondition(again != nil, "serialised JSON does not parse back")
    _ = value.canonicalizingKeys(["Image", "HostConfig"])
    return 0
}
