import Builder
import JSON

/// The Dockerfile parser, shell-word expansion and the .dockerignore matcher: hostile build
/// input must never trap.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDockerfile(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    _ = try? Dockerfile.parse(text)
    let words = ShellWords(env: ["A": "1", "HOME": "/root"])
    _ = try? words.expand(text)
    _ = try? words.words(text)
    _ = try? words.pairs(text, legacyAllowed: true)
    let ignore = DockerIgnore(text)
    _ = ignore.excludes("a/b/c.txt")
    _ = ignore.excludes(text)
    return 0
}
