// Prometheus' XOR chunk (`tsdb/chunkenc/xor.go`), the Gorilla encoding with millisecond-sized
// timestamp buckets. Layout, bit-exact with Prometheus:
//
//   2 bytes   sample count, big-endian
//   sample 1  timestamp as a zig-zag varint (Go `binary.PutVarint`), written byte by byte into the bit
//             stream (so not necessarily byte-aligned after the header), then the value's 64 raw bits
//   sample 2  timestamp delta as a uvarint (Go `binary.PutUvarint`), then the value as an XOR delta
//   sample n  delta-of-delta `dod` of the timestamp:
//               '0'                  dod == 0
//               '10'   + 14 bits     -(2^13-1) ... 2^13
//               '110'  + 17 bits     -(2^16-1) ... 2^16
//               '1110' + 20 bits     -(2^19-1) ... 2^19
//               '1111' + 64 bits     anything else
//             then the value as an XOR delta
//
// XOR delta of value bits against the previous value's bits:
//   '0'                                  the same bits
//   '10' + (64 - L - T) bits             fits the previous window of L leading and T trailing zeros
//   '11' + 5 bits L + 6 bits S + S bits  a new window; S = 64 - L - T significant bits, 64 written as 0
//
// Values stay `UInt64` bit patterns from `Double.bitPattern` to `Double(bitPattern:)`: no float
// arithmetic ever touches them, so NaN payloads such as the stale marker round-trip unchanged.

/// Appends samples to one Prometheus XOR chunk.
///
/// A storage head keeps one of these per open chunk and cuts a new one every 120 samples or so, as
/// Prometheus does; the 2-byte header caps a chunk at `maxSampleCount`. The encoder does not check that
/// timestamps increase (Prometheus' does not either, and encodes any order losslessly), so callers that
/// need ordering compare against `last` before appending.
///
/// `bytes` is always a complete, decodable chunk: it writes the sample count into the header of the
/// copy it returns, so there is no separate "finish" step to forget, and an append touches only the
/// end of the buffer (a head appends to 100k+ chunks in turn, each append a cache miss). Each read of
/// `bytes` makes an exact-length copy (one allocation), which is what a caller keeping or
/// snapshotting the chunk wants; read it when the chunk is cut or queried, not per sample.
public struct XORChunkEncoder: Sendable {
    /// The most samples one chunk can hold: its count header is 16 bits.
    public static let maxSampleCount = Int(UInt16.max)

    private var writer: BitWriter
    // The small fields first, so they pack into the writer's last word: 56 bytes in all.
    private var storedCount: UInt16 = 0
    /// Leading zeros of the current XOR window, or `noWindow` before the first one is written.
    private var leading: UInt8 = XORChunkEncoder.noWindow
    private var trailing: UInt8 = 0

    /// Samples appended so far.
    public var count: Int { Int(storedCount) }

    /// Bytes written so far, the two-byte header included: what `bytes` returns.
    var byteCount: Int { writer.byteCount }

    /// Bytes the buffer holds before it must grow.
    var reservedBytes: Int { writer.reservedBytes }

    /// The smallest timestamp appended, or `Int64.max` while the chunk is empty, so that `min` over
    /// several chunks needs no special case.
    public private(set) var minTime: Int64 = .max

    /// The largest timestamp appended, or `Int64.min` while the chunk is empty.
    public private(set) var maxTime: Int64 = .min

    private var lastTimestamp: Int64 = 0
    private var lastValueBits: UInt64 = 0
    /// The previous timestamp delta, wrapping like Go's `uint64(t - a.t)`.
    private var timestampDelta: UInt64 = 0

    private static let noWindow: UInt8 = 0xFF

    /// Starts an empty chunk.
    ///
    /// - Parameter capacity: bytes to reserve before the buffer first grows (it doubles after that).
    ///   128 is Prometheus' choice; real chunks of 120 samples average roughly 150-250 bytes.
    public init(capacity: Int = 128) {
        writer = BitWriter(headerBytes: 2, capacity: capacity)
    }

    /// Asks for the cache lines the next `append` writes, without waiting (`BitWriter.prefetchForWrite`).
    /// Changes nothing; mutating so that callers reach the encoder in place, never through a copy
    /// (whose retain would wait for the very line asked for).
    @inline(__always)
    public mutating func prefetchForAppend() { writer.prefetchForWrite() }

    /// The most one `append` writes: a 64-bit delta of delta with its prefix (68 bits) and a value
    /// with a new window (77 bits).
    static let largestAppend = 19

    /// Before an `append` that may need more room: grows the buffer once, toward what `samples`
    /// samples in all would take at this chunk's rate so far, and an eighth more.
    ///
    /// `append` alone doubles the buffer, so a chunk of 120 samples passes through four buffers, each
    /// a new place in memory, and the last is often half empty. Grown to its projected size, a chunk
    /// stays where it is. The first sample (its timestamp as a varint, its value whole) is left out
    /// of the rate. A chunk of fewer than two samples is left to `append`, so a new series' first
    /// two samples stay in the head's small first buffer. A step grows the buffer at most fourfold,
    /// so a rate taken from the first few samples cannot reserve a whole chunk's worth on its own.
    @inline(__always)
    public mutating func growIfNearlyFull(toHold samples: Int) {
        if count >= 2, writer.byteCount &+ Self.largestAppend > writer.reservedBytes { grow(toHold: samples) }
    }

    /// `bytes` and an eighth more, never less than room for two more samples, so that a chunk
    /// grown to its projected size does not grow again near its end.
    private static func room(for bytes: Int) -> Int { bytes + Swift.max(bytes / 8, 2 * largestAppend) }

    @inline(never)
    private mutating func grow(toHold samples: Int) {
        let written = writer.byteCount
        let first = 2 &+ Varint.size(Self.zigzag(minTime)) &+ 8
        var projected = written
        if samples > count, written > first {
            projected = first + (written - first) * (samples - 1) / (count - 1)
        }
        writer.reserve(bytes: Swift.max(Swift.min(Self.room(for: projected), 4 * writer.reservedBytes), Self.room(for: written)))
    }

    /// The whole chunk, header included, as Prometheus would store it.
    public var bytes: [UInt8] {
        var bytes = writer.bytes
        bytes[0] = UInt8(truncatingIfNeeded: count >> 8)
        bytes[1] = UInt8(truncatingIfNeeded: count)
        return bytes
    }

    /// The last sample appended, so a caller can reject out-of-order or duplicate timestamps.
    public var last: (timestamp: Int64, value: Double)? {
        count == 0 ? nil : (lastTimestamp, Double(bitPattern: lastValueBits))
    }

    /// Whether the header can count no more samples; appending then is a programming error.
    public var isFull: Bool { count >= Self.maxSampleCount }

    /// Bits of sample data and header written, for tests and size accounting.
    var bitCount: Int { writer.bitCount }

    /// Appends one sample.
    ///
    /// - Precondition: `!isFull`. Cutting chunks is the caller's job; wrapping the 16-bit count, as Go's
    ///   `num+1` would, silently corrupts the chunk instead.
    public mutating func append(timestamp: Int64, value: Double) {
        precondition(count < Self.maxSampleCount, "XOR chunk is full")
        let valueBits = value.bitPattern
        switch count {
        case 0:
            writeUvarint(Self.zigzag(timestamp))
            writer.writeBits(valueBits, count: 64)
        case 1:
            let delta = UInt64(bitPattern: timestamp &- lastTimestamp)
            writeUvarint(delta)
            writeValue(valueBits)
            timestampDelta = delta
        default:
            let delta = UInt64(bitPattern: timestamp &- lastTimestamp)
            let dod = Int64(bitPattern: delta &- timestampDelta)
            let raw = UInt64(bitPattern: dod)
            // Prefix and payload go out in one write (two for the 64-bit bucket); payload bits above the
            // bucket size are masked off.
            if dod == 0 {
                writer.writeBit(false)
            } else if Self.fits(dod, bits: 14) {
                writer.writeBits((0b10 << 14) | (raw & 0x3FFF), count: 16)
            } else if Self.fits(dod, bits: 17) {
                writer.writeBits((0b110 << 17) | (raw & 0x1_FFFF), count: 20)
            } else if Self.fits(dod, bits: 20) {
                writer.writeBits((0b1110 << 20) | (raw & 0xF_FFFF), count: 24)
            } else {
                writer.writeBits(0b1111, count: 4)
                writer.writeBits(raw, count: 64)
            }
            writeValue(valueBits)
            timestampDelta = delta
        }
        lastTimestamp = timestamp
        lastValueBits = valueBits
        storedCount &+= 1
        minTime = Swift.min(minTime, timestamp)
        maxTime = Swift.max(maxTime, timestamp)
    }

    /// Zig-zag, as Go's PutVarint: the first timestamp's encoding.
    @inline(__always)
    static func zigzag(_ value: Int64) -> UInt64 { UInt64(bitPattern: value &<< 1) ^ UInt64(bitPattern: value &>> 63) }

    /// Go's `bitRange`: whether `x` fits the `bits`-wide bucket. The range is asymmetric,
    /// `-(2^(bits-1) - 1) ... 2^(bits-1)`, and the decoder's sign extension mirrors it.
    @inline(__always)
    static func fits(_ x: Int64, bits: Int) -> Bool {
        let half = Int64(1) &<< Int64(bits &- 1)
        return -(half &- 1) <= x && x <= half
    }

    @inline(__always)
    private mutating func writeUvarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            writer.writeByte(UInt8(truncatingIfNeeded: v) | 0x80)
            v &>>= 7
        }
        writer.writeByte(UInt8(truncatingIfNeeded: v))
    }

    @inline(__always)
    private mutating func writeValue(_ valueBits: UInt64) {
        let delta = valueBits ^ lastValueBits
        if delta == 0 {
            writer.writeBit(false)
            return
        }
        // Five bits hold at most 31 leading zeros; a narrower window than needed is still exact.
        let newLeading = UInt8(truncatingIfNeeded: Swift.min(delta.leadingZeroBitCount, 31))
        let newTrailing = UInt8(truncatingIfNeeded: delta.trailingZeroBitCount)
        // Control bits and payload go out in one write when together they fit in 64 bits.
        if leading != Self.noWindow && newLeading >= leading && newTrailing >= trailing {
            // '10', then the bits inside the previous window.
            let significant = 64 &- Int(leading) &- Int(trailing)
            let payload = delta &>> UInt64(trailing)
            if significant <= 62 {
                writer.writeBits((0b10 &<< UInt64(significant)) | payload, count: 2 &+ significant)
            } else {
                writer.writeBits(0b10, count: 2)
                writer.writeBits(payload, count: significant)
            }
        } else {
            leading = newLeading
            trailing = newTrailing
            let significant = 64 &- Int(newLeading) &- Int(newTrailing)
            let payload = delta &>> UInt64(newTrailing)
            // '11', 5 bits of leading zeros, 6 bits of significant bits (64 wraps to 0).
            let control = (0b11 << 11) | (UInt64(newLeading) << 6) | UInt64(significant & 0x3F)
            if significant <= 51 {
                writer.writeBits((control &<< UInt64(significant)) | payload, count: 13 &+ significant)
            } else {
                writer.writeBits(control, count: 13)
                writer.writeBits(payload, count: significant)
            }
        }
    }
}

/// Reads the samples of one Prometheus XOR chunk in order.
///
/// The chunk is untrusted (it may come from disk or a peer), so every read is bounds-checked and every
/// shift and sum is range-checked or wrapping: no input traps. A chunk that ends before its header's
/// sample count throws `.truncated`; one whose bits cannot be a valid encoding throws `.chunkCorrupt`.
/// After an error the decoder keeps throwing it. Bytes after the last sample are ignored, as Prometheus
/// ignores them, so chunks from older Prometheus with an extra padding byte decode too.
///
/// Like Prometheus' iterator, a reused XOR window before any window was written is taken to be
/// 0 leading and 0 trailing zeros (64 significant bits). Prometheus' own encoder never writes that,
/// but its `Appender()` on a reopened chunk can, so such chunks exist and are decoded.
public struct XORChunkDecoder: Sendable {
    /// Samples in the chunk, from its header.
    public let count: Int

    /// Samples returned so far.
    public private(set) var decodedCount: Int = 0

    private var reader: BitReader
    private var timestamp: Int64 = 0
    private var valueBits: UInt64 = 0
    private var timestampDelta: UInt64 = 0
    private var leading: Int = 0
    private var trailing: Int = 0
    private var failure: CodecError?

    /// Prepares to decode `bytes`, a whole chunk with its header. Only the header is read here.
    ///
    /// - Throws: `.truncated` when `bytes` is shorter than the 2-byte header.
    public init(_ bytes: ArraySlice<UInt8>) throws(CodecError) {
        guard bytes.count >= 2 else {
            throw CodecError(.truncated, "XOR chunk shorter than its header")
        }
        let start = bytes.startIndex
        count = Int(bytes[start]) << 8 | Int(bytes[start + 1])
        reader = BitReader(bytes[(start + 2)...])
    }

    /// Prepares to decode `bytes`, a whole chunk with its header.
    public init(_ bytes: [UInt8]) throws(CodecError) {
        try self.init(bytes[...])
    }

    /// Decodes every sample of a chunk.
    public static func decodeAll(_ bytes: ArraySlice<UInt8>) throws(CodecError) -> [(timestamp: Int64, value: Double)] {
        var decoder = try XORChunkDecoder(bytes)
        var samples: [(timestamp: Int64, value: Double)] = []
        // The header is untrusted: every sample after the second takes at least 2 bits, so reserve no
        // more than the bytes could hold.
        samples.reserveCapacity(Swift.min(decoder.count, decoder.reader.bitsRemaining / 2 + 2))
        while let sample = try decoder.next() {
            samples.append(sample)
        }
        return samples
    }

    /// Decodes every sample of a chunk.
    public static func decodeAll(_ bytes: [UInt8]) throws(CodecError) -> [(timestamp: Int64, value: Double)] {
        try decodeAll(bytes[...])
    }

    /// The next sample, or nil after the last one.
    public mutating func next() throws(CodecError) -> (timestamp: Int64, value: Double)? {
        guard let sample = try nextBits() else { return nil }
        return (sample.timestamp, Double(bitPattern: sample.valueBits))
    }

    /// The next sample with its value as the raw IEEE 754 bit pattern, or nil after the last one.
    public mutating func nextBits() throws(CodecError) -> (timestamp: Int64, valueBits: UInt64)? {
        if let failure { throw failure }
        guard decodedCount < count else { return nil }
        do throws(CodecError) {
            try decodeSample()
        } catch {
            failure = error
            throw error
        }
        decodedCount &+= 1
        return (timestamp, valueBits)
    }

    @inline(__always)
    private mutating func decodeSample() throws(CodecError) {
        switch decodedCount {
        case 0:
            let zigzag = try readUvarint()
            // Undo zig-zag, as Go's ReadVarint.
            timestamp = Int64(bitPattern: zigzag >> 1) ^ -Int64(bitPattern: zigzag & 1)
            valueBits = try reader.readBits(64)
        case 1:
            timestampDelta = try readUvarint()
            timestamp = timestamp &+ Int64(bitPattern: timestampDelta)
            try readValue()
        default:
            let dod: UInt64
            switch try reader.readUnary(limit: 4) {
            case 0: dod = 0
            case 1: dod = try readDeltaOfDelta(bits: 14)
            case 2: dod = try readDeltaOfDelta(bits: 17)
            case 3: dod = try readDeltaOfDelta(bits: 20)
            default: dod = try reader.readBits(64)
            }
            timestampDelta = timestampDelta &+ dod
            timestamp = timestamp &+ Int64(bitPattern: timestampDelta)
            try readValue()
        }
    }

    /// Reads a `bits`-wide bucket and sign-extends it the way the encoder's `fits` range implies:
    /// raw values above `2^(bits-1)` are negative.
    @inline(__always)
    private mutating func readDeltaOfDelta(bits: Int) throws(CodecError) -> UInt64 {
        let raw = try reader.readBits(bits)
        return raw > (1 &<< UInt64(bits &- 1)) ? raw &- (1 &<< UInt64(bits)) : raw
    }

    @inline(__always)
    private mutating func readValue() throws(CodecError) {
        let control = try reader.readUnary(limit: 2)
        if control == 0 {
            return  // Same bits as before.
        }
        if control == 2 {
            let window = Int(truncatingIfNeeded: try reader.readBits(11))
            let newLeading = window >> 6
            var significant = window & 0x3F
            if significant == 0 { significant = 64 }
            guard newLeading + significant <= 64 else {
                throw CodecError(.chunkCorrupt, "XOR chunk value window exceeds 64 bits")
            }
            leading = newLeading
            trailing = 64 - newLeading - significant
        }
        // leading + trailing <= 63, so this is 1...64 and the shift below is 0...63.
        let delta = try reader.readBits(64 &- leading &- trailing)
        valueBits ^= delta &<< UInt64(trailing)
    }

    /// Go's `binary.ReadUvarint`, reading bytes through the bit stream.
    @inline(__always)
    private mutating func readUvarint() throws(CodecError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        for index in 0..<10 {
            let byte = try reader.readByte()
            if byte < 0x80 {
                if index == 9 && byte > 1 {
                    throw CodecError(.chunkCorrupt, "XOR chunk varint overflows 64 bits")
                }
                return result | UInt64(byte) &<< shift
            }
            result |= UInt64(byte & 0x7F) &<< shift
            shift &+= 7
        }
        throw CodecError(.chunkCorrupt, "XOR chunk varint overflows 64 bits")
    }
}
