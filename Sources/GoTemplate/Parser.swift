/// The parse tree of a template, shaped like Go's text/template/parse nodes.
indirect enum Node: Sendable {
    case text(String)
    case action(Pipeline, offset: Int)
    case ifNode(Pipeline, List, List?)
    case range(Pipeline, List, List?)
    case with(Pipeline, List, List?)
    case template(name: String, Pipeline?, offset: Int)
    case breakLoop, continueLoop
}

typealias List = [Node]

struct Pipeline: Sendable {
    var decls: [String] = []
    var isAssign = false
    var commands: [Command] = []
    var offset = 0
    var source = ""
}

struct Command: Sendable { var args: [Operand] }

indirect enum Operand: Sendable {
    case dot
    case nilValue
    case bool(Bool)
    case number(String)
    case string(String)
    case field([String])  // .A.B on dot
    case variable(String, [String])  // $x.A.B
    case identifier(String)  // a function
    case chain(Operand, [String])  // (pipe).A.B
    case pipeline(Pipeline)
}

struct Parser {
    var tokens: [Token]
    var pos = 0
    let lexer: Lexer
    let functions: Set<String>
    var definitions: [String: List] = [:]
    var loopDepth = 0
    /// Blocks, else-if chains and parenthesized pipelines open now: the parser recurses for each,
    /// so a hostile template nesting thousands deep would overflow the stack (found by fuzzing).
    var depth = 0
    static let maxDepth = 100

    init(_ text: String, functions: Set<String>) throws(TemplateError) {
        var l = Lexer(text)
        tokens = try l.lex()
        lexer = l
        self.functions = functions
    }

    func fail(_ msg: String, _ offset: Int? = nil) -> TemplateError {
        lexer.fail(msg, at: offset ?? (pos < tokens.count ? tokens[pos].offset : lexer.src.count))
    }

    var peek: Token? { pos < tokens.count ? tokens[pos] : nil }
    mutating func next() throws(TemplateError) -> Token {
        guard pos < tokens.count else { throw fail("unexpected EOF") }
        pos += 1
        return tokens[pos - 1]
    }

    mutating func parse() throws(TemplateError) -> List {
        let (list, stop) = try parseList()
        if let stop { throw fail("unexpected {{\(stop)}}", tokens[pos - 1].offset) }
        return list
    }

    /// Parses nodes until EOF or an `{{end}}`/`{{else}}`, which it consumes and returns.
    mutating func parseList() throws(TemplateError) -> (List, String?) {
        depth += 1
        defer { depth -= 1 }
        if depth > Parser.maxDepth { throw fail("template nests deeper than \(Parser.maxDepth) levels") }
        var list: List = []
        while let t = peek {
            pos += 1
            if t.kind == .text { list.append(.text(t.value)); continue }
            // t is `{{`
            guard let head = peek else { throw fail("unexpected EOF") }
            if head.kind == .keyword {
                pos += 1
                switch head.value {
                case "end":
                    try expectClose("end")
                    return (list, "end")
                case "else":
                    // `else` alone, or `else if` / `else with`: the caller sees the keyword.
                    if let k = peek, k.kind == .keyword, k.value == "if" || k.value == "with" {
                        return (list, "else " + k.value)
                    }
                    try expectClose("else")
                    return (list, "else")
                case "if", "with", "range":
                    list.append(try parseControl(head.value, offset: head.offset))
                case "break", "continue":
                    guard loopDepth > 0 else { throw fail("{{\(head.value)}} outside {{range}}", head.offset) }
                    try expectClose(head.value)
                    list.append(head.value == "break" ? .breakLoop : .continueLoop)
                case "define":
                    let name = try templateName()
                    try expectClose("define")
                    let (body, stop) = try parseList()
                    guard stop == "end" else { throw fail("unexpected EOF") }
                    definitions[name] = body
                case "template", "block":
                    let name = try templateName()
                    var pipe: Pipeline? = nil
                    if peek?.kind != .rightDelim { pipe = try parsePipeline(context: head.value) }
                    try expectClose(head.value)
                    if head.value == "block" {
                        let (body, stop) = try parseList()
                        guard stop == "end" else { throw fail("unexpected EOF") }
                        definitions[name] = body
                    }
                    list.append(.template(name: name, pipe, offset: head.offset))
                default:
                    throw fail("unexpected \(head.value)", head.offset)
                }
                continue
            }
            let pipe = try parsePipeline(context: "command")
            try expectClose("command")
            list.append(.action(pipe, offset: t.offset))
        }
        return (list, nil)
    }

    mutating func templateName() throws(TemplateError) -> String {
        let t = try next()
        guard t.kind == .string || t.kind == .rawString else { throw fail("unexpected \"\(t.value)\" in template clause", t.offset) }
        return try Parser.unquote(t)
    }

    mutating func expectClose(_ context: String) throws(TemplateError) {
        let t = try next()
        guard t.kind == .rightDelim else { throw fail("unexpected \"\(t.value)\" in \(context)", t.offset) }
    }

    mutating func parseControl(_ keyword: String, offset: Int) throws(TemplateError) -> Node {
        depth += 1
        defer { depth -= 1 }
        if depth > Parser.maxDepth { throw fail("template nests deeper than \(Parser.maxDepth) levels") }
        let pipe = try parsePipeline(context: keyword, allowTwoDecls: keyword == "range")
        try expectClose(keyword)
        if keyword == "range" { loopDepth += 1 }
        let (body, stop) = try parseList()
        if keyword == "range" { loopDepth -= 1 }
        var elseList: List? = nil
        switch stop {
        case "end": break
        case "else":
            let (e, s2) = try parseList()
            guard s2 == "end" else { throw fail("expected end; found \(s2 ?? "EOF")") }
            elseList = e
        case "else if", "else with":
            // `{{else if x}}…{{end}}` is `{{else}}{{if x}}…{{end}}{{end}}` sharing one end.
            let t = try next()
            elseList = [try parseControl(t.value, offset: t.offset)]
        default:
            throw fail("unexpected EOF")
        }
        switch keyword {
        case "if": return .ifNode(pipe, body, elseList)
        case "with": return .with(pipe, body, elseList)
        default: return .range(pipe, body, elseList)
        }
    }

    mutating func parsePipeline(context: String, allowTwoDecls: Bool = false) throws(TemplateError) -> Pipeline {
        depth += 1
        defer { depth -= 1 }
        if depth > Parser.maxDepth { throw fail("template nests deeper than \(Parser.maxDepth) levels") }
        var pipe = Pipeline()
        pipe.offset = peek?.offset ?? 0
        // Declarations: `$x :=`, `$x =`, or `$i, $e :=` in range.
        if let v = peek, v.kind == .variable, pos + 1 < tokens.count {
            let after = tokens[pos + 1]
            if after.kind == .declare || after.kind == .assign {
                pipe.decls = [v.value]; pipe.isAssign = after.kind == .assign; pos += 2
            } else if after.kind == .comma, allowTwoDecls, pos + 3 < tokens.count, tokens[pos + 2].kind == .variable,
                tokens[pos + 3].kind == .declare || tokens[pos + 3].kind == .assign
            {
                pipe.decls = [v.value, tokens[pos + 2].value]; pipe.isAssign = tokens[pos + 3].kind == .assign; pos += 4
            } else if after.kind == .comma {
                throw fail("too many declarations in \(context)", after.offset)
            }
        }
        while true {
            guard let t = peek else { throw fail("unexpected EOF") }
            if t.kind == .rightDelim || t.kind == .rightParen { break }
            pipe.commands.append(try parseCommand())
            if peek?.kind == .pipe { pos += 1; continue }
        }
        if pipe.commands.isEmpty { throw fail("missing value for \(context)") }
        let endOffset = peek?.offset ?? lexer.src.count
        pipe.source = lexer.string(pipe.offset, endOffset).trimmingTrailingSpaces()
        return pipe
    }

    mutating func parseCommand() throws(TemplateError) -> Command {
        var args: [Operand] = []
        while let t = peek {
            if t.kind == .rightDelim || t.kind == .rightParen || t.kind == .pipe { break }
            if !args.isEmpty && !t.spaced && t.kind != .leftParen { throw fail("missing space?", t.offset) }
            args.append(try parseOperand())
        }
        if args.isEmpty { throw fail("empty command") }
        return Command(args: args)
    }

    mutating func parseOperand() throws(TemplateError) -> Operand {
        let t = try next()
        var term: Operand
        switch t.kind {
        case .dot: term = .dot
        case .nilValue: term = .nilValue
        case .bool: term = .bool(t.value == "true")
        case .number: term = .number(t.value)
        case .string, .rawString: term = .string(try Parser.unquote(t))
        case .char:
            let s = try Parser.unquote(Token(kind: .string, value: "\"" + t.value.dropFirst().dropLast() + "\"", offset: t.offset))
            term = .number(String(s.unicodeScalars.first.map { Int($0.value) } ?? 0))
        case .field:
            var chain = [String(t.value.dropFirst())]
            while let f = peek, f.kind == .field, !f.spaced { chain.append(String(f.value.dropFirst())); pos += 1 }
            return .field(chain)
        case .variable:
            var chain: [String] = []
            while let f = peek, f.kind == .field, !f.spaced { chain.append(String(f.value.dropFirst())); pos += 1 }
            return .variable(t.value, chain)
        case .identifier:
            guard functions.contains(t.value) else { throw fail("function \"\(t.value)\" not defined", t.offset) }
            term = .identifier(t.value)
        case .leftParen:
            let p = try parsePipeline(context: "parenthesized pipeline")
            guard try next().kind == .rightParen else { throw fail("unclosed left paren", t.offset) }
            term = .pipeline(p)
        default:
            throw fail("unexpected \"\(t.value)\" in operand", t.offset)
        }
        var chain: [String] = []
        while let f = peek, f.kind == .field, !f.spaced { chain.append(String(f.value.dropFirst())); pos += 1 }
        return chain.isEmpty ? term : .chain(term, chain)
    }

    /// Go's strconv.Unquote for the escapes templates use.
    static func unquote(_ t: Token) throws(TemplateError) -> String {
        let body = t.value.dropFirst().dropLast()
        if t.kind == .rawString { return String(body) }
        var out = ""
        var it = body.unicodeScalars.makeIterator()
        while let c = it.next() {
            guard c == "\\" else { out.unicodeScalars.append(c); continue }
            guard let e = it.next() else { break }
            switch e {
            case "n": out += "\n"
            case "t": out += "\t"
            case "r": out += "\r"
            case "\\": out += "\\"
            case "\"": out += "\""
            case "'": out += "'"
            case "a": out += "\u{07}"
            case "b": out += "\u{08}"
            case "f": out += "\u{0C}"
            case "v": out += "\u{0B}"
            case "0"..."7":
                // Exactly three octal digits, as Go's strconv.Unquote wants (anything else after
                // the backslash once trapped in the arithmetic: found by scripts/fuzz).
                var v = e.value - 48
                for _ in 0..<2 {
                    guard let d = it.next(), ("0"..."7").contains(d) else { throw TemplateError("template: invalid syntax") }
                    v = v * 8 + d.value - 48
                }
                guard v <= 255 else { throw TemplateError("template: invalid syntax") }
                out.unicodeScalars.append(Unicode.Scalar(v) ?? "?")
            case "x", "u", "U":
                let n = e == "x" ? 2 : e == "u" ? 4 : 8
                var hex = ""
                for _ in 0..<n { if let d = it.next() { hex.unicodeScalars.append(d) } }
                guard let v = UInt32(hex, radix: 16), let s = Unicode.Scalar(v) else { throw TemplateError("template: invalid syntax") }
                out.unicodeScalars.append(s)
            default: throw TemplateError("template: invalid syntax")
            }
        }
        return out
    }
}

extension String {
    func trimmingTrailingSpaces() -> String {
        var s = Substring(self)
        while let l = s.last, l == " " || l == "\t" || l == "\n" || l == "\r" { s.removeLast() }
        return String(s)
    }
}
