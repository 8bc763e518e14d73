import SluiceCodec

/// The series selectors of the Prometheus HTTP API's `match[]` parameter, such as
/// `up{job="api", instance=~"10\\..*"}`.
///
/// This is the selector part of PromQL only, read with the same lexical rules, so whatever Grafana or
/// `promtool` sends to a Prometheus parses the same way here, and whatever Prometheus refuses is
/// refused here with a message in Prometheus' `line:column: parse error: ...` form.
public enum SeriesSelector {
    /// The matchers of one selector: the metric name first, as `__name__="name"`, then the matchers
    /// in the braces in the order written.
    ///
    /// Accepts `name`, `name{}`, `{label="value"}` and any mix, with `=`, `!=`, `=~` and `!~`, a
    /// trailing comma, and whitespace between any two tokens. Values are PromQL strings: double or
    /// single quotes with Go's escapes, or backticks with none. Every regex must be valid RE2.
    ///
    /// Like Prometheus, refuses a selector whose every matcher accepts the empty string, such as
    /// `{job=~".*"}`: it would select every series in the store, almost always by mistake.
    public static func parse(_ text: String) throws(QueryError) -> [LabelMatcher] {
        var parser = SelectorParser(text)
        return try parser.parse()
    }
}

/// A hand-written recursive-descent reader over the selector's UTF-8 bytes. Positions are byte
/// offsets, reported as Prometheus does: 1-based line and byte column.
private struct SelectorParser {
    let bytes: [UInt8]
    var position = 0

    init(_ text: String) {
        bytes = Array(text.utf8)
    }

    mutating func parse() throws(QueryError) -> [LabelMatcher] {
        skipSpace()
        let start = position
        var matchers: [LabelMatcher] = []
        /// Where each matcher's value starts, to place regex errors.
        var valueOffsets: [Int] = []

        var metricName: String?
        if let byte = peek(), isMetricNameStart(byte) {
            let name = identifier(continuingWith: isMetricNameByte)
            metricName = name
            matchers.append(LabelMatcher(.equal, name: "__name__", value: name))
            valueOffsets.append(start)
            skipSpace()
        }

        var sawBraces = false
        if peek() == UInt8(ascii: "{") {
            sawBraces = true
            position += 1
            try matcherList(into: &matchers, valueOffsets: &valueOffsets)
            skipSpace()
        }

        guard metricName != nil || sawBraces else { throw unexpected() }
        guard position == bytes.count else { throw unexpected() }
        guard !matchers.isEmpty else {
            throw error(at: start, "vector selector must contain label matchers or metric name")
        }
        if let metricName {
            for matcher in matchers.dropFirst() where matcher.name == "__name__" {
                throw error(at: start, "metric name must not be set twice: \(quoted(metricName)) or \(quoted(matcher.value))")
            }
        }

        var selectsSomething = false
        for (matcher, offset) in zip(matchers, valueOffsets) {
            let compiled: CompiledMatcher
            do {
                compiled = try CompiledMatcher(matcher)
            } catch {
                throw QueryError(error.code, "\(location(of: offset)): parse error: \(error.message)")
            }
            selectsSomething = selectsSomething || !compiled.matchesEmpty
        }
        guard selectsSomething else {
            throw error(at: start, "vector selector must contain at least one non-empty matcher")
        }
        return matchers
    }

    /// The matchers between `{` (already read) and `}`.
    mutating func matcherList(into matchers: inout [LabelMatcher], valueOffsets: inout [Int]) throws(QueryError) {
        while true {
            skipSpace()
            guard let byte = peek() else { throw error(at: position, "unexpected end of input inside braces") }
            if byte == UInt8(ascii: "}") {
                // Also closes after a trailing comma.
                position += 1
                return
            }
            guard isLabelNameStart(byte) else {
                throw error(at: position, "unexpected \(describe(at: position)) inside braces, expected label name")
            }
            let name = identifier(continuingWith: isLabelNameByte)

            skipSpace()
            let kind = try matchOperator()

            skipSpace()
            let valueOffset = position
            guard let quote = peek(), quote == UInt8(ascii: "\"") || quote == UInt8(ascii: "'") || quote == UInt8(ascii: "`")
            else {
                throw error(at: position, "unexpected \(describe(at: position)) in label matching, expected string")
            }
            let value = try string()
            matchers.append(LabelMatcher(kind, name: name, value: value))
            valueOffsets.append(valueOffset)

            skipSpace()
            switch peek() {
            case UInt8(ascii: ","):
                position += 1
            case UInt8(ascii: "}"):
                position += 1
                return
            case nil:
                throw error(at: position, "unexpected end of input inside braces")
            default:
                throw error(at: position, "unexpected \(describe(at: position)) in label matching, expected \",\" or \"}\"")
            }
        }
    }

    mutating func matchOperator() throws(QueryError) -> LabelMatcher.Kind {
        let start = position
        switch (peek(), peek(offset: 1)) {
        case (UInt8(ascii: "="), UInt8(ascii: "~")):
            position += 2
            return .regex
        case (UInt8(ascii: "="), _):
            position += 1
            return .equal
        case (UInt8(ascii: "!"), UInt8(ascii: "=")):
            position += 2
            return .notEqual
        case (UInt8(ascii: "!"), UInt8(ascii: "~")):
            position += 2
            return .notRegex
        case (nil, _):
            throw error(at: start, "unexpected end of input inside braces")
        default:
            throw error(at: start, "unexpected \(describe(at: start)) in label matching, expected label matching operator")
        }
    }

    // MARK: Strings

    /// A PromQL string literal at `position`, as Go's `strconv.Unquote` and PromQL's lexer read it.
    mutating func string() throws(QueryError) -> String {
        let start = position
        let quote = bytes[position]
        position += 1

        if quote == UInt8(ascii: "`") {
            guard let close = bytes[position...].firstIndex(of: quote) else {
                throw error(at: start, "unterminated raw string")
            }
            defer { position = close + 1 }
            return String(decoding: bytes[position..<close], as: UTF8.self)
        }

        var value: [UInt8] = []
        while true {
            guard let byte = peek(), byte != UInt8(ascii: "\n") else {
                throw error(at: start, "unterminated quoted string")
            }
            if byte == quote {
                position += 1
                break
            }
            if byte == UInt8(ascii: "\\") {
                try escape(in: quote, into: &value)
            } else {
                value.append(byte)
                position += 1
            }
        }
        // `\x` and octal escapes give bytes, which may not form UTF-8. A Swift String cannot hold
        // that, and no stored label value can equal it, so it is refused rather than altered.
        guard let string = String(validating: value, as: UTF8.self) else {
            throw error(at: start, "string is not valid UTF-8")
        }
        return string
    }

    /// One escape at `position` (a backslash), appended as UTF-8 bytes.
    mutating func escape(in quote: UInt8, into value: inout [UInt8]) throws(QueryError) {
        let start = position
        position += 1
        guard let c = peek() else { throw error(at: start, "escape sequence not terminated") }
        position += 1
        switch c {
        case UInt8(ascii: "a"): value.append(0x07)
        case UInt8(ascii: "b"): value.append(0x08)
        case UInt8(ascii: "f"): value.append(0x0C)
        case UInt8(ascii: "n"): value.append(0x0A)
        case UInt8(ascii: "r"): value.append(0x0D)
        case UInt8(ascii: "t"): value.append(0x09)
        case UInt8(ascii: "v"): value.append(0x0B)
        case UInt8(ascii: "\\"): value.append(c)
        case quote: value.append(c)
        case UInt8(ascii: "0")...UInt8(ascii: "7"):
            position -= 1
            let code = try digits(3, base: 8, escapeAt: start)
            guard code <= 0xFF else { throw error(at: start, "octal escape value > 255") }
            value.append(UInt8(code))
        case UInt8(ascii: "x"):
            value.append(UInt8(try digits(2, base: 16, escapeAt: start)))
        case UInt8(ascii: "u"), UInt8(ascii: "U"):
            let code = try digits(c == UInt8(ascii: "u") ? 4 : 8, base: 16, escapeAt: start)
            guard let scalar = Unicode.Scalar(code) else {
                throw error(at: start, "escape sequence is an invalid Unicode code point")
            }
            value.append(contentsOf: String(Character(scalar)).utf8)
        default:
            throw error(at: start, "unknown escape sequence \(describe(at: position - 1))")
        }
    }

    /// Exactly `count` digits of `base`, as Go requires for `\NNN`, `\xHH`, `\uHHHH`, `\UHHHHHHHH`.
    mutating func digits(_ count: Int, base: UInt32, escapeAt start: Int) throws(QueryError) -> UInt32 {
        var code: UInt32 = 0
        for _ in 0..<count {
            guard let byte = peek(), let digit = digitValue(byte), digit < base else {
                throw error(at: start, "invalid escape sequence: expected \(count) \(base == 8 ? "octal" : "hex") digits")
            }
            code = code * base + digit
            position += 1
        }
        return code
    }

    func digitValue(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(byte - UInt8(ascii: "a")) + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(byte - UInt8(ascii: "A")) + 10
        default: nil
        }
    }

    // MARK: Tokens

    func peek(offset: Int = 0) -> UInt8? {
        position + offset < bytes.count ? bytes[position + offset] : nil
    }

    mutating func skipSpace() {
        while let byte = peek(),
            byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\n")
                || byte == UInt8(ascii: "\r")
        {
            position += 1
        }
    }

    /// The identifier at `position`, whose first byte the caller has checked. ASCII-only, so the
    /// bytes are valid UTF-8 on their own.
    mutating func identifier(continuingWith isPart: (UInt8) -> Bool) -> String {
        let start = position
        position += 1
        while let byte = peek(), isPart(byte) { position += 1 }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    func isLabelNameStart(_ byte: UInt8) -> Bool {
        isLetter(byte) || byte == UInt8(ascii: "_")
    }

    func isLabelNameByte(_ byte: UInt8) -> Bool {
        isLabelNameStart(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    func isMetricNameStart(_ byte: UInt8) -> Bool {
        isLabelNameStart(byte) || byte == UInt8(ascii: ":")
    }

    func isMetricNameByte(_ byte: UInt8) -> Bool {
        isLabelNameByte(byte) || byte == UInt8(ascii: ":")
    }

    func isLetter(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
    }

    // MARK: Errors

    /// What is at `offset`, for messages: "end of input" or the character, quoted.
    func describe(at offset: Int) -> String {
        guard offset < bytes.count else { return "end of input" }
        // Back up to the start of a multi-byte character, then decode just it.
        var start = offset
        while start > 0, bytes[start] & 0xC0 == 0x80 { start -= 1 }
        let text = String(decoding: bytes[start..<min(start + 4, bytes.count)], as: UTF8.self)
        let scalar = text.unicodeScalars.first ?? "\u{FFFD}"
        return "character '\(scalar.escaped(asASCII: false))'"
    }

    func unexpected() -> QueryError {
        error(at: position, "unexpected \(describe(at: position))")
    }

    func quoted(_ text: String) -> String {
        "\"" + text.unicodeScalars.map { $0.escaped(asASCII: false) }.joined() + "\""
    }

    func location(of offset: Int) -> String {
        let before = bytes[..<min(offset, bytes.count)]
        let line = before.count(where: { $0 == UInt8(ascii: "\n") }) + 1
        let lineStart = before.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0
        return "\(line):\(offset - lineStart + 1)"
    }

    func error(at offset: Int, _ reason: String) -> QueryError {
        QueryError(.invalidSelector, "\(location(of: offset)): parse error: \(reason)")
    }
}

extension SeriesSelector {
    /// The selector text for `matchers`, `{name="value", ...}`, that `parse` reads back: for passing
    /// matchers on to another server's query API.
    public static func format(_ matchers: [LabelMatcher]) -> String {
        "{" + matchers.map { matcher in
            let op = switch matcher.kind {
            case .notEqual: "!="
            case .regex: "=~"
            case .notRegex: "!~"
            default: "="
            }
            var quoted = "\""
            for scalar in matcher.value.unicodeScalars {
                switch scalar {
                case "\\": quoted += "\\\\"
                case "\"": quoted += "\\\""
                case "\n": quoted += "\\n"
                case "\r": quoted += "\\r"
                case "\t": quoted += "\\t"
                default: quoted.unicodeScalars.append(scalar)
                }
            }
            return matcher.name + op + quoted + "\""
        }.joined(separator: ",") + "}"
    }
}
