/// A parsed Dockerfile: parser directives, then instructions with their flags and arguments,
/// as Docker's parser produces them (line numbers for errors, JSON vs shell form, heredocs).
public struct Instruction: Sendable, Equatable {
    public var keyword: String  // upper-case: FROM, RUN, ...
    public var flags: [String]  // `--from=builder`, `--chown=1:1` as written
    /// Shell form: the text after the keyword and flags; JSON form: the array.
    public var args: [String]
    public var json: Bool
    public var original: String  // the instruction as written (continuations joined)
    public var line: Int
    /// `RUN <<EOF` bodies: (name, content, expand) in order.
    public var heredocs: [Heredoc] = []

    public struct Heredoc: Sendable, Equatable {
        public var name: String
        public var content: String
        public var expand: Bool
        public var stripTabs: Bool
    }

    public func flag(_ name: String) -> String? {
        for f in flags where f.hasPrefix("--\(name)=") { return String(f.dropFirst(name.count + 3)) }
        return nil
    }
}

public struct DockerfileError: Error, Sendable, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ m: String) { message = m }
    public var description: String { message }
}

public struct Dockerfile: Sendable {
    public var escape: Character = "\\"
    public var syntax: String? = nil
    public var instructions: [Instruction] = []

    static let known: Set<String> = [
        "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
        "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
    ]
    /// Instructions whose arguments may be a JSON array.
    static let jsonCapable: Set<String> = ["RUN", "CMD", "ENTRYPOINT", "SHELL", "COPY", "ADD", "VOLUME"]

    public static func parse(_ text: String) throws(DockerfileError) -> Dockerfile {
        var df = Dockerfile()
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            var l = String(line)
            if l.hasSuffix("\r") { l.removeLast() }
            return l
        }
        if let first = lines.first, first.hasPrefix("\u{FEFF}") { lines[0] = String(first.dropFirst()) }
        var i = 0
        // Parser directives: `# key=value` lines at the very top.
        var seen = Set<String>()
        while i < lines.count {
            let t = lines[i].trimmingCharacters(" \t")
            guard t.hasPrefix("#") else { break }
            let body = t.dropFirst().trimmingCharacters(" \t")
            guard let eq = body.firstIndex(of: "="), !body[..<eq].contains(" ") else { break }
            let key = body[..<eq].trimmingCharacters(" \t").lowercased()
            let value = body[body.index(after: eq)...].trimmingCharacters(" \t")
            guard key == "escape" || key == "syntax" else { break }
            if seen.contains(key) { throw DockerfileError("only one \(key) parser directive can be used") }
            seen.insert(key)
            if key == "escape" {
                guard value == "\\" || value == "`" else { throw DockerfileError("invalid escape token '\(value)' does not match ` or \\") }
                df.escape = value.first!
            } else {
                df.syntax = value
            }
            i += 1
        }
        while i < lines.count {
            let start = i
            var t = lines[i].trimmingCharacters(" \t")
            i += 1
            if t.isEmpty || t.hasPrefix("#") { continue }
            // Continuations: a trailing escape joins the next line; comment and empty lines in
            // between are skipped, as Docker does.
            var logical = ""
            while true {
                if t.last == df.escape {
                    logical += String(t.dropLast())
                    var next: String? = nil
                    while i < lines.count {
                        let n = lines[i].trimmingCharacters(" \t")
                        i += 1
                        if n.hasPrefix("#") || n.isEmpty { continue }
                        next = n
                        break
                    }
                    guard let n = next else { break }
                    t = n
                    continue
                }
                logical += t
                break
            }
            var ins = try parseInstruction(logical, line: start + 1, escape: df.escape)
            // Heredocs: `<<EOF`, `<<-EOF`, `<<"EOF"` on RUN/COPY/ADD take the following lines.
            if ["RUN", "COPY", "ADD"].contains(ins.keyword), !ins.json {
                for marker in heredocMarkers(ins.args.first ?? "") {
                    var content: [String] = []
                    var closed = false
                    while i < lines.count {
                        var l = lines[i]
                        i += 1
                        if marker.stripTabs { while l.hasPrefix("\t") { l.removeFirst() } }
                        if l == marker.name { closed = true; break }
                        content.append(l)
                    }
                    guard closed else { throw DockerfileError("dockerfile parse error line \(start + 1): unterminated heredoc \(marker.name)") }
                    ins.heredocs.append(
                        .init(
                            name: marker.name, content: content.joined(separator: "\n") + "\n",
                            expand: marker.expand, stripTabs: marker.stripTabs))
                }
            }
            df.instructions.append(ins)
        }
        return df
    }

    static func heredocMarkers(_ s: String) -> [(name: String, expand: Bool, stripTabs: Bool)] {
        var out: [(String, Bool, Bool)] = []
        var rest = Substring(s)
        while let r = rest.firstRange(of: "<<") {
            var after = rest[r.upperBound...]
            var strip = false
            if after.first == "-" { strip = true; after = after.dropFirst() }
            // A quoted delimiter turns expansion off.
            if let q = after.first, q == "\"" || q == "'" {
                after = after.dropFirst()
                guard let end = after.firstIndex(of: q) else { break }
                out.append((String(after[..<end]), false, strip))
                rest = after[after.index(after: end)...]
                continue
            }
            let name = after.prefix { $0.isLetter || $0.isNumber || $0 == "_" }
            if name.isEmpty { rest = after; continue }
            out.append((String(name), true, strip))
            rest = after[name.endIndex...]
        }
        return out
    }

    static func parseInstruction(_ text: String, line: Int, escape: Character) throws(DockerfileError) -> Instruction {
        let kw = text.prefix { $0 != " " && $0 != "\t" }
        let keyword = kw.uppercased()
        guard known.contains(keyword) else {
            throw DockerfileError("dockerfile parse error line \(line): unknown instruction: \(kw.uppercased())")
        }
        var rest = text[kw.endIndex...].trimmingCharacters(" \t")
        var flags: [String] = []
        // Flags come first: `--name=value` words.
        while rest.hasPrefix("--") {
            let word = rest.prefix { $0 != " " && $0 != "\t" }
            flags.append(String(word))
            rest = rest[word.endIndex...].trimmingCharacters(" \t")
        }
        if jsonCapable.contains(keyword), rest.hasPrefix("["), let arr = parseJSONArray(rest) {
            return Instruction(keyword: keyword, flags: flags, args: arr, json: true, original: text, line: line)
        }
        if rest.isEmpty && !["CMD", "ENTRYPOINT", "RUN", "HEALTHCHECK"].contains(keyword) {
            throw DockerfileError("dockerfile parse error line \(line): \(keyword) requires at least one argument")
        }
        return Instruction(keyword: keyword, flags: flags, args: rest.isEmpty ? [] : [rest], json: false, original: text, line: line)
    }

    public static func jsonArray(_ s: String) -> [String]? { parseJSONArray(s) }

    /// A JSON array of strings, or nil (then the text is shell form, as Docker falls back).
    static func parseJSONArray(_ s: String) -> [String]? {
        var out: [String] = []
        let c = Array(s.unicodeScalars)
        var i = 1
        func skip() { while i < c.count, c[i] == " " || c[i] == "\t" { i += 1 } }
        skip()
        if i < c.count, c[i] == "]" { i += 1; skip(); return i == c.count ? [] : nil }
        while i < c.count {
            skip()
            guard i < c.count, c[i] == "\"" else { return nil }
            i += 1
            var str = ""
            while i < c.count, c[i] != "\"" {
                if c[i] == "\\" {
                    i += 1
                    guard i < c.count else { return nil }
                    switch c[i] {
                    case "n": str += "\n"
                    case "t": str += "\t"
                    case "r": str += "\r"
                    case "b": str += "\u{08}"
                    case "f": str += "\u{0C}"
                    case "/": str += "/"
                    case "\\": str += "\\"
                    case "\"": str += "\""
                    case "u":
                        guard i + 4 < c.count, let v = UInt32(String(String.UnicodeScalarView(c[(i + 1)...(i + 4)])), radix: 16),
                            let u = Unicode.Scalar(v)
                        else { return nil }
                        str.unicodeScalars.append(u)
                        i += 4
                    default: return nil
                    }
                } else {
                    str.unicodeScalars.append(c[i])
                }
                i += 1
            }
            guard i < c.count else { return nil }
            i += 1
            out.append(str)
            skip()
            guard i < c.count else { return nil }
            if c[i] == "," { i += 1; continue }
            if c[i] == "]" { i += 1; skip(); return i == c.count ? out : nil }
            return nil
        }
        return nil
    }
}

extension StringProtocol {
    func trimmingCharacters(_ set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }
}
