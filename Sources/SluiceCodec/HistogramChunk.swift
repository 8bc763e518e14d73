// Prometheus' native-histogram chunks (`tsdb/chunkenc/histogram.go` for encoding 2, integer
// histograms; `float_histogram.go` for encoding 3, float histograms). The header and the layout are in
// HistogramChunkMeta.swift. Each sample then stores, bit-exact with Prometheus:
//
//   integer (encoding 2)        first sample                    later samples
//   timestamp                   varbit int                      varbit int delta-of-delta
//   count                       varbit uint                     varbit int delta-of-delta
//   zero count                  varbit uint                     varbit int delta-of-delta
//   sum                         64 raw bits                     XOR against the previous sum
//   each positive bucket        varbit int (the bucket delta)   varbit int delta-of-delta of the delta
//   each negative bucket        the same                        the same
//
//   float (encoding 3)          first sample                    later samples
//   timestamp                   varbit int                      varbit int delta-of-delta
//   count, zero count, sum      64 raw bits each                XOR each, against its own previous value
//   each bucket (absolute)      64 raw bits                     XOR, each bucket with its own window
//
// The second sample's "delta of delta" is its delta (the previous delta starts at 0). Arithmetic wraps
// like Go's int64. Integer histograms keep Prometheus' delta-encoded buckets: the chunk stores deltas
// of those deltas over time.
//
// A staleness marker (sum = Prometheus' stale NaN) is stored as an empty histogram: in the first sample
// an empty layout, count and zero count 0; later, delta-of-deltas 0 (integer) or XORs against 0 (float),
// the sum, and no buckets. Readers recognise it by the sum and read no buckets for it.

/// Whether `HistogramChunkEncoder.append` took the histogram.
public enum HistogramAppendResult: Sendable, Equatable {
    case appended
    case needsNewChunk
}

/// Why `HistogramChunkEncoder.append` refused a histogram, and the counter-reset header the chunk cut
/// for it should get, following Prometheus' head appender.
public struct HistogramChunkCut: Sendable, Equatable {
    public enum Reason: Sendable, Equatable {
        /// Integer histogram for a float chunk or the other way round.
        case kindChanged
        /// A gauge histogram for a counter chunk or the other way round.
        case gaugeChanged
        /// A count, zero count or bucket went down (or the histogram's reset hint says so, or custom
        /// bucket bounds changed, which Prometheus also treats as a reset).
        case counterReset
        /// Schema, zero threshold or bucket spans differ from the chunk's. Prometheus would recode the
        /// chunk for new buckets; this encoder cuts instead.
        case layoutChanged
        /// The chunk's last histogram was a staleness marker, and only markers may follow one.
        case staleEnded
        /// The chunk holds `HistogramChunkEncoder.maxSampleCount` histograms.
        case full
    }

    public var reason: Reason
    /// The header to start the next chunk with: `HistogramChunkEncoder(float:counterResetHeader:)`.
    public var nextHeader: HistogramCounterResetHeader
}

/// Appends native histograms to one Prometheus histogram chunk (encoding 2 for integer
/// histograms, 3 for float histograms).
///
/// A chunk has one layout (schema, zero threshold, spans, custom bounds), written with its first
/// histogram. Prometheus recodes a chunk when new buckets appear; this encoder never rewrites what it
/// wrote and cuts instead, so every chunk's histograms come back with exactly the spans they were
/// appended with. `lastCut` says why a histogram was refused and which header the next chunk should
/// carry, so a caller can reproduce Prometheus' counter-reset headers.
///
/// Histograms must be structurally valid: `HistogramValidation.validate` passes, or at least the bucket
/// array of the histogram's kind matches its spans. Encoding a mismatch would write a chunk no reader
/// can decode, so that is a precondition failure. Staleness markers are exempt: their buckets are never
/// stored. Fields of the other kind (float counts of an integer histogram, say) are ignored.
///
/// `bytes` is always a complete, decodable chunk, as with `XORChunkEncoder`.
public struct HistogramChunkEncoder: Sendable {
    /// The most histograms one chunk can hold: its count header is 16 bits.
    public static let maxSampleCount = HistogramChunkFormat.maxSampleCount

    private var writer: BitWriter
    private let float: Bool
    private var header: HistogramCounterResetHeader

    /// Histograms appended so far.
    public private(set) var count: Int = 0
    /// The smallest timestamp appended, or `Int64.max` while the chunk is empty.
    public private(set) var minTime: Int64 = .max
    /// The largest timestamp appended, or `Int64.min` while the chunk is empty.
    public private(set) var maxTime: Int64 = .min
    /// Why the most recent `append` returned `.needsNewChunk`; nil after a successful append.
    public private(set) var lastCut: HistogramChunkCut?

    // Layout of the first histogram.
    private var schema: Int32 = 0
    private var zeroThreshold: Double = 0
    private var positiveSpans: [BucketSpan] = []
    private var negativeSpans: [BucketSpan] = []
    private var customValues: [Double] = []

    private var timestamp: Int64 = 0
    private var timestampDelta: Int64 = 0
    private var sum = XORValueState.writer(0)

    // Integer chunks: the last counts and buckets (Prometheus' bucket deltas) and their deltas.
    private var intCount: UInt64 = 0
    private var intZeroCount: UInt64 = 0
    private var countDelta: Int64 = 0
    private var zeroCountDelta: Int64 = 0
    private var positiveDeltas: [Int64] = []
    private var negativeDeltas: [Int64] = []
    private var positiveDeltaDeltas: [Int64] = []
    private var negativeDeltaDeltas: [Int64] = []

    // Float chunks: one XOR stream per field and bucket.
    private var floatCount = XORValueState.writer(0)
    private var floatZeroCount = XORValueState.writer(0)
    private var positiveCounts: [XORValueState] = []
    private var negativeCounts: [XORValueState] = []

    /// Starts an empty chunk for integer (`float: false`) or float histograms. Its counter-reset header
    /// is unknown unless the first histogram is a gauge or says it follows a reset.
    public init(float: Bool) {
        self.init(float: float, counterResetHeader: .unknown)
    }

    /// Starts an empty chunk whose header says `counterResetHeader` (usually `lastCut.nextHeader` of the
    /// previous chunk). A gauge first histogram makes it `.gauge` regardless, and a first histogram with
    /// reset hint "yes" makes it `.counterReset`, as Prometheus does.
    public init(float: Bool, counterResetHeader: HistogramCounterResetHeader) {
        self.float = float
        self.header = counterResetHeader
        writer = BitWriter(headerBytes: HistogramChunkFormat.headerSize, capacity: 128)
    }

    /// The chunk encoding: `.histogram` or `.floatHistogram`.
    public var encoding: Chunk.Encoding { float ? .floatHistogram : .histogram }

    /// The counter-reset header the chunk carries now.
    public var counterResetHeader: HistogramCounterResetHeader { header }

    /// Marks the chunk as started because of a counter reset, for a caller that detected the reset
    /// itself. Gauge chunks keep their gauge header.
    public mutating func markCounterReset() {
        if header != .gauge {
            header = .counterReset
        }
    }

    /// A complete, decodable chunk (copy), header included.
    public var bytes: [UInt8] {
        var bytes = writer.bytes
        bytes[0] = UInt8(truncatingIfNeeded: count &>> 8)
        bytes[1] = UInt8(truncatingIfNeeded: count)
        bytes[2] = header.flagByte
        return bytes
    }

    /// Appends `h` (its timestamp is h.timestamp). Returns `.needsNewChunk` and leaves the chunk
    /// unchanged when `h` cannot go into this chunk: int/float kind differs from the chunk's, schema,
    /// zero threshold, custom values or bucket span layout differ from the chunk's first histogram
    /// (no recoding/expanding of layouts — simply cut), a counter reset is detected (any bucket,
    /// count or zero count goes down, for non-gauge histograms), gauge-ness changes, or the chunk is full.
    /// The caller then starts a new encoder and appends `h` there (the first append to an empty encoder
    /// always succeeds for a valid histogram). `lastCut` tells why, and which header the new chunk gets.
    public mutating func append(_ h: Histogram) -> HistogramAppendResult {
        let stale = h.sum.bitPattern == HistogramChunkFormat.staleNaNBits
        let gauge = h.resetHint == Histogram.ResetHint.gauge.rawValue
        if !stale {
            Self.checkStructure(h)
        }
        if count == 0 {
            if h.isFloat != float {
                lastCut = HistogramChunkCut(reason: .kindChanged, nextHeader: gauge ? .gauge : .unknown)
                return .needsNewChunk
            }
            if gauge {
                header = .gauge
            } else if h.resetHint == Histogram.ResetHint.yes.rawValue {
                header = .counterReset
            } else if header == .gauge {
                header = .unknown
            }
            appendFirst(h, stale: stale)
        } else {
            if let cut = cut(for: h, stale: stale, gauge: gauge) {
                lastCut = cut
                return .needsNewChunk
            }
            if count >= Self.maxSampleCount {
                lastCut = HistogramChunkCut(reason: .full, nextHeader: gauge ? .gauge : .notCounterReset)
                return .needsNewChunk
            }
            appendLater(h, stale: stale)
        }
        lastCut = nil
        count &+= 1
        minTime = Swift.min(minTime, h.timestamp)
        maxTime = Swift.max(maxTime, h.timestamp)
        return .appended
    }

    // MARK: Appendability

    /// Prometheus' `appendable`/`appendableGauge`, with every layout change a cut: nil when `h` can be
    /// appended.
    private func cut(for h: Histogram, stale: Bool, gauge: Bool) -> HistogramChunkCut? {
        if h.isFloat != float {
            return HistogramChunkCut(reason: .kindChanged, nextHeader: gauge ? .gauge : .unknown)
        }
        if gauge != (header == .gauge) {
            return HistogramChunkCut(reason: .gaugeChanged, nextHeader: gauge ? .gauge : .unknown)
        }
        if !gauge && h.resetHint == Histogram.ResetHint.yes.rawValue {
            return HistogramChunkCut(reason: .counterReset, nextHeader: .counterReset)
        }
        if stale {
            return nil
        }
        if sum.bits == HistogramChunkFormat.staleNaNBits {
            return HistogramChunkCut(reason: .staleEnded, nextHeader: gauge ? .gauge : .unknown)
        }
        let reset = HistogramChunkCut(reason: .counterReset, nextHeader: .counterReset)
        let decreased = countsDecreased(h)
        if !gauge && decreased.count {
            return reset
        }
        if h.schema != schema || h.zeroThreshold != zeroThreshold {
            return HistogramChunkCut(reason: .layoutChanged, nextHeader: gauge ? .gauge : .unknown)
        }
        if schema == Histogram.customBucketsSchema && h.customValues != customValues {
            return gauge ? HistogramChunkCut(reason: .layoutChanged, nextHeader: .gauge) : reset
        }
        if !gauge && decreased.zeroCount {
            return reset
        }
        let sameLayout = h.positiveSpans == positiveSpans && h.negativeSpans == negativeSpans
        if gauge {
            return sameLayout ? nil : HistogramChunkCut(reason: .layoutChanged, nextHeader: .gauge)
        }
        if bucketsDecreased(h) {
            return reset
        }
        return sameLayout ? nil : HistogramChunkCut(reason: .layoutChanged, nextHeader: .notCounterReset)
    }

    /// Whether `h`'s count and zero count are below the last ones, compared as Go does: unsigned
    /// integers for integer chunks, floats (so NaN never compares lower) for float chunks.
    private func countsDecreased(_ h: Histogram) -> (count: Bool, zeroCount: Bool) {
        if float {
            return (
                Self.floatValue(h.count) < Double(bitPattern: floatCount.bits),
                Self.floatValue(h.zeroCount) < Double(bitPattern: floatZeroCount.bits)
            )
        }
        return (Self.intValue(h.count) < intCount, Self.intValue(h.zeroCount) < intZeroCount)
    }

    /// Whether any bucket went down or a used bucket disappeared, compared bucket index by bucket index.
    private func bucketsDecreased(_ h: Histogram) -> Bool {
        if float {
            let oldPositive = positiveCounts.map { Double(bitPattern: $0.bits) }
            let oldNegative = negativeCounts.map { Double(bitPattern: $0.bits) }
            return HistogramChunkFormat.bucketsDecreased(
                oldSpans: positiveSpans, oldCounts: oldPositive, newSpans: h.positiveSpans, newCounts: h.positiveCounts)
                || HistogramChunkFormat.bucketsDecreased(
                    oldSpans: negativeSpans, oldCounts: oldNegative, newSpans: h.negativeSpans,
                    newCounts: h.negativeCounts)
        }
        return HistogramChunkFormat.bucketsDecreased(
            oldSpans: positiveSpans, oldCounts: Self.absolute(positiveDeltas), newSpans: h.positiveSpans,
            newCounts: Self.absolute(h.positiveDeltas))
            || HistogramChunkFormat.bucketsDecreased(
                oldSpans: negativeSpans, oldCounts: Self.absolute(negativeDeltas), newSpans: h.negativeSpans,
                newCounts: Self.absolute(h.negativeDeltas))
    }

    /// Absolute bucket counts from Prometheus' bucket deltas, wrapping like Go.
    private static func absolute(_ deltas: [Int64]) -> [Int64] {
        var running: Int64 = 0
        return deltas.map { delta in
            running &+= delta
            return running
        }
    }

    /// Traps on a histogram whose buckets cannot be encoded against its spans.
    private static func checkStructure(_ h: Histogram) {
        let positive = HistogramChunkFormat.bucketCount(h.positiveSpans)
        let negative = HistogramChunkFormat.bucketCount(h.negativeSpans)
        if h.isFloat {
            precondition(
                h.positiveCounts.count == positive && h.negativeCounts.count == negative,
                "float histogram bucket counts do not match its spans; validate before encoding")
        } else {
            precondition(
                h.positiveDeltas.count == positive && h.negativeDeltas.count == negative,
                "integer histogram buckets do not match its spans; validate before encoding")
        }
    }

    // MARK: Writing

    private mutating func appendFirst(_ h: Histogram, stale: Bool) {
        // A staleness marker dictates an empty layout and stores no buckets.
        let source = stale ? Histogram(sum: h.sum) : h
        schema = source.schema
        zeroThreshold = source.zeroThreshold
        positiveSpans = source.positiveSpans
        negativeSpans = source.negativeSpans
        customValues = source.schema == Histogram.customBucketsSchema ? source.customValues : []
        writer.writeHistogramLayout(
            schema: schema, zeroThreshold: zeroThreshold, positiveSpans: positiveSpans,
            negativeSpans: negativeSpans, customValues: customValues)
        writer.writeVarbitInt(h.timestamp)
        timestamp = h.timestamp
        timestampDelta = 0
        if float {
            let count = stale ? 0 : Self.floatValue(h.count)
            let zeroCount = stale ? 0 : Self.floatValue(h.zeroCount)
            writer.writeBits(count.bitPattern, count: 64)
            writer.writeBits(zeroCount.bitPattern, count: 64)
            writer.writeBits(h.sum.bitPattern, count: 64)
            floatCount = .writer(count.bitPattern)
            floatZeroCount = .writer(zeroCount.bitPattern)
            sum = .writer(h.sum.bitPattern)
            positiveCounts = source.positiveCounts.map { .writer($0.bitPattern) }
            negativeCounts = source.negativeCounts.map { .writer($0.bitPattern) }
            for bucket in source.positiveCounts { writer.writeBits(bucket.bitPattern, count: 64) }
            for bucket in source.negativeCounts { writer.writeBits(bucket.bitPattern, count: 64) }
        } else {
            intCount = stale ? 0 : Self.intValue(h.count)
            intZeroCount = stale ? 0 : Self.intValue(h.zeroCount)
            writer.writeVarbitUint(intCount)
            writer.writeVarbitUint(intZeroCount)
            writer.writeBits(h.sum.bitPattern, count: 64)
            sum = .writer(h.sum.bitPattern)
            countDelta = 0
            zeroCountDelta = 0
            positiveDeltas = source.positiveDeltas
            negativeDeltas = source.negativeDeltas
            positiveDeltaDeltas = Array(repeating: 0, count: positiveDeltas.count)
            negativeDeltaDeltas = Array(repeating: 0, count: negativeDeltas.count)
            for bucket in positiveDeltas { writer.writeVarbitInt(bucket) }
            for bucket in negativeDeltas { writer.writeVarbitInt(bucket) }
        }
    }

    private mutating func appendLater(_ h: Histogram, stale: Bool) {
        let delta = h.timestamp &- timestamp
        writer.writeVarbitInt(delta &- timestampDelta)
        timestamp = h.timestamp
        timestampDelta = delta
        if float {
            // A marker's count and zero count are stored as 0, as Prometheus empties it first.
            floatCount.write(stale ? 0 : Self.floatValue(h.count).bitPattern, to: &writer)
            floatZeroCount.write(stale ? 0 : Self.floatValue(h.zeroCount).bitPattern, to: &writer)
            sum.write(h.sum.bitPattern, to: &writer)
            guard !stale else { return }
            for (i, bucket) in h.positiveCounts.enumerated() {
                positiveCounts[i].write(bucket.bitPattern, to: &writer)
            }
            for (i, bucket) in h.negativeCounts.enumerated() {
                negativeCounts[i].write(bucket.bitPattern, to: &writer)
            }
            return
        }
        let newCount = stale ? 0 : Self.intValue(h.count)
        let newZeroCount = stale ? 0 : Self.intValue(h.zeroCount)
        let newCountDelta = Int64(bitPattern: newCount &- intCount)
        let newZeroCountDelta = Int64(bitPattern: newZeroCount &- intZeroCount)
        // Prometheus writes 0 for a marker's count deltas but still keeps the deltas to 0 as state.
        writer.writeVarbitInt(stale ? 0 : newCountDelta &- countDelta)
        writer.writeVarbitInt(stale ? 0 : newZeroCountDelta &- zeroCountDelta)
        intCount = newCount
        intZeroCount = newZeroCount
        countDelta = newCountDelta
        zeroCountDelta = newZeroCountDelta
        sum.write(h.sum.bitPattern, to: &writer)
        guard !stale else { return }
        for (i, bucket) in h.positiveDeltas.enumerated() {
            let delta = bucket &- positiveDeltas[i]
            writer.writeVarbitInt(delta &- positiveDeltaDeltas[i])
            positiveDeltaDeltas[i] = delta
            positiveDeltas[i] = bucket
        }
        for (i, bucket) in h.negativeDeltas.enumerated() {
            let delta = bucket &- negativeDeltas[i]
            writer.writeVarbitInt(delta &- negativeDeltaDeltas[i])
            negativeDeltaDeltas[i] = delta
            negativeDeltas[i] = bucket
        }
    }

    private static func intValue(_ count: Histogram.Count?) -> UInt64 {
        if case .int(let v) = count { return v }
        return 0
    }

    private static func floatValue(_ count: Histogram.Count?) -> Double {
        if case .float(let v) = count { return v }
        return 0
    }
}

/// Decodes Prometheus histogram chunks.
///
/// Chunks come from remote read and are untrusted: every count read from the chunk is checked against
/// the bits left before anything is allocated for it, every read is bounds-checked, and arithmetic wraps
/// like Go's. A chunk that ends early throws `.truncated`; one that cannot be a valid encoding (unknown
/// schema, out-of-range span, impossible XOR window, more spans or buckets than bits) throws
/// `.chunkCorrupt`. Bytes after the last sample are ignored.
public enum HistogramChunkDecoder {
    /// Decodes every histogram of a chunk of the given encoding (.histogram or .floatHistogram).
    /// Integer chunks decode to `.int` counts with deltas in positiveDeltas/negativeDeltas; float
    /// chunks to `.float` counts with absolute positiveCounts/negativeCounts. resetHint follows
    /// Prometheus' iterator: the first histogram gets the header's hint (CounterReset → 1 yes,
    /// NotCounterReset → 2 no, GaugeType → 3 gauge, Unknown → 0), later ones 2 (no) or 3 for gauge
    /// chunks. A staleness marker decodes as Prometheus returns it: only its sum and timestamp set,
    /// zero counts of the chunk's kind, reset hint 0.
    ///
    /// Schemas 9...52, which Prometheus reduces to 8 when reading, are returned unchanged.
    public static func decode(_ bytes: UnsafeRawBufferPointer, encoding: Chunk.Encoding) throws(CodecError) -> [Histogram] {
        try decode(Array(bytes), encoding: encoding)
    }

    /// Decodes every histogram of a chunk of the given encoding (.histogram or .floatHistogram).
    public static func decode(_ bytes: [UInt8], encoding: Chunk.Encoding) throws(CodecError) -> [Histogram] {
        let float: Bool
        switch encoding {
        case .histogram: float = false
        case .floatHistogram: float = true
        default: throw CodecError(.chunkCorrupt, "not a histogram chunk encoding")
        }
        guard bytes.count >= HistogramChunkFormat.headerSize else {
            throw CodecError(.truncated, "histogram chunk shorter than its header")
        }
        let total = Int(bytes[0]) << 8 | Int(bytes[1])
        let header = HistogramCounterResetHeader(flagByte: bytes[2])
        var reader = BitReader(bytes[HistogramChunkFormat.headerSize...])
        guard total > 0 else { return [] }
        var state = try DecoderState(reader: &reader, float: float)
        var histograms: [Histogram] = []
        // Every sample after the first takes at least 4 bits (timestamp, two counts, sum).
        histograms.reserveCapacity(Swift.min(total, reader.bitsRemaining / 4 + 1))
        for index in 0..<total {
            if index > 0 {
                try state.readLater(reader: &reader)
            }
            let hint: Int32
            if header == .gauge {
                hint = Histogram.ResetHint.gauge.rawValue
            } else if index == 0 {
                hint = header.firstResetHint
            } else {
                hint = Histogram.ResetHint.no.rawValue
            }
            histograms.append(state.histogram(resetHint: hint))
        }
        return histograms
    }
}

/// The decoder's running state: the layout and the last value of every field.
private struct DecoderState {
    let float: Bool
    let layout: HistogramLayout

    var timestamp: Int64 = 0
    var timestampDelta: Int64 = 0
    var sum = XORValueState.reader(0)

    var intCount: UInt64 = 0
    var intZeroCount: UInt64 = 0
    var countDelta: Int64 = 0
    var zeroCountDelta: Int64 = 0
    var positiveDeltas: [Int64] = []
    var negativeDeltas: [Int64] = []
    var positiveDeltaDeltas: [Int64] = []
    var negativeDeltaDeltas: [Int64] = []

    var floatCount = XORValueState.reader(0)
    var floatZeroCount = XORValueState.reader(0)
    var positiveCounts: [XORValueState] = []
    var negativeCounts: [XORValueState] = []

    /// Reads the layout and the first sample.
    init(reader: inout BitReader, float: Bool) throws(CodecError) {
        self.float = float
        layout = try reader.readHistogramLayout()
        let positive = HistogramChunkFormat.bucketCount(layout.positiveSpans)
        let negative = HistogramChunkFormat.bucketCount(layout.negativeSpans)
        // The first sample stores every bucket in at least 1 bit (integer) or 64 bits (float).
        let bitsPerBucket = float ? 64 : 1
        guard positive <= reader.bitsRemaining / bitsPerBucket,
            negative <= reader.bitsRemaining / bitsPerBucket - positive
        else {
            throw CodecError(.chunkCorrupt, "histogram chunk declares more buckets than it holds")
        }
        timestamp = try reader.readVarbitInt()
        if float {
            floatCount = .reader(try reader.readBits(64))
            floatZeroCount = .reader(try reader.readBits(64))
            sum = .reader(try reader.readBits(64))
            positiveCounts.reserveCapacity(positive)
            for _ in 0..<positive { positiveCounts.append(.reader(try reader.readBits(64))) }
            negativeCounts.reserveCapacity(negative)
            for _ in 0..<negative { negativeCounts.append(.reader(try reader.readBits(64))) }
        } else {
            intCount = try reader.readVarbitUint()
            intZeroCount = try reader.readVarbitUint()
            sum = .reader(try reader.readBits(64))
            positiveDeltas.reserveCapacity(positive)
            for _ in 0..<positive { positiveDeltas.append(try reader.readVarbitInt()) }
            negativeDeltas.reserveCapacity(negative)
            for _ in 0..<negative { negativeDeltas.append(try reader.readVarbitInt()) }
            positiveDeltaDeltas = Array(repeating: 0, count: positive)
            negativeDeltaDeltas = Array(repeating: 0, count: negative)
        }
    }

    var isStale: Bool { sum.bits == HistogramChunkFormat.staleNaNBits }

    mutating func readLater(reader: inout BitReader) throws(CodecError) {
        timestampDelta &+= try reader.readVarbitInt()
        timestamp &+= timestampDelta
        if float {
            try floatCount.read(from: &reader)
            try floatZeroCount.read(from: &reader)
            try sum.read(from: &reader)
            guard !isStale else { return }
            for i in positiveCounts.indices { try positiveCounts[i].read(from: &reader) }
            for i in negativeCounts.indices { try negativeCounts[i].read(from: &reader) }
            return
        }
        countDelta &+= try reader.readVarbitInt()
        intCount = UInt64(bitPattern: Int64(bitPattern: intCount) &+ countDelta)
        zeroCountDelta &+= try reader.readVarbitInt()
        intZeroCount = UInt64(bitPattern: Int64(bitPattern: intZeroCount) &+ zeroCountDelta)
        try sum.read(from: &reader)
        guard !isStale else { return }
        for i in positiveDeltas.indices {
            positiveDeltaDeltas[i] &+= try reader.readVarbitInt()
            positiveDeltas[i] &+= positiveDeltaDeltas[i]
        }
        for i in negativeDeltas.indices {
            negativeDeltaDeltas[i] &+= try reader.readVarbitInt()
            negativeDeltas[i] &+= negativeDeltaDeltas[i]
        }
    }

    func histogram(resetHint: Int32) -> Histogram {
        let sumValue = Double(bitPattern: sum.bits)
        if isStale {
            let zero: Histogram.Count = float ? .float(0) : .int(0)
            return Histogram(count: zero, sum: sumValue, zeroCount: zero, timestamp: timestamp)
        }
        if float {
            return Histogram(
                count: .float(Double(bitPattern: floatCount.bits)), sum: sumValue, schema: layout.schema,
                zeroThreshold: layout.zeroThreshold, zeroCount: .float(Double(bitPattern: floatZeroCount.bits)),
                negativeSpans: layout.negativeSpans, negativeCounts: negativeCounts.map { Double(bitPattern: $0.bits) },
                positiveSpans: layout.positiveSpans, positiveCounts: positiveCounts.map { Double(bitPattern: $0.bits) },
                resetHint: resetHint, timestamp: timestamp, customValues: layout.customValues)
        }
        return Histogram(
            count: .int(intCount), sum: sumValue, schema: layout.schema, zeroThreshold: layout.zeroThreshold,
            zeroCount: .int(intZeroCount), negativeSpans: layout.negativeSpans, negativeDeltas: negativeDeltas,
            positiveSpans: layout.positiveSpans, positiveDeltas: positiveDeltas, resetHint: resetHint,
            timestamp: timestamp, customValues: layout.customValues)
    }
}
