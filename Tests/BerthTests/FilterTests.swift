import Testing

@testable import Engine

@Suite struct FilterTests {
    /// dockerd's prune rule: every `label` entry matches, and a resource matching every `label!`
    /// entry is kept (`label!` was ignored, and a prune removed what it was told to keep).
    @Test func labelAndLabelBangAsDockerdsPrunes() {
        let keep = ["keep": "1", "team": "a"], plain = ["team": "a"], none: [String: String] = [:]
        #expect(LabelFilter().matches(none) && LabelFilter().matches(keep))
        #expect(!LabelFilter(exclude: ["keep"]).matches(keep) && LabelFilter(exclude: ["keep"]).matches(plain))
        #expect(LabelFilter(exclude: ["keep"]).matches(none))
        #expect(LabelFilter(exclude: ["keep=2"]).matches(keep) && !LabelFilter(exclude: ["keep=1"]).matches(keep))
        // Every `label!` entry must match for the resource to be kept.
        #expect(LabelFilter(exclude: ["keep", "other"]).matches(keep) && !LabelFilter(exclude: ["keep", "team=a"]).matches(keep))
        #expect(LabelFilter(include: ["team=a"], exclude: ["keep"]).matches(plain) && !LabelFilter(include: ["team=b"]).matches(plain))
        #expect(!LabelFilter(include: ["team"]).matches(none))
        #expect(LabelFilter(include: ["=x"]).matches(["": "x"]) && !LabelFilter(include: ["="]).matches(plain))
    }
}
