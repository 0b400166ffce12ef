import JSON
import Testing

@Suite struct JSONTests {
    @Test func roundTripKeepsKeyOrder() throws {
        let text = #"{"b":1,"a":[true,null,"x\n\"y\""],"c":{"z":-2.5,"y":{}}}"#
        let v = try JSON.parse(text)
        #expect(v.serialized() == text)
        #expect(v["a"][2].string == "x\n\"y\"")
        #expect(v["c"]["z"].double == -2.5)
    }

    @Test func goStyleEscapes() {
        #expect(JSON.string("<a&b>").serialized() == #""\u003ca\u0026b\u003e""#)
        #expect(JSON.string("\u{01}").serialized() == #""\u0001""#)
        // As Go's encoding/json writes it (checked with go here): HTML characters optional, U+2028/9
        // always, DEL and non-ASCII as is.
        let tricky = JSON.string("a\"b\\c\n\r\t<>&\u{1}\u{1f}\u{7f}\u{2028}\u{2029}é😀")
        #expect(tricky.serialized() == #""a\"b\\c\n\r\t\u003c\u003e\u0026\u0001\u001f\#u{7f}\u2028\u2029é😀""#)
        #expect(tricky.serialized(escapeHTML: false) == #""a\"b\\c\n\r\t<>&\u0001\u001f\#u{7f}\u2028\u2029é😀""#)
        let nested: JSON = ["k<": ["x": [1, "y"]]]
        #expect(nested.pretty(indent: "  ") == "{\n  \"k\\u003c\": {\n    \"x\": [\n      1,\n      \"y\"\n    ]\n  }\n}")
        #expect(tricky.bytes == Array(tricky.serialized().utf8))
    }

    @Test func objectsKeepOrderSmallAndLarge() {
        for n in [3, 40] {  // below and above the size where a hash index is kept too
            var o = JSONObject()
            for i in 0..<n { o["k\(i)"] = .int(Int64(i)) }
            o["k1"] = "again"  // replacing keeps the position
            o["k0"] = nil  // removing closes the gap
            o["new"] = true
            #expect(o.keys == (1..<n).map { "k\($0)" } + ["new"])
            #expect(o["k1"] == "again" && o["k2"] == .int(2) && o["k0"] == nil && o["new"] == true)
            #expect(o.count == n && Array(o.map(\.0)) == o.keys)
            var p = JSONObject()
            for k in o.keys { p[k] = o[k] }
            #expect(p == o)
            p["k2"] = nil; p["k2"] = .int(2)  // same content, another order
            #expect(p != o)
        }
    }

    @Test func unicodeEscapesAndSurrogates() throws {
        #expect(try JSON.parse(#""\u00e9\ud83d\ude00""#).string == "é😀")
    }

    @Test func malformedInputHasGoWords() {
        #expect(throws: JSONParseError.self) { try JSON.parse("{bad") }
        do { _ = try JSON.parse("{bad") } catch { #expect(error.message == "invalid character 'b' looking for beginning of object key string") }
        do { _ = try JSON.parse("") } catch { #expect(error.message == "unexpected end of JSON input") }
        do { _ = try JSON.parse("{} x") } catch { #expect(error.message.contains("after top-level value")) }
    }

    @Test func streamOfDocuments() throws {
        let docs = try JSON.parseStream(Array("{\"a\":1}\r\n{\"a\":2}\n".utf8))
        #expect(docs.count == 2)
        #expect(docs[1]["a"].int == 2)
    }

    @Test func prettyPrintsLikeDockerInspect() throws {
        let v = try JSON.parse(#"[{"Id":"x","Args":[],"State":{"Running":true}}]"#)
        #expect(
            v.pretty() == "[\n    {\n        \"Id\": \"x\",\n        \"Args\": [],\n        \"State\": {\n            \"Running\": true\n        }\n    }\n]")
    }
}
