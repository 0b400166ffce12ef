import Builder
import Testing

/// The Dockerfile grammar, Docker's word expansion and `.dockerignore` rules.
@Suite struct BuilderTests {
    @Test func parsesInstructionsFormsAndContinuations() throws {
        let df = try Dockerfile.parse(
            """
            # syntax=docker/dockerfile:1
            # escape=\\

            from busybox AS base
            # a comment
            RUN echo a \\
                # comment inside a continuation
                && echo b
            CMD ["echo", "x y"]
            COPY --chown=1:2 --from=base a b/
            ENV A=1 \\
                B="two words"
            run ["not", json
            """)
        #expect(df.syntax == "docker/dockerfile:1")
        #expect(df.instructions.map(\.keyword) == ["FROM", "RUN", "CMD", "COPY", "ENV", "RUN"])
        #expect(df.instructions[0].args == ["busybox AS base"] && df.instructions[0].line == 4)
        #expect(df.instructions[1].args == ["echo a && echo b"] && !df.instructions[1].json)
        #expect(df.instructions[2].json && df.instructions[2].args == ["echo", "x y"])
        #expect(df.instructions[3].flag("chown") == "1:2" && df.instructions[3].flag("from") == "base" && df.instructions[3].args == ["a b/"])
        #expect(df.instructions[4].args == ["A=1 B=\"two words\""])
        #expect(!df.instructions[5].json && df.instructions[5].args == ["[\"not\", json"])  // invalid JSON falls back to shell form
    }

    @Test func escapeDirectiveAndHeredocs() throws {
        let df = try Dockerfile.parse("# escape=`\nFROM x\nRUN echo a `\n b\nRUN <<EOF\necho one\necho two\nEOF\nCOPY <<-\"END\" /f\n\thello $X\n\tEND\n")
        #expect(df.escape == "`")
        #expect(df.instructions[1].args == ["echo a b"])
        #expect(df.instructions[2].heredocs.first?.content == "echo one\necho two\n")
        let h = try #require(df.instructions[3].heredocs.first)
        #expect(h.name == "END" && !h.expand && h.content == "hello $X\n")
    }

    @Test func errorsNameTheLine() {
        #expect(throws: DockerfileError("dockerfile parse error line 2: unknown instruction: FOO")) { try Dockerfile.parse("FROM x\nfoo bar\n") }
        #expect(throws: DockerfileError("dockerfile parse error line 1: FROM requires at least one argument")) { try Dockerfile.parse("FROM\n") }
        #expect(throws: DockerfileError.self) { try Dockerfile.parse("FROM x\nRUN <<EOF\nno end\n") }
    }

    @Test func wordExpansionAsDockersLexer() throws {
        let sh = ShellWords(env: ["A": "1", "E": "", "SP": "a b"])
        #expect(try sh.expand("$A-${A}-${B:-def}-${E:-empty}-${E-set}-${A:+alt}-${B:+x}") == "1-1-def-empty--alt-")
        #expect(try sh.expand("'$A' \"$A\" \\$A") == "$A 1 $A")
        #expect(try sh.words("x \"y z\" $SP") == ["x", "y z", "a", "b"])
        #expect(try sh.words("'single quoted' plain") == ["single quoted", "plain"])
        #expect(throws: DockerfileError.self) { try sh.expand("${B:?must be set}") }
        #expect(throws: DockerfileError.self) { try sh.expand("\"open") }
        let pairs = try sh.pairs("K=v \"Q\"=\"two $A\" R=${A}x", legacyAllowed: true)
        #expect(pairs.map { "\($0.0)=\($0.1)" } == ["K=v", "Q=two 1", "R=1x"])
        #expect(try sh.pairs("LEGACY value with spaces", legacyAllowed: true).map { $0.1 } == ["value with spaces"])
    }

    @Test func dockerignoreRules() {
        let ig = DockerIgnore(
            """
            # comment
            *.log
            **/tmp
            docs
            !docs/keep.md
            /build/
            """)
        #expect(ig.excludes("a.log") && !ig.excludes("sub/a.log"))
        #expect(ig.excludes("tmp") && ig.excludes("x/y/tmp") && ig.excludes("x/tmp/file"))
        #expect(ig.excludes("docs") && ig.excludes("docs/other.md") && !ig.excludes("docs/keep.md"))
        #expect(ig.excludes("build/out.o") && !ig.excludes("src/build.c"))
        #expect(Glob.match("[a-c]?.txt", "b1.txt") && !Glob.match("*.txt", "d/x.txt") && Glob.match("[!x]*", "abc"))
        // `**` anywhere, several of them, and directories matching above the path.
        let deep = DockerIgnore("a/**/b/**/c\n**/x/**\n**")
        #expect(deep.excludes("a/b/c") && deep.excludes("a/1/2/b/3/c") && deep.excludes("a/b/c/d"))
        #expect(DockerIgnore("a/**/b/**/c").excludes("a/1/b/2/c/below") && !DockerIgnore("a/**/b/**/c").excludes("a/1/c/2/b"))
        #expect(DockerIgnore("**/x/**").excludes("p/q/x/r") && !DockerIgnore("**/x/**").excludes("p/q/y/r"))
    }

    /// Found by fuzzing: many `**` against a long path was exponential (seconds for 2 KB).
    @Test func manyDoubleStarsAreLinear() {
        let pattern = Array(repeating: "**/a", count: 60).joined(separator: "/") + "/b"
        let path = Array(repeating: "a", count: 200).joined(separator: "/")
        let start = ContinuousClock.now
        #expect(!DockerIgnore(pattern).excludes(path))
        #expect(ContinuousClock.now - start < .seconds(1))
    }
}
