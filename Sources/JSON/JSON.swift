/// A JSON value whose objects keep their key order, so the shapes we emit match Docker's
/// field order (users see it: `docker inspect` re-indents the daemon's bytes as they come).
/// Foundation-free on purpose: the CLI and the shim use it and must start fast.
public enum JSON: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSON])
    case object(JSONObject)

    public subscript(key: String) -> JSON {
        get { if case .object(let o) = self { return o[key] ?? .null }; return .null }
        set {
            if case .object(var o) = self {
                o[key] = newValue; self = .object(o)
            } else if case .null = self {
                var o = JSONObject(); o[key] = newValue; self = .object(o)
            }
        }
    }
    public subscript(index: Int) -> JSON {
        if case .array(let a) = self, index >= 0, index < a.count { return a[index] }
        return .null
    }

    public var isNull: Bool { if case .null = self { return true }; return false }
    public var string: String? { if case .string(let s) = self { return s }; return nil }
    public var bool: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var int: Int64? {
        switch self {
        case .int(let i): return i
        case .double(let d) where d == d.rounded() && abs(d) < 9.2e18: return Int64(d)
        default: return nil
        }
    }
    public var double: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }
    public var array: [JSON]? { if case .array(let a) = self { return a }; return nil }
    public var object: JSONObject? { if case .object(let o) = self { return o }; return nil }
    /// `["a","b"]` as Swift strings; nil when absent or not an array of strings.
    public var stringArray: [String]? {
        guard case .array(let a) = self else { return nil }
        var out: [String] = []
        for v in a { guard let s = v.string else { return nil }; out.append(s) }
        return out
    }
    /// `{"k":"v"}` as a Swift dictionary of strings.
    public var stringMap: [String: String]? {
        guard case .object(let o) = self else { return nil }
        var out: [String: String] = [:]
        for (k, v) in o { if let s = v.string { out[k] = s } }
        return out
    }

    /// This object with its keys in Go's map order (sorted); other values unchanged.
    public func sortingKeys() -> JSON {
        guard case .object(let o) = self else { return self }
        var sorted = JSONObject()
        for k in o.keys.sorted() { sorted[k] = o[k] }
        return .object(sorted)
    }

    public static func strings(_ list: [String]?) -> JSON {
        guard let list else { return .null }
        return .array(list.map { .string($0) })
    }
    public static func stringMap(_ map: [String: String]?, sorted: Bool = true) -> JSON {
        guard let map else { return .null }
        var o = JSONObject()
        for k in (sorted ? map.keys.sorted() : Array(map.keys)) { o[k] = .string(map[k]!) }
        return .object(o)
    }
}

extension JSON: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral, ExpressibleByFloatLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSON...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSON)...) {
        var o = JSONObject()
        for (k, v) in elements { o[k] = v }
        self = .object(o)
    }
    public init(nilLiteral: ()) { self = .null }
    public init(floatLiteral value: Double) { self = .double(value) }
}

/// An insertion-ordered string-keyed map. Entries live in an array: Docker's objects have a few
/// dozen keys at most, where comparing keys beats hashing them (a `ps` of 100 containers spent
/// most of its time hashing). Objects that grow large get a hash index as well.
public struct JSONObject: Sendable, Equatable, Sequence {
    private var entries: [Entry] = []
    private var index: [String: Int]? = nil
    private static let indexThreshold = 32

    private struct Entry: Sendable, Equatable {
        var key: String
        var value: JSON
    }

    public init() {}
    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }
    public var keys: [String] { entries.map(\.key) }

    private func position(_ key: String) -> Int? {
        if let index { return index[key] }
        return entries.firstIndex { $0.key == key }
    }

    public subscript(key: String) -> JSON? {
        get { position(key).map { entries[$0].value } }
        set {
            if let newValue {
                if let p = position(key) {
                    entries[p].value = newValue
                } else {
                    entries.append(Entry(key: key, value: newValue))
                    if index != nil { index![key] = entries.count - 1 } else if entries.count > Self.indexThreshold { rebuildIndex() }
                }
            } else if let p = position(key) {
                entries.remove(at: p)
                if index != nil { rebuildIndex() }
            }
        }
    }

    private mutating func rebuildIndex() {
        var ix: [String: Int] = [:]
        ix.reserveCapacity(entries.count)
        for (i, e) in entries.enumerated() { ix[e.key] = i }
        index = ix
    }

    public static func == (a: JSONObject, b: JSONObject) -> Bool { a.entries == b.entries }

    public func makeIterator() -> AnyIterator<(String, JSON)> {
        var i = 0
        let entries = self.entries
        return AnyIterator {
            guard i < entries.count else { return nil }
            defer { i += 1 }
            return (entries[i].key, entries[i].value)
        }
    }
}

extension JSON {
    /// Go's encoding/json matches a body's keys to struct fields without regard to case
    /// (`detachKeys` fills `DetachKeys`), and clients rely on it. This renames the keys of an
    /// object that match one of `fields` case-insensitively to the field's spelling; the exact
    /// spelling wins when both are present, as it does in Go.
    public func canonicalizingKeys(_ fields: [String]) -> JSON {
        guard case .object(let o) = self else { return self }
        var byLower: [String: String] = [:]
        for f in fields { byLower[f.lowercased()] = f }
        var out = JSONObject()
        for (k, v) in o {
            guard let canonical = byLower[k.lowercased()], canonical != k else { continue }
            if o[canonical] == nil, out[canonical] == nil { out[canonical] = v }
        }
        for (k, v) in o where byLower[k.lowercased()] == nil || byLower[k.lowercased()] == k { out[k] = v }
        return .object(out)
    }
}

extension JSON {
    /// The object with `pairs` placed right after `key` (at the end when absent): Go's field
    /// order for optional fields such as `SizeRw`.
    public func inserting(_ pairs: [(String, JSON)], after key: String) -> JSON {
        guard case .object(let o) = self else { return self }
        var out = JSONObject()
        var placed = false
        for (k, v) in o {
            out[k] = v
            if k == key {
                for (pk, pv) in pairs { out[pk] = pv }
                placed = true
            }
        }
        if !placed { for (pk, pv) in pairs { out[pk] = pv } }
        return .object(out)
    }
}

extension JSON {
    /// The object without `key` (assigning `nil` through the subscript stores a JSON null).
    public func removing(_ key: String) -> JSON {
        guard case .object(var o) = self else { return self }
        o[key] = nil as JSON?
        return .object(o)
    }
}
