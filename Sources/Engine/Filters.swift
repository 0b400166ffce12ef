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
