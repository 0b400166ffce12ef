/// An Engine API version (`1.41`), from the request's path prefix; unversioned requests get the
/// newest. Behaviour that changed between versions is keyed on it, so old clients keep theirs.
public struct APIVersion: Comparable, Sendable, CustomStringConvertible {
    public let major: Int
    public let minor: Int
    public init(major: Int, minor: Int) { self.major = major; self.minor = minor }

    /// `1.41`; nil for anything else (numbers are range-checked: a path is hostile input).
    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.count <= 4 && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
            let a = Int(parts[0]), let b = Int(parts[1])
        else { return nil }
        major = a
        minor = b
    }

    public var description: String { "\(major).\(minor)" }
    public static func < (a: APIVersion, b: APIVersion) -> Bool { (a.major, a.minor) < (b.major, b.minor) }

    public static let v1_24 = APIVersion(major: 1, minor: 24)
    public static let v1_41 = APIVersion(major: 1, minor: 41)
    public static let v1_42 = APIVersion(major: 1, minor: 42)
    public static let v1_44 = APIVersion(major: 1, minor: 44)
    /// What berthd reports (Docker 25's API) and assumes for unversioned requests.
    public static let current = v1_44
    public static let minimum = v1_24
}
