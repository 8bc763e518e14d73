// Prometheus label regexes are Go RE2 syntax. Swift's `Regex` reads a PCRE-like dialect that differs
// in ways that change results, not just error messages:
//
// - `\d`, `\w`, `\s` and `[[:alpha:]]` are ASCII-only in Go and Unicode in Swift (`\s` even differs
//   within ASCII: Go's has no vertical tab).
// - `\101` is octal in Go and a backreference in Swift; `\pL` is a class in Go and an error in Swift.
// - `a{,3}` is literal text in Go and a repetition in Swift; `[a&&b]` is three characters in Go and an
//   intersection in Swift; `[]a]` is a class in Go and an error in Swift.
// - Swift accepts lookaround, backreferences, possessive quantifiers and `\N{...}`, which Go rejects.
//
// So a pattern is not handed to `Regex` as written: it is parsed with Go's rules and written out again
// in a form whose meaning is the same in both dialects. Literal characters other than ASCII letters
// and digits are written as `\x{...}`, which means the same thing everywhere in Swift's syntax, and
// Go's classes are spelled out as explicit ASCII ranges. Anything Go rejects is rejected here with
// Go's wording, so a selector that fails on Prometheus fails on Sluice too.
//
// One difference cannot be translated away: RE2 matches in linear time, while Swift's engine
// backtracks, so a pattern like `(a|a)*c` takes exponential time on a long run of `a`s. The fast
// paths in `ValuePattern` keep common selectors off the engine; the rest run once per distinct label
// value, not per series.

/// Go RE2 patterns, compiled with Prometheus' anchoring for Swift's `Regex`.
package enum GoRegexSyntax {
    /// Compiles `pattern` as Prometheus does, `^(?s:pattern)$`, matching Unicode scalars (Go matches
    /// runes, never grapheme clusters) with ASCII word boundaries.
    static func compile(_ pattern: String) throws(QueryError) -> Regex<Substring> {
        let swiftPattern = try translate(pattern)
        do {
            // The translation balances its own groups, so the wrapper cannot pair with the pattern's
            // parentheses the way "a)|(b" would in plain string concatenation. It also makes every
            // group non-capturing, so the output is the whole match alone.
            return try Regex("(?s:" + swiftPattern + ")", as: Substring.self)
                .matchingSemantics(.unicodeScalar)
                .wordBoundaryKind(.simple)
                .asciiOnlyWordCharacters()
        } catch {
            throw QueryError(.invalidRegex, "error parsing regexp: \(error): `\(abbreviated(pattern))`")
        }
    }

    /// `pattern` rewritten into Swift `Regex` syntax with the same meaning, or Go's error for it.
    package static func translate(_ pattern: String) throws(QueryError) -> String {
        var translator = Translator(pattern)
        return try translator.run()
    }

    /// Long patterns are cut in error messages: Prometheus reads only the first kilobyte of an error.
    package static func abbreviated(_ text: String) -> String {
        let limit = 80
        let scalars = text.unicodeScalars
        guard scalars.count > limit else { return text }
        var short = String.UnicodeScalarView()
        short.append(contentsOf: scalars.prefix(limit))
        return String(short) + "…"
    }
}

/// One left-to-right pass over a Go pattern, writing the Swift equivalent.
private struct Translator {
    let pattern: String
    let scalars: [Unicode.Scalar]
    var position = 0
    var output = ""
    var openGroups = 0
    var groupNames = Set<String>()
    /// What a repetition operator here would apply to.
    var previous = Previous.nothing

    enum Previous {
        /// Start of the pattern, a group or an alternative: a repetition is missing its argument.
        case nothing
        /// Something that can be repeated.
        case atom
        /// A repetition: Go refuses to stack another (`a**`, and the possessive `a*+`).
        case repetition
    }

    /// What a backslash escape stands for.
    enum Escape {
        case character(Unicode.Scalar)
        /// A class, in Swift syntax, usable inside or outside brackets.
        case set(ClassSet)
        /// `\A`, `\z`, `\b`, `\B`: only outside brackets.
        case assertion(String)
        /// `\Q`: the text up to `\E` is literal. Only outside brackets.
        case quote
    }

    /// A class written as ranges, optionally negated, so it can be emitted as `[...]` on its own or
    /// inlined into an enclosing class.
    struct ClassSet {
        var ranges: String
        var negated: Bool

        var standalone: String { negated ? "[^\(ranges)]" : "[\(ranges)]" }
        var inline: String { negated ? "[^\(ranges)]" : ranges }
    }

    init(_ pattern: String) {
        self.pattern = pattern
        self.scalars = Array(pattern.unicodeScalars)
    }

    mutating func run() throws(QueryError) -> String {
        while position < scalars.count {
            let c = scalars[position]
            switch c {
            case "\\":
                try escapeOutsideClass()
            case "[":
                output += try characterClass()
                previous = .atom
            case "(":
                try openGroup()
            case ")":
                guard openGroups > 0 else { throw error("unexpected )", pattern) }
                openGroups -= 1
                output += ")"
                position += 1
                previous = .atom
            case "|":
                output += "|"
                position += 1
                previous = .nothing
            case "*", "+", "?":
                try repetition(String(c), length: 1)
            case "{":
                if let (text, length) = try repeatCount() {
                    try repetition(text, length: length)
                } else {
                    // Not a valid count, so Go reads the brace as a literal.
                    literal(c)
                }
            case ".", "^", "$":
                output.unicodeScalars.append(c)
                position += 1
                previous = .atom
            default:
                literal(c)
            }
        }
        guard openGroups == 0 else { throw error("missing closing )", pattern) }
        return output
    }

    // MARK: Atoms

    mutating func literal(_ c: Unicode.Scalar) {
        output += Translator.spelled(c)
        position += 1
        previous = .atom
    }

    /// A scalar written so it means itself in every position of Swift's syntax, in or out of brackets.
    static func spelled(_ c: Unicode.Scalar) -> String {
        if c.isASCII, isAlphanumeric(UInt8(c.value)) { return String(Character(c)) }
        return "\\x{" + String(c.value, radix: 16, uppercase: true) + "}"
    }

    static func isAlphanumeric(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "A")...UInt8(ascii: "Z"):
            return true
        default:
            return false
        }
    }

    mutating func escapeOutsideClass() throws(QueryError) {
        switch try escape(inClass: false) {
        case .character(let c):
            output += Translator.spelled(c)
            previous = .atom
        case .set(let set):
            output += set.standalone
            previous = .atom
        case .assertion(let text):
            output += text
            previous = .atom
        case .quote:
            // Go: everything up to `\E`, or to the end, is literal; an empty quote adds nothing.
            while position < scalars.count {
                if scalars[position] == "\\", position + 1 < scalars.count, scalars[position + 1] == "E" {
                    position += 2
                    break
                }
                literal(scalars[position])
            }
        }
    }

    /// Reads the escape at `position` (a backslash) with Go's `parseEscape` rules.
    mutating func escape(inClass: Bool) throws(QueryError) -> Escape {
        let start = position
        position += 1
        guard position < scalars.count else {
            throw error("trailing backslash at end of expression", "")
        }
        let c = scalars[position]
        position += 1
        switch c {
        case "1"..."7" where position >= scalars.count || !isOctalDigit(scalars[position]):
            // A lone digit would be a backreference, which RE2 does not have.
            throw error("invalid escape sequence", text(from: start))
        case "0"..."7":
            var value = c.value - 0x30
            for _ in 0..<2 where position < scalars.count && isOctalDigit(scalars[position]) {
                value = value * 8 + scalars[position].value - 0x30
                position += 1
            }
            return .character(Unicode.Scalar(value)!)
        case "x":
            return .character(try hexEscape(start: start))
        case "a": return .character("\u{07}")
        case "f": return .character("\u{0C}")
        case "n": return .character("\n")
        case "r": return .character("\r")
        case "t": return .character("\t")
        case "v": return .character("\u{0B}")
        case "d", "D", "s", "S", "w", "W":
            let ranges =
                switch c {
                case "d", "D": Translator.posixClasses["digit"]!
                case "s", "S": Translator.perlSpace
                default: Translator.posixClasses["word"]!
                }
            return .set(ClassSet(ranges: ranges, negated: c == "D" || c == "S" || c == "W"))
        case "p", "P":
            return .set(try unicodeClass(negated: c == "P", start: start))
        case "A" where !inClass: return .assertion("\\A")
        case "z" where !inClass: return .assertion("\\z")
        case "b" where !inClass: return .assertion("\\b")
        case "B" where !inClass: return .assertion("\\B")
        case "Q" where !inClass: return .quote
        default:
            // Escaped ASCII punctuation is itself; any other escape is an error in Go.
            if c.isASCII, !Translator.isAlphanumeric(UInt8(c.value)) { return .character(c) }
            throw error("invalid escape sequence", text(from: start))
        }
    }

    /// `\xHH` or `\x{H...}`, position just past the `x`.
    mutating func hexEscape(start: Int) throws(QueryError) -> Unicode.Scalar {
        var value: UInt32 = 0
        if position < scalars.count, scalars[position] == "{" {
            position += 1
            var digits = 0
            while position < scalars.count, scalars[position] != "}" {
                guard let digit = hexValue(scalars[position]) else { break }
                value = value * 16 + digit
                digits += 1
                position += 1
                guard value <= 0x10FFFF else { break }
            }
            guard digits > 0, position < scalars.count, scalars[position] == "}" else {
                throw error("invalid escape sequence", text(from: start))
            }
            position += 1
        } else {
            for _ in 0..<2 {
                guard position < scalars.count, let digit = hexValue(scalars[position]) else {
                    throw error("invalid escape sequence", text(from: start))
                }
                value = value * 16 + digit
                position += 1
            }
        }
        // Go accepts surrogate code points here, which can then match nothing; a Swift scalar cannot
        // hold one, so they are refused.
        guard let scalar = Unicode.Scalar(value) else {
            throw error("invalid escape sequence", text(from: start))
        }
        return scalar
    }

    /// `\pL`, `\p{Greek}`, `\p{^Greek}`, `\PL`: position just past the `p` or `P`. Swift's `Regex`
    /// checks the name when the whole pattern compiles.
    mutating func unicodeClass(negated: Bool, start: Int) throws(QueryError) -> ClassSet {
        guard position < scalars.count else { throw error("invalid character class range", text(from: start)) }
        var name: String
        if scalars[position] == "{" {
            guard let close = scalars[position...].firstIndex(of: "}") else {
                throw error("invalid character class range", text(from: start))
            }
            name = String(String.UnicodeScalarView(scalars[(position + 1)..<close]))
            position = close + 1
        } else {
            name = String(Character(scalars[position]))
            position += 1
        }
        var negated = negated
        if name.hasPrefix("^") {
            negated.toggle()
            name.removeFirst()
        }
        let nameIsPlain = !name.isEmpty && name.utf8.allSatisfy { Translator.isAlphanumeric($0) || $0 == UInt8(ascii: "_") }
        guard nameIsPlain else { throw error("invalid character class range", text(from: start)) }
        return ClassSet(ranges: "\\p{\(name)}", negated: negated)
    }

    // MARK: Classes

    /// A bracketed class starting at `position`, written with every member spelled out so that
    /// Swift's class operators (`&&`, `--`, `~~`) and nested brackets cannot be formed by accident.
    mutating func characterClass() throws(QueryError) -> String {
        let start = position
        position += 1
        var result = "["
        if position < scalars.count, scalars[position] == "^" {
            result += "^"
            position += 1
        }
        var first = true
        while true {
            guard position < scalars.count else { throw error("missing closing ]", text(from: start)) }
            let c = scalars[position]
            // `]` first in the class is a member, as in Go.
            if c == "]", !first {
                position += 1
                break
            }
            first = false

            if c == "[", position + 1 < scalars.count, scalars[position + 1] == ":",
                let posix = try posixClass()
            {
                result += posix.inline
                continue
            }
            if c == "\\", position + 1 < scalars.count,
                "dDsSwWpP".unicodeScalars.contains(scalars[position + 1])
            {
                guard case .set(let set) = try escape(inClass: true) else { preconditionFailure() }
                result += set.inline
                continue
            }

            let rangeStart = position
            let low = try classCharacter()
            // `a-z` is a range; a `-` just before `]` is a member.
            if position + 1 < scalars.count, scalars[position] == "-", scalars[position + 1] != "]" {
                position += 1
                let high = try classCharacter()
                guard high.value >= low.value else {
                    throw error("invalid character class range", text(from: rangeStart))
                }
                result += Translator.spelled(low) + "-" + Translator.spelled(high)
            } else {
                result += Translator.spelled(low)
            }
        }
        return result + "]"
    }

    /// One member of a class, plain or escaped.
    mutating func classCharacter() throws(QueryError) -> Unicode.Scalar {
        guard position < scalars.count else { throw error("missing closing ]", pattern) }
        let c = scalars[position]
        guard c == "\\" else {
            position += 1
            return c
        }
        let start = position
        guard case .character(let escaped) = try escape(inClass: true) else {
            throw error("invalid escape sequence", text(from: start))
        }
        return escaped
    }

    /// `[:alpha:]` or `[:^alpha:]` at `position`, or nil when there is no closing `:]` (then Go reads
    /// the `[` as a member).
    mutating func posixClass() throws(QueryError) -> ClassSet? {
        let start = position
        var end = position + 2
        while end + 1 < scalars.count, !(scalars[end] == ":" && scalars[end + 1] == "]") { end += 1 }
        guard end + 1 < scalars.count else { return nil }
        var name = String(String.UnicodeScalarView(scalars[(position + 2)..<end]))
        position = end + 2
        var negated = false
        if name.hasPrefix("^") {
            negated = true
            name.removeFirst()
        }
        guard let ranges = Translator.posixClasses[name] else {
            throw error("invalid character class range", text(from: start, to: position))
        }
        return ClassSet(ranges: ranges, negated: negated)
    }

    /// Go's POSIX classes, all ASCII-only, as ranges of spelled-out scalars.
    static let posixClasses: [String: String] = [
        "alnum": ranges("09AZaz"),
        "alpha": ranges("AZaz"),
        "ascii": ranges("\u{0}\u{7F}"),
        "blank": ranges("\t\t  "),
        "cntrl": ranges("\u{0}\u{1F}\u{7F}\u{7F}"),
        "digit": ranges("09"),
        "graph": ranges("!~"),
        "lower": ranges("az"),
        "print": ranges(" ~"),
        "punct": ranges("!/:@[`{~"),
        "space": ranges("\t\r  "),
        "upper": ranges("AZ"),
        "word": ranges("09AZaz__"),
        "xdigit": ranges("09AFaf"),
    ]

    /// Go's `\s`: unlike `[[:space:]]` it leaves out the vertical tab.
    static let perlSpace = ranges("\t\n\u{0C}\r  ")

    /// Pairs of scalars, each pair a range.
    static func ranges(_ pairs: String) -> String {
        let scalars = Array(pairs.unicodeScalars)
        return stride(from: 0, to: scalars.count, by: 2).map { i in
            spelled(scalars[i]) + "-" + spelled(scalars[i + 1])
        }.joined()
    }

    // MARK: Groups and repetition

    mutating func openGroup() throws(QueryError) {
        let start = position
        position += 1
        guard position < scalars.count, scalars[position] == "?" else {
            // Capturing and plain groups match the same; nothing reads captures, so none are made.
            output += "(?:"
            openGroups += 1
            previous = .nothing
            return
        }
        position += 1

        // Named groups: (?P<name>re) and (?<name>re).
        var namePrefix = 0
        if position + 1 < scalars.count, scalars[position] == "P", scalars[position + 1] == "<" {
            namePrefix = 2
        } else if position + 1 < scalars.count, scalars[position] == "<",
            scalars[position + 1] != "=", scalars[position + 1] != "!"
        {
            namePrefix = 1
        }
        if namePrefix > 0 {
            position += namePrefix
            guard let close = scalars[position...].firstIndex(of: ">") else {
                throw error("invalid named capture", text(from: start))
            }
            let name = String(String.UnicodeScalarView(scalars[position..<close]))
            position = close + 1
            let valid = !name.isEmpty && name.utf8.allSatisfy { Translator.isAlphanumeric($0) || $0 == UInt8(ascii: "_") }
            guard valid else { throw error("invalid named capture", text(from: start)) }
            guard groupNames.insert(name).inserted else {
                throw error("duplicate capture group name", text(from: start))
            }
            output += "(?:"
            openGroups += 1
            previous = .nothing
            return
        }

        // Flags: (?flags) for the rest of the group, (?flags:re) for re. Go knows i, m, s and U.
        var flags = ""
        var negative = false
        var sawFlag = false
        flags: while position < scalars.count {
            let c = scalars[position]
            position += 1
            switch c {
            case "i", "m", "s", "U":
                flags.unicodeScalars.append(c)
                sawFlag = true
            case "-":
                guard !negative else { break flags }
                flags += "-"
                negative = true
                sawFlag = false
            case ":", ")":
                // "(?i-)" turns nothing off, which Go refuses.
                guard !negative || sawFlag else { break flags }
                if c == ":" {
                    output += "(?\(flags):"
                    openGroups += 1
                    previous = .nothing
                } else if !flags.isEmpty {
                    // The repetition target is unchanged: Go's `a(?i)*` repeats `a`.
                    output += "(?\(flags))"
                }
                return
            default:
                break flags
            }
        }
        throw error("invalid or unsupported Perl syntax", text(from: start, to: min(position, scalars.count)))
    }

    /// `{n}`, `{n,}` or `{n,m}` at `position` as Go's `parseRepeat` reads it: the text to emit and
    /// its length, nil when the brace is not a repetition, an error when a count passes 1000.
    func repeatCount() throws(QueryError) -> (String, Int)? {
        var index = position + 1
        func number() -> Int? {
            let start = index
            while index < scalars.count, isDecimalDigit(scalars[index]) { index += 1 }
            guard index > start else { return nil }
            // Go refuses leading zeros, so "{01}" is literal text.
            if index - start > 1, scalars[start] == "0" { return nil }
            if index - start > 8 { return Int.max }
            return Int(String(String.UnicodeScalarView(scalars[start..<index])))
        }
        guard let low = number(), index < scalars.count else { return nil }
        var high: Int? = low
        if scalars[index] == "," {
            index += 1
            guard index < scalars.count else { return nil }
            if scalars[index] == "}" {
                high = nil
            } else {
                guard let value = number() else { return nil }
                high = value
            }
        }
        guard index < scalars.count, scalars[index] == "}" else { return nil }
        let length = index + 1 - position
        if low > 1000 || (high ?? 0) > 1000 || (high.map { low > $0 } ?? false) {
            throw error("invalid repeat count", text(from: position, to: position + length))
        }
        let text = switch high {
        case nil: "{\(low),}"
        case let high? where high == low: "{\(low)}"
        case let high?: "{\(low),\(high)}"
        }
        return (text, length)
    }

    mutating func repetition(_ text: String, length: Int) throws(QueryError) {
        let start = position
        position += length
        var lazy = false
        if position < scalars.count, scalars[position] == "?" {
            lazy = true
            position += 1
        }
        switch previous {
        case .nothing:
            throw error("missing argument to repetition operator", self.text(from: start))
        case .repetition:
            throw error("invalid nested repetition operator", self.text(from: start))
        case .atom:
            output += text + (lazy ? "?" : "")
            previous = .repetition
        }
    }

    // MARK: Helpers

    func isOctalDigit(_ c: Unicode.Scalar) -> Bool { ("0"..."7").contains(c) }
    func isDecimalDigit(_ c: Unicode.Scalar) -> Bool { ("0"..."9").contains(c) }

    func hexValue(_ c: Unicode.Scalar) -> UInt32? {
        switch c {
        case "0"..."9": c.value - 0x30
        case "a"..."f": c.value - 0x61 + 10
        case "A"..."F": c.value - 0x41 + 10
        default: nil
        }
    }

    /// The pattern text from `start` to the current position (or `end`), for error messages.
    func text(from start: Int, to end: Int? = nil) -> String {
        let end = min(end ?? position, scalars.count)
        return String(String.UnicodeScalarView(scalars[start..<max(start, end)]))
    }

    func error(_ reason: String, _ fragment: String) -> QueryError {
        QueryError(.invalidRegex, "error parsing regexp: \(reason): `\(GoRegexSyntax.abbreviated(fragment))`")
    }
}
