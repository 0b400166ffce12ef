import DockerAPI
import Testing

/// The request target as berthd reads it: versions, escapes (good and bad), `+`, repeated keys,
/// and which endpoints take archive uploads.
@Suite struct RequestTargetTests {
    @Test func versionPrefixPathAndQuery() {
        let t = RequestTarget(uri: "/v1.41/containers/json?all=1&filters=%7B%22a%22%3A1%7D&x=a+b&x=c&=v&k")
        #expect(t.version == "1.41" && t.path == "/containers/json")
        #expect(t.query["all"] == ["1"] && t.query["filters"] == ["{\"a\":1}"] && t.query["x"] == ["a b", "c"])
        #expect(t.query[""] == ["v"] && t.query["k"] == [""])
        #expect(RequestTarget(uri: "/_ping").version == nil)
        #expect(RequestTarget(uri: "/version").path == "/version")  // "v" alone, or "version", is no prefix
        #expect(RequestTarget(uri: "/v").path == "/v")
        #expect(RequestTarget(uri: "/v1.44").path == "/" && RequestTarget(uri: "/v1.44").version == "1.44")
        #expect(RequestTarget(uri: "/v١/x").version == nil)  // a non-ASCII digit is not a version
    }

    @Test func hostileEscapesKeepTheText() {
        #expect(RequestTarget(uri: "/containers/a%2Fb/json").path == "/containers/a/b/json")
        #expect(RequestTarget(uri: "/containers/%zz/json").path == "/containers/%zz/json")
        #expect(RequestTarget(uri: "/x%").path == "/x%" && RequestTarget(uri: "/x%4").path == "/x%4")
        #expect(RequestTarget(uri: "/x%ff%fe").path == "/x%ff%fe")  // not UTF-8
        #expect(RequestTarget(uri: "*").path == "/*" && RequestTarget(uri: "").path == "/")
        #expect(RequestTarget(uri: "/a?&&&=&").query[""] == [""])
        // fuzz: a combining mark right after "/" makes one Character that is not "/"
        #expect(RequestTarget(uri: "\u{0592}").path.utf8.elementsEqual("/\u{0592}".utf8))
    }

    @Test func archiveUploadsWhateverTheirType() {
        #expect(RequestTarget.isUpload(method: "PUT", uri: "/v1.51/containers/abc/archive?path=/tmp"))
        #expect(RequestTarget.isUpload(method: "POST", uri: "/build?t=x"))
        #expect(RequestTarget.isUpload(method: "POST", uri: "/v1.41/images/load?quiet=1"))
        #expect(RequestTarget.isUpload(method: "POST", uri: "/images/create?fromSrc=-&repo=x"))
        #expect(!RequestTarget.isUpload(method: "POST", uri: "/images/create?fromImage=busybox"))
        #expect(!RequestTarget.isUpload(method: "GET", uri: "/containers/abc/archive?path=/"))
        #expect(!RequestTarget.isUpload(method: "POST", uri: "/containers/create"))
    }
}
