/// `RUN --mount=…` as BuildKit's Dockerfile frontend reads it (a CSV of key=value): what Berth's
/// builder implements — `cache` (a directory kept between builds, by id), `secret` (a secret
/// from the client's session, never in a layer), `tmpfs`, and `bind` (read-only, from the
/// context or a stage) — and BuildKit's words for the rest.
public struct RunMount: Equatable, Sendable {
    public enum Kind: String, Sendable { case bind, cache, tmpfs, secret, ssh }
    public var kind: Kind = .bind
    public var target = ""
    public var source = ""
    public var from = ""
    public var id = ""
    public var readOnly = false
    public var required = false
    public var sharing = "shared"
    public var mode: UInt32? = nil
    public var uid: UInt32? = nil
    public var gid: UInt32? = nil
    public var env = ""
    public var size: Int64 = 0

    public struct Invalid: Error, CustomStringConvertible, Equatable {
        public let description: String
        init(_ d: String) { description = d }
    }

    public init() {}

    /// A mount flag's value (what follows `--mount=`).
    public static func parse(_ spec: String) throws(Invalid) -> RunMount {
        var m = RunMount()
        var fields: [(String, String?)] = []
        for field in spec.split(separator: ",", omittingEmptySubsequences: true) {
            // Empty pieces kept: a field "=" has an empty key (refused below), never no key at all.
            let kv = field.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            fields.append((String(kv[0]).lowercased().filter { $0 != " " }, kv.count > 1 ? String(kv[1]) : nil))
        }
        if let t = fields.first(where: { $0.0 == "type" }) {
            guard let k = Kind(rawValue: (t.1 ?? "").lowercased()) else { throw Invalid("unsupported mount type \"\(t.1 ?? "")\"") }
            m.kind = k
        }
        if m.kind == .bind || m.kind == .secret || m.kind == .ssh { m.readOnly = true }
        for (key, v) in fields where key != "type" {
            func value() throws(Invalid) -> String {
                guard let v else { throw Invalid("invalid field '\(key)' must be a key=value pair") }
                return v
            }
            func bool() throws(Invalid) -> Bool {
                guard let v else { return true }
                switch v.lowercased() {
                case "true", "1", "t": return true
                case "false", "0", "f": return false
                default: throw Invalid("invalid value for \(key): \(v)")
                }
            }
            func number(_ max: UInt32 = UInt32.max, octal: Bool = false) throws(Invalid) -> UInt32 {
                let v = try value()
                guard let n = UInt32(v, radix: octal ? 8 : 10), n <= max else { throw Invalid("invalid value for \(key): \(v)") }
                return n
            }
            switch key {
            case "target", "dst", "destination": m.target = try value()
            case "source", "src": m.source = try value()
            case "from": m.from = try value()
            case "id": m.id = try value()
            case "readonly", "ro": m.readOnly = try bool()
            case "readwrite", "rw": m.readOnly = !(try bool())
            case "required": m.required = try bool()
            case "sharing":
                let s = try value().lowercased()
                guard ["shared", "private", "locked"].contains(s) else { throw Invalid("unsupported sharing value \"\(s)\"") }
                m.sharing = s
            case "mode": m.mode = try number(0o7777, octal: true)
            case "uid": m.uid = try number()
            case "gid": m.gid = try number()
            case "env": m.env = try value()
            case "size":
                let text = try value()
                guard let n = Int64(text), n >= 0, n <= 1 << 40 else { throw Invalid("invalid value for size: \(text)") }
                m.size = n
            default: throw Invalid("unexpected key '\(key)' in '\(spec)'")
            }
        }
        if m.kind == .secret {
            if m.id.isEmpty { m.id = m.source }
            if m.id.isEmpty { m.id = m.target.split(separator: "/").last.map(String.init) ?? "" }
            guard !m.id.isEmpty else { throw Invalid("one of source, target required") }
            if m.target.isEmpty && m.env.isEmpty { m.target = "/run/secrets/" + m.id }
        } else if m.kind == .ssh {
            if m.id.isEmpty { m.id = "default" }
            if m.mode == nil { m.mode = 0o600 }
            if m.target.isEmpty { m.target = "/run/buildkit/ssh_agent.0" }
        } else {
            guard !m.target.isEmpty else { throw Invalid("mount destination not specified") }
            if m.kind == .cache && m.id.isEmpty { m.id = m.target }
        }
        if m.kind == .bind && !m.readOnly {
            throw Invalid("read-write bind mounts are not supported by Berth's builder (their writes would be discarded)")
        }
        return m
    }
}
