import JSON

/// A typed Engine API value: read from a body that `GoSchema` has already checked (so reading
/// is lenient: a missing or null field takes Go's zero value) and written back in the field
/// order of moby's Go struct, with `omitempty` where the struct has it.
public protocol GoJSONValue: Sendable, Equatable {
    init(json: JSON)
    var json: JSON { get }
}

/// Builds an object in Go's field order.
struct GoObjectWriter {
    var object = JSONObject()

    mutating func put(_ key: String, _ value: JSON) { object[key] = value }

    /// Go's `omitempty`: false, 0, "", and nil or empty slices and maps are left out.
    mutating func omitEmpty(_ key: String, _ value: JSON) {
        switch value {
        case .null: return
        case .bool(false), .int(0), .string(""): return
        case .double(let d) where d == 0: return
        case .array(let a) where a.isEmpty: return
        case .object(let o) where o.isEmpty: return
        default: object[key] = value
        }
    }

    var json: JSON { .object(object) }
}

extension JSON {
    /// Docker's StrSlice: a string or a list of strings (a string is a one-element list).
    var strSlice: [String]? {
        if let s = string { return [s] }
        return stringArray
    }

    /// A Go map of string to `T` (nil when absent), for typed maps.
    func map<T>(_ read: (JSON) -> T) -> [String: T]? {
        guard let o = object else { return nil }
        var out: [String: T] = [:]
        for (k, v) in o { out[k] = read(v) }
        return out
    }

    /// A Go slice of `T` (nil when absent or null).
    func list<T>(_ read: (JSON) -> T) -> [T]? { array?.map(read) }

    /// Go's int-sized fields: the schema check has already refused what does not fit.
    var goInt: Int { Int(clamping: int ?? 0) }
    var goInt64: Int64 { int ?? 0 }
    var goUInt64: UInt64 { UInt64(clamping: int ?? 0) }
}

/// Encoding helpers: Go marshals maps with their keys sorted.
enum GoEncode {
    static func strings(_ list: [String]?) -> JSON { JSON.strings(list) }
    static func stringMap(_ map: [String: String]?) -> JSON { JSON.stringMap(map, sorted: true) }
    static func list<T: GoJSONValue>(_ list: [T]?) -> JSON { list.map { .array($0.map(\.json)) } ?? .null }
    static func map<T>(_ map: [String: T]?, _ write: (T) -> JSON) -> JSON {
        guard let map else { return .null }
        var o = JSONObject()
        for k in map.keys.sorted() { o[k] = write(map[k]!) }
        return .object(o)
    }
    /// A Go `map[string]struct{}` (ExposedPorts, Volumes): keys only, values `{}`.
    static func set(_ keys: [String]?) -> JSON {
        guard let keys else { return .null }
        var o = JSONObject()
        for k in keys.sorted() { o[k] = .object(JSONObject()) }
        return .object(o)
    }
}
