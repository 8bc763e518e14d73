import SluiceCodec

/// Response bodies of the Prometheus HTTP API, written by hand.
///
/// These are the envelope and the two data shapes the series and label endpoints need, so no JSON
/// library and no Foundation sit in the query path. Strings are escaped as Go's `encoding/json` does,
/// which Prometheus uses: besides `"`, `\` and control characters, it escapes `<`, `>`, `&`, U+2028 and
/// U+2029, so a body is byte-for-byte what a Prometheus would send for the same data.
public enum PromAPIJSON {
    /// `{"status":"success","data":["a","b"]}`: label names or label values, in the order given.
    public static func success(strings: [String], warnings: [String] = []) -> String {
        var out = JSONWriter()
        out.raw(#"{"status":"success","data":["#)
        for (index, string) in strings.enumerated() {
            if index > 0 { out.raw(",") }
            out.string(string)
        }
        out.raw("]")
        out.warnings(warnings)
        out.raw("}")
        return out.text
    }

    /// `{"status":"success","data":[{"__name__":"up","job":"x"},...]}`: series label sets, in the
    /// order given, each set's labels in its own order (sorted by name, as Prometheus writes them).
    public static func success(series: [[Label]], warnings: [String] = []) -> String {
        var out = JSONWriter()
        out.raw(#"{"status":"success","data":["#)
        for (index, labels) in series.enumerated() {
            out.raw(index > 0 ? ",{" : "{")
            for (position, label) in labels.enumerated() {
                if position > 0 { out.raw(",") }
                out.string(label.name)
                out.raw(":")
                out.string(label.value)
            }
            out.raw("}")
        }
        out.raw("]")
        out.warnings(warnings)
        out.raw("}")
        return out.text
    }

    /// `{"status":"error","errorType":"bad_data","error":"..."}`. `type` is one of Prometheus' error
    /// types (`bad_data`, `execution`, `internal`, `unavailable`, `timeout`, `canceled`, `not_found`),
    /// which clients read to tell their own mistakes from the server's.
    public static func error(type: String, message: String, warnings: [String] = []) -> String {
        var out = JSONWriter()
        out.raw(#"{"status":"error","errorType":"#)
        out.string(type)
        out.raw(#","error":"#)
        out.string(message)
        out.warnings(warnings)
        out.raw("}")
        return out.text
    }
}

/// Appends JSON to a byte buffer; the body becomes a `String` once, at the end.
private struct JSONWriter {
    var bytes: [UInt8] = []

    init() {
        bytes.reserveCapacity(256)
    }

    var text: String { String(decoding: bytes, as: UTF8.self) }

    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// `,"warnings":[...]`, only when there are some, as Prometheus omits an empty list.
    mutating func warnings(_ warnings: [String]) {
        guard !warnings.isEmpty else { return }
        raw(#","warnings":["#)
        for (index, warning) in warnings.enumerated() {
            if index > 0 { raw(",") }
            string(warning)
        }
        raw("]")
    }

    /// A quoted, escaped JSON string. A Swift `String` is always valid UTF-8, so every byte outside
    /// the escaped set is copied as is.
    mutating func string(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        var iterator = value.utf8.makeIterator()
        var pending: [UInt8] = []
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "\""): raw("\\\"")
            case UInt8(ascii: "\\"): raw("\\\\")
            case UInt8(ascii: "\n"): raw("\\n")
            case UInt8(ascii: "\r"): raw("\\r")
            case UInt8(ascii: "\t"): raw("\\t")
            case 0x00..<0x20, UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "&"):
                appendUnicodeEscape(UInt32(byte))
            case 0xE2:
                // U+2028 and U+2029 (E2 80 A8, E2 80 A9) end lines in JavaScript.
                pending.removeAll(keepingCapacity: true)
                pending.append(byte)
                while pending.count < 3, let next = iterator.next() { pending.append(next) }
                if pending.count == 3, pending[1] == 0x80, pending[2] == 0xA8 || pending[2] == 0xA9 {
                    appendUnicodeEscape(pending[2] == 0xA8 ? 0x2028 : 0x2029)
                } else {
                    bytes.append(contentsOf: pending)
                }
            default:
                bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func appendUnicodeEscape(_ code: UInt32) {
        let hex = Array("0123456789abcdef".utf8)
        raw("\\u")
        for shift in stride(from: 12, through: 0, by: -4) {
            bytes.append(hex[Int((code >> UInt32(shift)) & 0xF)])
        }
    }
}
