import SluiceCodec

/// A label set as the head keys its series: each label as a canonical protobuf `labels` field of a
/// `TimeSeries` (`0x0A`, length, then `0x0A`, name length, name, `0x12`, value length, value, every
/// length as short as it can be), in the set's order.
///
/// That is how Prometheus and every other sender encode a series' labels, so for nearly every
/// series of a 1.0 body the bytes are already there, in one piece at the start of its message: the
/// head hashes and compares them in place (`ScannedWrite`), and turns them into `String`s only for
/// a series it has never seen. Every way in (a scanned body, a decoded request, WAL replay) builds
/// the same bytes for the same labels.
enum LabelSetBytes {
    /// Appends one label.
    static func append(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, to out: ByteScratch) {
        out.append(0x0A)
        Varint.append(UInt64(innerSize(name: name.count, value: value.count)), to: out)
        out.appendLengthDelimited(field: 1, name)
        out.appendLengthDelimited(field: 2, value)
    }

    /// The bytes of `labels`.
    static func bytes(_ labels: [Label]) -> [UInt8] {
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
    static func inPlace(_ labels: UnsafeBufferPointer<WriteRequestScanner.LabelRange>, message: Range<Int>) -> Range<Int>? {
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
    static func labels(_ bytes: UnsafeRawBufferPointer) -> [Label] {
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

    static func labels(_ bytes: [UInt8]) -> [Label] {
        bytes.withUnsafeBytes { labels($0) }
    }

    /// The bytes of a `Label` message holding a name and a value of these lengths.
    private static func innerSize(name: Int, value: Int) -> Int {
        2 + varintSize(name) + name + varintSize(value) + value
    }

    @inline(__always)
    private static func varintSize(_ value: Int) -> Int { Varint.size(UInt64(value)) }
}

/// A remote-write body of float samples, scanned in place and ready for the head: each series'
/// label bytes (`LabelSetBytes`) with their hash, and its samples. No message is decoded and no
/// `String` built but for a 2.0 body's metadata; the head takes it under its lock with one lookup
/// per series.
///
/// A body that holds exemplars or native histograms (or a 1.0 body with metadata) needs the whole
/// message: `scan` and `scanV2` say so, and the handler decodes it instead.
struct ScannedWrite {
    struct Series {
        /// xxHash64 of the label bytes.
        var hash: UInt64
        /// The label bytes, in `body` or, when they had to be rebuilt, in `rebuilt`.
        var key: Range<Int>
        var keyInBody: Bool
        /// The samples, in `samples`.
        var samples: Range<Int>
    }

    /// The decoded body; the keys in place point into it.
    let body: ByteScratch
    var series: [Series] = []
    /// Label bytes of series whose labels were not already in canonical form (every 2.0 series);
    /// created on first use.
    private(set) var rebuilt: ByteScratch?
    var samples: [Sample] = []
    /// A 2.0 body's per-series metadata, as the full decode gives it, each entry once.
    var metadata: [MetricMetadata] = []

    /// The outcome of scanning a body.
    enum Scanned {
        /// Floats only: ready for the head.
        case floats(ScannedWrite)
        /// Valid, but it holds exemplars, histograms or metadata.
        case needsDecoding
    }

    /// Validates the decoded 1.0 body in `body` with `scanner` and, when it holds only float samples,
    /// collects them.
    ///
    /// - Throws: what `WriteRequestScanner.scan` throws; nothing is kept from an invalid body.
    static func scan(_ body: ByteScratch, with scanner: WriteRequestScanner) throws(CodecError) -> Scanned {
        let bytes = body.bytes
        var write = ScannedWrite(body: body)
        // A usual sample field takes about 18 bytes.
        write.samples.reserveCapacity(bytes.count / 16)
        var floatsOnly = true
        let summary = try scanner.scan(bytes) { (series) throws(CodecError) in
            guard floatsOnly, series.exemplars == 0, series.histograms == 0 else {
                floatsOnly = false
                return
            }
            guard series.samples > 0 else { return }
            try write.add(series.labels, message: series.message, in: bytes)
        }
        guard floatsOnly, summary.metadata.isEmpty else { return .needsDecoding }
        return .floats(write)
    }

    private mutating func add(
        _ labels: UnsafeBufferPointer<WriteRequestScanner.LabelRange>, message: Range<Int>, in bytes: UnsafeRawBufferPointer
    ) throws(CodecError) {
        if let key = LabelSetBytes.inPlace(labels, message: message) {
            let sampleStart = samples.count
            // Nothing but labels comes before `key.upperBound`, so the samples are all after it.
            try WriteRequestScanner.appendSamples(of: key.upperBound..<message.upperBound, in: bytes, to: &samples)
            let hash = XXHash64.hash(UnsafeRawBufferPointer(rebasing: bytes[key]))
            series.append(Series(hash: hash, key: key, keyInBody: true, samples: sampleStart..<samples.count))
            return
        }
        try addRebuilt(samplesIn: message, of: bytes) { out in
            for label in labels {
                LabelSetBytes.append(
                    name: UnsafeRawBufferPointer(rebasing: bytes[label.name]),
                    value: UnsafeRawBufferPointer(rebasing: bytes[label.value]),
                    to: out
                )
            }
        }
    }

    /// Adds a series whose label bytes `appendLabels` builds into `rebuilt`, with the samples of
    /// `message`.
    private mutating func addRebuilt(
        samplesIn message: Range<Int>, of bytes: UnsafeRawBufferPointer, appendLabels: (ByteScratch) -> Void
    ) throws(CodecError) {
        let out = rebuilt ?? ByteScratch(capacity: 4096)
        rebuilt = out
        let keyStart = out.count
        appendLabels(out)
        let key = keyStart..<out.count
        let sampleStart = samples.count
        try WriteRequestScanner.appendSamples(of: message, in: bytes, to: &samples)
        let hash = XXHash64.hash(UnsafeRawBufferPointer(rebasing: out.bytes[key]))
        series.append(Series(hash: hash, key: key, keyInBody: false, samples: sampleStart..<samples.count))
    }

    /// Validates the decoded 2.0 body in `body` with `scanner` and, when it holds only float samples
    /// and metadata, collects them: label bytes from the symbols table, samples from each series'
    /// bytes (2.0's `Sample` has 1.0's fields), and one `MetricMetadata` per distinct metadata.
    ///
    /// - Throws: what `WriteRequestV2Scanner.scan` throws; nothing is kept from an invalid body.
    static func scanV2(_ body: ByteScratch, with scanner: WriteRequestV2Scanner) throws(CodecError) -> Scanned {
        let bytes = body.bytes
        var write = ScannedWrite(body: body)
        write.samples.reserveCapacity(bytes.count / 16)
        var floatsOnly = true
        // Series of one family carry the same references: strings are built once per distinct set.
        var seenRefs = Set<MetadataRefs>()
        var seen = Set<MetricMetadata>()
        _ = try scanner.scan(bytes) { (series) throws(CodecError) in
            guard floatsOnly, series.exemplars == 0, series.histograms == 0 else {
                floatsOnly = false
                return
            }
            let (metadata, fields) = try WriteRequestV2Scanner.metadata(of: series.message, in: bytes)
            guard fields <= 1 else {
                floatsOnly = false
                return
            }
            if let metadata, let name = series.labels.first(where: { scanner.symbol($0.name, in: bytes).elementsEqual("__name__".utf8) }),
                seenRefs.insert(MetadataRefs(name: name.value, metadata: metadata)).inserted
            {
                let name = scanner.symbol(name.value, in: bytes)
                // As the full decode reads it: the family is the series' name, refs become strings.
                let entry = MetricMetadata(
                    type: .init(rawValue: metadata.type), metricFamilyName: String(decoding: name, as: UTF8.self),
                    help: String(decoding: scanner.symbol(metadata.help, in: bytes), as: UTF8.self),
                    unit: String(decoding: scanner.symbol(metadata.unit, in: bytes), as: UTF8.self)
                )
                if seen.insert(entry).inserted { write.metadata.append(entry) }
            }
            guard series.samples > 0 else { return }
            try write.addRebuilt(samplesIn: series.message, of: bytes) { out in
                for label in series.labels {
                    LabelSetBytes.append(name: scanner.symbol(label.name, in: bytes), value: scanner.symbol(label.value, in: bytes), to: out)
                }
            }
        }
        return floatsOnly ? .floats(write) : .needsDecoding
    }

    /// A series' metadata and family name as symbol references.
    private struct MetadataRefs: Hashable {
        var name: UInt32
        var metadata: WriteRequestV2Scanner.SeriesMetadata
    }

    /// The label bytes of `series`. Valid while this value is alive and unchanged.
    @inline(__always)
    func key(_ series: Series) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: (series.keyInBody ? body : rebuilt!).bytes[series.key])
    }
}
