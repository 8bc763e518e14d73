import SluiceCodec
import Testing

@testable import SluiceQuery

func matcher(_ kind: LabelMatcher.Kind, _ value: String, name: String = "l") throws -> CompiledMatcher {
    try CompiledMatcher(LabelMatcher(kind, name: name, value: value))
}

/// Prometheus' matcher semantics: anchoring, `.` across newlines, the empty value, byte equality.
@Suite struct MatcherSemanticsTests {
    @Test func equalityIsByteWiseNotCanonical() throws {
        let composed = "\u{E9}"  // é as one scalar
        let decomposed = "e\u{301}"  // e + combining acute: == in Swift, a different Go string
        #expect(composed == decomposed)
        #expect(try matcher(.equal, composed).matches(composed))
        #expect(try !matcher(.equal, composed).matches(decomposed))
        #expect(try matcher(.notEqual, composed).matches(decomposed))
        #expect(try !matcher(.regex, "(?:\(composed))").matches(decomposed))
        #expect(try !matcher(.regex, "\(composed).*").matches(decomposed + "x"))
        #expect(try !matcher(.regex, "a|\(composed)").matches(decomposed))
    }

    @Test(arguments: ["a", "(?:a)", "a|b", "[a]"])
    func regexesAreFullyAnchored(pattern: String) throws {
        let m = try matcher(.regex, pattern)
        #expect(m.matches("a"))
        #expect(!m.matches("ab"))
        #expect(!m.matches("ba"))
        #expect(!m.matches("a\n"))
        let negated = try matcher(.notRegex, pattern)
        #expect(!negated.matches("a"))
        #expect(negated.matches("ab"))
    }

    @Test func dotMatchesNewline() throws {
        #expect(try matcher(.regex, "a.b").matches("a\nb"))
        #expect(try matcher(.regex, ".*").matches("\n\n"))
        #expect(try matcher(.regex, "x.*").matches("x\ny"))
        #expect(try matcher(.regex, "(?:.*)y").matches("x\ny"))
        // Go's flag can still turn it off inside the pattern.
        #expect(try !matcher(.regex, "a(?-s:.)b").matches("a\nb"))
        #expect(try matcher(.regex, "a(?-s:.)b").matches("axb"))
    }

    @Test func emptyValue() throws {
        let emptyRegex = try matcher(.regex, "")
        #expect(emptyRegex.matchesEmpty)
        #expect(emptyRegex.matches(""))
        #expect(!emptyRegex.matches("x"))

        let notEmpty = try matcher(.notEqual, "")
        #expect(!notEmpty.matchesEmpty)
        #expect(notEmpty.matches("x"))

        #expect(try matcher(.equal, "").matchesEmpty)
        #expect(try !matcher(.equal, "x").matchesEmpty)
        #expect(try matcher(.notEqual, "x").matchesEmpty)
        #expect(try matcher(.regex, ".*").matchesEmpty)
        #expect(try !matcher(.regex, ".+").matchesEmpty)
        #expect(try matcher(.regex, "a|").matchesEmpty)
        #expect(try matcher(.regex, "(?:a)?").matchesEmpty)
        #expect(try matcher(.notRegex, "x|y").matchesEmpty)
        #expect(try !matcher(.notRegex, ".*").matchesEmpty)
        #expect(try !matcher(.notRegex, "").matchesEmpty)
    }

    @Test func unknownKindIsRefused() {
        #expect(throws: QueryError(.invalidMatcher, "unknown label matcher type 7 for label l")) {
            try CompiledMatcher(LabelMatcher(.init(rawValue: 7), name: "l", value: "x"))
        }
    }

    @Test func keepsTheSourceMatcher() throws {
        let m = try matcher(.notRegex, "a.*", name: "job")
        #expect(m.name == "job")
        #expect(m.matcher == LabelMatcher(.notRegex, name: "job", value: "a.*"))
        #expect(m.description == #"job!~"a.*""#)
    }
}

/// The regex engine reads Go RE2 syntax: where Swift's own dialect would differ, Go wins.
@Suite struct GoRegexSyntaxTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var pattern: String
        var value: String
        var matches: Bool
        var testDescription: String { "\(pattern.debugDescription) ~ \(value.debugDescription)" }
        init(_ pattern: String, _ value: String, _ matches: Bool) {
            (self.pattern, self.value, self.matches) = (pattern, value, matches)
        }
    }

    static let cases: [Case] = [
        // Perl classes and POSIX classes are ASCII-only in Go.
        Case(#"\d"#, "7", true), Case(#"\d"#, "\u{663}", false),
        Case(#"\w+"#, "a_1", true), Case(#"\w"#, "\u{E9}", false),
        Case(#"\s"#, "\t", true), Case(#"\s"#, "\u{0B}", false), Case(#"\S"#, "\u{0B}", true),
        Case("[[:space:]]", "\u{0B}", true), Case("[[:alpha:]]", "\u{E9}", false),
        Case("[[:word:]]+", "a_Z9", true), Case("[[:^alpha:]]", "1", true), Case("[^[:alpha:]]", "a", false),
        Case(#"[\D]"#, "a", true), Case(#"[^\D]"#, "5", true), Case(#"[^\D]"#, "a", false),
        Case(#"[\d-z]"#, "-", true), Case(#"[\d-z]"#, "z", true), Case(#"[\d-z]"#, "y", false),
        // Octal, hex and single-letter Unicode classes.
        Case(#"\101"#, "A", true), Case(#"\0"#, "\u{0}", true), Case(#"\x41\x{42}"#, "AB", true),
        Case(#"\pL+"#, "\u{E9}a", true), Case(#"\PL"#, "1", true), Case(#"\p{Greek}+"#, "\u{3B1}\u{3B2}", true),
        Case(#"\p{^Greek}"#, "a", true), Case(#"[\pN]"#, "5", true), Case(#"\p{Any}"#, "\n", true),
        Case(#"\p{Han}"#, "\u{4E2D}", true), Case(#"\p{Lu}"#, "a", false),
        // Braces that are not counts are literal text; counts are counts.
        Case("a{,3}", "a{,3}", true), Case("a{,3}", "aa", false), Case("a{01}", "a{01}", true),
        Case("a{2}", "aa", true), Case("a{2,}", "aaaa", true), Case("a{1,2}", "aaa", false), Case("{", "{", true),
        // Class syntax: Go has no set operators or nested classes, and `]` may come first.
        Case("[]a]+", "]a", true), Case("[^]a]", "b", true), Case("[^]a]", "]", false),
        Case("[a&&b]", "&", true), Case("[a~~b]", "~", true), Case("[a[b]", "[", true), Case("[a-]", "-", true),
        // Quoting, escapes of punctuation, assertions and flags.
        Case(#"\Qa.b\E"#, "a.b", true), Case(#"\Qa.b\E"#, "axb", false), Case(#"\Qa.b"#, "a.b", true),
        Case(#"\.\*\{"#, ".*{", true), Case(#"a\b"#, "a", true), Case("\\b\u{E9}", "\u{E9}", false),
        Case("(?i)abc", "ABC", true), Case("(?i)[a-c]+", "CAB", true), Case("(?i)\u{E9}", "\u{C9}", true),
        Case("(?i)x\\.", "X.", true), Case("(?i:a)b", "Ab", true), Case("(?i:a)b", "AB", false),
        Case("(?U)a+", "aaa", true), Case("(?m)^a$", "a", true), Case("^a$", "a", true), Case(#"\Aa\z"#, "a", true),
        Case("(?P<x>a)(?<y>b)", "ab", true), Case("a(?i)b", "aB", true), Case("(?:)", "", true),
        // Runes, not grapheme clusters: a repetition applies to the last scalar only.
        Case("e\u{301}+", "e\u{301}\u{301}", true), Case(".", "\r\n", false), Case("..", "\r\n", true),
        Case("[e\u{301}]{2}", "\u{301}e", true),
    ]

    @Test(arguments: cases)
    func goSemantics(_ c: Case) throws {
        #expect(try matcher(.regex, c.pattern).matches(c.value) == c.matches)
    }

    static let invalid: [String] = [
        "a(", "a)", "a)|(b", "(?=a)a", "(?!a)", "(?<=a)b", "(?>a)", #"(a)\1"#, #"\8"#, "a**", "a*+", "a++", "x{2}{3}",
        "*a", "a|*", "{2}", "a{1001}", "a{2,1}", "[z-a]", "[a", "[]", "[[:foo:]]", #"\C"#, #"\Z"#, #"\N{DIGIT ONE}"#,
        #"\u0041"#, #"\x{110000}"#, #"\xZZ"#, "(?P<n>a)(?P<n>b)", "(?P<>a)", "(?i-)a", "(?x)a", "(?#comment)", #"\"#,
        #"[\b]"#, #"\pX"#, #"\p{NoSuchScript}"#,
    ]

    @Test(arguments: invalid)
    func goRejects(pattern: String) {
        #expect {
            try matcher(.regex, pattern)
        } throws: { error in
            let error = error as? QueryError
            return error?.code == .invalidRegex && error?.message.hasPrefix("error parsing regexp: ") == true
        }
    }

    @Test func errorMessagesNameThePattern() {
        #expect(throws: QueryError(.invalidRegex, "error parsing regexp: missing closing ): `a(`")) {
            try matcher(.regex, "a(")
        }
        #expect(throws: QueryError(.invalidRegex, "error parsing regexp: invalid nested repetition operator: `*`")) {
            try matcher(.regex, "a**")
        }
    }
}

/// The fast paths must give exactly the regex engine's answers. Wrapping a pattern in `(?:...)`
/// forces the engine, so the two are compared on every pattern and value below.
@Suite struct FastPathTests {
    static let patterns = [
        "", ".*", ".+", "foo", "foo|bar", "foo|", "|", "a|b|c|d|e|f|g|h|i|j|foo", "foo.*", "foo.+", "\u{E9}.*",
        "\u{E9}|e\u{301}", "a|a", "foo bar", "x-y_z:1/2@3",
    ]
    static let values = [
        "", "foo", "foobar", "bar", "fo", "\n", "foo\n", "\u{E9}", "e\u{301}", "\u{E9}\n", "a", "j", "x", "|",
        "foo bar", "x-y_z:1/2@3", "FOO",
    ]

    @Test(arguments: patterns)
    func fastPathAgreesWithRegexEngine(pattern: String) throws {
        let fast = try matcher(.regex, pattern)
        let engine = try matcher(.regex, "(?:\(pattern))")
        if case .regex = fast.pattern { Issue.record("\(pattern.debugDescription) took no fast path") }
        guard case .regex = engine.pattern else {
            Issue.record("\(pattern.debugDescription) in a group should need the engine")
            return
        }
        for value in FastPathTests.values {
            #expect(fast.matches(value) == engine.matches(value), "\(pattern.debugDescription) ~ \(value.debugDescription)")
        }
        #expect(fast.matchesEmpty == engine.matchesEmpty)
    }

    @Test func shapesTakeTheExpectedPath() throws {
        #expect(try matcher(.regex, "foo").pattern.literals == ["foo"])
        #expect(try matcher(.regex, "a|b|a").pattern.literals == ["a", "b"])
        #expect(try matcher(.regex, "a|b|c").pattern.literals == ["a", "b", "c"])
        guard case .prefix("foo", needsMore: false) = try matcher(.regex, "foo.*").pattern else {
            Issue.record("foo.* is not a prefix match")
            return
        }
        guard case .regex = try matcher(.regex, "foo.*bar").pattern else {
            Issue.record("foo.*bar is not a prefix match")
            return
        }
    }

    @Test func largeAlternationsUseTheHashedSet() throws {
        let values = (0..<300).map { "value-\($0)" }
        let m = try matcher(.regex, values.joined(separator: "|"))
        #expect(m.pattern.literals?.count == 300)
        #expect(values.allSatisfy(m.matches))
        #expect(!m.matches("value-300"))
        #expect(!m.matches(""))
    }
}
