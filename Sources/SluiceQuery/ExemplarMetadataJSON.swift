import SluiceCodec

/// One series' exemplars, as `/api/v1/query_exemplars` answers them.
public struct SeriesExemplars: Hashable, Sendable {
    public var seriesLabels: [Label]
    /// In time order.
    public var exemplars: [Exemplar]

    public init(seriesLabels: [Label], exemplars: [Exemplar]) {
        self.seriesLabels = seriesLabels
        self.exemplars = exemplars
    }
}

/// The bodies of `/api/v1/metadata` and `/api/v1/query_exemplars`, byte for byte as Prometheus writes
/// them, shared by the storage node, which answers them, and select, which joins the nodes' answers.
extension PromAPIJSON {
    /// `{"status":"success","data":{"up":[{"type":"gauge","help":"...","unit":""}]}}`. Families in the
    /// order given; Prometheus' encoder sorts map keys, so callers pass them sorted by name.
    public static func success(metadata: [(name: String, entries: [MetricMetadata])]) -> String {
        var out = APIJSONText()
        out.raw(#"{"status":"success","data":{"#)
        for (index, family) in metadata.enumerated() {
            if index > 0 { out.raw(",") }
            out.string(family.name)
            out.raw(":[")
            for (position, entry) in family.entries.enumerated() {
                out.raw(position > 0 ? #",{"type":"# : #"{"type":"#)
                out.string(metricTypeName(entry.type))
                out.raw(#","help":"#)
                out.string(entry.help)
                out.raw(#","unit":"#)
                out.string(entry.unit)
                out.raw("}")
            }
            out.raw("]")
        }
        out.raw("}}")
        return out.text
    }

    /// `{"status":"success","data":[{"seriesLabels":{...},"exemplars":[{"labels":{...},"value":"1.5",
    /// "timestamp":1600000000.123}]}]}`: values as Prometheus' quoted floats, timestamps as seconds.
    public static func success(exemplars: [SeriesExemplars], warnings: [String] = []) -> String {
        var out = APIJSONText()
        out.raw(#"{"status":"success","data":["#)
        for (index, series) in exemplars.enumerated() {
            out.raw(index > 0 ? #",{"seriesLabels":"# : #"{"seriesLabels":"#)
            out.labels(series.seriesLabels)
            out.raw(#","exemplars":["#)
            for (position, exemplar) in series.exemplars.enumerated() {
                out.raw(position > 0 ? #",{"labels":"# : #"{"labels":"#)
                out.labels(exemplar.labels)
                out.raw(#","value":"#)
                out.string(formatValue(exemplar.value))
                out.raw(#","timestamp":"#)
                out.text(formatTimestamp(exemplar.timestamp))
                out.raw("}")
            }
            out.raw("]}")
        }
        out.raw("]")
        if !warnings.isEmpty {
            out.raw(#","warnings":["#)
            for (index, warning) in warnings.enumerated() {
                if index > 0 { out.raw(",") }
                out.string(warning)
            }
            out.raw("]")
        }
        out.raw("}")
        return out.text
    }

    /// Prometheus' name of a metric type (`model.MetricType`); numbers it does not know are "unknown".
    public static func metricTypeName(_ type: MetricMetadata.MetricType) -> String {
        switch type {
        case .counter: "counter"
        case .gauge: "gauge"
        case .histogram: "histogram"
        case .gaugeHistogram: "gaugehistogram"
        case .summary: "summary"
        case .info: "info"
        case .stateset: "stateset"
        default: "unknown"
        }
    }

    /// The type `metricTypeName` names; anything else is `.unknown`.
    public static func metricType(named name: String) -> MetricMetadata.MetricType {
        switch name {
        case "counter": .counter
        case "gauge": .gauge
        case "histogram": .histogram
        case "gaugehistogram": .gaugeHistogram
        case "summary": .summary
        case "info": .info
        case "stateset": .stateset
        default: .unknown
        }
    }

    /// A sample value as Prometheus' `jsonutil.MarshalFloat` writes it: Go's shortest `%f`, or `%e`
    /// below 1e-6 and from 1e21 on; `NaN`, `+Inf`, `-Inf` for the others.
    public static func formatValue(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value < 0 ? "-Inf" : "+Inf" }
        if value == 0 { return value.sign == .minus ? "-0" : "0" }
        // Swift's description has the shortest digits that read back as `value`, as Go's -1
        // precision has; only the notation differs.
        let text = value.magnitude.description
        let parts = text.split(separator: "e", maxSplits: 1)
        let exponent = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
        let mantissa = parts[0].split(separator: ".", maxSplits: 1)
        let whole = Array(mantissa[0].utf8)
        let fraction = mantissa.count > 1 ? Array(mantissa[1].utf8) : []
        var digits = whole + fraction
        // `value` is 0.digits × 10^point.
        var point = whole.count + exponent
        while digits.first == UInt8(ascii: "0") {
            digits.removeFirst()
            point -= 1
        }
        while digits.last == UInt8(ascii: "0") { digits.removeLast() }
        let sign = value < 0 ? "-" : ""
        let zero = UInt8(ascii: "0")
        if value.magnitude < 1e-6 || value.magnitude >= 1e21 {
            var out = sign + String(decoding: digits.prefix(1), as: UTF8.self)
            if digits.count > 1 { out += "." + String(decoding: digits.dropFirst(), as: UTF8.self) }
            let e = point - 1
            let magnitude = String(e.magnitude)
            return out + (e < 0 ? "e-" : "e+") + (magnitude.count < 2 ? "0" : "") + magnitude
        }
        if point <= 0 {
            return sign + "0." + String(decoding: Array(repeating: zero, count: -point) + digits, as: UTF8.self)
        }
        if point >= digits.count {
            return sign + String(decoding: digits + Array(repeating: zero, count: point - digits.count), as: UTF8.self)
        }
        return sign + String(decoding: digits[..<point], as: UTF8.self) + "." + String(decoding: digits[point...], as: UTF8.self)
    }

    /// A millisecond timestamp as seconds, as Prometheus' `jsonutil.MarshalTimestamp` writes it: three
    /// fraction digits, none when the fraction is zero.
    public static func formatTimestamp(_ milliseconds: Int64) -> String {
        let sign = milliseconds < 0 ? "-" : ""
        let magnitude = milliseconds.magnitude
        let fraction = magnitude % 1000
        guard fraction != 0 else { return sign + String(magnitude / 1000) }
        let digits = String(fraction)
        return sign + String(magnitude / 1000) + "." + String(repeating: "0", count: 3 - digits.count) + digits
    }
}

/// JSON text with strings escaped as Go's `encoding/json` escapes them (see `PromAPIJSON`).
private struct APIJSONText {
    var bytes: [UInt8] = []

    var text: String { String(decoding: bytes, as: UTF8.self) }

    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    mutating func text(_ text: String) {
        bytes.append(contentsOf: text.utf8)
    }

    /// `{"name":"value",...}` in the order given.
    mutating func labels(_ labels: [Label]) {
        raw("{")
        for (index, label) in labels.enumerated() {
            if index > 0 { raw(",") }
            string(label.name)
            raw(":")
            string(label.value)
        }
        raw("}")
    }

    mutating func string(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": raw("\\\"")
            case "\\": raw("\\\\")
            case "\n": raw("\\n")
            case "\r": raw("\\r")
            case "\t": raw("\\t")
            case "<", ">", "&", "\u{2028}", "\u{2029}": escape(scalar.value)
            default:
                if scalar.value < 0x20 {
                    escape(scalar.value)
                } else {
                    UTF8.encode(scalar) { bytes.append($0) }
                }
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func escape(_ code: UInt32) {
        let hex = Array("0123456789abcdef".utf8)
        raw("\\u")
        for shift in stride(from: 12, through: 0, by: -4) {
            bytes.append(hex[Int((code >> UInt32(shift)) & 0xF)])
        }
    }
}
