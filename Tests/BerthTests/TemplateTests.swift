import Foundation
import GoTemplate
import JSON
import Synchronization
import Testing

/// GoTemplate against Go's own text/template: tests/template-corpus/expected.jsonl was rendered
/// by Go (with Docker's functions) from the same templates and data.
@Suite struct TemplateTests {
    static func sortedKeys(_ j: JSON) -> JSON {
        switch j {
        case .object(let o):
            var s = JSONObject()
            for k in o.keys.sorted() { s[k] = sortedKeys(o[k]!) }
            return .object(s)
        case .array(let a): return .array(a.map(sortedKeys))
        default: return j
        }
    }

    static func corpus() throws -> (JSON, [(String, String)]) {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("tests/template-corpus/expected.jsonl"), encoding: .utf8)
        var data: JSON = .null
        var cases: [(String, String)] = []
        for line in text.split(separator: "\n") {
            let j = try JSON.parse(String(line))
            if !j["data"].isNull { data = sortedKeys(j["data"]) } else { cases.append((j["template"].string!, j["want"].string!)) }
        }
        return (data, cases)
    }

    @Test func corpusMatchesGo() throws {
        let (data, cases) = try TemplateTests.corpus()
        #expect(cases.count > 100)
        var failures: [String] = []
        for (template, want) in cases {
            var got: String
            do { got = try GoTemplate(template).execute(data) } catch { got = "ERR " + error.message }
            if want.hasPrefix("ERR ") {
                // Go's error wording is matched where we can; failing is what must agree.
                if !got.hasPrefix("ERR ") { failures.append("\(template): want error \(want), got \(got)") }
            } else if got != want {
                failures.append("\(template): want \(JSON.string(want).serialized()) got \(JSON.string(got).serialized())")
            }
        }
        #expect(failures.isEmpty, Comment(rawValue: "\(failures.count) mismatches:\n" + failures.joined(separator: "\n")))
    }

    @Test func parseErrorsNameTheLine() throws {
        #expect(throws: TemplateError("template: :2: function \"nope\" not defined")) { try GoTemplate("a\n{{nope}}") }
        #expect(throws: TemplateError("template: :1: unclosed action")) { try GoTemplate("{{.A") }
    }

    @Test func missingKeyErrorMode() throws {
        var t = try GoTemplate("{{.Nope}}")
        #expect(try t.execute(["A": 1]) == "<no value>")
        t.missingKeyIsError = true
        #expect(throws: TemplateError.self) { try t.execute(["A": 1]) }
    }

    @Test func methodsAndHeaderFunctions() throws {
        let label: GoTemplate.Method = { args throws(TemplateError) in .string("L:" + (args.first?.string ?? "")) }
        #expect(try GoTemplate("{{.Label \"x\"}}|{{.ID}}").execute(["ID": "abc"], methods: ["Label": label]) == "L:x|abc")
        var t = try GoTemplate("{{upper .Name}} {{truncate .Name 2}} {{pad .Name 1 1}}")
        t.functions = .dockerHeader
        #expect(try t.execute(["Name": "NAME"]) == "NAME NAME  NAME ")
    }

    /// Found by fuzzing: ranges nested in themselves multiply; a template is bounded in work
    /// and output instead of exhausting memory. A range over a number is not materialised.
    @Test func runawayTemplatesStopWithAnError() throws {
        let doc: JSON = ["a": 1, "b": 2, "c": 3, "d": 4]
        let nested = String(repeating: "{{range $}}", count: 14) + "xxxxxxxx" + String(repeating: "{{end}}", count: 14)
        #expect(throws: TemplateError.self) { try GoTemplate(nested).execute(doc) }
        #expect(throws: TemplateError.self) { try GoTemplate("{{range 4000000000000}}{{end}}").execute(doc) }
        #expect(try GoTemplate("{{range $i := 3}}{{$i}}{{end}}").execute(doc) == "012")
        #expect(try GoTemplate("{{range 0}}x{{else}}none{{end}}").execute(doc) == "none")
    }

    /// A block that calls itself recursed until the stack overflowed (fuzzing found it; Go stops
    /// at 100000 calls, too deep for Swift's frames on a 512 KiB thread stack). Run here on such
    /// a thread, it ends with Go's kind of error.
    @Test func selfCallingTemplatesStopAtADepth() throws {
        let doc: JSON = ["a": 1]
        let result = Mutex<String?>(nil)
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            do { _ = try GoTemplate(#"{{define "t"}}x{{template "t" .}}{{end}}{{template "t" .}}"#).execute(doc) } catch {
                result.withLock { $0 = "\(error)" }
            }
            done.signal()
        }
        thread.stackSize = 512 << 10
        thread.start()
        #expect(done.wait(timeout: .now() + 30) == .success)
        #expect(result.withLock { $0 }?.contains("exceeded maximum template depth (100)") == true)
        // Nested calls a real format might use still work.
        #expect(try GoTemplate(#"{{define "in"}}[{{.}}]{{end}}{{define "out"}}{{template "in" .a}}{{end}}{{template "out" .}}"#).execute(doc) == "[1]")
    }

    /// Found by fuzzing: 2,500 nested parentheses overflowed the parser's stack (8 MiB, under
    /// ASan). Nesting is bounded (blocks, else-if chains, parentheses) at 100, which a debug
    /// build parses and runs within 2 MiB.
    @Test func deepNestingIsRefusedAndWhatIsAllowedRunsOnASmallStack() throws {
        let doc: JSON = ["a": 1]
        let out = Mutex<[String]>([])
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            func run(_ t: String) -> String {
                do { return try GoTemplate(t).execute(doc) } catch { return "error: \(error)" }
            }
            let parens = String(repeating: "(", count: 3000) + ".a" + String(repeating: ")", count: 3000)
            let ifs = String(repeating: "{{if .a}}", count: 3000) + "x" + String(repeating: "{{end}}", count: 3000)
            let elseIfs = "{{if not .a}}" + String(repeating: "{{else if not .a}}", count: 3000) + "{{else}}y{{end}}"
            let allowed = String(repeating: "(", count: 90) + ".a" + String(repeating: ")", count: 90)
            out.withLock { $0 = [run("{{" + parens + "}}"), run(ifs), run(elseIfs), run("{{" + allowed + "}}")] }
            done.signal()
        }
        thread.stackSize = 2 << 20
        thread.start()
        #expect(done.wait(timeout: .now() + 30) == .success)
        let r = out.withLock { $0 }
        #expect(r.count == 4)
        for e in r.prefix(3) { #expect(e.contains("nests deeper than 100 levels"), "\(e.prefix(200))") }
        #expect(r.last == "1")
    }
}
