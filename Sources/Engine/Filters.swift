import Glibc
import Sys

/// A prune's `label` and `label!` filters, as dockerd's prunes apply them: every `label` entry
/// must match, and a resource that matches every `label!` entry is kept. An entry is `key` (the
/// label is set, any value) or `key=value`. `label!` was ignored: `container prune --filter
/// label!=keep` removed the containers it was meant to keep.
public struct LabelFilter: Sendable, Equatable {
    public var include: [String] = []
    public var exclude: [String] = []

    public init(include: [String] = [], exclude: [String] = []) {
        self.include = include
        self.exclude = exclude
    }

    public func matches(_ labels: [String: String]) -> Bool {
        if !LabelFilter.matchesAll(include, labels) { return false }
        if !exclude.isEmpty && LabelFilter.matchesAll(exclude, labels) { return false }
        return true
    }

    /// Go's `filters.Args.MatchKVList`: true with no entries; else every entry matches.
    static func matchesAll(_ entries: [String], _ labels: [String: String]) -> Bool {
        if entries.isEmpty { return true }
        if labels.isEmpty { return false }
        for entry in entries {
            let parts = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let value = labels[String(parts[0])] else { return false }
            if parts.count == 2 && value != parts[1] { return false }
        }
        return true
    }
}

/// `GET /images/json`'s filters besides `all`, as dockerd's image list applies them.
public struct ImageListFilter: Sendable {
    public var dangling: Bool? = nil
    public var references: [String] = []
    public var labels: [String] = []
    /// Images created before all of these (`before=<image>`) or after all of these (`since=<image>`).
    public var before: [String] = []
    public var since: [String] = []
    /// Images created before all of these times (`until`).
    public var until: [Timestamp] = []
    public init() {}
}

/// An `os[/arch[/variant]]` platform as clients give it (containerd's `platforms.Parse`, for
/// the names in use): lower-cased, common aliases normalised, anything else refused.
public struct PlatformSpec: Sendable, Equatable, CustomStringConvertible {
    public var os: String
    public var architecture: String
    public var variant = ""

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    static let systems: Set<String> = [
        "linux", "windows", "darwin", "freebsd", "netbsd", "openbsd", "solaris", "illumos", "aix", "plan9", "android", "ios", "js", "wasip1", "dragonfly",
    ]
    static let architectures: [String: (String, String)] = [
        "amd64": ("amd64", ""), "x86_64": ("amd64", ""), "x86-64": ("amd64", ""), "386": ("386", ""), "i386": ("386", ""),
        "arm64": ("arm64", ""), "aarch64": ("arm64", ""), "arm": ("arm", ""), "armhf": ("arm", "v7"), "armel": ("arm", "v6"),
        "ppc64le": ("ppc64le", ""), "s390x": ("s390x", ""), "riscv64": ("riscv64", ""), "mips64le": ("mips64le", ""),
        "mips64": ("mips64", ""), "mipsle": ("mipsle", ""), "mips": ("mips", ""), "loong64": ("loong64", ""), "wasm": ("wasm", ""),
    ]

    public init(parsing text: String) throws(Failure) {
        let parts = text.lowercased().split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        func bad() -> Failure { Failure(description: "\"\(text)\": unknown operating system or architecture: invalid argument") }
        guard (1...3).contains(parts.count) else { throw bad() }
        if parts.count == 1 {
            if Self.systems.contains(parts[0]) {
                os = parts[0]; architecture = "amd64"
            } else if let (arch, variant) = Self.architectures[parts[0]] {
                os = "linux"; architecture = arch; self.variant = variant
            } else {
                throw bad()
            }
            return
        }
        guard Self.systems.contains(parts[0]), let (arch, variant) = Self.architectures[parts[1]] else { throw bad() }
        os = parts[0]
        architecture = arch
        self.variant = parts.count == 3 ? parts[2] : variant
    }

    public func matches(os: String, architecture: String) -> Bool { self.os == os && self.architecture == architecture }

    /// The architecture this host runs, in Go's names.
    public static let hostArchitecture: String = {
        var u = utsname()
        uname(&u)
        let machine = withUnsafeBytes(of: &u.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return architectures[machine]?.0 ?? machine
    }()

    public var description: String { os + "/" + architecture + (variant.isEmpty ? "" : "/" + variant) }
}
