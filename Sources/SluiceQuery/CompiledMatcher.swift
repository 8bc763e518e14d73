import SluiceCodec

/// A label matcher ready to test values, with Prometheus' semantics.
///
/// Built once per query and then run against every distinct value of its label, so the common regex
/// shapes (`foo`, `a|b|c`, `foo.*`, `.*`, `.+`) skip the regex engine entirely, as Prometheus'
/// `FastRegexMatcher` does. Every other pattern is read as Go RE2 syntax, fully anchored and with `.`
/// matching newlines (`^(?s:re)$`, Prometheus' `labels.NewFastRegexMatcher`), and run by Swift's
/// `Regex`. All comparisons are by UTF-8 bytes, as Go compares strings.
///
/// A series that lacks the label is matched as if the label were present with the value "", so
/// `matchesEmpty` tells selection whether the matcher also selects series without the label.
public struct CompiledMatcher: Sendable, CustomStringConvertible {
    /// The matcher this was compiled from, for logging and for forwarding to other nodes unchanged.
    public let matcher: LabelMatcher
    /// Whether the matcher accepts "", and so selects series that lack the label.
    public let matchesEmpty: Bool

    let pattern: ValuePattern
    /// True for `!=` and `!~`: the matcher accepts exactly the values `pattern` rejects.
    let negated: Bool

    /// Compiles `matcher`, failing when its regex is not valid Go RE2 syntax (`.invalidRegex`) or its
    /// type is unknown (`.invalidMatcher`), so a bad query is refused before any index is touched.
    public init(_ matcher: LabelMatcher) throws(QueryError) {
        switch matcher.kind {
        case .equal:
            (pattern, negated) = (.exactly(matcher.value), false)
        case .notEqual:
            (pattern, negated) = (.exactly(matcher.value), true)
        case .regex:
            (pattern, negated) = (try ValuePattern(regex: matcher.value), false)
        case .notRegex:
            (pattern, negated) = (try ValuePattern(regex: matcher.value), true)
        default:
            throw QueryError(
                .invalidMatcher, "unknown label matcher type \(matcher.kind.rawValue) for label \(matcher.name)")
        }
        self.matcher = matcher
        self.matchesEmpty = pattern.matches("") != negated
    }

    /// The label the matcher tests.
    public var name: String { matcher.name }

    /// Whether a series whose label `name` has `value` (or "" when it lacks the label) is selected.
    public func matches(_ value: String) -> Bool {
        pattern.matches(value) != negated
    }

    public var description: String { matcher.description }
}

/// What a matcher's value or pattern accepts, before `!=`/`!~` negation.
package enum ValuePattern: Sendable {
    /// Exactly this value: `=`, `!=`, and regexes without metacharacters.
    case exactly(String)
    /// Any of these values: a regex that is an alternation of plain literals, `a|b|c`.
    case oneOf(LiteralSet)
    /// Every value: `.*`.
    case anything
    /// Every value but "": `.+`.
    case nonEmpty
    /// Values starting with a literal: `foo.*`, or `foo.+` when `needsMore` (something must follow).
    case prefix(String, needsMore: Bool)
    /// Everything else, through the regex engine.
    case regex(SharedRegex)

    /// Compiles a Prometheus regex, taking a fast path where the pattern allows one.
    package init(regex pattern: String) throws(QueryError) {
        if let fast = ValuePattern.fastPath(pattern) {
            self = fast
            return
        }
        self = .regex(SharedRegex(try GoRegexSyntax.compile(pattern)))
    }

    package func matches(_ value: String) -> Bool {
        switch self {
        case .exactly(let literal):
            return value.utf8Equals(literal)
        case .oneOf(let set):
            return set.contains(value)
        case .anything:
            return true
        case .nonEmpty:
            return !value.isEmpty
        case .prefix(let prefix, let needsMore):
            guard value.utf8HasPrefix(prefix) else { return false }
            return !needsMore || value.utf8.count > prefix.utf8.count
        case .regex(let regex):
            // Cannot throw: there are no custom components, and cancellation does not apply here.
            return (try? regex.regex.wholeMatch(in: value)) != nil
        }
    }

    /// The finite list of values the pattern accepts, when it has one. Selection reads their postings
    /// directly instead of testing every value the label takes.
    var literals: [String]? {
        switch self {
        case .exactly(let literal): return [literal]
        case .oneOf(let set): return set.members
        default: return nil
        }
    }

    /// The shapes that need no regex engine. Because each test is on the pattern's text, the pattern
    /// is also known to be valid RE2 whenever one applies.
    static func fastPath(_ pattern: String) -> ValuePattern? {
        let bytes = Array(pattern.utf8)
        if bytes == Array(".*".utf8) { return .anything }
        if bytes == Array(".+".utf8) { return .nonEmpty }
        if isLiteral(bytes[...]) { return .exactly(pattern) }

        if bytes.contains(UInt8(ascii: "|")) {
            let alternatives = bytes.split(separator: UInt8(ascii: "|"), omittingEmptySubsequences: false)
            guard alternatives.allSatisfy(isLiteral) else { return nil }
            return .oneOf(LiteralSet(alternatives.map { String(decoding: $0, as: UTF8.self) }))
        }

        if bytes.count >= 2, bytes[bytes.count - 2] == UInt8(ascii: ".") {
            let head = bytes[..<(bytes.count - 2)]
            let last = bytes[bytes.count - 1]
            guard (last == UInt8(ascii: "*") || last == UInt8(ascii: "+")), isLiteral(head) else { return nil }
            return .prefix(String(decoding: head, as: UTF8.self), needsMore: last == UInt8(ascii: "+"))
        }
        return nil
    }

    /// True when `text` has none of RE2's metacharacters (Go's `regexp.QuoteMeta` set), so as a
    /// pattern it matches exactly itself.
    static func isLiteral(_ text: ArraySlice<UInt8>) -> Bool {
        !text.contains { byte in
            switch byte {
            case UInt8(ascii: "\\"), UInt8(ascii: "."), UInt8(ascii: "+"), UInt8(ascii: "*"),
                UInt8(ascii: "?"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "|"),
                UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "{"), UInt8(ascii: "}"),
                UInt8(ascii: "^"), UInt8(ascii: "$"):
                return true
            default:
                return false
            }
        }
    }
}

/// A compiled regex that matchers on many tasks may share.
///
/// `Regex` is not declared `Sendable`, but a compiled one is immutable apart from the program it
/// lowers on first use, which the standard library publishes atomically (`Regex.Program`'s
/// `loweredProgram`). Matching through a shared instance is therefore safe.
package struct SharedRegex: @unchecked Sendable {
    let regex: Regex<Substring>
    init(_ regex: Regex<Substring>) { self.regex = regex }
}

/// Distinct literal values, tested by UTF-8 bytes. Grafana's multi-value variables turn into
/// alternations of hundreds of values, so past a handful the test is a hash lookup.
package struct LiteralSet: Sendable {
    /// Each value once, in the order the pattern lists them.
    let members: [String]
    private let index: Set<UTF8Key>?

    private static let linearLimit = 8

    init(_ values: [String]) {
        var seen = Set<UTF8Key>()
        var members: [String] = []
        for value in values where seen.insert(UTF8Key(value)).inserted {
            members.append(value)
        }
        self.members = members
        self.index = members.count > LiteralSet.linearLimit ? seen : nil
    }

    func contains(_ value: String) -> Bool {
        if let index { return index.contains(UTF8Key(value)) }
        return members.contains { $0.utf8Equals(value) }
    }
}
