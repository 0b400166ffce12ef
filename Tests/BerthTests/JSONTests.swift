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
        #expect(v.pretty() == "[\n    {\n        \"Id\": \"x\",\n        \"Args\": [],\n        \"State\": {\n            \"Running\": true\n        }\n    }\n]")
    }
}
