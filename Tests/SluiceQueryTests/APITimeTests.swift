import Testing

import SluiceQuery

@Suite struct APITimeTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var text: String
        var milliseconds: Int64
        var testDescription: String { text.debugDescription }
        init(_ text: String, _ milliseconds: Int64) { (self.text, self.milliseconds) = (text, milliseconds) }
    }

    static let valid: [Case] = [
        // Unix seconds: the fraction rounds to the millisecond, half away from zero.
        Case("1700000000", 1_700_000_000_000), Case("1700000000.123", 1_700_000_000_123),
        Case("1700000000.1234", 1_700_000_000_123), Case("1700000000.1235", 1_700_000_000_124),
        Case("1700000000.0005", 1_700_000_000_001), Case("1700000000.0004999", 1_700_000_000_000),
        Case("0", 0), Case("-0", 0), Case("-1.5", -1500), Case("-0.0005", -1), Case("-0.0004", 0),
        Case("1.7e9", 1_700_000_000_000), Case("17E8", 1_700_000_000_000), Case("1e-3", 1), Case("5e-4", 1),
        Case("+5", 5000), Case(".5", 500), Case("5.", 5000), Case("000123.4560", 123_456),
        Case("9223372036854775.807", Int64.max), Case("-9223372036854775.808", Int64.min),
        // RFC 3339.
        Case("2023-11-14T22:13:20Z", 1_700_000_000_000), Case("2023-11-14T22:13:20.123+01:00", 1_699_996_400_123),
        Case("2023-11-14T22:13:20.5-02:30", 1_700_009_000_500), Case("2023-11-14T22:13:20,25Z", 1_700_000_000_250),
        Case("2024-12-31T23:59:59.999999999Z", 1_735_689_599_999), Case("1970-01-01T00:00:00Z", 0),
        Case("1969-12-31T23:59:59.999Z", -1), Case("2000-02-29T00:00:00Z", 951_782_400_000),
        Case("0001-01-01T00:00:00Z", -62_135_596_800_000), Case("9999-12-31T23:59:59Z", 253_402_300_799_000),
        // Prometheus' own defaults, as clients send them back.
        Case("-292273086-05-16T16:47:06Z", -9_223_309_901_257_974_000),
        Case("292277025-08-18T07:12:54.999999999Z", 9_223_309_901_257_974_999),
    ]

    @Test(arguments: valid)
    func parses(_ c: Case) throws {
        #expect(try APITime.parse(c.text) == c.milliseconds)
    }

    @Test func defaultsMatchPrometheus() {
        // time.Unix(math.MinInt64/1000+62135596801, 0) and time.Unix(math.MaxInt64/1000-62135596801,
        // 999999999), through timestamp.FromTime.
        #expect(APITime.minTime == -9_223_309_901_257_974_000)
        #expect(APITime.maxTime == 9_223_309_901_257_974_999)
    }

    static let invalid = [
        "", " 1", "1 ", "abc", "NaN", "Inf", "-Inf", "0x10", "1_000", ".", "-", "1e", "1e+", "1.2.3",
        "9223372036854776", "-9223372036854775.809", "1e400",
        "2023-02-29T00:00:00Z", "2023-11-31T00:00:00Z", "2023-13-01T00:00:00Z", "2023-11-14T24:00:00Z",
        "2023-11-14T22:60:00Z", "2023-11-14T22:13:60Z", "2023-11-14 22:13:20Z", "2023-11-14T22:13:20",
        "2023-11-14t22:13:20Z", "2023-11-14T22:13:20z", "2023-11-14T22:13:20.Z", "2023-11-14T22:13:20+0100",
        "2023-11-14T22:13:20+24:00", "23-11-14T22:13:20Z", "2023-11-14T22:13:20Z ", "2023-11-14",
    ]

    @Test(arguments: invalid)
    func refuses(text: String) {
        #expect {
            try APITime.parse(text)
        } throws: { error in
            (error as? QueryError)?.code == .invalidTime
        }
    }

    @Test func errorNamesTheInput() {
        #expect(throws: QueryError(.invalidTime, #"cannot parse "soon" to a valid timestamp"#)) {
            try APITime.parse("soon")
        }
        #expect(throws: QueryError(.invalidTime, #"cannot parse "1e400" to a valid timestamp: out of range"#)) {
            try APITime.parse("1e400")
        }
    }
}
