import SluiceCodec

// The records of the storage node's write-ahead log and their byte encoding.
//
// A record is one frame's payload (WALFrame.swift): a type byte, then uvarints.
//
//     series  (type 1): count, then per series: ref, label count, then per label:
//                       name length, name UTF-8, value length, value UTF-8
//     samples (type 2): count, then per sample: zigzag(ref − previous ref),
//                       zigzag(timestamp − previous timestamp), value bits as u64 little-endian
//
// The deltas start from 0 and wrap, so every ref and timestamp round-trips, and a batch of samples
// from one scrape (close refs, equal timestamps) costs about ten bytes a sample. Values are stored as
// raw bits so NaN payloads such as the stale marker come back exactly.

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

/// What the head logs before it acknowledges a write.
enum WALRecord: Hashable, Sendable {
    case series([WALSeries])
    case samples([WALSample])
}

/// The payload encoding of `WALRecord`.
///
/// Decoding treats its input as untrusted: a frame whose checksum happens to match can still come
/// from a different program or version, so every count and length is checked against the bytes left
/// before anything is allocated, and any damage is a `CodecError`, never a trap.
enum WALRecordCodec {
    static let seriesType: UInt8 = 1
    static let samplesType: UInt8 = 2

    /// Fewest bytes one series takes: a one-byte ref and a one-byte label count.
    static let minimumSeriesBytes = 2
    /// Fewest bytes one label takes: two empty strings.
    static let minimumLabelBytes = 2
    /// Fewest bytes one sample takes: two one-byte deltas and the eight value bytes.
    static let minimumSampleBytes = 10

    /// Appends the payload of `record` to `output`.
    static func encode(_ record: WALRecord, into output: inout [UInt8]) {
        switch record {
        case .series(let series):
            output.append(seriesType)
            appendUvarint(UInt64(series.count), to: &output)
            for entry in series {
                appendUvarint(entry.ref, to: &output)
                appendUvarint(UInt64(entry.labels.count), to: &output)
                for label in entry.labels {
                    appendString(label.name, to: &output)
                    appendString(label.value, to: &output)
                }
            }
        case .samples(let samples):
            output.reserveCapacity(output.count + 11 + samples.count * 28)
            output.append(samplesType)
            appendUvarint(UInt64(samples.count), to: &output)
            var previousRef: UInt64 = 0
            var previousTimestamp: Int64 = 0
            for sample in samples {
                appendUvarint(zigzag(Int64(bitPattern: sample.ref &- previousRef)), to: &output)
                appendUvarint(zigzag(sample.timestamp &- previousTimestamp), to: &output)
                withUnsafeBytes(of: sample.value.bitPattern.littleEndian) { output.append(contentsOf: $0) }
                previousRef = sample.ref
                previousTimestamp = sample.timestamp
            }
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
        var reader = Reader(bytes: bytes)
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

    @inline(__always)
    static func appendUvarint(_ value: UInt64, to output: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            output.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        output.append(UInt8(v))
    }

    private static func appendString(_ string: String, to output: inout [UInt8]) {
        var string = string
        string.withUTF8 { utf8 in
            appendUvarint(UInt64(utf8.count), to: &output)
            output.append(contentsOf: utf8)
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

    /// A cursor over untrusted bytes.
    private struct Reader {
        let bytes: UnsafeRawBufferPointer
        var offset = 0

        init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

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
    }
}
