import OCI
import Testing

@Suite struct ReferenceTests {
    @Test(arguments: [
        ("busybox", "docker.io/library/busybox", nil as String?, "busybox"),
        ("busybox:1.36", "docker.io/library/busybox", "1.36", "busybox:1.36"),
        ("me/app:v2", "docker.io/me/app", "v2", "me/app:v2"),
        ("localhost:5000/a/b:1", "localhost:5000/a/b", "1", "localhost:5000/a/b:1"),
        ("registry.example.com/x", "registry.example.com/x", nil, "registry.example.com/x"),
        ("docker.io/library/busybox:latest", "docker.io/library/busybox", "latest", "busybox:latest"),
    ])
    func normalises(_ input: String, _ repo: String, _ tag: String?, _ familiar: String) throws {
        let r = try Reference(parsing: input)
        #expect(r.repository == repo)
        #expect(r.tag == tag)
        #expect(r.familiar == familiar)
    }

    @Test func defaultTag() throws {
        #expect(try Reference(parsing: "busybox").withDefaultTag.description == "docker.io/library/busybox:latest")
    }

    @Test func digests() throws {
        let hex = String(repeating: "ab", count: 32)
        let r = try Reference(parsing: "busybox@sha256:" + hex)
        #expect(r.digest?.hex == hex)
        #expect(r.withDefaultTag.tag == nil)
    }

    @Test func rejectsBadReferences() {
        #expect(throws: Reference.ParseError.notLowercase) { try Reference(parsing: "BusyBox") }
        #expect(throws: Reference.ParseError.invalidFormat) { try Reference(parsing: "a//b") }
        #expect(throws: Reference.ParseError.invalidFormat) { try Reference(parsing: "x:") }
        #expect(throws: Reference.ParseError.invalidFormat) { try Reference(parsing: "busybox@sha256:12") }
        #expect(throws: Reference.ParseError.invalidFormat) { try Reference(parsing: "-x") }
    }

    @Test func sha256AndChainIDs() {
        #expect(Digest.of("").hex == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        let a = Digest.of("a"), b = Digest.of("b")
        let chain = chainIDs([a, b])
        #expect(chain[0] == a)
        #expect(chain[1] == Digest.of("\(a) \(b)"))
    }
}
