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

    func render(_ rows: [FormatRow]) throws -> String {
        var template: GoTemplate
        do { template = try GoTemplate(templateString) } catch { throw CLIError("template parsing error: \(error.message)") }
        template.typedMaps = true
        template.fieldAliases = aliases
        var body = ""
        for row in rows {
            do { body += try template.execute(row.data, methods: row.methods) + "\n" } catch { throw CLIError("template parsing error: \(error.message)") }
        }
        guard isTable else { return body }
        var headerTemplate = template
        headerTemplate.functions = .dockerHeader
        let labelHeader: GoTemplate.Method = { args throws(TemplateError) in
            let name = args.first?.string ?? ""
            return .string(String(name.split(separator: ".", omittingEmptySubsequences: false).last ?? "")
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
        var template: GoTemplate
        do { template = try GoTemplate(format) } catch { throw CLIError("template parsing error: \(error.message)") }
        template.typedMaps = true
        template.fieldAliases = aliases
        do { return try template.execute(data) + "\n" } catch { throw CLIError("template parsing error: \(error.message)") }
    }

    /// `inspect --format`: the template as written (no `table`, no `\t` replacement); Go's
    /// `missingkey=error` as the CLI's fallback over the raw JSON uses.
    static func inspect(_ format: String, _ items: [JSON]) throws -> String {
        if format == "json" { return JSON.array(items).serialized() + "\n" }
        var template: GoTemplate
        do { template = try GoTemplate(format) } catch { throw CLIError("template parsing error: \(error.message)", code: 64) }
        template.missingKeyIsError = true
        template.typedMaps = true
        template.fieldAliases = ["ID": "Id"]
        var out = ""
        for item in items {
            do { out += try template.execute(item) + "\n" } catch { throw CLIError("template parsing error: \(error.message)") }
        }
        return out
    }
}
