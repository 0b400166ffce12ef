import GoTemplate
import JSON

/// One value a template renders, with the methods it offers (`.Label "x"` on a ps row).
struct FormatRow {
    var data: JSON
    var methods: [String: GoTemplate.Method]
    init(_ data: JSON, methods: [String: GoTemplate.Method] = [:]) { self.data = data; self.methods = methods }
}

/// `--format` the way the docker CLI's formatter package applies it: `table …` renders a header
/// row through Docker's header functions and aligns columns with the tabwriter; `json` means
/// `{{json .}}`; `\t` and `\n` written literally in the flag become tabs and newlines.
struct Formatter {
    let format: String
    /// Column titles by field name (`"ID": "CONTAINER ID"`), for `table` formats.
    var header: JSON = [:]
    var aliases: [String: String] = [:]

    var isTable: Bool { format.hasPrefix("table") }

    /// formatter.Format.templateString
    var templateString: String {
        if format == "json" { return "{{json .}}" }
        var t = Substring(format)
        if t.hasPrefix("table") { t = t.dropFirst(5) }
        while t.first == " " { t.removeFirst() }
        while t.last == " " { t.removeLast() }
        return String(t).replacing("\\t", with: "\t").replacing("\\n", with: "\n")
    }

    func render(_ rows: [JSON]) throws -> String { try render(rows.map { FormatRow($0) }) }

    /// A template over data decoded from Docker's typed structs, failing in the CLI's words
    /// (`parseCode`: the exit status of a template that does not parse).
    static func template(_ text: String, aliases: [String: String], parseCode: Int32 = 1) throws -> GoTemplate {
        var t: GoTemplate
        do { t = try GoTemplate(text) } catch { throw CLIError("template parsing error: \(error.message)", code: parseCode) }
        t.typedMaps = true
        t.fieldAliases = aliases
        return t
    }

    static func execute(_ t: GoTemplate, _ data: JSON, methods: [String: GoTemplate.Method] = [:]) throws -> String {
        do { return try t.execute(data, methods: methods) + "\n" } catch { throw CLIError("template parsing error: \(error.message)") }
    }

    func render(_ rows: [FormatRow]) throws -> String {
        let template = try Formatter.template(templateString, aliases: aliases)
        var body = ""
        for row in rows { body += try Formatter.execute(template, row.data, methods: row.methods) }
        guard isTable else { return body }
        var headerTemplate = template
        headerTemplate.functions = .dockerHeader
        let labelHeader: GoTemplate.Method = { args throws(TemplateError) in
            let name = args.first?.string ?? ""
            return .string(
                String(name.split(separator: ".", omittingEmptySubsequences: false).last ?? "")
                    .replacing("-", with: " ").replacing("_", with: " "))
        }
        let head = (try? headerTemplate.execute(header, methods: ["Label": labelHeader])) ?? ""
        return TabWriter().format(head + "\n" + body)
    }

    func print(_ rows: [JSON]) throws { Out.raw(1, Array(try render(rows).utf8)) }
    func print(_ rows: [FormatRow]) throws { Out.raw(1, Array(try render(rows).utf8)) }

    /// `info`/`version --format`: the template over one value, then a newline.
    static func plain(_ format: String, _ data: JSON, aliases: [String: String] = [:]) throws -> String {
        if format == "json" { return data.serialized() + "\n" }
        return try Formatter.execute(try Formatter.template(format, aliases: aliases), data)
    }

    /// `inspect --format`: the template as written (no `table`, no `\t` replacement); Go's
    /// `missingkey=error` as the CLI's fallback over the raw JSON uses.
    static func inspect(_ format: String, _ items: [JSON]) throws -> String {
        if format == "json" { return JSON.array(items).serialized() + "\n" }
        var template = try Formatter.template(format, aliases: ["ID": "Id"], parseCode: 64)
        template.missingKeyIsError = true
        return try items.map { try Formatter.execute(template, $0) }.joined()
    }
}
