/// A label set as the head keys its series: each label as a canonical protobuf `labels` field of a
/// `TimeSeries` (`0x0A`, length, then `0x0A`, name length, name, `0x12`, value length, value, every
/// length as short as it can be), in the set's order.
///
/// That is how Prometheus and every other sender encode a series' labels, so for nearly every
/// series of a 1.0 body the bytes are already there, in one piece at the start of its message: the
/// head hashes and compares them in place (`ScannedSeries`), and turns them into `String`s only for
/// a series it has never seen. Every way in (a scanned body, a decoded request, WAL replay) builds
/// the same bytes for the same labels.
public enum LabelSetBytes {
    /// Appends one label.
    public static func append(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, to out: ByteScratch) {
        out.append(0x0A)
        Varint.append(UInt64(innerSize(name: name.count, value: value.count)), to: out)
        out.appendLengthDelimited(field: 1, name)
        out.appendLengthDelimited(field: 2, value)
    }

    /// The bytes of `labels`.
    public static func bytes(_ labels: [Label]) -> [UInt8] {
        let out = ByteScratch(capacity: labels.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 16 })
        for label in labels {
            var name = label.name
            var value = label.value
            name.withUTF8 { name in
                value.withUTF8 { value in
                    append(name: UnsafeRawBufferPointer(name), value: UnsafeRawBufferPointer(value), to: out)
                }
            }
        }
        return out.toArray()
    }

    /// The label fields of a scanned series where they stand in the body, when they already are
    /// these bytes: they open its message one after another, and each is name then value with the
    /// shortest lengths and nothing else. Nil otherwise; `append` then builds them.
    public static func inPlace(_ labels: UnsafeBufferPointer<WriteRequestScanner.LabelRange>, message: Range<Int>) -> Range<Int>? {
        var expected = message.lowerBound
        for label in labels {
            // The usual label: every length below 128, so each takes one byte.
            if label.field.lowerBound == expected, label.field.count < 130, label.name.lowerBound == expected + 4,
                label.value.lowerBound == label.name.upperBound + 2, label.value.upperBound == label.field.upperBound,
                label.field.count == 6 + label.name.count + label.value.count
            {
                expected = label.field.upperBound
                continue
            }
            let name = label.name.count
            let value = label.value.count
            let inner = innerSize(name: name, value: value)
            let nameStart = expected + 1 + varintSize(inner) + 1 + varintSize(name)
            guard label.field.lowerBound == expected, label.name.lowerBound == nameStart,
                label.value.lowerBound == label.name.upperBound + 1 + varintSize(value),
                label.value.upperBound == label.field.upperBound, label.field.count == 1 + varintSize(inner) + inner
            else { return nil }
            expected = label.field.upperBound
        }
        return message.lowerBound..<expected
    }

    /// The labels `bytes` holds. Only for bytes built by this type.
    public static func labels(_ bytes: UnsafeRawBufferPointer) -> [Label] {
        var labels: [Label] = []
        var offset = 0
        func length() -> Int {
            var length = 0
            var shift = 0
            while true {
                let byte = bytes[offset]
                offset += 1
                length |= Int(byte & 0x7F) << shift
                if byte < 0x80 { return length }
                shift += 7
            }
        }
        func field() -> String {
            offset += 1
            let count = length()
            defer { offset += count }
            return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + count]), as: UTF8.self)
        }
        while offset < bytes.count {
            offset += 1
            _ = length()
            let name = field()
            labels.append(Label(name: name, value: field()))
        }
        return labels
    }

    public static func labels(_ bytes: [UInt8]) -> [Label] {
        bytes.withUnsafeBytes { labels($0) }
    }

    /// The bytes of a `Label` message holding a name and a value of these lengths.
    private static func innerSize(name: Int, value: Int) -> Int {
        2 + varintSize(name) + name + varintSize(value) + value
    }

    @inline(__always)
    private static func varintSize(_ value: Int) -> Int { Varint.size(UInt64(value)) }
}
