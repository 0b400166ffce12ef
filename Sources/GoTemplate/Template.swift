import JSON

/// Go's text/template over JSON data, with the docker CLI's functions, so `--format` renders
/// what `docker … --format` renders for the same data. Foundation-free: the CLI uses it.
public struct GoTemplate: Sendable {
    /// A method on the data (`{{.Label "com.example"}}` on a `ps` row): called when an object
    /// has no key of that name.
    public typealias Method = @Sendable ([JSON]) throws(TemplateError) -> JSON

    public enum Functions: Sendable {
        /// Go's builtins plus Docker's `json split join title lower upper pad truncate`.
        case docker
        /// Docker's header variants: the string functions return their argument unchanged, so a
        /// table header shows the column name rather than, say, its upper-cased form.
        case dockerHeader
    }

    static let builtinNames: Set<String> = [
        "and", "or", "not", "len", "index", "slice", "print", "printf", "println",
        "eq", "ne", "lt", "le", "gt", "ge", "html", "js", "urlquery", "call",
    ]
    static let dockerNames: Set<String> = ["json", "split", "join", "title", "lower", "upper", "pad", "truncate"]

    let text: String
    let root: List
    let definitions: [String: List]
    public var functions: Functions = .docker
    /// Go struct field names whose JSON key differs (`ID` for `"Id"`): Docker's typed structs
    /// answer to the field name, the raw JSON to the key.
    public var fieldAliases: [String: String] = [:]
    /// Data decoded from Docker's typed structs: `index` of a missing key in a map of strings
    /// gives "" (Go's zero string) rather than a nil interface.
    public var typedMaps = false
    /// Go's `missingkey=error`: a missing map key fails instead of printing `<no value>`.
    public var missingKeyIsError = false

    public init(_ text: String) throws(TemplateError) {
        var p = try Parser(text, functions: GoTemplate.builtinNames.union(GoTemplate.dockerNames))
        self.text = text
        root = try p.parse()
        definitions = p.definitions
    }

    /// How much one execution may do before it is stopped with an error.
    public struct Limits: Sendable {
        public var steps: Int
        public var outputBytes: Int
        public init(steps: Int, outputBytes: Int) { self.steps = steps; self.outputBytes = outputBytes }
        /// Far above any real `--format` (a ps line, an inspect document), far below trouble.
        public static let standard = Limits(steps: 1_000_000, outputBytes: 8 << 20)
    }

    public func execute(_ data: JSON, methods: [String: Method] = [:], limits: Limits = .standard) throws(TemplateError) -> String {
        var state = ExecState(template: self, methods: methods, root: .json(data))
        state.limits = limits
        _ = try state.walk(.json(data), root)
        return state.out
    }
}

/// A value during execution: a JSON value, or Go's invalid value (a missing map key), which
/// prints as `<no value>` where a JSON null prints as `<nil>`.
enum Value: Equatable {
    case missing
    case json(JSON)

    var json: JSON { if case .json(let j) = self { return j }; return .null }
}

enum Flow { case normal, breakLoop, continueLoop }

struct ExecState {
    static let maxTemplateDepth = 100
    let template: GoTemplate
    let methods: [String: GoTemplate.Method]
    var vars: [(String, Value)]
    var out = ""
    var depth = 0
    /// A template may not run away: nested ranges multiply (`{{range $}}` inside itself), so the
    /// work and the output are bounded (found by fuzzing: an exponential template exhausted memory).
    var steps = 0
    var limits = GoTemplate.Limits.standard
    var position = 0
    var nodeText = ""

    init(template: GoTemplate, methods: [String: GoTemplate.Method], root: Value) {
        self.template = template
        self.methods = methods
        vars = [("$", root)]
    }

    func fail(_ msg: String) -> TemplateError {
        let before = template.text.utf8.prefix(position)
        let line = 1 + before.reduce(0) { $0 + ($1 == 10 ? 1 : 0) }
        let column = before.count - ((before.lastIndex(of: 10)).map { before.distance(from: before.startIndex, to: $0) + 1 } ?? 0)
        return TemplateError("template: :\(line):\(column): executing \"\" at <\(nodeText)>: \(msg)")
    }

    mutating func walk(_ dot: Value, _ list: List) throws(TemplateError) -> Flow {
        for node in list {
            let flow = try walk(dot, node)
            if flow != .normal { return flow }
        }
        return .normal
    }

    mutating func walk(_ dot: Value, _ node: Node) throws(TemplateError) -> Flow {
        try step()
        switch node {
        case .text(let t):
            try emit(t)
        case .action(let pipe, _):
            let v = try evalPipeline(dot, pipe)
            if pipe.decls.isEmpty { try emit(try printable(v)) }
        case .ifNode(let pipe, let body, let elseList), .with(let pipe, let body, let elseList):
            let mark = vars.count
            defer { vars.removeSubrange(mark...) }
            let v = try evalPipeline(dot, pipe)
            let isWith: Bool
            if case .with = node { isWith = true } else { isWith = false }
            if truth(v) { return try walk(isWith ? v : dot, body) }
            if let elseList { return try walk(dot, elseList) }
        case .range(let pipe, let body, let elseList):
            return try walkRange(dot, pipe, body, elseList)
        case .template(let name, let pipe, _):
            guard let body = template.definitions[name] else { throw fail("template \"\(name)\" not defined") }
            depth += 1
            defer { depth -= 1 }
            // Go allows 100000 nested calls; Swift's frames are larger and a client's thread stack
            // may be 512 KiB: a `{{block}}` that calls itself overflowed the stack (found by
            // fuzzing). No real format nests templates anywhere near this.
            guard depth <= ExecState.maxTemplateDepth else {
                throw fail("exceeded maximum template depth (\(ExecState.maxTemplateDepth))")
            }
            let newDot = try pipe.map { (p) throws(TemplateError) in try evalPipeline(dot, p) } ?? .missing
            let saved = vars
            vars = [("$", newDot)]
            defer { vars = saved }
            _ = try walk(newDot, body)
        case .breakLoop: return .breakLoop
        case .continueLoop: return .continueLoop
        }
        return .normal
    }

    mutating func step() throws(TemplateError) {
        steps += 1
        if steps > limits.steps { throw fail("template execution exceeded \(limits.steps) steps") }
    }

    mutating func emit(_ text: String) throws(TemplateError) {
        guard out.utf8.count + text.utf8.count <= limits.outputBytes else {
            throw fail("template output exceeds \(limits.outputBytes) bytes")
        }
        out += text
    }

    mutating func walkRange(_ dot: Value, _ pipe: Pipeline, _ body: List, _ elseList: List?) throws(TemplateError) -> Flow {
        let mark = vars.count
        defer { vars.removeSubrange(mark...) }
        let v = try evalPipeline(dot, pipe)
        // The pipeline pushed its declarations; each iteration rebinds them.
        var items: [(Value, Value)] = []
        switch v {
        case .json(.array(let a)): items = a.enumerated().map { (.json(.int(Int64($0.offset))), .json($0.element)) }
        case .json(.object(let o)): items = o.keys.sorted().map { (.json(.string($0)), .json(o[$0]!)) }
        case .json(.int(let n)):
            if pipe.decls.count > 1 { throw fail("can't use \(n) to iterate over more than one variable") }
            // Iterated without materialising 0..<n (a huge n is bounded by the step budget).
            if n <= 0 {
                if let elseList { return try walk(dot, elseList) }
                return .normal
            }
            for i in 0..<n {
                try step()
                let inner = vars.count
                if pipe.decls.count == 1 { setVar(pipe.decls[0], .json(.int(i))) }
                let flow = try walk(.json(.int(i)), body)
                vars.removeSubrange(inner...)
                if flow == .breakLoop { break }
            }
            return .normal
        case .json(.null), .missing: break
        default: throw fail("range can't iterate over \(GoFormat.value(v))")
        }
        if items.isEmpty {
            if let elseList { return try walk(dot, elseList) }
            return .normal
        }
        for (key, elem) in items {
            try step()
            let inner = vars.count
            if pipe.decls.count == 1 { setVar(pipe.decls[0], elem) }
            if pipe.decls.count == 2 { setVar(pipe.decls[0], key); setVar(pipe.decls[1], elem) }
            let flow = try walk(elem, body)
            vars.removeSubrange(inner...)
            if flow == .breakLoop { break }
        }
        return .normal
    }

    /// Rebinds the innermost variable of that name (declarations already pushed one).
    mutating func setVar(_ name: String, _ v: Value) {
        if let i = vars.lastIndex(where: { $0.0 == name }) { vars[i].1 = v }
    }

    func lookupVar(_ name: String) throws(TemplateError) -> Value {
        guard let v = vars.last(where: { $0.0 == name }) else { throw fail("undefined variable: \(name)") }
        return v.1
    }

    mutating func evalPipeline(_ dot: Value, _ pipe: Pipeline) throws(TemplateError) -> Value {
        let savedText = nodeText, savedPos = position
        nodeText = pipe.source
        position = pipe.offset
        defer { nodeText = savedText; position = savedPos }
        var value: Value? = nil
        for cmd in pipe.commands { value = try evalCommand(dot, cmd, final: value) }
        let result = value ?? .missing
        for name in pipe.decls {
            if pipe.isAssign {
                guard vars.contains(where: { $0.0 == name }) else { throw fail("undefined variable: \(name)") }
                setVar(name, result)
            } else {
                vars.append((name, result))
            }
        }
        return result
    }

    mutating func evalCommand(_ dot: Value, _ cmd: Command, final: Value?) throws(TemplateError) -> Value {
        let first = cmd.args[0]
        let rest = Array(cmd.args.dropFirst())
        switch first {
        case .field(let chain): return try evalChain(dot, receiver: dot, chain, args: rest, final: final)
        case .variable(let name, let chain):
            let v = try lookupVar(name)
            if chain.isEmpty { try noArgs(rest, final, name); return v }
            return try evalChain(dot, receiver: v, chain, args: rest, final: final)
        case .chain(let term, let chain):
            let v = try evalArg(dot, term)
            return try evalChain(dot, receiver: v, chain, args: rest, final: final)
        case .identifier(let name): return try callFunction(name, dot, rest, final: final)
        case .pipeline(let p):
            try noArgs(rest, final, "(\(p.source))")
            return try evalPipeline(dot, p)
        case .nilValue:
            throw fail("nil is not a command")
        default:
            try noArgs(rest, final, GoFormat.value(try evalArg(dot, first)))
            return try evalArg(dot, first)
        }
    }

    func noArgs(_ args: [Operand], _ final: Value?, _ what: String) throws(TemplateError) {
        if !args.isEmpty || final != nil { throw fail("can't give argument to non-function \(what)") }
    }

    mutating func evalArg(_ dot: Value, _ arg: Operand) throws(TemplateError) -> Value {
        switch arg {
        case .dot: return dot
        case .nilValue: return .json(.null)
        case .bool(let b): return .json(.bool(b))
        case .string(let s): return .json(.string(s))
        case .number(let text): return .json(try GoFormat.number(text))
        case .field(let chain): return try evalChain(dot, receiver: dot, chain, args: [], final: nil)
        case .variable(let name, let chain):
            let v = try lookupVar(name)
            return chain.isEmpty ? v : try evalChain(dot, receiver: v, chain, args: [], final: nil)
        case .chain(let term, let chain): return try evalChain(dot, receiver: try evalArg(dot, term), chain, args: [], final: nil)
        case .identifier(let name): return try callFunction(name, dot, [], final: nil)
        case .pipeline(let p): return try evalPipeline(dot, p)
        }
    }

    mutating func evalChain(_ dot: Value, receiver: Value, _ chain: [String], args: [Operand], final: Value?) throws(TemplateError) -> Value {
        var r = receiver
        for (i, name) in chain.enumerated() {
            let last = i == chain.count - 1
            r = try field(dot, r, name, args: last ? args : [], final: last ? final : nil)
        }
        return r
    }

    mutating func field(_ dot: Value, _ receiver: Value, _ name: String, args: [Operand], final: Value?) throws(TemplateError) -> Value {
        switch receiver {
        case .missing:
            if template.missingKeyIsError { throw fail("nil data; no entry for key \"\(name)\"") }
            return .missing
        case .json(.object(let o)):
            if let v = o[name] {
                if !args.isEmpty || final != nil { throw fail("\(name) is not a method but has arguments") }
                return .json(v)
            }
            if let alias = template.fieldAliases[name], let v = o[alias] {
                if !args.isEmpty || final != nil { throw fail("\(name) is not a method but has arguments") }
                return .json(v)
            }
            if let m = methods[name] {
                var values: [JSON] = []
                for a in args { values.append(try evalArg(dot, a).json) }
                if let final { values.append(final.json) }
                return .json(try m(values))
            }
            if template.missingKeyIsError { throw fail("map has no entry for key \"\(name)\"") }
            return .missing
        case .json(.null): throw fail("nil pointer evaluating interface {}.\(name)")
        case .json(let j): throw fail("can't evaluate field \(name) in type \(GoFormat.typeName(j))")
        }
    }

    mutating func callFunction(_ name: String, _ dot: Value, _ argOps: [Operand], final: Value?) throws(TemplateError) -> Value {
        // `and` and `or` evaluate their arguments only as far as needed.
        if name == "and" || name == "or" {
            var ops = argOps.map { Optional($0) }
            if final != nil { ops.append(nil) }
            guard !ops.isEmpty else { throw fail("wrong number of args for \(name): want at least 1 got 0") }
            var v: Value = .missing
            for op in ops {
                v = try op.map { (o) throws(TemplateError) in try evalArg(dot, o) } ?? final!
                if truth(v) != (name == "and") { return v }
            }
            return v
        }
        var args: [Value] = []
        for a in argOps { args.append(try evalArg(dot, a)) }
        if let final { args.append(final) }
        do {
            return try Functions.call(name, args, header: template.functions == .dockerHeader, typedMaps: template.typedMaps)
        } catch {
            throw fail("error calling \(name): \(error.message)")
        }
    }

    func truth(_ v: Value) -> Bool { Functions.truth(v) }

    func printable(_ v: Value) throws(TemplateError) -> String {
        // Go prints an invalid value and a nil interface alike at the top level.
        if case .missing = v { return "<no value>" }
        if case .json(.null) = v { return "<no value>" }
        return GoFormat.value(v)
    }
}
