import Glibc
/// pflag-style parsing as the docker CLI does it: `--name x`, `--name=x`, `-e K=V`, `-eK=V`,
/// combined short booleans (`-dit`), `--rm=false`, `--`; for run/create, options stop at the
/// image name so the container's own arguments pass through untouched.
public struct FlagSpec: Sendable {
    let names: [String]  // "-e", "--env"
    let takesValue: Bool
    init(_ names: String..., value: Bool = false) { self.names = names; self.takesValue = value }
    var key: String { names.last!.trimmingDashes }
}

public struct CLIError: Error, CustomStringConvertible {
    public let description: String
    public let code: Int32
    init(_ d: String, code: Int32 = 1) { description = d; self.code = code }
}

public struct Flags {
    var values: [String: [String]] = [:]
    public var positionals: [String] = []

    public func has(_ key: String) -> Bool { bool(key) }
    public func bool(_ key: String) -> Bool {
        guard let v = values[key]?.last else { return false }
        return v != "false" && v != "0"
    }
    public func string(_ key: String) -> String? { values[key]?.last }

    /// `--platform`, or what the docker CLI takes when it is not given: `DOCKER_DEFAULT_PLATFORM`.
    /// Empty (given so, or inherited) asks for none.
    public func platform(default inherited: String? = getenv("DOCKER_DEFAULT_PLATFORM").map { String(cString: $0) }) -> String? {
        let p = string("platform") ?? inherited ?? ""
        return p.isEmpty ? nil : p
    }
    public func list(_ key: String) -> [String] { values[key] ?? [] }
    public func int(_ key: String) throws -> Int? {
        guard let s = string(key) else { return nil }
        guard let n = Int(s) else { throw CLIError("invalid argument \"\(s)\" for \"--\(key)\" flag: strconv.ParseInt: parsing \"\(s)\": invalid syntax") }
        return n
    }

    public static func parse(_ args: [String], _ specs: [FlagSpec], stopAtPositional: Bool = false) throws -> Flags {
        var f = Flags()
        var table: [String: FlagSpec] = [:]
        for s in specs { for n in s.names { table[n] = s } }
        var i = 0
        while i < args.count {
            let a = args[i]
            i += 1
            if a == "--" { f.positionals += args[i...]; break }
            if a.hasPrefix("--") {
                var name = a, inline: String? = nil
                if let eq = a.firstIndex(of: "=") { name = String(a[..<eq]); inline = String(a[a.index(after: eq)...]) }
                guard let spec = table[name] else { throw CLIError("unknown flag: \(name)") }
                if spec.takesValue {
                    guard let v = inline ?? (i < args.count ? args[i] : nil) else { throw CLIError("flag needs an argument: \(name)") }
                    if inline == nil { i += 1 }
                    f.values[spec.key, default: []].append(v)
                } else {
                    f.values[spec.key, default: []].append(inline ?? "true")
                }
            } else if a.hasPrefix("-") && a.count > 1 {
                var chars = Array(a.dropFirst())
                while !chars.isEmpty {
                    let c = chars.removeFirst()
                    guard let spec = table["-" + String(c)] else { throw CLIError("unknown shorthand flag: '\(c)' in \(a)") }
                    if spec.takesValue {
                        var v = String(chars)
                        if v.hasPrefix("=") { v.removeFirst() }
                        if v.isEmpty {
                            guard i < args.count else { throw CLIError("flag needs an argument: '\(c)' in -\(c)") }
                            v = args[i]; i += 1
                        }
                        f.values[spec.key, default: []].append(v)
                        chars = []
                    } else if chars.first == "=" {
                        f.values[spec.key, default: []].append(String(chars.dropFirst()))  // -H=false
                        chars = []
                    } else {
                        f.values[spec.key, default: []].append("true")
                    }
                }
            } else {
                f.positionals.append(a)
                if stopAtPositional { f.positionals += args[i...]; break }
            }
        }
        return f
    }
}

extension String {
    var trimmingDashes: String { var s = Substring(self); while s.first == "-" { s.removeFirst() }; return String(s) }
}
