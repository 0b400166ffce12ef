import Glibc
import GoTemplate
import JSON
import Sys

/// json-file's options as dockerd's driver reads them when it opens a container's log, at each
/// start: the values checked with dockerd's words (a bad one fails the start, "failed to
/// initialize logging driver: …", after a create that took it), and `labels`, `labels-regex`,
/// `env`, `env-regex` and `tag` made into the `attrs` object every entry carries.
public struct JSONFileLogSettings: Equatable, Sendable {
    /// Berth rotates by default (10 MiB × 3), where Docker's json-file grows without bound.
    public var maxSize: Int64 = 10 << 20
    public var maxFiles = 3
    public var compress = false
    public var attributes: [String: String] = [:]

    /// What a log option's template and attributes are taken from (dockerd's `logger.Info`).
    public struct Subject: Sendable {
        public var id: String
        public var name: String
        public var entrypoint: String
        public var args: [String]
        public var imageID: String
        public var imageName: String
        public var created: Timestamp
        public var env: [String]
        public var labels: [String: String]
        public var logPath: String
        public var hostname: String

        public init(
            id: String, name: String, entrypoint: String, args: [String], imageID: String, imageName: String, created: Timestamp,
            env: [String], labels: [String: String], logPath: String, hostname: String
        ) {
            self.id = id; self.name = name; self.entrypoint = entrypoint; self.args = args; self.imageID = imageID
            self.imageName = imageName; self.created = created; self.env = env; self.labels = labels; self.logPath = logPath
            self.hostname = hostname
        }
    }

    public struct Failure: Error, Equatable, CustomStringConvertible {
        public let reason: String
        public var description: String { "failed to initialize logging driver: \(reason)" }
        init(_ reason: String) { self.reason = reason }
    }

    /// Far beyond real labels and env, and what the shim reads back; every entry repeats it.
    public static let maxAttributesBytes = 1 << 20

    public init() {}

    public static func resolve(_ options: [String: String], for subject: Subject) throws(Failure) -> JSONFileLogSettings {
        var s = JSONFileLogSettings()
        var sizeGiven = false
        if let text = options["max-size"] {
            guard let size = HumanSize.decimal(text) else { throw Failure("invalid size: '\(text)'") }
            guard size > 0 else { throw Failure("max-size must be a positive number") }
            s.maxSize = size
            sizeGiven = true
        }
        var filesGiven = 1
        if let text = options["max-file"] {
            guard let n = Int(text) else { throw Failure("strconv.Atoi: parsing \(GoFormat.quote(text)): invalid syntax") }
            guard n >= 1 else { throw Failure("max-file cannot be less than 1") }
            s.maxFiles = n
            filesGiven = n
        }
        if let text = options["compress"] {
            guard let on = GoStrconv.parseBool(text) else { throw Failure("strconv.ParseBool: parsing \(GoFormat.quote(text)): invalid syntax") }
            if on && (filesGiven == 1 || !sizeGiven) {
                throw Failure("compress cannot be true when max-file is less than 2 or max-size is not set")
            }
            s.compress = on
        }
        s.attributes = try extraAttributes(options, subject)
        if let tag = options["tag"], !tag.isEmpty {
            let value = try render(tag: tag, subject, options)
            if !value.isEmpty { s.attributes["tag"] = value }
        }
        if s.attributesJSON.count > maxAttributesBytes {
            throw Failure("the log attributes (labels, env, tag) take more than \(maxAttributesBytes >> 20) MiB")
        }
        return s
    }

    /// dockerd's `Info.ExtraAttributes`: the named labels and env variables, and those whose
    /// names match the regexes (the container's own values; a name it does not have is left out).
    static func extraAttributes(_ options: [String: String], _ subject: Subject) throws(Failure) -> [String: String] {
        var extra: [String: String] = [:]
        if let names = options["labels"], !names.isEmpty {
            for n in names.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
                if let v = subject.labels[n] { extra[n] = v }
            }
        }
        if let pattern = options["labels-regex"], !pattern.isEmpty {
            let re = try regex(pattern)
            for (k, v) in subject.labels where k.contains(re) { extra[k] = v }
        }
        // Compiled even for a container without env, whose error dockerd reports all the same.
        let envPattern = try options["env-regex"].flatMap { $0.isEmpty ? nil : $0 }.map { (p: String) throws(Failure) in try regex(p) }
        var env: [String: String] = [:]
        for e in subject.env {
            guard let eq = e.firstIndex(of: "=") else { continue }
            env[String(e[..<eq])] = String(e[e.index(after: eq)...])
        }
        if env.isEmpty { return extra }
        if let names = options["env"], !names.isEmpty {
            for n in names.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
                if let v = env[n] { extra[n] = v }
            }
        }
        if let re = envPattern {
            for (k, v) in env where k.contains(re) { extra[k] = v }
        }
        return extra
    }

    static func regex(_ pattern: String) throws(Failure) -> Regex<AnyRegexOutput> {
        do { return try Regex(pattern) } catch { throw Failure("error parsing regexp: \(error): `\(pattern)`") }
    }

    /// The `tag` option: a literal or a Go template over the container (dockerd's
    /// `loggerutils.ParseLogTag`, its `logger.Info` fields and methods as keys).
    static func render(tag: String, _ subject: Subject, _ options: [String: String]) throws(Failure) -> String {
        let template: GoTemplate
        do { template = try GoTemplate(tag) } catch { throw Failure(error.message) }
        var t = template
        t.missingKeyIsError = true
        let data: JSON = [
            "ID": .string(truncatedID(subject.id)), "FullID": .string(subject.id), "Name": .string(subject.name),
            "Command": .string(([subject.entrypoint] + subject.args).joined(separator: " ")),
            "ImageID": .string(truncatedID(subject.imageID)), "ImageFullID": .string(subject.imageID), "ImageName": .string(subject.imageName),
            "Hostname": .string(subject.hostname), "DaemonName": "docker",
            "ContainerID": .string(subject.id), "ContainerName": .string("/" + subject.name), "ContainerEntrypoint": .string(subject.entrypoint),
            "ContainerArgs": JSON.strings(subject.args), "ContainerImageID": .string(subject.imageID),
            "ContainerImageName": .string(subject.imageName), "ContainerCreated": .string(goTimeString(subject.created)),
            "ContainerEnv": JSON.strings(subject.env), "ContainerLabels": stringMap(subject.labels),
            "LogPath": .string(subject.logPath), "Config": stringMap(options),
        ]
        // Small bounds: this runs for every start of the container.
        do { return try t.execute(data, limits: .init(steps: 10_000, outputBytes: 64 << 10)) } catch { throw Failure(error.message) }
    }

    static func stringMap(_ d: [String: String]) -> JSON {
        var o = JSONObject()
        for (k, v) in d.sorted(by: { $0.key < $1.key }) { o[k] = .string(v) }
        return .object(o)
    }

    /// stringid.TruncateID: the algorithm's prefix dropped, 12 characters kept.
    static func truncatedID(_ id: String) -> String {
        let bare = id.firstIndex(of: ":").map { String(id[id.index(after: $0)...]) } ?? id
        return String(bare.prefix(12))
    }

    /// Go's `time.Time.String()` of a UTC time: "2006-01-02 15:04:05.999999999 +0000 UTC".
    static func goTimeString(_ t: Timestamp) -> String {
        var s = t.rfc3339Nano
        if s.hasSuffix("Z") { s.removeLast() }
        if s.contains(".") {
            while s.hasSuffix("0") { s.removeLast() }
            if s.hasSuffix(".") { s.removeLast() }
        }
        return String(s.map { $0 == "T" ? " " : $0 }) + " +0000 UTC"
    }

    /// The `attrs` object as Go's json.Marshal writes a map[string]string: keys sorted, `<`, `>`
    /// and `&` escaped as \u003c, \u003e and \u0026.
    public var attributesJSON: [UInt8] {
        guard !attributes.isEmpty else { return [] }
        var out: [UInt8] = [0x7B]
        for (i, key) in attributes.keys.sorted().enumerated() {
            if i > 0 { out.append(0x2C) }
            Self.goString(key, into: &out)
            out.append(0x3A)
            Self.goString(attributes[key] ?? "", into: &out)
        }
        out.append(0x7D)
        return out
    }

    static func goString(_ s: String, into out: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        out.append(0x22)
        for scalar in s.unicodeScalars {
            switch scalar.value {
            case 0x22: out += [0x5C, 0x22]
            case 0x5C: out += [0x5C, 0x5C]
            case 0x0A: out += [0x5C, 0x6E]
            case 0x0D: out += [0x5C, 0x72]
            case 0x09: out += [0x5C, 0x74]
            case 0..<0x20, 0x3C, 0x3E, 0x26, 0x2028, 0x2029:
                let v = Int(scalar.value)
                out += [0x5C, 0x75, hex[(v >> 12) & 15], hex[(v >> 8) & 15], hex[(v >> 4) & 15], hex[v & 15]]
            default: out += Array(String(scalar).utf8)
            }
        }
        out.append(0x22)
    }
}

/// go-units' sizes as clients write them.
public enum HumanSize {
    /// `FromHumanSize`: decimal units ("10m" is 10,000,000 bytes), an optional "b", "ib" or
    /// space; nil for anything else or beyond Int64 (Go would wrap it: refused here).
    public static func decimal(_ text: String) -> Int64? {
        let bytes = Array(text.utf8)
        guard let sep = bytes.lastIndex(where: { ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E || $0 == 0x20 }) else { return nil }
        let number = String(decoding: bytes[..<(bytes[sep] == 0x20 ? sep : sep + 1)], as: UTF8.self)
        let suffix = String(decoding: bytes[(sep + 1)...], as: UTF8.self).lowercased()
        guard number.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }), let value = Double(number), value >= 0 else { return nil }
        var multiplier = 1.0
        if !suffix.isEmpty {
            guard suffix.count <= 3 else { return nil }
            let first = suffix.first!
            if first == "b" {
                guard suffix.count == 1 else { return nil }
            } else {
                guard let exponent = "kmgtp".firstIndex(of: first).map({ "kmgtp".distance(from: "kmgtp".startIndex, to: $0) + 1 }) else { return nil }
                let rest = suffix.dropFirst()
                guard rest.isEmpty || rest == "b" || rest == "ib" else { return nil }
                for _ in 0..<exponent { multiplier *= 1000 }
            }
        }
        let size = value * multiplier
        guard size.isFinite, size < 9.2e18 else { return nil }
        return Int64(size)
    }
}
