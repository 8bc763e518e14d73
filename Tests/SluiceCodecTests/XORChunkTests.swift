import Testing
@testable import SluiceCodec

// MARK: Helpers

/// A sample with its value as raw bits, so NaN payloads and -0.0 compare exactly.
private struct ChunkSample: Equatable, CustomStringConvertible {
    var timestamp: Int64
    var bits: UInt64

    init(_ timestamp: Int64, _ value: Double) {
        self.timestamp = timestamp
        self.bits = value.bitPattern
    }

    init(_ timestamp: Int64, bits: UInt64) {
        self.timestamp = timestamp
        self.bits = bits
    }

    var description: String { "(\(timestamp), 0x\(String(bits, radix: 16)))" }
}

private func encode(_ samples: [ChunkSample]) -> XORChunkEncoder {
    var encoder = XORChunkEncoder()
    for sample in samples {
        encoder.append(timestamp: sample.timestamp, value: Double(bitPattern: sample.bits))
    }
    return encoder
}

private func decode(_ bytes: [UInt8]) throws(CodecError) -> [ChunkSample] {
    var decoder = try XORChunkDecoder(bytes)
    var samples: [ChunkSample] = []
    while let sample = try decoder.nextBits() {
        samples.append(ChunkSample(sample.timestamp, bits: sample.valueBits))
    }
    return samples
}

/// Encodes, checks the encoder's bookkeeping, decodes through both `next()` and `decodeAll`, and
/// returns the chunk.
@discardableResult
private func expectRoundTrip(
    _ samples: [ChunkSample],
    sourceLocation: SourceLocation = #_sourceLocation
) throws -> [UInt8] {
    let encoder = encode(samples)
    let bytes = encoder.bytes
    #expect(encoder.count == samples.count, sourceLocation: sourceLocation)
    #expect(Int(bytes[0]) << 8 | Int(bytes[1]) == samples.count, sourceLocation: sourceLocation)
    #expect(bytes.count == (encoder.bitCount + 7) / 8, "no padding byte beyond the last bit", sourceLocation: sourceLocation)
    if let last = samples.last {
        #expect(encoder.last?.timestamp == last.timestamp, sourceLocation: sourceLocation)
        #expect(encoder.last?.value.bitPattern == last.bits, sourceLocation: sourceLocation)
        #expect(encoder.minTime == samples.map(\.timestamp).min(), sourceLocation: sourceLocation)
        #expect(encoder.maxTime == samples.map(\.timestamp).max(), sourceLocation: sourceLocation)
    } else {
        #expect(encoder.last == nil, sourceLocation: sourceLocation)
    }

    #expect(try decode(bytes) == samples, sourceLocation: sourceLocation)

    let all = try XORChunkDecoder.decodeAll(bytes)
    #expect(all.map { ChunkSample($0.timestamp, $0.value) } == samples, sourceLocation: sourceLocation)

    var decoder = try XORChunkDecoder(bytes)
    #expect(decoder.count == samples.count, sourceLocation: sourceLocation)
    for expected in samples {
        let sample = try decoder.next()
        #expect(sample.map { ChunkSample($0.timestamp, $0.value) } == expected, sourceLocation: sourceLocation)
    }
    #expect(try decoder.next() == nil, sourceLocation: sourceLocation)
    #expect(try decoder.next() == nil, "stays finished", sourceLocation: sourceLocation)
    #expect(decoder.decodedCount == samples.count, sourceLocation: sourceLocation)
    return bytes
}

private func expectCodecError(
    _ code: CodecError.Code,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws(CodecError) -> Void
) {
    do {
        try body()
        Issue.record("expected \(code), got success", sourceLocation: sourceLocation)
    } catch {
        #expect(error.code == code, sourceLocation: sourceLocation)
    }
}

/// Decodes arbitrary bytes, which must either succeed or fail with a codec error, never trap.
private func decodeUntrusted(_ bytes: [UInt8]) -> Result<[ChunkSample], CodecError> {
    Result { () throws(CodecError) in try decode(bytes) }
}

private let staleMarkerBits: UInt64 = 0x7FF0_0000_0000_0002

private func gauge(count: Int, seed: UInt64) -> [ChunkSample] {
    var rng = SplitMix64(seed: seed)
    var value = 50.0
    var t: Int64 = 1_700_000_000_000
    return (0..<count).map { _ in
        t += 15_000 + Int64.random(in: -30...30, using: &rng)
        value += Double(Int.random(in: -250...250, using: &rng)) / 100
        return ChunkSample(t, value)
    }
}

// MARK: Round trips

@Suite struct XORChunkRoundTripTests {
    @Test func emptyChunk() throws {
        let bytes = try expectRoundTrip([])
        #expect(bytes == [0, 0])
        let encoder = XORChunkEncoder()
        #expect(encoder.minTime == .max && encoder.maxTime == .min)
    }

    @Test func oneAndTwoSamples() throws {
        try expectRoundTrip([ChunkSample(1000, 1.0)])
        try expectRoundTrip([ChunkSample(1000, 1.0), ChunkSample(1015, 2.0)])
        try expectRoundTrip([ChunkSample(-5, -1.5), ChunkSample(-5, -1.5)])
    }

    @Test func counter120() throws {
        let samples = (0..<120).map { i in ChunkSample(1_700_000_000_000 + Int64(i) * 15_000, Double(i * i * 3)) }
        try expectRoundTrip(samples)
    }

    @Test func gauge120() throws {
        let bytes = try expectRoundTrip(gauge(count: 120, seed: 1))
        #expect(bytes.count < 120 * 16, "compresses")
    }

    @Test func randomBitsAndTimestamps() throws {
        var rng = SplitMix64(seed: 7)
        for _ in 0..<50 {
            let n = Int.random(in: 1...200, using: &rng)
            let samples = (0..<n).map { _ in ChunkSample(Int64(bitPattern: rng.next()), bits: rng.next() >> UInt64.random(in: 0...63, using: &rng)) }
            try expectRoundTrip(samples)
        }
    }

    @Test func constantValues() throws {
        let samples = (0..<120).map { i in ChunkSample(Int64(i) * 1000, 42.0) }
        let bytes = try expectRoundTrip(samples)
        // Header 2 bytes, t=0 in 1 byte, 8 value bytes, delta 1000 in 2 bytes; then one '0' bit for the
        // second value and two '0' bits (dod, value) for each of the other 118.
        #expect(bytes.count == 2 + 1 + 8 + 2 + (1 + 118 * 2 + 7) / 8)
    }

    @Test func nanPayloadsAndStaleMarker() throws {
        let nans: [UInt64] = [
            staleMarkerBits,
            Double.nan.bitPattern,
            Double.signalingNaN.bitPattern,
            (-Double.nan).bitPattern,
            0x7FF8_0000_0000_0001,
            0xFFFF_FFFF_FFFF_FFFF,
            0x7FF0_0000_0000_0001,
        ]
        var samples: [ChunkSample] = []
        var t: Int64 = 0
        for bits in nans {
            t += 15_000
            samples.append(ChunkSample(t, 1.0))
            t += 15_000
            samples.append(ChunkSample(t, bits: bits))
            t += 15_000
            samples.append(ChunkSample(t, bits: bits))
        }
        try expectRoundTrip(samples)
        // The stale marker as first sample, and only stale markers.
        try expectRoundTrip([ChunkSample(0, bits: staleMarkerBits)])
        try expectRoundTrip((0..<10).map { ChunkSample(Int64($0), bits: staleMarkerBits) })
    }

    @Test func infinitiesAndSignedZero() throws {
        let values: [Double] = [0.0, -0.0, .infinity, -.infinity, -0.0, 0.0, .greatestFiniteMagnitude,
                                .leastNonzeroMagnitude, -.leastNormalMagnitude, 1, -1, .infinity]
        try expectRoundTrip(values.enumerated().map { ChunkSample(Int64($0.offset) * 10, $0.element) })
    }

    /// Every delta-of-delta bucket boundary, checked both by round trip and by the bits it costs.
    @Test(arguments: [
        // (dod, bits for the timestamp: prefix + payload)
        (Int64(0), 1),
        (1, 16), (-1, 16), (8192, 16), (-8191, 16),
        (8193, 20), (-8192, 20), (65536, 20), (-65535, 20),
        (65537, 24), (-65536, 24), (524_288, 24), (-524_287, 24),
        (524_289, 68), (-524_288, 68), (1 << 40, 68), (-(1 << 40), 68),
    ])
    func deltaOfDeltaBuckets(dod: Int64, timestampBits: Int) throws {
        let start: Int64 = 1_000_000_000
        let step: Int64 = 10_000_000
        var encoder = XORChunkEncoder()
        encoder.append(timestamp: start, value: 1)
        encoder.append(timestamp: start + step, value: 1)
        let before = encoder.bitCount
        let third = start + 2 * step + dod
        encoder.append(timestamp: third, value: 1)
        #expect(encoder.bitCount - before == timestampBits + 1, "dod \(dod)")
        #expect(try decode(encoder.bytes) == [ChunkSample(start, 1), ChunkSample(start + step, 1), ChunkSample(third, 1)])
    }

    @Test func largeJumpsNegativeDeltasAndExtremes() throws {
        let timestamps: [Int64] = [
            .max, .min, .max, 0, -1, .min, .min + 1, .max - 1, 0, 1 << 62, -(1 << 62), 5, 4, 3, 3, 3,
            1_000_000_000_000, -1_000_000_000_000, .max, .max,
        ]
        try expectRoundTrip(timestamps.enumerated().map { ChunkSample($0.element, Double($0.offset)) })
        try expectRoundTrip([ChunkSample(.min, 0)])
        try expectRoundTrip([ChunkSample(.max, 0)])
        try expectRoundTrip([ChunkSample(.min, 0), ChunkSample(.max, 1)])
        try expectRoundTrip([ChunkSample(.max, 0), ChunkSample(.min, 1)])
        try expectRoundTrip([ChunkSample(0, 0), ChunkSample(-1, 1), ChunkSample(-3, 2), ChunkSample(-3, 2)])
    }

    @Test func maxSampleCount() throws {
        var encoder = XORChunkEncoder()
        for i in 0..<XORChunkEncoder.maxSampleCount {
            encoder.append(timestamp: Int64(i), value: Double(i & 7))
        }
        #expect(encoder.isFull)
        #expect(Array(encoder.bytes.prefix(2)) == [0xFF, 0xFF])
        let samples = try XORChunkDecoder.decodeAll(encoder.bytes)
        #expect(samples.count == 65535)
        #expect(samples.last?.timestamp == 65534 && samples.last?.value == 6)
    }

    @Test func decodesFromASliceOfALargerBuffer() throws {
        let samples = gauge(count: 30, seed: 3)
        let chunk = encode(samples).bytes
        let buffer: [UInt8] = [0xAA, 0xBB, 0xCC] + chunk + [0xDD, 0xEE]
        let slice = buffer[3..<(3 + chunk.count)]
        var decoder = try XORChunkDecoder(slice)
        var decoded: [ChunkSample] = []
        while let sample = try decoder.next() {
            decoded.append(ChunkSample(sample.timestamp, sample.value))
        }
        #expect(decoded == samples)
        #expect(try XORChunkDecoder.decodeAll(slice).count == samples.count)
    }

    @Test func trailingBytesAreIgnored() throws {
        // Prometheus before 3.0 sometimes left a zero byte after a byte-aligned end.
        let samples = [ChunkSample(1000, 1.0)]
        #expect(try decode(encode(samples).bytes + [0]) == samples)
        #expect(try decode(encode(samples).bytes + [0xFF, 0xFF]) == samples)
    }
}

// MARK: Golden bytes, derived by hand from the format

@Suite struct XORChunkGoldenTests {
    // ChunkSample 1: t=1000, v=1.0. zigzag(1000) = 2000 = 0x7D0 -> uvarint D0 0F; 1.0 = 3FF0000000000000.
    static let one: [UInt8] = [0x00, 0x01, 0xD0, 0x0F, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0]

    // ChunkSample 2: t=1015, v=2.0. Delta 15 -> uvarint 0F.
    // XOR 3FF0.. ^ 4000.. = 7FF0000000000000: leading 1, trailing 52, 11 significant bits.
    // '1' '1' 00001 001011 11111111111 = 11000010 01011111 11111111 = C2 5F FF.
    static let two: [UInt8] = [0x00, 0x02, 0xD0, 0x0F, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0, 0x0F, 0xC2, 0x5F, 0xFF]

    // ChunkSample 3: t=1032, v=3.0. Delta 17, dod 2 -> '10' 00000000000010 = 80 02.
    // XOR 4000.. ^ 4008.. = 0008000000000000: leading 12, trailing 51, which leaves the (1, 52) window
    // -> '1' '1' 01100 000001 '1' = 11011000 000011(00) = D8 0C, two bits free.
    static let three: [UInt8] = [0x00, 0x03, 0xD0, 0x0F, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0, 0x0F, 0xC2, 0x5F, 0xFF,
                                 0x80, 0x02, 0xD8, 0x0C]

    // ChunkSample 4: t=1047, v=2.0. Delta 15, dod -2 -> '10' 11111111111110.
    // XOR 4008.. ^ 4000.. = 0008000000000000 fits the (12, 51) window -> '1' '0' then 1 bit '1'.
    // 000011|10 11111111 11111010 1(0000000) = 0E FF FA 80.
    static let four: [UInt8] = [0x00, 0x04, 0xD0, 0x0F, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0, 0x0F, 0xC2, 0x5F, 0xFF,
                                0x80, 0x02, 0xD8, 0x0E, 0xFF, 0xFA, 0x80]

    @Test func oneSample() throws {
        #expect(encode([ChunkSample(1000, 1.0)]).bytes == Self.one)
        #expect(try decode(Self.one) == [ChunkSample(1000, 1.0)])
    }

    @Test func twoSamples() throws {
        let samples = [ChunkSample(1000, 1.0), ChunkSample(1015, 2.0)]
        #expect(encode(samples).bytes == Self.two)
        #expect(try decode(Self.two) == samples)
    }

    @Test func threeSamplesNewWindow() throws {
        let samples = [ChunkSample(1000, 1.0), ChunkSample(1015, 2.0), ChunkSample(1032, 3.0)]
        #expect(encode(samples).bytes == Self.three)
        #expect(try decode(Self.three) == samples)
    }

    @Test func fourSamplesReusedWindowNegativeDod() throws {
        let samples = [ChunkSample(1000, 1.0), ChunkSample(1015, 2.0), ChunkSample(1032, 3.0), ChunkSample(1047, 2.0)]
        #expect(encode(samples).bytes == Self.four)
        #expect(try decode(Self.four) == samples)
    }

    @Test func negativeTimestampAndStaleMarker() throws {
        // zigzag(-1) = 1; the stale marker's bits go in unchanged.
        let bytes: [UInt8] = [0x00, 0x01, 0x01, 0x7F, 0xF0, 0, 0, 0, 0, 0, 0x02]
        #expect(encode([ChunkSample(-1, bits: staleMarkerBits)]).bytes == bytes)
        #expect(try decode(bytes) == [ChunkSample(-1, bits: staleMarkerBits)])
    }

    @Test func minimumTimestampTakesTenVarintBytes() throws {
        // zigzag(Int64.min) = 0xFFFFFFFFFFFFFFFF: nine FF bytes then 01.
        let bytes: [UInt8] = [0x00, 0x01] + [UInt8](repeating: 0xFF, count: 9) + [0x01] + [UInt8](repeating: 0, count: 8)
        #expect(encode([ChunkSample(.min, 0.0)]).bytes == bytes)
        #expect(try decode(bytes) == [ChunkSample(.min, 0.0)])
    }

    @Test func equalSecondValueIsOneZeroBit() throws {
        // Delta 15 -> 0F, then '0' for an unchanged value: one more byte, 00.
        let bytes: [UInt8] = [0x00, 0x02, 0xD0, 0x0F, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0, 0x0F, 0x00]
        #expect(encode([ChunkSample(1000, 1.0), ChunkSample(1015, 1.0)]).bytes == bytes)
    }

    @Test func sixtyFourSignificantBitsAreWrittenAsZero() throws {
        // 0.0 then bits 8000000000000001: leading 0, trailing 0, 64 significant bits, sent as 000000.
        var encoder = XORChunkEncoder()
        encoder.append(timestamp: 0, value: 0)
        encoder.append(timestamp: 1, value: Double(bitPattern: 0x8000_0000_0000_0001))
        let bytes = encoder.bytes
        let tail = Array(bytes[12...])  // after header, varint 00, 8 value bytes, delta 01
        // '1' '1' 00000 000000, then 1, 62 zeros, 1: 77 bits = 11000000 00000100 0 x 56 00001000.
        #expect(tail == [0xC0, 0x04, 0, 0, 0, 0, 0, 0, 0, 0x08])
        #expect(try decode(bytes) == [ChunkSample(0, 0), ChunkSample(1, bits: 0x8000_0000_0000_0001)])
    }

    @Test func leadingZerosAreClampedTo31() throws {
        // 1.0 then its next float up: XOR is 1, 63 leading zeros, clamped to 31, so 33 significant bits.
        // '1' '1' 11111 100001, then 32 zeros and a 1: 46 bits = 11111111 00001000 0 x 24 00000100.
        var encoder = XORChunkEncoder()
        encoder.append(timestamp: 0, value: 1.0)
        encoder.append(timestamp: 1, value: 1.0.nextUp)
        let bytes = encoder.bytes
        #expect(Array(bytes[12...]) == [0xFF, 0x08, 0, 0, 0, 0x04])
        #expect(try decode(bytes) == [ChunkSample(0, 1.0), ChunkSample(1, 1.0.nextUp)])
    }
}

// MARK: Malformed input

@Suite struct XORChunkMalformedTests {
    @Test func shortHeader() {
        expectCodecError(.truncated) { () throws(CodecError) in _ = try XORChunkDecoder([]) }
        expectCodecError(.truncated) { () throws(CodecError) in _ = try XORChunkDecoder([0x00]) }
        expectCodecError(.truncated) { () throws(CodecError) in _ = try XORChunkDecoder.decodeAll([0x01]) }
    }

    @Test func headerCountsMoreSamplesThanPresent() throws {
        var bytes = encode(gauge(count: 10, seed: 5)).bytes
        bytes[1] = 11
        expectCodecError(.truncated) { () throws(CodecError) in _ = try decode(bytes) }
        // The first ten still come out before the error, and the error sticks.
        var decoder = try XORChunkDecoder(bytes)
        for _ in 0..<10 { _ = try decoder.next() }
        expectCodecError(.truncated) { () throws(CodecError) in _ = try decoder.next() }
        expectCodecError(.truncated) { () throws(CodecError) in _ = try decoder.next() }
    }

    @Test func everyTruncationIsReported() throws {
        for samples in [[ChunkSample(1000, 1.0)], gauge(count: 2, seed: 9), gauge(count: 120, seed: 11)] {
            let bytes = encode(samples).bytes
            for length in 0..<bytes.count {
                expectCodecError(.truncated) { () throws(CodecError) in _ = try decode(Array(bytes[..<length])) }
            }
        }
    }

    @Test func valueWindowWiderThan64Bits() {
        // Two samples at t=0 v=0 and delta 0; then '1' '1', leading 31, significant 40: 31 + 40 > 64.
        // 11 11111 101000 = 11111111 01000(000) = FF 40.
        let bytes: [UInt8] = [0x00, 0x02, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0xFF, 0x40]
        expectCodecError(.chunkCorrupt) { () throws(CodecError) in _ = try decode(bytes) }
    }

    @Test func varintOverflow() {
        // Tenth byte above 1.
        let tenth: [UInt8] = [0x00, 0x01] + [UInt8](repeating: 0xFF, count: 9) + [0x02] + [UInt8](repeating: 0, count: 8)
        expectCodecError(.chunkCorrupt) { () throws(CodecError) in _ = try decode(tenth) }
        // Eleven continuation bytes.
        let eleven: [UInt8] = [0x00, 0x01] + [UInt8](repeating: 0xFF, count: 11) + [UInt8](repeating: 0, count: 8)
        expectCodecError(.chunkCorrupt) { () throws(CodecError) in _ = try decode(eleven) }
        // Ending inside the varint is truncation, not corruption.
        expectCodecError(.truncated) { () throws(CodecError) in _ = try decode([0x00, 0x01, 0xFF, 0xFF]) }
    }

    @Test func reusedWindowBeforeAnyWindowReadsSixtyFourBits() throws {
        // Prometheus' iterator starts with a (0, 0) window; its Appender() on a reopened chunk can emit
        // '1' '0' for the second sample. t=0 v=0, delta 1, then '10' + 4000000000000000 (2.0).
        let bytes: [UInt8] = [0x00, 0x02, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x90, 0, 0, 0, 0, 0, 0, 0, 0]
        #expect(try decode(bytes) == [ChunkSample(0, 0.0), ChunkSample(1, 2.0)])
    }

    @Test func singleBitFlipsNeverTrap() throws {
        let bytes = encode(gauge(count: 120, seed: 13)).bytes
        for bit in 16..<(bytes.count * 8) {
            var flipped = bytes
            flipped[bit / 8] ^= 0x80 >> UInt8(bit % 8)
            if case .failure(let error) = decodeUntrusted(flipped) {
                #expect(error.code == .truncated || error.code == .chunkCorrupt)
            }
        }
    }

    @Test func randomCorruptionNeverTraps() throws {
        var rng = SplitMix64(seed: 17)
        let original = encode(gauge(count: 120, seed: 19)).bytes
        for _ in 0..<2000 {
            var bytes = original
            for _ in 0..<Int.random(in: 1...8, using: &rng) {
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            bytes.removeLast(Int.random(in: 0...4, using: &rng))
            if case .failure(let error) = decodeUntrusted(bytes) {
                #expect(error.code == .truncated || error.code == .chunkCorrupt)
            }
        }
        for _ in 0..<2000 {
            let garbage = (0..<Int.random(in: 0...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if case .failure(let error) = decodeUntrusted(garbage) {
                #expect(error.code == .truncated || error.code == .chunkCorrupt)
            }
        }
    }
}

// MARK: Bit stream

@Suite struct BitStreamTests {
    @Test func mixedWidthsRoundTrip() throws {
        var rng = SplitMix64(seed: 23)
        var writer = BitWriter()
        var written: [(UInt64, Int)] = []
        for _ in 0..<5000 {
            let width = Int.random(in: 1...64, using: &rng)
            let value = width == 64 ? rng.next() : rng.next() & (1 << UInt64(width) - 1)
            writer.writeBits(value, count: width)
            written.append((value, width))
        }
        #expect(writer.bytes.count == (writer.bitCount + 7) / 8)
        var reader = BitReader(writer.bytes)
        for (value, width) in written {
            #expect(try reader.readBits(width) == value)
        }
        #expect(reader.bitsRemaining < 8)
    }

    @Test func msbFirstLayout() {
        var writer = BitWriter()
        writer.writeBit(true)
        writer.writeBits(0b01, count: 2)
        writer.writeByte(0xFF)  // unaligned: 1 01 11111 | 111(00000)
        #expect(writer.bytes == [0b1011_1111, 0b1110_0000])
        writer.writeBits(0x1F, count: 5)
        #expect(writer.bytes == [0b1011_1111, 0b1111_1111])
        writer.writeByte(0xA5)  // aligned: no extra byte
        #expect(writer.bytes == [0xBF, 0xFF, 0xA5])
        #expect(writer.bitCount == 24)
    }

    @Test func writeBitsIgnoresHighBits() {
        var writer = BitWriter()
        writer.writeBits(UInt64(bitPattern: -2), count: 4)  // low four bits of ...1110
        #expect(writer.bytes == [0b1110_0000])
    }

    @Test func readerStopsAtTheEnd() throws {
        for length in 0..<20 {
            let bytes = [UInt8](repeating: 0xA5, count: length)
            var reader = BitReader(bytes)
            var bits = 0
            while (try? reader.readBit()) != nil { bits += 1 }
            #expect(bits == length * 8)
            var wide = BitReader(bytes)
            expectCodecError(.truncated) { () throws(CodecError) in
                for _ in 0...(length / 8) { _ = try wide.readBits(64) }
            }
        }
    }

    @Test func sixtyFourBitReadsAtEveryOffset() throws {
        let pattern: UInt64 = 0x0123_4567_89AB_CDEF
        for offset in 0..<64 {
            var writer = BitWriter()
            writer.writeBits(0, count: offset)
            writer.writeBits(pattern, count: 64)
            writer.writeBits(pattern, count: 64)
            var reader = BitReader(writer.bytes)
            if offset > 0 { #expect(try reader.readBits(offset) == 0) }
            #expect(try reader.readBits(64) == pattern)
            #expect(try reader.readBits(64) == pattern)
        }
    }
}

// MARK: CRC32C

@Suite struct CRC32CTests {
    /// Bit-at-a-time reference.
    private static func reference(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        }
        return ~crc
    }

    @Test func knownVectors() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
        // RFC 3720 (iSCSI) appendix B.4.
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
        #expect(CRC32C.checksum((0..<32).reversed().map { UInt8($0) }) == 0x113F_DB5C)
    }

    @Test func matchesBitwiseReferenceAtEveryLengthAndAlignment() {
        var rng = SplitMix64(seed: 29)
        let data = (0..<300).map { _ in UInt8.random(in: 0...255, using: &rng) }
        for start in 0..<9 {
            for end in start...data.count {
                let slice = data[start..<end]
                #expect(CRC32C.checksum(slice) == Self.reference(Array(slice)))
            }
        }
    }

    @Test func incrementalEqualsOneShot() {
        var rng = SplitMix64(seed: 31)
        let data = (0..<200).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let whole = CRC32C.checksum(data)
        for split in 0...data.count {
            let first = CRC32C.checksum(Array(data[..<split]))
            #expect(CRC32C.update(first, Array(data[split...])) == whole)
        }
        var crc: UInt32 = 0
        for byte in data { crc = CRC32C.update(crc, [byte]) }
        #expect(crc == whole)
    }

    @Test func verify() throws {
        let data = Array("123456789".utf8)
        try CRC32C.verify(data, expected: 0xE306_9283)
        expectCodecError(.checksumMismatch) { () throws(CodecError) in try CRC32C.verify(data, expected: 0xE306_9282) }
        try data.withUnsafeBytes { raw in try CRC32C.verify(raw, expected: 0xE306_9283) }
    }
}

// MARK: Growth

@Suite struct XORChunkGrowthTests {
    /// Appends `samples` as the head does: a small first buffer, `growIfNearlyFull` before each
    /// append. Returns the encoder and how many times its buffer moved.
    private func headStyle(_ samples: [ChunkSample], capacity: Int = 24) -> (XORChunkEncoder, moves: Int) {
        var encoder = XORChunkEncoder(capacity: capacity)
        var moves = 0
        for sample in samples {
            let before = encoder.reservedBytes
            encoder.growIfNearlyFull(toHold: 120)
            encoder.append(timestamp: sample.timestamp, value: Double(bitPattern: sample.bits))
            if encoder.reservedBytes != before { moves += 1 }
        }
        return (encoder, moves)
    }

    @Test func growingAheadWritesTheSameBytes() throws {
        var rng = SplitMix64(seed: 41)
        let shapes: [[ChunkSample]] = [
            gauge(count: 120, seed: 3),
            (0..<120).map { i in ChunkSample(1_700_000_000_000 + Int64(i) * 15_000, Double(i * 7)) },
            (0..<200).map { _ in ChunkSample(Int64(bitPattern: rng.next()), bits: rng.next()) },
            [ChunkSample(1000, 1.0), ChunkSample(1015, 2.0), ChunkSample(1030, 2.0)],
        ]
        for samples in shapes {
            let (grown, _) = headStyle(samples)
            #expect(grown.bytes == encode(samples).bytes)
            #expect(try decode(grown.bytes) == samples)
        }
    }

    @Test func aRegularChunkGrowsTwiceAndEndsNearItsSize() {
        // A counter scraped every 15 s: the buffer that doubling would take through 40, 80, 160 and
        // 320 bytes grows twice, the last time to the projected size.
        let samples = (0..<120).map { i in ChunkSample(1_700_000_000_000 + Int64(i) * 15_000, Double(1000 + i * 13)) }
        let (encoder, moves) = headStyle(samples)
        #expect(moves <= 2)
        #expect(encoder.reservedBytes >= encoder.byteCount)
        #expect(encoder.reservedBytes <= encoder.byteCount + encoder.byteCount / 2)
    }

    @Test func oneOrTwoSamplesKeepTheirSmallBuffer() {
        // The head's footprint per new series: no growth ahead of the first two samples.
        let (encoder, moves) = headStyle([ChunkSample(1_700_000_000_000, 1.0), ChunkSample(1_700_000_015_000, 2.0)])
        #expect(moves == 0 && encoder.reservedBytes == 24)
    }
}
