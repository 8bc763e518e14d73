import SluiceCodec
import Testing

import SluiceQuery

@Suite struct SeriesSelectorTests {
    static func m(_ kind: LabelMatcher.Kind, _ name: String, _ value: String) -> LabelMatcher {
        LabelMatcher(kind, name: name, value: value)
    }

    struct Valid: Sendable, CustomTestStringConvertible {
        var text: String
        var matchers: [LabelMatcher]
        var testDescription: String { text.debugDescription }
    }

    static let valid: [Valid] = [
        Valid(text: "up", matchers: [m(.equal, "__name__", "up")]),
        Valid(text: "up{}", matchers: [m(.equal, "__name__", "up")]),
        Valid(text: " up { } ", matchers: [m(.equal, "__name__", "up")]),
        Valid(text: #"{job="x"}"#, matchers: [m(.equal, "job", "x")]),
        Valid(
            text: #"up{job="x", instance=~"a.*", x!="", y!~"z"}"#,
            matchers: [
                m(.equal, "__name__", "up"), m(.equal, "job", "x"), m(.regex, "instance", "a.*"), m(.notEqual, "x", ""),
                m(.notRegex, "y", "z"),
            ]),
        Valid(
            text: " up\t{\n  job = \"x\" ,\r\n  env!=\"dev\",\n}\n",
            matchers: [m(.equal, "__name__", "up"), m(.equal, "job", "x"), m(.notEqual, "env", "dev")]),
        Valid(text: #"{job="x",}"#, matchers: [m(.equal, "job", "x")]),
        Valid(text: #"node:cpu_seconds:rate5m{_a_1="v"}"#, matchers: [m(.equal, "__name__", "node:cpu_seconds:rate5m"), m(.equal, "_a_1", "v")]),
        Valid(text: #"{__name__=~"up|down"}"#, matchers: [m(.regex, "__name__", "up|down")]),
        Valid(text: #"{job=~".*", env="prod"}"#, matchers: [m(.regex, "job", ".*"), m(.equal, "env", "prod")]),
        Valid(text: #"up{job=""}"#, matchers: [m(.equal, "__name__", "up"), m(.equal, "job", "")]),
        Valid(text: #"sum{by="on"}"#, matchers: [m(.equal, "__name__", "sum"), m(.equal, "by", "on")]),
        Valid(text: #"{a="x",a="y"}"#, matchers: [m(.equal, "a", "x"), m(.equal, "a", "y")]),
        // Escapes, as in Go's double-quoted strings.
        Valid(
            text: #"{a="\a\b\f\n\r\t\v\\\"\x41\101\u00e9\U0001F600"}"#,
            matchers: [m(.equal, "a", "\u{7}\u{8}\u{C}\n\r\t\u{B}\\\"AA\u{E9}\u{1F600}")]),
        Valid(text: #"{a="\xc3\xa9"}"#, matchers: [m(.equal, "a", "\u{E9}")]),
        Valid(text: #"{a='it\'s "quoted"'}"#, matchers: [m(.equal, "a", #"it's "quoted""#)]),
        Valid(text: #"{a="it's"}"#, matchers: [m(.equal, "a", "it's")]),
        // Raw strings keep backslashes and may span lines.
        Valid(text: "{a=~`\\d+\\.\n\"'`}", matchers: [m(.regex, "a", "\\d+\\.\n\"'")]),
        Valid(text: "{a=\"h\u{E9}llo \u{1F600}\"}", matchers: [m(.equal, "a", "h\u{E9}llo \u{1F600}")]),
    ]

    @Test(arguments: valid)
    func parses(_ c: Valid) throws {
        #expect(try SeriesSelector.parse(c.text) == c.matchers)
    }

    struct Invalid: Sendable, CustomTestStringConvertible {
        var text: String
        var message: String
        var code = QueryError.Code.invalidSelector
        var testDescription: String { text.debugDescription }
    }

    static let invalid: [Invalid] = [
        Invalid(text: "", message: "1:1: parse error: unexpected end of input"),
        Invalid(text: "   ", message: "1:4: parse error: unexpected end of input"),
        Invalid(text: "{}", message: "1:1: parse error: vector selector must contain label matchers or metric name"),
        Invalid(text: #"{job=~".*"}"#, message: "1:1: parse error: vector selector must contain at least one non-empty matcher"),
        Invalid(text: #" {x=""}"#, message: "1:2: parse error: vector selector must contain at least one non-empty matcher"),
        Invalid(text: #"{x!~".+"}"#, message: "1:1: parse error: vector selector must contain at least one non-empty matcher"),
        Invalid(text: #"{x!="a", y=~""}"#, message: "1:1: parse error: vector selector must contain at least one non-empty matcher"),
        Invalid(text: #"up{job="x""#, message: "1:11: parse error: unexpected end of input inside braces"),
        Invalid(text: "up{", message: "1:4: parse error: unexpected end of input inside braces"),
        Invalid(text: "up{job}", message: "1:7: parse error: unexpected character '}' in label matching, expected label matching operator"),
        Invalid(text: "up{job=x}", message: "1:8: parse error: unexpected character 'x' in label matching, expected string"),
        Invalid(text: #"up{job=="x"}"#, message: "1:8: parse error: unexpected character '=' in label matching, expected string"),
        Invalid(text: #"up{job!"x"}"#, message: "1:7: parse error: unexpected character '!' in label matching, expected label matching operator"),
        Invalid(
            text: #"up{job="x" env="y"}"#,
            message: #"1:12: parse error: unexpected character 'e' in label matching, expected "," or "}""#),
        Invalid(text: "up{,}", message: "1:4: parse error: unexpected character ',' inside braces, expected label name"),
        Invalid(text: #"up{job="x",,}"#, message: "1:12: parse error: unexpected character ',' inside braces, expected label name"),
        Invalid(text: #"up{job="x", 1="y"}"#, message: "1:13: parse error: unexpected character '1' inside braces, expected label name"),
        Invalid(text: #"up{a:b="y"}"#, message: "1:5: parse error: unexpected character ':' in label matching, expected label matching operator"),
        Invalid(text: #"up{job="x"} extra"#, message: "1:13: parse error: unexpected character 'e'"),
        Invalid(text: "up[5m]", message: "1:3: parse error: unexpected character '['"),
        Invalid(text: "up down", message: "1:4: parse error: unexpected character 'd'"),
        Invalid(text: "1up", message: "1:1: parse error: unexpected character '1'"),
        Invalid(text: #""up""#, message: "1:1: parse error: unexpected character '\\\"'"),
        Invalid(text: "up{\u{E9}=\"x\"}", message: "1:4: parse error: unexpected character '\u{E9}' inside braces, expected label name"),
        Invalid(text: "up{\n  job=x}", message: "2:7: parse error: unexpected character 'x' in label matching, expected string"),
        Invalid(text: #"foo{__name__="bar"}"#, message: #"1:1: parse error: metric name must not be set twice: "foo" or "bar""#),
        Invalid(text: #"{a="\q"}"#, message: "1:5: parse error: unknown escape sequence character 'q'"),
        Invalid(text: #"{a="\'"}"#, message: "1:5: parse error: unknown escape sequence character '\\''"),
        Invalid(text: #"{a='\"'}"#, message: "1:5: parse error: unknown escape sequence character '\\\"'"),
        Invalid(text: #"{a="abc"#, message: "1:4: parse error: unterminated quoted string"),
        Invalid(text: "{a=\"a\nb\"}", message: "1:4: parse error: unterminated quoted string"),
        Invalid(text: "{a=`abc", message: "1:4: parse error: unterminated raw string"),
        Invalid(text: #"{a="\xff"}"#, message: "1:4: parse error: string is not valid UTF-8"),
        Invalid(text: #"{a="\x4"}"#, message: "1:5: parse error: invalid escape sequence: expected 2 hex digits"),
        Invalid(text: #"{a="\18"}"#, message: "1:5: parse error: invalid escape sequence: expected 3 octal digits"),
        Invalid(text: #"{a="\400"}"#, message: "1:5: parse error: octal escape value > 255"),
        Invalid(text: #"{a="\uD800"}"#, message: "1:5: parse error: escape sequence is an invalid Unicode code point"),
        Invalid(text: #"{a="\U00110000"}"#, message: "1:5: parse error: escape sequence is an invalid Unicode code point"),
        Invalid(text: #"{a="x\"#, message: "1:6: parse error: escape sequence not terminated"),
        Invalid(
            text: #"up{a=~"x("}"#, message: "1:7: parse error: error parsing regexp: missing closing ): `x(`",
            code: .invalidRegex),
    ]

    @Test(arguments: invalid)
    func refuses(_ c: Invalid) {
        #expect(throws: QueryError(c.code, c.message)) {
            try SeriesSelector.parse(c.text)
        }
    }
}
