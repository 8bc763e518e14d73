import SluiceCodec

// The records of the storage node's write-ahead log and their byte encoding.
//
// A record is one `LogFrame` payload (SluiceFiles/LogFrame.swift): a type byte, then uvarints.
//
//     series  (type 1): count, then per series: ref, label count, then per label:
//                       name length, name UTF-8, value length, value UTF-8
//     samples (type 2): count, then per sample: zigzag(ref − previous ref),
//                       zigzag(timestamp − previous timestamp), value bits as u64 little-endian
//     histograms (type 3): payload version (uvarint, 1), count, then per native histogram:
//                       zigzag(ref − previous ref), zigzag(timestamp − previous timestamp),
//                       kinds byte (bits 0-1: count, bits 2-3: zero count; 0 absent, 1 int, 2 float),
//                       count (uvarint or f64), zero count (uvarint or f64), sum f64,
//                       zigzag(schema), zero threshold f64,
//                       negative spans, negative deltas, negative counts,
//                       positive spans, positive deltas, positive counts,
//                       zigzag(reset hint), custom values
//                       where spans are a count then zigzag(offset), length per span; deltas a count
//                       then zigzag(delta) each; counts and custom values a count then f64 each.
//
// The deltas start from 0 and wrap, so every ref and timestamp round-trips, and a batch of samples
// from one scrape (close refs, equal timestamps) costs about ten bytes a sample. Values (f64 above)
// are stored as raw bits, little-endian, so NaN payloads such as the stale marker come back exactly.
// The histogram record carries every field of the model `Histogram`, nothing derived, so replay hands
// the head the very histogram it appended; its version lets a later layout coexist with old segments.

/// A series' first appearance: the ref later sample records use for it, and its labels.
struct WALSeries: Hashable, Sendable {
    var ref: UInt64
    var labels: [Label]

    init(ref: UInt64, labels: [Label]) {
        self.ref = ref
        self.labels = labels
    }
}

/// One float sample of a series. Equality is bit-exact on the value, so stale markers and other NaN
/// payloads compare equal to themselves.
struct WALSample: Hashable, Sendable {
    var ref: UInt64
    var timestamp: Int64
    var value: Double

    init(ref: UInt64, timestamp: Int64, value: Double) {
        self.ref = ref
        self.timestamp = timestamp
        self.value = value
    }

    static func == (lhs: WALSample, rhs: WALSample) -> Bool {
        lhs.ref == rhs.ref && lhs.timestamp == rhs.timestamp && lhs.value.bitPattern == rhs.value.bitPattern
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(ref)
        hasher.combine(timestamp)
        hasher.combine(value.bitPattern)
    }
}

/// One native histogram of a series; its timestamp is `histogram.timestamp`. Equality is the model's:
/// bit-exact on every float.
struct WALHistogram: Hashable, Sendable {
    var ref: UInt64
    var histogram: Histogram

    init(ref: UInt64, histogram: Histogram) {
        self.ref = ref
        self.histogram = histogram
    }
}

/// What the head logs before it acknowledges a write.
enum WALRecord: Hashable, Sendable {
    case series([WALSeries])
    case samples([WALSample])
    case histograms([WALHistogram])
    /// Exemplars and metric metadata: records of their own stores, not the head's (ExemplarStore.swift,
    /// MetadataStore.swift, types 0x40 and 0x41).
    case exemplars([WALExemplar])
    case metadata([MetricMetadata])
}

/// The payload encoding of `WALRecord`.
///
/// Decoding treats its input as untrusted: a frame whose checksum happens to match can still come
/// from a different program or version, so every count and length is checked against the bytes left
/// before anything is allocated, and any damage is a `CodecError`, never a trap.
enum WALRecordCodec {
    static let seriesType: UInt8 = 1
    static let samplesType: UInt8 = 2
    static let histogramsType: UInt8 = 3
    /// The layout of a histograms record's entries; decoding rejects any other.
    static let histogramsVersion: UInt64 = 1

    /// Fewest bytes one series takes: a one-byte ref and a one-byte label count.
    static let minimumSeriesBytes = 2
    /// Fewest bytes one label takes: two empty strings.
    static let minimumLabelBytes = 2
    /// Fewest bytes one sample takes: two one-byte deltas and the eight value bytes.
    static let minimumSampleBytes = 10
    /// Fewest bytes one histogram takes: two deltas, kinds, sum, schema, zero threshold, six empty
    /// lists, reset hint and an empty custom-values list.
    static let minimumHistogramBytes = 28

    /// Appends the payload of `record` to `output`.
    static func encode(_ record: WALRecord, into output: inout [UInt8]) {
        switch record {
        case .series(let series):
            output.append(seriesType)
            Varint.append(UInt64(series.count), to: &output)
            for entry in series {
                Varint.append(entry.ref, to: &output)
                Varint.append(UInt64(entry.labels.count), to: &output)
                for label in entry.labels {
                    appendString(label.name, to: &output)
                    appendString(label.value, to: &output)
                }
            }
        case .samples(let samples):
            output.reserveCapacity(output.count + 11 + samples.count * 28)
            output.append(samplesType)
            Varint.append(UInt64(samples.count), to: &output)
            var previousRef: UInt64 = 0
            var previousTimestamp: Int64 = 0
            for sample in samples {
                Varint.append(zigzag(Int64(bitPattern: sample.ref &- previousRef)), to: &output)
                Varint.append(zigzag(sample.timestamp &- previousTimestamp), to: &output)
                withUnsafeBytes(of: sample.value.bitPattern.littleEndian) { output.append(contentsOf: $0) }
                previousRef = sample.ref
                previousTimestamp = sample.timestamp
            }
        case .histograms(let histograms):
            output.append(histogramsType)
            Varint.append(histogramsVersion, to: &output)
            Varint.append(UInt64(histograms.count), to: &output)
            var previousRef: UInt64 = 0
            var previousTimestamp: Int64 = 0
            for entry in histograms {
                let h = entry.histogram
                Varint.append(zigzag(Int64(bitPattern: entry.ref &- previousRef)), to: &output)
                Varint.append(zigzag(h.timestamp &- previousTimestamp), to: &output)
                output.append(countKind(h.count) | countKind(h.zeroCount) << 2)
                appendCount(h.count, to: &output)
                appendCount(h.zeroCount, to: &output)
                appendDouble(h.sum, to: &output)
                Varint.append(zigzag(Int64(h.schema)), to: &output)
                appendDouble(h.zeroThreshold, to: &output)
                appendSpans(h.negativeSpans, to: &output)
                appendDeltas(h.negativeDeltas, to: &output)
                appendDoubles(h.negativeCounts, to: &output)
                appendSpans(h.positiveSpans, to: &output)
                appendDeltas(h.positiveDeltas, to: &output)
                appendDoubles(h.positiveCounts, to: &output)
                Varint.append(zigzag(Int64(h.resetHint)), to: &output)
                appendDoubles(h.customValues, to: &output)
                previousRef = entry.ref
                previousTimestamp = h.timestamp
            }
        case .exemplars(let list):
            encodeExemplars(list, into: &output)
        case .metadata(let list):
            encodeMetadata(list, into: &output)
        }
    }

    /// The payload of `record`, in a new array.
    static func encode(_ record: WALRecord) -> [UInt8] {
        var output: [UInt8] = []
        encode(record, into: &output)
        return output
    }

    /// Decodes exactly one record; trailing bytes are an error.
    static func decode(_ bytes: UnsafeRawBufferPointer) throws(CodecError) -> WALRecord {
        var reader = WALPayloadReader(bytes: bytes)
        guard let type = reader.byte() else {
            throw CodecError(.truncated, "WAL record is empty")
        }
        let record: WALRecord
        switch type {
        case seriesType:
            let count = try reader.count(minimumBytesEach: minimumSeriesBytes, "series")
            var series: [WALSeries] = []
            series.reserveCapacity(count)
            for _ in 0..<count {
                let ref = try reader.uvarint()
                let labelCount = try reader.count(minimumBytesEach: minimumLabelBytes, "labels")
                var labels: [Label] = []
                labels.reserveCapacity(labelCount)
                for _ in 0..<labelCount {
                    let name = try reader.string()
                    let value = try reader.string()
                    labels.append(Label(name: name, value: value))
                }
                series.append(WALSeries(ref: ref, labels: labels))
            }
            record = .series(series)
        case samplesType:
            let count = try reader.count(minimumBytesEach: minimumSampleBytes, "samples")
            var samples: [WALSample] = []
            samples.reserveCapacity(count)
            var ref: UInt64 = 0
            var timestamp: Int64 = 0
            for _ in 0..<count {
                ref &+= UInt64(bitPattern: unzigzag(try reader.uvarint()))
                timestamp &+= unzigzag(try reader.uvarint())
                let bits = try reader.uint64LE()
                samples.append(WALSample(ref: ref, timestamp: timestamp, value: Double(bitPattern: bits)))
            }
            record = .samples(samples)
        case histogramsType:
            let version = try reader.uvarint()
            guard version == histogramsVersion else {
                throw CodecError(.chunkCorrupt, "WAL histograms record has unknown version \(version)")
            }
            let count = try reader.count(minimumBytesEach: minimumHistogramBytes, "histograms")
            var histograms: [WALHistogram] = []
            histograms.reserveCapacity(count)
            var ref: UInt64 = 0
            var timestamp: Int64 = 0
            for _ in 0..<count {
                ref &+= UInt64(bitPattern: unzigzag(try reader.uvarint()))
                timestamp &+= unzigzag(try reader.uvarint())
                histograms.append(WALHistogram(ref: ref, histogram: try reader.histogram(timestamp: timestamp)))
            }
            record = .histograms(histograms)
        case exemplarsType:
            return try decodeExemplars(bytes)
        case metadataType:
            return try decodeMetadata(bytes)
        default:
            throw CodecError(.chunkCorrupt, "unknown WAL record type \(type)")
        }
        guard reader.isAtEnd else {
            throw CodecError(.chunkCorrupt, "WAL record has \(reader.remaining) trailing bytes")
        }
        return record
    }

    static func decode(_ bytes: ArraySlice<UInt8>) throws(CodecError) -> WALRecord {
        try bytes.withUnsafeBytes { buffer in Result { () throws(CodecError) in try decode(buffer) } }.get()
    }

    static func decode(_ bytes: [UInt8]) throws(CodecError) -> WALRecord {
        try bytes.withUnsafeBytes { buffer in Result { () throws(CodecError) in try decode(buffer) } }.get()
    }

    // MARK: Helpers

    private static func appendString(_ string: String, to output: inout [UInt8]) {
        var string = string
        string.withUTF8 { utf8 in
            Varint.append(UInt64(utf8.count), to: &output)
            output.append(contentsOf: utf8)
        }
    }

    private static func countKind(_ count: Histogram.Count?) -> UInt8 {
        switch count {
        case nil: 0
        case .int: 1
        case .float: 2
        }
    }

    private static func appendCount(_ count: Histogram.Count?, to output: inout [UInt8]) {
        switch count {
        case nil: break
        case .int(let value): Varint.append(value, to: &output)
        case .float(let value): appendDouble(value, to: &output)
        }
    }

    private static func appendDouble(_ value: Double, to output: inout [UInt8]) {
        withUnsafeBytes(of: value.bitPattern.littleEndian) { output.append(contentsOf: $0) }
    }

    private static func appendDoubles(_ values: [Double], to output: inout [UInt8]) {
        Varint.append(UInt64(values.count), to: &output)
        for value in values { appendDouble(value, to: &output) }
    }

    private static func appendDeltas(_ deltas: [Int64], to output: inout [UInt8]) {
        Varint.append(UInt64(deltas.count), to: &output)
        for delta in deltas { Varint.append(zigzag(delta), to: &output) }
    }

    private static func appendSpans(_ spans: [BucketSpan], to output: inout [UInt8]) {
        Varint.append(UInt64(spans.count), to: &output)
        for span in spans {
            Varint.append(zigzag(Int64(span.offset)), to: &output)
            Varint.append(UInt64(span.length), to: &output)
        }
    }

    @inline(__always)
    static func zigzag(_ value: Int64) -> UInt64 {
        UInt64(bitPattern: value &<< 1) ^ UInt64(bitPattern: value &>> 63)
    }

    @inline(__always)
    static func unzigzag(_ value: UInt64) -> Int64 {
        Int64(bitPattern: value >> 1) ^ -Int64(bitPattern: value & 1)
    }
}

/// A cursor over an untrusted WAL payload, for every record type: each count and length is checked
/// against the bytes left before anything is allocated.
struct WALPayloadReader {
    let bytes: UnsafeRawBufferPointer
    var offset = 0

    init(bytes: UnsafeRawBufferPointer, offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    var remaining: Int { bytes.count - offset }
    var isAtEnd: Bool { offset == bytes.count }

    mutating func byte() -> UInt8? {
        guard offset < bytes.count else { return nil }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func uvarint() throws(CodecError) -> UInt64 {
        guard let value = try Varint.read(bytes, at: &offset) else {
            throw CodecError(.truncated, "WAL record ends inside a varint")
        }
        return value
    }

    /// A count of items that each take at least `minimumBytesEach`, checked against what is left
    /// so that a damaged count cannot make the decoder reserve gigabytes.
    mutating func count(minimumBytesEach: Int, _ what: StaticString) throws(CodecError) -> Int {
        let value = try uvarint()
        guard value <= UInt64(remaining / minimumBytesEach) else {
            throw CodecError(.truncated, "WAL record declares \(value) \(what) in \(remaining) bytes")
        }
        return Int(value)
    }

    mutating func string() throws(CodecError) -> String {
        let length = try uvarint()
        guard length <= UInt64(remaining) else {
            throw CodecError(.truncated, "WAL label of \(length) bytes passes the record's end")
        }
        let start = offset
        offset += Int(length)
        let utf8 = UnsafeRawBufferPointer(rebasing: bytes[start..<offset]).assumingMemoryBound(to: UInt8.self)
        guard let string = String(validating: utf8, as: UTF8.self) else {
            throw CodecError(.invalidSeries, "WAL label is not valid UTF-8")
        }
        return string
    }

    mutating func uint64LE() throws(CodecError) -> UInt64 {
        guard remaining >= 8 else {
            throw CodecError(.truncated, "WAL record ends inside a sample value")
        }
        defer { offset += 8 }
        return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    mutating func double() throws(CodecError) -> Double { Double(bitPattern: try uint64LE()) }

    /// A zig-zag varint that must fit an `Int32`: a wider value is damage, not something to trap on.
    mutating func int32() throws(CodecError) -> Int32 {
        guard let value = Int32(exactly: WALRecordCodec.unzigzag(try uvarint())) else {
            throw CodecError(.chunkCorrupt, "WAL histogram field overflows 32 bits")
        }
        return value
    }

    /// A count, then that many name and value strings.
    mutating func labels() throws(CodecError) -> [Label] {
        let count = try self.count(minimumBytesEach: 2, "labels")
        var labels: [Label] = []
        labels.reserveCapacity(count)
        for _ in 0..<count {
            let name = try string()
            labels.append(Label(name: name, value: try string()))
        }
        return labels
    }

    func finish() throws(CodecError) {
        guard remaining == 0 else { throw CodecError(.chunkCorrupt, "WAL record has \(remaining) trailing bytes") }
    }

    mutating func histogram(timestamp: Int64) throws(CodecError) -> Histogram {
        guard let kinds = byte() else { throw CodecError(.truncated, "WAL record ends inside a histogram") }
        guard kinds & 0xF0 == 0, kinds & 3 != 3, kinds >> 2 != 3 else {
            throw CodecError(.chunkCorrupt, "WAL histogram has unknown count kinds \(kinds)")
        }
        let count = try self.count(kind: kinds & 3)
        let zeroCount = try self.count(kind: kinds >> 2)
        let sum = try double()
        let schema = try int32()
        let zeroThreshold = try double()
        let negativeSpans = try spans()
        let negativeDeltas = try deltas()
        let negativeCounts = try doubles()
        let positiveSpans = try spans()
        let positiveDeltas = try deltas()
        let positiveCounts = try doubles()
        let resetHint = try int32()
        let customValues = try doubles()
        return Histogram(
            count: count, sum: sum, schema: schema, zeroThreshold: zeroThreshold, zeroCount: zeroCount,
            negativeSpans: negativeSpans, negativeDeltas: negativeDeltas, negativeCounts: negativeCounts,
            positiveSpans: positiveSpans, positiveDeltas: positiveDeltas, positiveCounts: positiveCounts,
            resetHint: resetHint, timestamp: timestamp, customValues: customValues
        )
    }

    private mutating func count(kind: UInt8) throws(CodecError) -> Histogram.Count? {
        switch kind {
        case 1: .int(try uvarint())
        case 2: .float(try double())
        default: nil
        }
    }

    private mutating func doubles() throws(CodecError) -> [Double] {
        let count = try self.count(minimumBytesEach: 8, "histogram floats")
        var values: [Double] = []
        values.reserveCapacity(count)
        for _ in 0..<count { values.append(try double()) }
        return values
    }

    private mutating func deltas() throws(CodecError) -> [Int64] {
        let count = try self.count(minimumBytesEach: 1, "histogram deltas")
        var values: [Int64] = []
        values.reserveCapacity(count)
        for _ in 0..<count { values.append(WALRecordCodec.unzigzag(try uvarint())) }
        return values
    }

    private mutating func spans() throws(CodecError) -> [BucketSpan] {
        let count = try self.count(minimumBytesEach: 2, "histogram spans")
        var spans: [BucketSpan] = []
        spans.reserveCapacity(count)
        for _ in 0..<count {
            let offset = try int32()
            guard let length = UInt32(exactly: try uvarint()) else {
                throw CodecError(.chunkCorrupt, "WAL histogram span length overflows 32 bits")
            }
            spans.append(BucketSpan(offset: offset, length: length))
        }
        return spans
    }
}
