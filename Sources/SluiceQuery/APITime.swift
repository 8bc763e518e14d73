/// Times in the Prometheus HTTP API (`start`, `end`, `time`), as milliseconds since the Unix epoch.
///
/// Prometheus accepts Unix seconds with an optional fraction, or RFC 3339. Seconds are read here as
/// exact decimals, not through a `Double` as Prometheus does: the results agree to the millisecond
/// (Prometheus rounds the fraction to milliseconds, half away from zero, and so does this) except
/// where binary floating point would have misrounded a decimal like `…0.0005`.
public enum APITime {
    /// The `start` Prometheus uses when a request has none: `time.Unix(math.MinInt64/1000 +
    /// 62135596801, 0)`, far enough from `Int64.min` that Go's calendar arithmetic cannot overflow.
    /// Clients send it back formatted, so `parse` accepts `-292273086-05-16T16:47:06Z`.
    public static let minTime: Int64 = (Int64.min / 1000 + 62_135_596_801) * 1000

    /// The `end` Prometheus uses when a request has none: `time.Unix(math.MaxInt64/1000 -
    /// 62135596801, 999999999)`, whose last 999 ms survive the conversion to milliseconds. Clients send
    /// it back formatted, so `parse` accepts `292277025-08-18T07:12:54.999999999Z`.
    public static let maxTime: Int64 = (Int64.max / 1000 - 62_135_596_801) * 1000 + 999

    static let minTimeFormatted = "-292273086-05-16T16:47:06Z"
    static let maxTimeFormatted = "292277025-08-18T07:12:54.999999999Z"

    /// Milliseconds for a Unix timestamp in seconds (`1700000000`, `1700000000.123`, `-1.5`, `1.7e9`)
    /// or an RFC 3339 time (`2023-11-14T22:13:20Z`, `2023-11-14T22:13:20.123+01:00`).
    ///
    /// An absent parameter is the caller's business: "" is an error here, as it is to Prometheus'
    /// `parseTime`. `NaN` and `Inf`, which Go's float parser accepts and then turns into an arbitrary
    /// time, are errors too.
    public static func parse(_ text: String) throws(QueryError) -> Int64 {
        let bytes = Array(text.utf8)
        if let seconds = UnixSeconds(bytes) {
            guard let milliseconds = seconds.milliseconds else {
                throw QueryError(.invalidTime, "cannot parse \(quoted(text)) to a valid timestamp: out of range")
            }
            return milliseconds
        }
        if let milliseconds = RFC3339.milliseconds(bytes) { return milliseconds }
        if text.utf8Equals(minTimeFormatted) { return minTime }
        if text.utf8Equals(maxTimeFormatted) { return maxTime }
        throw QueryError(.invalidTime, "cannot parse \(quoted(text)) to a valid timestamp")
    }

    static func quoted(_ text: String) -> String {
        "\"" + GoRegexSyntax.abbreviated(text).unicodeScalars.map { $0.escaped(asASCII: false) }.joined() + "\""
    }
}

/// A decimal number of seconds, `[+-]digits[.digits][e[+-]digits]`, kept as its digits so that
/// converting to milliseconds is exact.
private struct UnixSeconds {
    var negative: Bool
    /// The significant digits, leading zeros dropped, as values 0...9.
    var digits: [UInt8]
    /// The number is `digits × 10^exponent`.
    var exponent: Int

    init?(_ bytes: [UInt8]) {
        var index = 0
        func at(_ i: Int) -> UInt8? { i < bytes.count ? bytes[i] : nil }
        func isDigit(_ byte: UInt8?) -> Bool { byte.map { (0x30...0x39).contains($0) } ?? false }

        negative = at(index) == UInt8(ascii: "-")
        if negative || at(index) == UInt8(ascii: "+") { index += 1 }

        digits = []
        var sawDigit = false
        while isDigit(at(index)) {
            digits.append(bytes[index] - 0x30)
            sawDigit = true
            index += 1
        }
        var fractionDigits = 0
        if at(index) == UInt8(ascii: ".") {
            index += 1
            while isDigit(at(index)) {
                digits.append(bytes[index] - 0x30)
                fractionDigits += 1
                sawDigit = true
                index += 1
            }
        }
        guard sawDigit else { return nil }

        var written = 0
        if at(index) == UInt8(ascii: "e") || at(index) == UInt8(ascii: "E") {
            index += 1
            let exponentNegative = at(index) == UInt8(ascii: "-")
            if exponentNegative || at(index) == UInt8(ascii: "+") { index += 1 }
            guard isDigit(at(index)) else { return nil }
            while isDigit(at(index)) {
                // Clamped: past this, the value is out of range or zero either way.
                written = min(written * 10 + Int(bytes[index] - 0x30), 100_000)
                index += 1
            }
            if exponentNegative { written = -written }
        }
        guard index == bytes.count else { return nil }

        let leadingZeros = digits.prefix { $0 == 0 }.count
        digits.removeFirst(leadingZeros)
        exponent = written - fractionDigits
    }

    /// Rounded to the millisecond, half away from zero; nil when it does not fit in an `Int64`.
    var milliseconds: Int64? {
        // digits × 10^(exponent + 3) milliseconds: the first `whole` digits are the integer part.
        let whole = digits.count + exponent + 3
        if whole <= 0 {
            // Below one millisecond: rounds to 0 or 1 only when the first digit is right at the point.
            let roundsUp = whole == 0 && (digits.first ?? 0) >= 5
            return roundsUp ? (negative ? -1 : 1) : 0
        }
        guard whole <= 19 else { return nil }
        var magnitude: UInt64 = 0
        for position in 0..<whole {
            let digit = position < digits.count ? UInt64(digits[position]) : 0
            magnitude = magnitude * 10 + digit
        }
        if whole < digits.count, digits[whole] >= 5 { magnitude += 1 }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
            return magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
        }
        guard magnitude <= UInt64(Int64.max) else { return nil }
        return Int64(magnitude)
    }
}

/// RFC 3339 as Go's `time.Parse(time.RFC3339Nano, ...)` reads it: a four-digit year, `T`, seconds
/// 00-59, an optional fraction of any length (truncated to nanoseconds, then to milliseconds), and
/// `Z` or a `±hh:mm` offset.
private enum RFC3339 {
    static func milliseconds(_ bytes: [UInt8]) -> Int64? {
        guard bytes.count >= 20 else { return nil }
        func number(_ from: Int, _ count: Int) -> Int? {
            var value = 0
            for i in from..<(from + count) {
                guard i < bytes.count, (0x30...0x39).contains(bytes[i]) else { return nil }
                value = value * 10 + Int(bytes[i] - 0x30)
            }
            return value
        }
        func isByte(_ i: Int, _ ascii: Unicode.Scalar) -> Bool { i < bytes.count && bytes[i] == UInt8(ascii: ascii) }

        guard let year = number(0, 4), isByte(4, "-"), let month = number(5, 2), isByte(7, "-"),
            let day = number(8, 2), isByte(10, "T"), let hour = number(11, 2), isByte(13, ":"),
            let minute = number(14, 2), isByte(16, ":"), let second = number(17, 2)
        else { return nil }
        guard (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day),
            hour < 24, minute < 60, second < 60
        else { return nil }

        var index = 19
        var milliseconds = 0
        if isByte(index, ".") || isByte(index, ",") {
            index += 1
            var digits = 0
            while index < bytes.count, (0x30...0x39).contains(bytes[index]) {
                if digits < 3 { milliseconds = milliseconds * 10 + Int(bytes[index] - 0x30) }
                digits += 1
                index += 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<max(digits, 3) { milliseconds *= 10 }
        }

        var offsetSeconds = 0
        if isByte(index, "Z") {
            index += 1
        } else if isByte(index, "+") || isByte(index, "-") {
            guard let offsetHours = number(index + 1, 2), isByte(index + 3, ":"),
                let offsetMinutes = number(index + 4, 2), offsetHours < 24, offsetMinutes < 60
            else { return nil }
            offsetSeconds = (offsetHours * 3600 + offsetMinutes * 60) * (isByte(index, "-") ? -1 : 1)
            index += 6
        } else {
            return nil
        }
        guard index == bytes.count else { return nil }

        let days = daysSinceEpoch(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        return Int64(seconds) * 1000 + Int64(milliseconds)
    }

    static func isLeap(_ year: Int) -> Bool { year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days from 1970-01-01 in the proleptic Gregorian calendar (Howard Hinnant's `days_from_civil`).
    static func daysSinceEpoch(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
