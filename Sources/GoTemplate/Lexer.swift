/// Splits a template into text and action tokens the way Go's text/template lexer does:
/// `{{`/`}}` delimiters, `{{- ` and ` -}}` trim markers, `{{/* comments */}}`, and inside an
/// action: fields, variables, strings, numbers, keywords and punctuation.
struct Token: Equatable {
    enum Kind: Equatable {
        case text, leftDelim, rightDelim, leftParen, rightParen, pipe, declare, assign, comma
        case string, rawString, char, number, bool, nilValue, dot, field, variable, identifier, keyword
    }
    var kind: Kind
    var value: String
    /// Byte offset in the template, for error positions.
    var offset: Int
    /// Whether whitespace separated this token from the previous one inside an action; a field
    /// written right after an operand (`$x.Name`, `(pipe).Name`) continues that operand's chain.
    var spaced: Bool = false
}

public struct TemplateError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public var description: String { message }
    public init(_ message: String) { self.message = message }
}

struct Lexer {
    static let keywords: Set<String> = ["if", "else", "end", "range", "with", "define", "template", "block", "break", "continue"]
    let src: [UInt8]
    var i = 0
    var tokens: [Token] = []

    init(_ text: String) { src = Array(text.utf8) }

    func line(at offset: Int) -> Int { 1 + src[..<min(offset, src.count)].reduce(0) { $0 + ($1 == 10 ? 1 : 0) } }
    func fail(_ msg: String, at offset: Int) -> TemplateError { TemplateError("template: :\(line(at: offset)): \(msg)") }

    static func isSpace(_ c: UInt8) -> Bool { c == 32 || c == 9 || c == 10 || c == 13 }
    static func isAlnum(_ c: UInt8) -> Bool {
        (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 95 || c >= 0x80
    }

    func hasPrefix(_ s: String, at pos: Int) -> Bool {
        let b = Array(s.utf8)
        guard pos + b.count <= src.count else { return false }
        for k in 0..<b.count where src[pos + k] != b[k] { return false }
        return true
    }

    func string(_ from: Int, _ to: Int) -> String { String(decoding: src[from..<to], as: UTF8.self) }

    mutating func lex() throws(TemplateError) -> [Token] {
        var trimNextText = false
        while i < src.count {
            // Text up to the next `{{`.
            var end = i
            while end < src.count && !hasPrefix("{{", at: end) { end += 1 }
            var textStart = i
            var textEnd = end
            let trimLeft = end < src.count && hasPrefix("{{- ", at: end) || (end + 3 < src.count && hasPrefix("{{-", at: end) && Lexer.isSpace(src[end + 3]))
            if trimNextText { while textStart < textEnd && Lexer.isSpace(src[textStart]) { textStart += 1 } }
            if trimLeft { while textEnd > textStart && Lexer.isSpace(src[textEnd - 1]) { textEnd -= 1 } }
            if textEnd > textStart { tokens.append(Token(kind: .text, value: string(textStart, textEnd), offset: textStart)) }
            trimNextText = false
            guard end < src.count else { i = end; break }
            i = end + 2
            if trimLeft { i += 2 }
            // A comment must sit alone in its action.
            if hasPrefix("/*", at: i) {
                let start = i
                i += 2
                while i < src.count && !hasPrefix("*/", at: i) { i += 1 }
                guard i < src.count else { throw fail("unclosed comment", at: start) }
                i += 2
                if hasPrefix(" -}}", at: i) || (i + 3 < src.count && Lexer.isSpace(src[i]) && hasPrefix("-}}", at: i + 1)) {
                    i += 4; trimNextText = true
                } else if hasPrefix("}}", at: i) {
                    i += 2
                } else {
                    throw fail("comment ends before closing delimiter", at: start)
                }
                continue
            }
            tokens.append(Token(kind: .leftDelim, value: "{{", offset: end))
            trimNextText = try lexInsideAction()
        }
        return tokens
    }

    /// Lexes one action through its `}}`; returns whether it ended with a right trim marker.
    mutating func lexInsideAction() throws(TemplateError) -> Bool {
        let actionStart = i
        var spaced = false
        var parenDepth = 0
        while true {
            guard i < src.count else { throw fail("unclosed action", at: actionStart) }
            let c = src[i]
            if Lexer.isSpace(c) {
                // ` -}}` closes with a trim marker.
                var j = i
                while j < src.count && Lexer.isSpace(src[j]) { j += 1 }
                if hasPrefix("-}}", at: j) {
                    tokens.append(Token(kind: .rightDelim, value: "}}", offset: j))
                    i = j + 3
                    return true
                }
                // Newlines inside actions are spaces too (Go 1.16+).
                i = j; spaced = true; continue
            }
            if hasPrefix("}}", at: i) {
                if parenDepth > 0 { throw fail("unclosed left paren", at: i) }
                tokens.append(Token(kind: .rightDelim, value: "}}", offset: i))
                i += 2
                return false
            }
            let start = i
            var kind: Token.Kind
            switch c {
            case UInt8(ascii: "("): kind = .leftParen; parenDepth += 1; i += 1
            case UInt8(ascii: ")"):
                parenDepth -= 1
                if parenDepth < 0 { throw fail("unexpected right paren", at: i) }
                kind = .rightParen; i += 1
            case UInt8(ascii: "|"): kind = .pipe; i += 1
            case UInt8(ascii: ","): kind = .comma; i += 1
            case UInt8(ascii: ":"):
                guard i + 1 < src.count, src[i + 1] == UInt8(ascii: "=") else { throw fail("expected :=", at: i) }
                kind = .declare; i += 2
            case UInt8(ascii: "="): kind = .assign; i += 1
            case UInt8(ascii: "\""):
                i += 1
                while i < src.count && src[i] != UInt8(ascii: "\"") {
                    if src[i] == UInt8(ascii: "\\") { i += 1 }
                    if i < src.count && src[i] == 10 { throw fail("unterminated quoted string", at: start) }
                    i += 1
                }
                guard i < src.count else { throw fail("unterminated quoted string", at: start) }
                i += 1; kind = .string
            case UInt8(ascii: "`"):
                i += 1
                while i < src.count && src[i] != UInt8(ascii: "`") { i += 1 }
                guard i < src.count else { throw fail("unterminated raw quoted string", at: start) }
                i += 1; kind = .rawString
            case UInt8(ascii: "'"):
                i += 1
                while i < src.count && src[i] != UInt8(ascii: "'") { if src[i] == UInt8(ascii: "\\") { i += 1 }; i += 1 }
                guard i < src.count else { throw fail("unterminated character constant", at: start) }
                i += 1; kind = .char
            case UInt8(ascii: "$"):
                i += 1
                while i < src.count && Lexer.isAlnum(src[i]) { i += 1 }
                kind = .variable
            case UInt8(ascii: "."):
                if i + 1 < src.count && src[i + 1] >= 48 && src[i + 1] <= 57 {
                    i = scanNumber(); kind = .number
                } else {
                    i += 1
                    while i < src.count && Lexer.isAlnum(src[i]) { i += 1 }
                    kind = i - start == 1 ? .dot : .field
                }
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "+"):
                i = scanNumber()
                if i == start + 1 && (c == UInt8(ascii: "-") || c == UInt8(ascii: "+")) {
                    throw fail("bad character \(Lexer.quoteRune(c))", at: start)
                }
                kind = .number
            default:
                guard Lexer.isAlnum(c) else { throw fail("bad character \(Lexer.quoteRune(c))", at: start) }
                while i < src.count && Lexer.isAlnum(src[i]) { i += 1 }
                let word = string(start, i)
                if Lexer.keywords.contains(word) {
                    kind = .keyword
                } else if word == "true" || word == "false" {
                    kind = .bool
                } else if word == "nil" {
                    kind = .nilValue
                } else {
                    kind = .identifier
                }
            }
            tokens.append(Token(kind: kind, value: string(start, i), offset: start, spaced: spaced))
            spaced = false
        }
    }

    static func quoteRune(_ c: UInt8) -> String { "U+\(String(c, radix: 16, uppercase: true).leftPadded(4))" + " '\(Character(Unicode.Scalar(c)))'" }

    func scanNumber() -> Int {
        var j = i
        if j < src.count && (src[j] == UInt8(ascii: "-") || src[j] == UInt8(ascii: "+")) { j += 1 }
        while j < src.count
            && (Lexer.isAlnum(src[j]) || src[j] == UInt8(ascii: ".")
                || ((src[j] == UInt8(ascii: "-") || src[j] == UInt8(ascii: "+")) && j > 0 && (src[j - 1] | 0x20) == UInt8(ascii: "e")))
        { j += 1 }
        return j
    }
}

extension String {
    func leftPadded(_ n: Int, with pad: Character = "0") -> String {
        count >= n ? self : String(repeating: pad, count: n - count) + self
    }
}
