import Builder
import JSON

/// The Dockerfile parser, shell-word expansion, `RUN --mount` specs and the .dockerignore
/// matcher: hostile build input must never trap.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDockerfile(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    _ = try? Dockerfile.parse(text)
    let words = ShellWords(env: ["A": "1", "HOME": "/root"])
    _ = try? words.expand(text)
    _ = try? words.words(text)
    _ = try? words.pairs(text, legacyAllowed: true)
    _ = try? RunMount.parse(text)
    let ignore = DockerIgnore(text)
    _ = ignore.excludes("a/b/c.txt")
    // The whole input as a path too, but at most 256 bytes of it: matching is O(patterns ×
    // path), linear (a unit test holds it to that); longer paths only slow the search down.
    _ = ignore.excludes(String(text.utf8.prefix(256)).map { String($0) } ?? "")
    return 0
}
