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

    // MARK: Label-set order, on the bytes

    /// The label at `offset` of `bytes`: where its name and value are, and where the next label
    /// starts. Nil at the end. Meant for bytes built by this type (both fields, in order); on any
    /// other bytes the ranges are wrong but stay inside `bytes`, and each label moves forward.
    @inline(__always)
    public static func label(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> (name: Range<Int>, value: Range<Int>, end: Int)? {
        let count = bytes.count
        guard offset < count else { return nil }
        @inline(__always) func length(_ cursor: inout Int) -> Int {
            guard let value = try? Varint.read(bytes, at: &cursor), value < UInt64(count) else { return count }
            return Int(value)
        }
        var cursor = offset + 1
        let inner = length(&cursor)
        let end = min(count, cursor + inner)
        cursor += 1
        let nameLength = length(&cursor)
        let nameStart = min(cursor, end)
        let name = nameStart..<min(end, nameStart + nameLength)
        cursor = name.upperBound + 1
        let valueLength = length(&cursor)
        let valueStart = min(cursor, end)
        let value = valueStart..<min(end, valueStart + valueLength)
        return (name, value, max(end, offset + 1))
    }

    /// The order of two label sets' bytes, as `compareLabelSets` orders their labels: by name, then
    /// value, label by label, each compared as UTF-8 bytes (Prometheus' and Go's string order), a
    /// set that is a prefix of the other first. With `ignoring`, a label of that name in either set
    /// is left out. Select merges the nodes' answers by this order without turning a label into a
    /// `String`.
    public static func compare(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer, ignoring: UnsafeRawBufferPointer? = nil) -> Int {
        // Replicas hold the same label sets: equal bytes are equal sets, whatever is ignored.
        if a.count == b.count, WriteRequestScanner.compare(a, b) == 0 { return 0 }
        @inline(__always) func next(_ bytes: UnsafeRawBufferPointer, _ offset: inout Int) -> (name: Range<Int>, value: Range<Int>)? {
            while let label = label(bytes, at: offset) {
                offset = label.end
                if let ignoring, WriteRequestScanner.compare(bytes.uncheckedSlice(label.name), ignoring) == 0 { continue }
                return (label.name, label.value)
            }
            return nil
        }
        var i = 0
        var j = 0
        while true {
            let left = next(a, &i)
            let right = next(b, &j)
            guard let left, let right else { return left == nil ? (right == nil ? 0 : -1) : 1 }
            let byName = WriteRequestScanner.compare(a.uncheckedSlice(left.name), b.uncheckedSlice(right.name))
            if byName != 0 { return byName }
            let byValue = WriteRequestScanner.compare(a.uncheckedSlice(left.value), b.uncheckedSlice(right.value))
            if byValue != 0 { return byValue }
        }
    }

    public static func compare(_ a: [UInt8], _ b: [UInt8], ignoring: [UInt8]? = nil) -> Int {
        a.withUnsafeBytes { a in
            b.withUnsafeBytes { b in
                guard let ignoring else { return compare(a, b) }
                return ignoring.withUnsafeBytes { compare(a, b, ignoring: $0) }
            }
        }
    }

    /// `bytes` without the label named `name`; `bytes` itself when it has none.
    public static func removing(_ name: [UInt8], from bytes: [UInt8]) -> [UInt8] {
        let cut: Range<Int>? = bytes.withUnsafeBytes { raw in
            name.withUnsafeBytes { name in
                var offset = 0
                while let label = label(raw, at: offset) {
                    if WriteRequestScanner.compare(raw.uncheckedSlice(label.name), name) == 0 { return offset..<label.end }
                    offset = label.end
                }
                return nil
            }
        }
        guard let cut else { return bytes }
        var out = bytes
        out.removeSubrange(cut)
        return out
    }

    /// The bytes of a `Label` message holding a name and a value of these lengths.
    private static func innerSize(name: Int, value: Int) -> Int {
        2 + varintSize(name) + name + varintSize(value) + value
    }

    @inline(__always)
    private static func varintSize(_ value: Int) -> Int { Varint.size(UInt64(value)) }
}
