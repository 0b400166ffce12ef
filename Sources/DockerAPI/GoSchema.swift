import JSON

/// The Go types of the Engine API's request structs, enough to check a body the way Go's
/// encoding/json decodes it into them: a value of the wrong JSON kind, or a number that does
/// not fit the field, is refused with the decoder's own words (clients and people compare
/// them); unknown fields and `null` anywhere are accepted, as Go accepts them.
public indirect enum GoType: Sendable {
    case string, bool, float64
    case int(String)  // Go's name: int, int64, uint16, …
    case strSlice  // Docker's StrSlice: a string or a list of strings
    case slice(GoType)
    case array(GoType)  // a fixed-size Go array
    case map(GoType)
    case object(String, [String: GoType])  // struct name, fields
    case any

    var goName: String {
        switch self {
        case .string: return "string"
        case .bool: return "bool"
        case .float64: return "float64"
        case .int(let n): return n
        case .strSlice: return "strslice.StrSlice"
        case .slice(let e): return "[]" + e.goName
        case .array(let e): return "[2]" + e.goName
        case .map(let e): return "map[string]" + e.goName
        case .object(let n, _): return n
        case .any: return "interface {}"
        }
    }

    static func range(_ name: String) -> ClosedRange<Double>? {
        switch name {
        case "int", "int64": return Double(Int64.min)...Double(Int64.max)
        case "int32": return Double(Int32.min)...Double(Int32.max)
        case "int16": return Double(Int16.min)...Double(Int16.max)
        case "uint16": return 0...Double(UInt16.max)
        case "uint32": return 0...Double(UInt32.max)
        case "uint64", "uint": return 0...Double(UInt64.max)
        case "uint8": return 0...Double(UInt8.max)
        default: return nil
        }
    }
}

public struct GoDecodeError: Error, Sendable, CustomStringConvertible {
    public let description: String
}

public enum GoSchema {
    /// Checks `value` against `type`; `structName` and `path` name the field as Go's errors do
    /// (`HostConfig.HostConfig.Memory`: the innermost struct, then the path from the top).
    public static func check(_ value: JSON, _ type: GoType, structName: String, path: [String]) throws(GoDecodeError) {
        if value.isNull { return }
        func fail(_ kind: String) -> GoDecodeError {
            GoDecodeError(
                description: "json: cannot unmarshal \(kind) into Go struct field \(structName).\(path.joined(separator: ".")) of type \(type.goName)")
        }
        switch type {
        case .any: return
        case .string:
            guard value.string != nil else { throw fail(kind(value)) }
        case .bool:
            guard value.bool != nil else { throw fail(kind(value)) }
        case .float64:
            guard value.int != nil || value.double != nil else { throw fail(kind(value)) }
        case .int(let name):
            if let i = value.int {
                if let r = GoType.range(name), !r.contains(Double(i)) { throw fail("number \(i)") }
            } else if let d = value.double {
                let text = d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : "\(d)"
                guard d == d.rounded(), let r = GoType.range(name), r.contains(d) else { throw fail("number \(text)") }
            } else {
                throw fail(kind(value))
            }
        case .strSlice:
            if value.string != nil { return }
            // StrSlice's decoder tries a string last: Go reports that type.
            guard let a = value.array else {
                throw GoDecodeError(
                    description: "json: cannot unmarshal \(kind(value)) into Go struct field \(structName).\(path.joined(separator: ".")) of type string")
            }
            for e in a where !e.isNull && e.string == nil {
                throw GoDecodeError(
                    description: "json: cannot unmarshal \(kind(e)) into Go struct field \(structName).\(path.joined(separator: ".")) of type string")
            }
        case .slice(let elem), .array(let elem):
            guard let a = value.array else { throw fail(kind(value)) }
            for e in a { try check(e, elem, structName: structName, path: path) }
        case .map(let elem):
            guard let o = value.object else { throw fail(kind(value)) }
            for (_, v) in o { try check(v, elem, structName: structName, path: path) }
        case .object(let name, let fields):
            guard let o = value.object else { throw fail(kind(value)) }
            var lower: [String: (String, GoType)] = [:]
            for (k, t) in fields { lower[k.lowercased()] = (k, t) }
            for (k, v) in o {
                guard let (field, t) = lower[k.lowercased()] else { continue }
                // Go names the struct holding the field, then the path from the top.
                try check(v, t, structName: name, path: path + [field])
            }
        }
    }

    static func kind(_ v: JSON) -> String {
        switch v {
        case .string: return "string"
        case .bool: return "bool"
        case .array: return "array"
        case .object: return "object"
        case .null: return "null"
        default: return "number"
        }
    }
}
