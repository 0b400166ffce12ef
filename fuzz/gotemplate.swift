import GoTemplate
import JSON

/// `--format` templates: parsing and executing any text must not trap or run away.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTemplate(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let doc: JSON = ["Name": "web", "Id": "0123456789abcdef", "Config": ["Env": ["A=1", "B=2"], "Labels": ["k": "v"]], "State": ["Running": true]]
    // Small limits: the standard ones are checked by a unit test; here they would make the
    // runaway inputs (which the fuzzer keeps finding) take most of the time.
    if let t = try? GoTemplate(text) { _ = try? t.execute(doc, limits: GoTemplate.Limits(steps: 20_000, outputBytes: 256 << 10)) }
    return 0
}
