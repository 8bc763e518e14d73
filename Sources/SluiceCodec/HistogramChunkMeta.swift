// Pieces shared by Prometheus' two native-histogram chunk encodings (`tsdb/chunkenc/histogram.go`,
// `float_histogram.go`, `histogram_meta.go`, `varbit.go`): the 3-byte header, varbit integers, the
// chunk layout written once before the first sample, and the Gorilla XOR value state.
//
// Header, bit-exact with Prometheus:
//
//   2 bytes   sample count, big-endian
//   1 byte    flags: the top two bits are the counter-reset header (see `HistogramCounterResetHeader`),
//             the other six are zero
//
// Layout, written at the start of the first sample only (all later samples share it):
//
//   zero threshold   one byte: 0 means 0; 1...254 means 2^(byte - 244), i.e. the powers of two
//                    2^-243 ... 2^10; 255 means the 64 raw bits of the threshold follow
//   schema           varbit int
//   positive spans   varbit uint span count, then per span: varbit uint length, varbit int offset
//   negative spans   the same
//   custom bounds    only when the schema is -53 (custom buckets): varbit uint count, then per bound
//                    either varbit uint (bound * 1000 + 1) when that is a whole number 1...33554431,
//                    or a single '0' bit and the bound's 64 raw bits. Older Prometheus never wrote
//                    schema -53, so chunks of other schemas are unchanged.
//
// Varbit integers (Prometheus 2.42+ buckets; all versions since native histograms shipped):
//
//   '0'                    0
//   '10'       + 3 bits    -3 ... 4            (uint: 0 ... 7)
//   '110'      + 6 bits    -31 ... 32          (uint: ... 63)
//   '1110'     + 9 bits    -255 ... 256        (uint: ... 511)
//   '11110'    + 12 bits   -2047 ... 2048      (uint: ... 4095)
//   '111110'   + 18 bits   -(2^17-1) ... 2^17  (uint: ... 2^18-1)
//   '1111110'  + 25 bits   -(2^24-1) ... 2^24  (uint: ... 2^25-1)
//   '11111110' + 56 bits   -(2^55-1) ... 2^55  (uint: ... 2^56-1)
//   '11111111' + 64 bits   anything else
//
// The signed ranges are Go's asymmetric `bitRange`, like the XOR chunk's timestamp buckets.

/// The two bits at the top of a histogram chunk's flag byte: what the chunk says about a counter reset
/// between its first histogram and the previous chunk's last.
///
/// Readers turn it into the first histogram's reset hint; a gauge chunk's histograms are all gauges.
public enum HistogramCounterResetHeader: UInt8, Hashable, Sendable {
    /// Nothing is known: a query must compare with the previous chunk itself.
    case unknown = 0b00
    /// The chunk was cut without a counter reset (it was full, or its layout changed).
    case notCounterReset = 0b01
    /// The chunk was cut because of a counter reset.
    case counterReset = 0b10
    /// The chunk holds gauge histograms, which have no counter resets.
    case gauge = 0b11

    /// The flag byte as stored in the chunk.
    var flagByte: UInt8 { rawValue &<< 6 }

    init(flagByte: UInt8) {
        // Every 2-bit value is a case, so this cannot fail.
        self = HistogramCounterResetHeader(rawValue: flagByte &>> 6) ?? .unknown
    }

    /// The reset hint Prometheus' iterators give the chunk's first histogram.
    var firstResetHint: Int32 {
        switch self {
        case .unknown: Histogram.ResetHint.unknown.rawValue
        case .notCounterReset: Histogram.ResetHint.no.rawValue
        case .counterReset: Histogram.ResetHint.yes.rawValue
        case .gauge: Histogram.ResetHint.gauge.rawValue
        }
    }
}

/// Constants and small helpers of the histogram chunk formats.
enum HistogramChunkFormat {
    /// Sample count (2 bytes) and flags (1 byte).
    static let headerSize = 3

    /// The most histograms one chunk can hold: its count header is 16 bits.
    static let maxSampleCount = Int(UInt16.max)

    /// Prometheus' stale marker, a NaN with a payload. A histogram whose sum has exactly these bits is
    /// a staleness marker: its buckets are not stored.
    static let staleNaNBits: UInt64 = 0x7FF0_0000_0000_0002

    /// Schemas a chunk may hold: -53 (custom buckets) and Prometheus' "known" exponential range -9...52.
    /// Prometheus reduces 9...52 to 8 when reading; this decoder returns them unchanged.
    static func isKnownSchema(_ schema: Int64) -> Bool {
        schema == Int64(Histogram.customBucketsSchema) || (-9...52).contains(schema)
    }

    /// Total buckets of a span list.
    static func bucketCount(_ spans: [BucketSpan]) -> Int {
        spans.reduce(0) { $0 &+ Int($1.length) }
    }

    /// The bucket index of every bucket a span list covers, in order. A first span's offset is absolute,
    /// later offsets count the empty buckets since the previous span; zero-length spans only move on.
    static func bucketIndexes(_ spans: [BucketSpan]) -> [Int] {
        var indexes: [Int] = []
        indexes.reserveCapacity(bucketCount(spans))
        var next = 0
        for span in spans {
            next &+= Int(span.offset)
            for _ in 0..<Int(span.length) {
                indexes.append(next)
                next &+= 1
            }
        }
        return indexes
    }

    /// Whether going from the old buckets to the new ones is a counter reset, as Prometheus'
    /// `expandIntSpansAndBuckets`/`expandFloatSpansAndBuckets` decide it: a bucket present in both got
    /// smaller, or a bucket that held a count is missing from the new layout. New buckets are fine.
    /// Counts are absolute, one per bucket of the spans.
    static func bucketsDecreased<T: Comparable & ExpressibleByIntegerLiteral>(
        oldSpans: [BucketSpan], oldCounts: [T], newSpans: [BucketSpan], newCounts: [T]
    ) -> Bool {
        let old = bucketIndexes(oldSpans)
        let new = bucketIndexes(newSpans)
        precondition(old.count == oldCounts.count && new.count == newCounts.count, "bucket counts do not match spans")
        var o = 0
        var n = 0
        while o < old.count || n < new.count {
            if o < old.count && n < new.count && old[o] == new[n] {
                if oldCounts[o] > newCounts[n] { return true }
                o += 1
                n += 1
            } else if o < old.count && (n == new.count || old[o] < new[n]) {
                // A bucket dropped from the layout: a reset unless it was empty (NaN counts as used).
                if oldCounts[o] != 0 { return true }
                o += 1
            } else {
                n += 1
            }
        }
        return false
    }
}

// MARK: Varbit integers and the layout

extension BitWriter {
    /// Writes `value` in the varbit encoding's signed buckets.
    mutating func writeVarbitInt(_ value: Int64) {
        let raw = UInt64(bitPattern: value)
        // Prefix and payload go out in one write; the payload's high bits are masked by `writeBits`.
        func bucket(_ prefix: UInt64, _ prefixBits: Int, _ bits: Int) {
            writeBits(prefix &<< UInt64(bits) | (raw & ((1 &<< UInt64(bits)) &- 1)), count: prefixBits &+ bits)
        }
        if value == 0 {
            writeBit(false)
        } else if XORChunkEncoder.fits(value, bits: 3) {
            bucket(0b10, 2, 3)
        } else if XORChunkEncoder.fits(value, bits: 6) {
            bucket(0b110, 3, 6)
        } else if XORChunkEncoder.fits(value, bits: 9) {
            bucket(0b1110, 4, 9)
        } else if XORChunkEncoder.fits(value, bits: 12) {
            bucket(0b11110, 5, 12)
        } else if XORChunkEncoder.fits(value, bits: 18) {
            bucket(0b111110, 6, 18)
        } else if XORChunkEncoder.fits(value, bits: 25) {
            bucket(0b1111110, 7, 25)
        } else if XORChunkEncoder.fits(value, bits: 56) {
            bucket(0b11111110, 8, 56)
        } else {
            writeBits(0b11111111, count: 8)
            writeBits(raw, count: 64)
        }
    }

    /// Writes `value` in the varbit encoding's unsigned buckets (the same prefixes, no sign).
    mutating func writeVarbitUint(_ value: UInt64) {
        func bucket(_ prefix: UInt64, _ prefixBits: Int, _ bits: Int) {
            writeBits(prefix &<< UInt64(bits) | value, count: prefixBits &+ bits)
        }
        if value == 0 {
            writeBit(false)
        } else if value < 1 << 3 {
            bucket(0b10, 2, 3)
        } else if value < 1 << 6 {
            bucket(0b110, 3, 6)
        } else if value < 1 << 9 {
            bucket(0b1110, 4, 9)
        } else if value < 1 << 12 {
            bucket(0b11110, 5, 12)
        } else if value < 1 << 18 {
            bucket(0b111110, 6, 18)
        } else if value < 1 << 25 {
            bucket(0b1111110, 7, 25)
        } else if value < 1 << 56 {
            bucket(0b11111110, 8, 56)
        } else {
            writeBits(0b11111111, count: 8)
            writeBits(value, count: 64)
        }
    }

    /// Writes the zero threshold: one byte for 0 and for the powers of two 2^-243 ... 2^10, otherwise
    /// the byte 255 and the threshold's raw bits.
    mutating func writeZeroThreshold(_ threshold: Double) {
        if threshold == 0 {
            writeByte(0)
            return
        }
        // Go's `math.Frexp` gives frac in [0.5, 1), so its exponent is Swift's `exponent + 1`.
        if threshold.isFinite && threshold > 0 && threshold.significand == 1 {
            let exponent = Int(threshold.exponent) &+ 1
            if exponent >= -242 && exponent <= 11 {
                writeByte(UInt8(truncatingIfNeeded: exponent &+ 243))
                return
            }
        }
        writeByte(255)
        writeBits(threshold.bitPattern, count: 64)
    }

    /// Writes one custom bucket bound: small non-negative multiples of 0.001 as a varbit uint, anything
    /// else as a '0' bit and the raw bits. The test for "multiple of 0.001" is Prometheus' own (round
    /// trip through `round(bound * 1000) / 1000`), so the same bounds take the short form.
    mutating func writeCustomBound(_ bound: Double) {
        let scaled = bound * 1000
        // Written so NaN fails the range test before any conversion to an integer.
        if scaled >= 0 && scaled <= 33_554_430 {
            let whole = UInt64(scaled.rounded())
            if Double(whole) / 1000 == bound {
                writeVarbitUint(whole &+ 1)
                return
            }
        }
        writeBit(false)
        writeBits(bound.bitPattern, count: 64)
    }

    /// Writes the chunk layout that precedes the first sample.
    mutating func writeHistogramLayout(
        schema: Int32, zeroThreshold: Double, positiveSpans: [BucketSpan], negativeSpans: [BucketSpan],
        customValues: [Double]
    ) {
        writeZeroThreshold(zeroThreshold)
        writeVarbitInt(Int64(schema))
        for spans in [positiveSpans, negativeSpans] {
            writeVarbitUint(UInt64(spans.count))
            for span in spans {
                writeVarbitUint(UInt64(span.length))
                writeVarbitInt(Int64(span.offset))
            }
        }
        if schema == Histogram.customBucketsSchema {
            writeVarbitUint(UInt64(customValues.count))
            for bound in customValues {
                writeCustomBound(bound)
            }
        }
    }
}

/// The layout read back from a chunk.
struct HistogramLayout: Sendable {
    var schema: Int32
    var zeroThreshold: Double
    var positiveSpans: [BucketSpan]
    var negativeSpans: [BucketSpan]
    var customValues: [Double]
}

extension BitReader {
    /// Reads a varbit-encoded signed integer.
    mutating func readVarbitInt() throws(CodecError) -> Int64 {
        let bits: Int
        switch try readUnary(limit: 8) {
        case 0: return 0
        case 1: bits = 3
        case 2: bits = 6
        case 3: bits = 9
        case 4: bits = 12
        case 5: bits = 18
        case 6: bits = 25
        case 7: bits = 56
        default: return Int64(bitPattern: try readBits(64))
        }
        let raw = try readBits(bits)
        // Sign-extend the way Go's `bitRange` splits the bucket: raw values above 2^(bits-1) are negative.
        let value = raw > (1 &<< UInt64(bits &- 1)) ? raw &- (1 &<< UInt64(bits)) : raw
        return Int64(bitPattern: value)
    }

    /// Reads a varbit-encoded unsigned integer.
    mutating func readVarbitUint() throws(CodecError) -> UInt64 {
        switch try readUnary(limit: 8) {
        case 0: return 0
        case 1: return try readBits(3)
        case 2: return try readBits(6)
        case 3: return try readBits(9)
        case 4: return try readBits(12)
        case 5: return try readBits(18)
        case 6: return try readBits(25)
        case 7: return try readBits(56)
        default: return try readBits(64)
        }
    }

    mutating func readZeroThreshold() throws(CodecError) -> Double {
        let byte = try readByte()
        switch byte {
        case 0: return 0
        case 255: return Double(bitPattern: try readBits(64))
        default: return Double(sign: .plus, exponent: Int(byte) - 244, significand: 1)
        }
    }

    mutating func readCustomBound() throws(CodecError) -> Double {
        let value = try readVarbitUint()
        if value == 0 {
            return Double(bitPattern: try readBits(64))
        }
        return Double(value - 1) / 1000
    }

    /// Reads a span list, checking its count against the bits left before allocating: a span takes at
    /// least two bits (a length and an offset of one bit each).
    mutating func readSpans() throws(CodecError) -> [BucketSpan] {
        let count = try readVarbitUint()
        guard count <= UInt64(bitsRemaining / 2) else {
            throw CodecError(.chunkCorrupt, "histogram chunk declares more spans than it holds")
        }
        var spans: [BucketSpan] = []
        spans.reserveCapacity(Int(count))
        for _ in 0..<Int(count) {
            let length = try readVarbitUint()
            let offset = try readVarbitInt()
            guard let length = UInt32(exactly: length), let offset = Int32(exactly: offset) else {
                throw CodecError(.chunkCorrupt, "histogram chunk span out of range")
            }
            spans.append(BucketSpan(offset: offset, length: length))
        }
        return spans
    }

    /// Reads the chunk layout, rejecting schemas Prometheus does not know.
    mutating func readHistogramLayout() throws(CodecError) -> HistogramLayout {
        let zeroThreshold = try readZeroThreshold()
        let schema = try readVarbitInt()
        guard HistogramChunkFormat.isKnownSchema(schema) else {
            throw CodecError(.chunkCorrupt, "histogram chunk has an unknown schema")
        }
        let positiveSpans = try readSpans()
        let negativeSpans = try readSpans()
        var customValues: [Double] = []
        if schema == Int64(Histogram.customBucketsSchema) {
            let count = try readVarbitUint()
            // A bound takes at least 5 bits ('10' + 3 bits, or '0' + 64 bits).
            guard count <= UInt64(bitsRemaining / 5) else {
                throw CodecError(.chunkCorrupt, "histogram chunk declares more custom bounds than it holds")
            }
            customValues.reserveCapacity(Int(count))
            for _ in 0..<Int(count) {
                customValues.append(try readCustomBound())
            }
        }
        return HistogramLayout(
            schema: Int32(truncatingIfNeeded: schema), zeroThreshold: zeroThreshold,
            positiveSpans: positiveSpans, negativeSpans: negativeSpans, customValues: customValues)
    }
}

// MARK: XOR values

/// One Gorilla XOR-encoded value stream: the previous value's bits and the current window.
///
/// The encoding is the XOR chunk's (see XORChunk.swift). A fresh writer state has no window yet
/// (`leading == noWindow`), so its first XOR always opens one; a fresh reader state is 0 leading and
/// 0 trailing zeros, as Prometheus' iterators start.
struct XORValueState: Sendable {
    var bits: UInt64
    var leading: UInt8
    var trailing: UInt8

    static let noWindow: UInt8 = 0xFF

    /// A writer state after `bits` was written raw.
    static func writer(_ bits: UInt64) -> XORValueState {
        XORValueState(bits: bits, leading: noWindow, trailing: 0)
    }

    /// A reader state after `bits` was read raw.
    static func reader(_ bits: UInt64) -> XORValueState {
        XORValueState(bits: bits, leading: 0, trailing: 0)
    }

    mutating func write(_ newBits: UInt64, to writer: inout BitWriter) {
        let delta = newBits ^ bits
        bits = newBits
        if delta == 0 {
            writer.writeBit(false)
            return
        }
        let newLeading = UInt8(truncatingIfNeeded: Swift.min(delta.leadingZeroBitCount, 31))
        let newTrailing = UInt8(truncatingIfNeeded: delta.trailingZeroBitCount)
        if leading != Self.noWindow && newLeading >= leading && newTrailing >= trailing {
            writer.writeBits(0b10, count: 2)
            writer.writeBits(delta &>> UInt64(trailing), count: 64 &- Int(leading) &- Int(trailing))
            return
        }
        leading = newLeading
        trailing = newTrailing
        let significant = 64 &- Int(newLeading) &- Int(newTrailing)
        // '11', 5 bits of leading zeros, 6 bits of significant bits (64 wraps to 0).
        writer.writeBits((0b11 << 11) | (UInt64(newLeading) << 6) | UInt64(significant & 0x3F), count: 13)
        writer.writeBits(delta &>> UInt64(newTrailing), count: significant)
    }

    mutating func read(from reader: inout BitReader) throws(CodecError) {
        let control = try reader.readUnary(limit: 2)
        if control == 0 { return }
        if control == 2 {
            let window = Int(truncatingIfNeeded: try reader.readBits(11))
            let newLeading = window >> 6
            var significant = window & 0x3F
            if significant == 0 { significant = 64 }
            guard newLeading + significant <= 64 else {
                throw CodecError(.chunkCorrupt, "histogram chunk value window exceeds 64 bits")
            }
            leading = UInt8(newLeading)
            trailing = UInt8(64 - newLeading - significant)
        }
        // leading + trailing <= 63 once a window was read or for the initial 0/0 window.
        let width = 64 &- Int(leading) &- Int(trailing)
        guard width >= 1 else {
            throw CodecError(.chunkCorrupt, "histogram chunk value window is empty")
        }
        bits ^= try reader.readBits(width) &<< UInt64(trailing)
    }
}
