/// Docker's Dockerfile word processing (the shell lexer of BuildKit/moby): quotes, the escape
/// character, `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:+alt}`,
/// `${VAR+alt}`, `${VAR:?error}`; and splitting into words where quotes allow.
public struct ShellWords: Sendable {
    public var env: [String: String]
    public var escape: Character

    public init(env: [String: String], escape: Character = "\\") { self.env = env; self.escape = escape }

    /// One word with variables expanded and quotes removed.
    public func expand(_ s: String) throws(DockerfileError) -> String {
        try process(s, split: false).joined(separator: " ")
    }

    /// Words separated by unquoted whitespace, each expanded.
    public func words(_ s: String) throws(DockerfileError) -> [String] {
        try process(s, split: true)
    }

    func process(_ s: String, split: Bool) throws(DockerfileError) -> [String] {
        let c = Array(s)
        var i = 0
        var words: [String] = []
        var cur = ""
        var inWord = false
        func flush() { if inWord { words.append(cur) }; cur = ""; inWord = false }
        while i < c.count {
            let ch = c[i]
            if split && (ch == " " || ch == "\t") { flush(); i += 1; continue }
            inWord = true
            if ch == escape {
                i += 1
                if i < c.count { cur.append(c[i]); i += 1 }
                continue
            }
            if ch == "'" {
                i += 1
                while i < c.count && c[i] != "'" { cur.append(c[i]); i += 1 }
                guard i < c.count else { throw DockerfileError("unexpected end of statement while looking for matching single-quote") }
                i += 1
                continue
            }
            if ch == "\"" {
                i += 1
                while i < c.count && c[i] != "\"" {
                    if c[i] == escape, i + 1 < c.count, ["\"", "$", escape].contains(c[i + 1]) {
                        cur.append(c[i + 1]); i += 2; continue
                    }
                    if c[i] == "$" { cur += try variable(c, &i); continue }
                    cur.append(c[i]); i += 1
                }
                guard i < c.count else { throw DockerfileError("unexpected end of statement while looking for matching double-quote") }
                i += 1
                continue
            }
            if ch == "$" {
                let v = try variable(c, &i)
                if split {
                    // Unquoted expansion splits into words too.
                    let parts = v.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" })
                    if parts.count > 1 || (v.first.map { $0 == " " } ?? false) {
                        for (k, p) in parts.enumerated() {
                            if k > 0 || v.first == " " { flush(); inWord = true }
                            cur += p
                        }
                        if v.last == " " { flush() }
                        continue
                    }
                }
                cur += v
                continue
            }
            cur.append(ch)
            i += 1
        }
        flush()
        return words
    }

    /// At `$`: the variable's value (or `$` itself when no name follows).
    func variable(_ c: [Character], _ i: inout Int) throws(DockerfileError) -> String {
        i += 1
        guard i < c.count else { return "$" }
        if c[i] == "{" {
            i += 1
            var name = ""
            while i < c.count, c[i].isLetter || c[i].isNumber || c[i] == "_" { name.append(c[i]); i += 1 }
            guard i < c.count else { throw DockerfileError("missing '}'") }
            if c[i] == "}" { i += 1; return env[name] ?? "" }
            var op = String(c[i])
            i += 1
            if op == ":" {
                guard i < c.count else { throw DockerfileError("missing '}'") }
                op += String(c[i]); i += 1
            }
            // The operand, which may itself hold variables and nested braces.
            var word = ""
            var depth = 0
            while i < c.count {
                if c[i] == "}" && depth == 0 { break }
                if c[i] == "{" { depth += 1 }
                if c[i] == "}" { depth -= 1 }
                word.append(c[i]); i += 1
            }
            guard i < c.count else { throw DockerfileError("missing '}'") }
            i += 1
            let operand = try ShellWords(env: env, escape: escape).expand(word)
            let value = env[name]
            switch op {
            case ":-": return (value?.isEmpty ?? true) ? operand : value!
            case "-": return value ?? operand
            case ":+": return (value?.isEmpty ?? true) ? "" : operand
            case "+": return value == nil ? "" : operand
            case ":?":
                if value?.isEmpty ?? true { throw DockerfileError("\(name): \(operand.isEmpty ? "parameter null or not set" : operand)") }
                return value!
            case "?":
                if value == nil { throw DockerfileError("\(name): \(operand.isEmpty ? "parameter not set" : operand)") }
                return value!
            default: throw DockerfileError("unsupported modifier (\(op)) in substitution")
            }
        }
        var name = ""
        while i < c.count, c[i].isLetter || c[i].isNumber || c[i] == "_" { name.append(c[i]); i += 1 }
        if name.isEmpty { return "$" }
        return env[name] ?? ""
    }

    /// `ENV`/`LABEL`/`ARG` pairs: `k=v k2="v 2"`, or the legacy `ENV k v w` form.
    public func pairs(_ s: String, legacyAllowed: Bool) throws(DockerfileError) -> [(String, String)] {
        let raw = try ShellWords(env: [:], escape: escape).rawWords(s)
        if legacyAllowed, let first = raw.first, !first.contains("=") {
            let key = first
            let rest = s.drop { $0 == " " || $0 == "\t" }.dropFirst(first.count).drop { $0 == " " || $0 == "\t" }
            return [(key, try expand(String(rest)))]
        }
        var out: [(String, String)] = []
        for w in raw {
            guard let eq = w.firstIndex(of: "=") else { throw DockerfileError("failed to process \"\(w)\": must have two arguments") }
            out.append((try expand(String(w[..<eq])), try expand(String(w[w.index(after: eq)...]))))
        }
        return out
    }

    /// Words split on unquoted whitespace with quotes and escapes kept as written.
    func rawWords(_ s: String) throws(DockerfileError) -> [String] {
        let c = Array(s)
        var out: [String] = [], cur = "", i = 0
        var quote: Character? = nil
        while i < c.count {
            let ch = c[i]
            if quote == nil && (ch == " " || ch == "\t") { if !cur.isEmpty { out.append(cur); cur = "" }; i += 1; continue }
            if ch == escape && quote != "'" && i + 1 < c.count { cur.append(ch); cur.append(c[i + 1]); i += 2; continue }
            if ch == "\"" || ch == "'" { if quote == nil { quote = ch } else if quote == ch { quote = nil } }
            cur.append(ch); i += 1
        }
        if quote != nil { throw DockerfileError("unexpected end of statement while looking for matching \(quote == "'" ? "single" : "double")-quote") }
        if !cur.isEmpty { out.append(cur) }
        return out
    }
}
