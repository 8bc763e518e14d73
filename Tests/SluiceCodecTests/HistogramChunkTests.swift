import Testing
@testable import SluiceCodec

// MARK: Helpers

private let staleNaN = Double(bitPattern: 0x7FF0_0000_0000_0002)

private func intHistogram(
    _ t: Int64, count: UInt64, sum: Double = 0, zeroCount: UInt64 = 0, schema: Int32 = 0,
    zeroThreshold: Double = 0,
    positive: [BucketSpan] = [], positiveDeltas: [Int64] = [],
    negative: [BucketSpan] = [], negativeDeltas: [Int64] = [],
    hint: Int32 = 0, customValues: [Double] = []
) -> Histogram {
    Histogram(
        count: .int(count), sum: sum, schema: schema, zeroThreshold: zeroThreshold, zeroCount: .int(zeroCount),
        negativeSpans: negative, negativeDeltas: negativeDeltas, positiveSpans: positive,
        positiveDeltas: positiveDeltas, resetHint: hint, timestamp: t, customValues: customValues)
}

private func floatHistogram(
    _ t: Int64, count: Double, sum: Double = 0, zeroCount: Double = 0, schema: Int32 = 0,
    zeroThreshold: Double = 0,
    positive: [BucketSpan] = [], positiveCounts: [Double] = [],
    negative: [BucketSpan] = [], negativeCounts: [Double] = [],
    hint: Int32 = 0, customValues: [Double] = []
) -> Histogram {
    Histogram(
        count: .float(count), sum: sum, schema: schema, zeroThreshold: zeroThreshold, zeroCount: .float(zeroCount),
        negativeSpans: negative, negativeCounts: negativeCounts, positiveSpans: positive,
        positiveCounts: positiveCounts, resetHint: hint, timestamp: t, customValues: customValues)
}

private func span(_ offset: Int32, _ length: UInt32) -> BucketSpan {
    BucketSpan(offset: offset, length: length)
}

/// Appends every histogram (each must fit) and returns the encoder.
private func encode(
    _ histograms: [Histogram], float: Bool, sourceLocation: SourceLocation = #_sourceLocation
) -> HistogramChunkEncoder {
    var encoder = HistogramChunkEncoder(float: float)
    for h in histograms {
        let result = encoder.append(h)
        #expect(result == .appended, "\(String(describing: encoder.lastCut))", sourceLocation: sourceLocation)
    }
    return encoder
}

/// What decoding returns for `appended`: the hints the iterator reports for a chunk with `header`.
private func expectedDecode(_ appended: [Histogram], header: HistogramCounterResetHeader) -> [Histogram] {
    appended.enumerated().map { index, h in
        var h = h
        if h.sum.bitPattern == staleNaN.bitPattern {
            let zero: Histogram.Count = h.isFloat ? .float(0) : .int(0)
            return Histogram(count: zero, sum: h.sum, zeroCount: zero, timestamp: h.timestamp)
        }
        switch header {
        case .gauge: h.resetHint = 3
        case _ where index > 0: h.resetHint = 2
        case .counterReset: h.resetHint = 1
        case .notCounterReset: h.resetHint = 2
        case .unknown: h.resetHint = 0
        }
        if h.schema != Histogram.customBucketsSchema { h.customValues = [] }
        return h
    }
}

@discardableResult
private func expectRoundTrip(
    _ histograms: [Histogram], float: Bool, header: HistogramCounterResetHeader = .unknown,
    sourceLocation: SourceLocation = #_sourceLocation
) throws -> [UInt8] {
    let encoder = encode(histograms, float: float, sourceLocation: sourceLocation)
    let bytes = encoder.bytes
    #expect(encoder.count == histograms.count, sourceLocation: sourceLocation)
    #expect(Int(bytes[0]) << 8 | Int(bytes[1]) == histograms.count, sourceLocation: sourceLocation)
    #expect(encoder.counterResetHeader == header, sourceLocation: sourceLocation)
    #expect(bytes[2] == header.rawValue << 6, sourceLocation: sourceLocation)
    #expect(encoder.encoding == (float ? .floatHistogram : .histogram), sourceLocation: sourceLocation)
    if !histograms.isEmpty {
        #expect(encoder.minTime == histograms.map(\.timestamp).min(), sourceLocation: sourceLocation)
        #expect(encoder.maxTime == histograms.map(\.timestamp).max(), sourceLocation: sourceLocation)
    }
    let decoded = try HistogramChunkDecoder.decode(bytes, encoding: encoder.encoding)
    let expected = expectedDecode(histograms, header: header)
    #expect(decoded.count == expected.count, sourceLocation: sourceLocation)
    for (index, (got, want)) in zip(decoded, expected).enumerated() {
        #expect(got == want, "histogram \(index)", sourceLocation: sourceLocation)
    }
    return bytes
}

/// Assembles a bit string written out by hand from the format description, padded with zero bits.
private struct Bits {
    var text = ""

    mutating func add(_ bits: String) { text += bits }

    /// `value`'s low `width` bits, most significant first.
    mutating func add(_ value: UInt64, width: Int) {
        for shift in stride(from: width - 1, through: 0, by: -1) {
            text += (value >> UInt64(shift)) & 1 == 1 ? "1" : "0"
        }
    }

    var bytes: [UInt8] {
        var bytes: [UInt8] = []
        var current: UInt8 = 0
        var used = 0
        for character in text {
            current = current << 1 | (character == "1" ? 1 : 0)
            used += 1
            if used == 8 {
                bytes.append(current)
                current = 0
                used = 0
            }
        }
        if used > 0 { bytes.append(current << UInt8(8 - used)) }
        return bytes
    }
}

/// ChunkTestRandom, so "random" inputs are the same on every run.
private struct ChunkTestRandom: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

// MARK: Golden bytes

@Suite struct HistogramChunkGoldenTests {
    /// Two integer histograms, schema 0, written out bit by bit from Prometheus' format description.
    @Test func integerChunkMatchesHandEncoding() throws {
        let first = intHistogram(
            2, count: 5, sum: 0, zeroCount: 1, positive: [span(0, 2)], positiveDeltas: [2, 0])
        let second = intHistogram(
            4, count: 7, sum: 1, zeroCount: 1, positive: [span(0, 2)], positiveDeltas: [3, 0])

        var bits = Bits()
        bits.add(2, width: 16)  // sample count
        bits.add(0, width: 8)  // flags: unknown counter reset
        // Layout.
        bits.add("00000000")  // zero threshold 0
        bits.add("0")  // schema 0
        bits.add("10" + "001")  // 1 positive span
        bits.add("10" + "010")  // length 2
        bits.add("0")  // offset 0
        bits.add("0")  // 0 negative spans
        // First sample.
        bits.add("10" + "010")  // t = 2
        bits.add("10" + "101")  // count 5
        bits.add("10" + "001")  // zero count 1
        bits.add(0, width: 64)  // sum 0.0
        bits.add("10" + "010")  // bucket delta 2
        bits.add("0")  // bucket delta 0
        // Second sample.
        bits.add("10" + "010")  // t delta-of-delta 2
        bits.add("10" + "010")  // count delta-of-delta 2
        bits.add("0")  // zero count delta-of-delta 0
        // Sum 1.0 XOR 0.0 = 0x3FF0...: new window, 2 leading zeros, 10 significant bits.
        bits.add("11" + "00010" + "001010" + "1111111111")
        bits.add("10" + "001")  // bucket 0: delta 1, delta-of-delta 1
        bits.add("0")  // bucket 1: delta 0

        let bytes = try expectRoundTrip([first, second], float: false)
        #expect(bytes == bits.bytes)
    }

    /// One float histogram with custom buckets: the custom bounds follow the spans, one in the short
    /// 0.001-multiple form and one raw.
    @Test func floatCustomBucketChunkMatchesHandEncoding() throws {
        let h = floatHistogram(
            1000, count: 3, sum: 1.5, schema: -53, positive: [span(0, 2)], positiveCounts: [1, 2],
            customValues: [0.5, 1e9])

        var bits = Bits()
        bits.add(1, width: 16)
        bits.add(0, width: 8)
        bits.add("00000000")  // zero threshold 0
        bits.add("1110")  // schema -53 in the 9-bit bucket
        bits.add(UInt64(bitPattern: -53), width: 9)
        bits.add("10" + "001")  // 1 positive span
        bits.add("10" + "010")  // length 2
        bits.add("0")  // offset 0
        bits.add("0")  // 0 negative spans
        bits.add("10" + "010")  // 2 custom bounds
        bits.add("1110")  // 0.5 -> 500 + 1 = 501, in the 9-bit bucket
        bits.add(501, width: 9)
        bits.add("0")  // 1e9 is too large for the short form: '0' and raw bits
        bits.add((1e9 as Double).bitPattern, width: 64)
        bits.add("11110")  // t = 1000, 12-bit bucket
        bits.add(1000, width: 12)
        bits.add((3.0 as Double).bitPattern, width: 64)  // count
        bits.add(0, width: 64)  // zero count
        bits.add((1.5 as Double).bitPattern, width: 64)  // sum
        bits.add((1.0 as Double).bitPattern, width: 64)  // bucket 1
        bits.add((2.0 as Double).bitPattern, width: 64)  // bucket 2

        let bytes = try expectRoundTrip([h], float: true)
        #expect(bytes == bits.bytes)
    }

    @Test func counterResetHeaderBits() throws {
        let h = intHistogram(1, count: 0)
        var reset = HistogramChunkEncoder(float: false)
        reset.markCounterReset()
        #expect(reset.append(h) == .appended)
        #expect(reset.bytes[2] == 0b1000_0000)
        #expect(try HistogramChunkDecoder.decode(reset.bytes, encoding: .histogram)[0].resetHint == 1)

        var notReset = HistogramChunkEncoder(float: true, counterResetHeader: .notCounterReset)
        #expect(notReset.append(floatHistogram(1, count: 0)) == .appended)
        #expect(notReset.bytes[2] == 0b0100_0000)
        #expect(try HistogramChunkDecoder.decode(notReset.bytes, encoding: .floatHistogram)[0].resetHint == 2)

        var gauge = HistogramChunkEncoder(float: false)
        gauge.markCounterReset()
        #expect(gauge.append(intHistogram(1, count: 0, hint: 3)) == .appended)
        #expect(gauge.bytes[2] == 0b1100_0000, "a gauge first histogram wins over the reset mark")

        var hinted = HistogramChunkEncoder(float: false)
        #expect(hinted.append(intHistogram(1, count: 0, hint: 1)) == .appended)
        #expect(hinted.counterResetHeader == .counterReset, "reset hint 'yes' on the first histogram")
    }

    /// Prometheus' one-byte zero thresholds: 0, and powers of two 2^-243 ... 2^10.
    @Test(arguments: [
        (0.0, [UInt8(0)]), (Double(sign: .plus, exponent: -128, significand: 1), [116]),
        (1024.0, [254]), (Double(sign: .plus, exponent: -243, significand: 1), [1]),
        (2048.0, [255]), (0.001, [255]), (Double(sign: .plus, exponent: -244, significand: 1), [255]),
    ])
    func zeroThresholdEncoding(threshold: Double, firstByte: [UInt8]) throws {
        let h = intHistogram(5, count: 0, zeroThreshold: threshold)
        let bytes = try expectRoundTrip([h], float: false)
        #expect(bytes[3] == firstByte[0])
        if firstByte[0] == 255 {
            var reader = BitReader(Array(bytes[4..<12]))
            #expect(try reader.readBits(64) == threshold.bitPattern)
        }
    }
}

// MARK: Varbit

@Suite struct VarbitTests {
    @Test func signedBucketsRoundTripAtTheirEdges() throws {
        let cases: [(Int64, Int)] = [
            (0, 1), (1, 5), (-3, 5), (4, 5), (-4, 9), (5, 9), (-31, 9), (32, 9), (33, 13), (-255, 13),
            (256, 13), (257, 17), (-2047, 17), (2048, 17), (2049, 24), (-131_071, 24), (131_072, 24),
            (131_073, 32), (16_777_216, 32), (-16_777_215, 32), (16_777_217, 64), (1 << 55, 64),
            (-(1 << 55) + 1, 64), ((1 << 55) + 1, 72), (-(1 << 55), 72), (.max, 72), (.min, 72),
        ]
        for (value, bits) in cases {
            var writer = BitWriter()
            writer.writeVarbitInt(value)
            #expect(writer.bitCount == bits, "\(value)")
            var reader = BitReader(writer.bytes)
            #expect(try reader.readVarbitInt() == value)
        }
    }

    @Test func unsignedBucketsRoundTripAtTheirEdges() throws {
        let cases: [(UInt64, Int)] = [
            (0, 1), (1, 5), (7, 5), (8, 9), (63, 9), (64, 13), (511, 13), (512, 17), (4095, 17),
            (4096, 24), (262_143, 24), (262_144, 32), (33_554_431, 32), (33_554_432, 64),
            ((1 << 56) - 1, 64), (1 << 56, 72), (.max, 72),
        ]
        for (value, bits) in cases {
            var writer = BitWriter()
            writer.writeVarbitUint(value)
            #expect(writer.bitCount == bits, "\(value)")
            var reader = BitReader(writer.bytes)
            #expect(try reader.readVarbitUint() == value)
        }
    }

    @Test func customBoundsTakeTheShortFormOnlyWhenExact() throws {
        let cases: [(Double, Bool)] = [
            (0, true), (0.001, true), (0.1, true), (2.5, true), (33_554.43, true), (33_554.431, false),
            (0.0001, false), (-1, false), (1e9, false), (.nan, false), (-.infinity, false),
        ]
        for (bound, short) in cases {
            var writer = BitWriter()
            writer.writeCustomBound(bound)
            #expect((writer.bitCount < 65) == short, "\(bound)")
            var reader = BitReader(writer.bytes)
            #expect(try reader.readCustomBound().bitPattern == bound.bitPattern, "\(bound)")
        }
    }
}

// MARK: Round trips

@Suite struct HistogramChunkRoundTripTests {
    @Test func integerHistogramsManySamples() throws {
        var histograms: [Histogram] = []
        var t: Int64 = 1_700_000_000_000
        for i in 0..<300 {
            let n = UInt64(i)
            // Positive buckets 2+n, 3+2n, 1 and negative 1+n, 4: deltas of those.
            let positive: [Int64] = [2 + Int64(n), 1 + Int64(n), -2 - 2 * Int64(n)]
            let negative: [Int64] = [1 + Int64(n), 3 - Int64(n)]
            let count = (2 + n) + (3 + 2 * n) + 1 + (1 + n) + 4 + n
            histograms.append(
                intHistogram(
                    t, count: count, sum: Double(i) * 0.37, zeroCount: n, schema: 3, zeroThreshold: 0.001,
                    positive: [span(-2, 2), span(3, 1)], positiveDeltas: positive,
                    negative: [span(1, 2)], negativeDeltas: negative))
            // Irregular intervals, including jumps that need the 64-bit varbit bucket.
            t += i % 50 == 49 ? 1 << 58 : Int64(15_000 + (i % 7) * 3)
        }
        try expectRoundTrip(histograms, float: false)
    }

    @Test func floatHistogramsManySamples() throws {
        var rng = ChunkTestRandom(state: 42)
        var histograms: [Histogram] = []
        var counts = [0.0, 0.0, 0.0, 0.0]
        var zero = 0.0
        for i in 0..<250 {
            for j in counts.indices { counts[j] += Double(rng.next() % 1000) / 7 }
            zero += 0.5
            histograms.append(
                floatHistogram(
                    Int64(i) * 10_000 - 5_000_000, count: counts.reduce(zero, +), sum: Double(bitPattern: rng.next() >> 2),
                    zeroCount: zero, schema: -2, positive: [span(0, 1), span(0, 0), span(2, 1)],
                    positiveCounts: [counts[0], counts[1]], negative: [span(-3, 2)],
                    negativeCounts: [counts[2], counts[3]]))
        }
        try expectRoundTrip(histograms, float: true)
    }

    @Test func emptyHistogramsAndEmptyChunk() throws {
        try expectRoundTrip([], float: false)
        try expectRoundTrip([], float: true)
        try expectRoundTrip([intHistogram(0, count: 0), intHistogram(1, count: 0)], float: false)
        try expectRoundTrip([floatHistogram(-1, count: 0), floatHistogram(-2, count: 0)], float: true)
    }

    @Test func gaugeHistogramsGoDownWithoutCutting() throws {
        let ints = (0..<20).map { (i: Int) -> Histogram in
            let c = UInt64(20 - i)
            return intHistogram(
                Int64(i), count: c * 2 + 1, sum: -Double(i), zeroCount: 1, positive: [span(0, 2)],
                positiveDeltas: [Int64(c), 0], hint: 3)
        }
        try expectRoundTrip(ints, float: false, header: .gauge)
        let floats = (0..<20).map { (i: Int) -> Histogram in
            floatHistogram(
                Int64(i), count: 100 - Double(i), sum: 3, positive: [span(5, 1)], positiveCounts: [100 - Double(i)],
                hint: 3)
        }
        try expectRoundTrip(floats, float: true, header: .gauge)
    }

    @Test func customBucketHistograms() throws {
        let bounds = [-1.5, 0.1, 0.25, 7, 100_000.5]
        let ints = (0..<30).map { (i: Int) -> Histogram in
            let n = Int64(i)
            return intHistogram(
                Int64(i) * 60_000, count: UInt64(3 * n + 2), sum: Double(i), schema: -53,
                positive: [span(0, 2), span(2, 1)], positiveDeltas: [n, 1, n + 1], customValues: bounds)
        }
        try expectRoundTrip(ints, float: false)
        let floats = (0..<30).map { (i: Int) -> Histogram in
            floatHistogram(
                Int64(i) * 60_000, count: Double(2 * i), sum: 0.5, schema: -53, positive: [span(1, 2)],
                positiveCounts: [Double(i), Double(i)], customValues: bounds)
        }
        try expectRoundTrip(floats, float: true)
    }

    /// Custom values are only written for schema -53, so older chunks are byte-identical.
    @Test func customValuesAreNotWrittenForExponentialSchemas() throws {
        let plain = intHistogram(1, count: 1, positive: [span(0, 1)], positiveDeltas: [1])
        var withBounds = plain
        withBounds.customValues = [1, 2, 3]
        #expect(encode([plain], float: false).bytes == encode([withBounds], float: false).bytes)
    }

    @Test func nanSumsAndStaleMarkersAreBitExact() throws {
        let otherNaN = Double(bitPattern: 0x7FF8_0000_0000_0001)
        let ints = [
            intHistogram(1, count: 2, sum: .nan, positive: [span(0, 1)], positiveDeltas: [1]),
            intHistogram(2, count: 3, sum: otherNaN, positive: [span(0, 1)], positiveDeltas: [2]),
            intHistogram(3, count: 3, sum: -0.0, positive: [span(0, 1)], positiveDeltas: [3]),
            intHistogram(4, count: 9, sum: staleNaN, positive: [span(7, 1)], positiveDeltas: [1]),
            intHistogram(9, count: 0, sum: staleNaN),
        ]
        try expectRoundTrip(ints, float: false)
        let floats = [
            floatHistogram(1, count: 2, sum: .nan, positive: [span(0, 1)], positiveCounts: [1]),
            floatHistogram(2, count: .nan, sum: otherNaN, positive: [span(0, 1)], positiveCounts: [.nan]),
            floatHistogram(4, count: 0, sum: staleNaN),
            floatHistogram(5, count: 7, sum: staleNaN, positive: [span(0, 3)], positiveCounts: [1, 2, 4]),
        ]
        try expectRoundTrip(floats, float: true)
        // A chunk that starts with a marker has an empty layout.
        try expectRoundTrip([floatHistogram(4, count: 5, sum: staleNaN, positive: [span(0, 1)], positiveCounts: [5])], float: true)
    }

    @Test func onlyMarkersFollowAMarker() {
        var encoder = encode(
            [intHistogram(1, count: 1, positive: [span(0, 1)], positiveDeltas: [1]), intHistogram(2, count: 0, sum: staleNaN)],
            float: false)
        let before = encoder.bytes
        #expect(encoder.append(intHistogram(3, count: 1, positive: [span(0, 1)], positiveDeltas: [1])) == .needsNewChunk)
        #expect(encoder.lastCut == HistogramChunkCut(reason: .staleEnded, nextHeader: .unknown))
        #expect(encoder.bytes == before)
        #expect(encoder.append(intHistogram(4, count: 0, sum: staleNaN)) == .appended)
    }

    @Test func unsafeBufferOverloadDecodesTheSame() throws {
        let encoder = encode([floatHistogram(1, count: 1, positive: [span(0, 1)], positiveCounts: [1])], float: true)
        let bytes = encoder.bytes
        let viaPointer = try bytes.withUnsafeBytes { raw in
            try HistogramChunkDecoder.decode(raw, encoding: .floatHistogram)
        }
        #expect(viaPointer == (try HistogramChunkDecoder.decode(bytes, encoding: .floatHistogram)))
    }
}

// MARK: Cutting

@Suite struct HistogramChunkCutTests {
    private let base = intHistogram(
        10, count: 6, zeroCount: 1, schema: 1, zeroThreshold: 0.5, positive: [span(0, 2)], positiveDeltas: [2, 1],
        negative: [span(-1, 1)], negativeDeltas: [0])

    private func expectCut(
        after first: Histogram, _ next: Histogram, float: Bool = false, _ cut: HistogramChunkCut,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        var encoder = encode([first], float: float, sourceLocation: sourceLocation)
        let before = encoder.bytes
        #expect(encoder.append(next) == .needsNewChunk, sourceLocation: sourceLocation)
        #expect(encoder.lastCut == cut, sourceLocation: sourceLocation)
        #expect(encoder.bytes == before, "a refused histogram leaves the chunk as it was", sourceLocation: sourceLocation)
        #expect(encoder.count == 1, sourceLocation: sourceLocation)
        // The next chunk always takes it.
        var next2 = HistogramChunkEncoder(float: next.isFloat, counterResetHeader: cut.nextHeader)
        #expect(next2.append(next) == .appended, sourceLocation: sourceLocation)
    }

    @Test func growingHistogramIsAppended() {
        var encoder = encode([base], float: false)
        var next = base
        next.timestamp = 20
        next.count = .int(8)
        next.positiveDeltas = [3, 1]
        next.negativeDeltas = [1]
        #expect(encoder.append(next) == .appended)
        #expect(encoder.lastCut == nil)
    }

    @Test func layoutChangeWithoutResetCutsWithNotCounterReset() {
        var next = base
        next.timestamp = 20
        next.count = .int(9)
        next.positiveSpans = [span(0, 3)]
        next.positiveDeltas = [2, 1, 0]
        expectCut(after: base, next, HistogramChunkCut(reason: .layoutChanged, nextHeader: .notCounterReset))
        // An adjacent zero-length span is a different layout too: the comparison is exact.
        var split = base
        split.timestamp = 20
        split.positiveSpans = [span(0, 1), span(0, 0), span(0, 1)]
        expectCut(after: base, split, HistogramChunkCut(reason: .layoutChanged, nextHeader: .notCounterReset))
    }

    @Test func schemaAndZeroThresholdChangesCutWithUnknownHeader() {
        var schema = base
        schema.schema = 2
        expectCut(after: base, schema, HistogramChunkCut(reason: .layoutChanged, nextHeader: .unknown))
        var threshold = base
        threshold.zeroThreshold = 0.25
        expectCut(after: base, threshold, HistogramChunkCut(reason: .layoutChanged, nextHeader: .unknown))
    }

    @Test func countZeroCountAndBucketDecreasesAreResets() {
        let reset = HistogramChunkCut(reason: .counterReset, nextHeader: .counterReset)
        var count = base
        count.count = .int(5)
        count.zeroCount = .int(0)
        expectCut(after: base, count, reset)
        var zero = base
        zero.zeroCount = .int(0)
        zero.positiveDeltas = [3, 1]
        expectCut(after: base, zero, reset)
        var bucket = base
        bucket.positiveDeltas = [1, 3]  // 2,3 -> 1,4
        expectCut(after: base, bucket, reset)
        // A used bucket vanishing from the layout is a reset, not a layout change.
        var vanished = base
        vanished.positiveSpans = [span(1, 1)]
        vanished.positiveDeltas = [5]
        expectCut(after: base, vanished, reset)
        var hinted = base
        hinted.resetHint = 1
        expectCut(after: base, hinted, reset)
    }

    @Test func floatBucketDecreaseIsAReset() {
        let first = floatHistogram(1, count: 3, positive: [span(0, 2)], positiveCounts: [1, 2])
        let next = floatHistogram(2, count: 4, positive: [span(0, 2)], positiveCounts: [3, 1])
        expectCut(after: first, next, float: true, HistogramChunkCut(reason: .counterReset, nextHeader: .counterReset))
    }

    @Test func customBoundsChangeIsAResetForCountersAndALayoutChangeForGauges() {
        let first = intHistogram(1, count: 1, schema: -53, positive: [span(0, 1)], positiveDeltas: [1], customValues: [1, 2])
        var next = first
        next.timestamp = 2
        next.customValues = [1, 3]
        expectCut(after: first, next, HistogramChunkCut(reason: .counterReset, nextHeader: .counterReset))
        var gaugeFirst = first
        gaugeFirst.resetHint = 3
        next.resetHint = 3
        expectCut(after: gaugeFirst, next, HistogramChunkCut(reason: .layoutChanged, nextHeader: .gauge))
    }

    @Test func kindAndGaugeChangesCut() {
        let float = floatHistogram(20, count: 6, schema: 1, zeroThreshold: 0.5)
        expectCut(after: base, float, HistogramChunkCut(reason: .kindChanged, nextHeader: .unknown))
        var gauge = base
        gauge.resetHint = 3
        expectCut(after: base, gauge, HistogramChunkCut(reason: .gaugeChanged, nextHeader: .gauge))
        expectCut(after: gauge, base, HistogramChunkCut(reason: .gaugeChanged, nextHeader: .unknown))
        var empty = HistogramChunkEncoder(float: true)
        #expect(empty.append(base) == .needsNewChunk)
        #expect(empty.lastCut?.reason == .kindChanged)
        #expect(empty.count == 0 && empty.minTime == .max && empty.maxTime == .min)
    }

    @Test func gaugeLayoutChangeCutsWithGaugeHeader() {
        var first = base
        first.resetHint = 3
        var next = first
        next.positiveSpans = [span(1, 2)]
        expectCut(after: first, next, HistogramChunkCut(reason: .layoutChanged, nextHeader: .gauge))
    }

    @Test func fullChunkCuts() throws {
        let h = intHistogram(0, count: 1, positive: [span(0, 1)], positiveDeltas: [1])
        var encoder = HistogramChunkEncoder(float: false)
        for t in 0..<HistogramChunkEncoder.maxSampleCount {
            var next = h
            next.timestamp = Int64(t)
            #expect(encoder.append(next) == .appended)
        }
        var last = h
        last.timestamp = 1 << 20
        #expect(encoder.append(last) == .needsNewChunk)
        #expect(encoder.lastCut == HistogramChunkCut(reason: .full, nextHeader: .notCounterReset))
        let bytes = encoder.bytes
        #expect(bytes[0] == 0xFF && bytes[1] == 0xFF)
        #expect(try HistogramChunkDecoder.decode(bytes, encoding: .histogram).count == HistogramChunkEncoder.maxSampleCount)
    }
}

// MARK: Hostile input

@Suite struct HistogramChunkHostileInputTests {
    private func sampleChunks() -> [(bytes: [UInt8], encoding: Chunk.Encoding)] {
        let ints = (0..<12).map { (i: Int) -> Histogram in
            intHistogram(
                Int64(i) * 1000, count: UInt64(5 * i + 1), sum: Double(i), zeroCount: 1, schema: -53,
                positive: [span(0, 2), span(1, 2)], positiveDeltas: [Int64(i), 0, 0, 0], customValues: [0.1, 0.2, 0.3, 0.4])
        }
        let floats = (0..<12).map { (i: Int) -> Histogram in
            floatHistogram(
                Int64(i) * 1000, count: Double(i), sum: 1 / Double(i + 1), zeroCount: 0.5, zeroThreshold: 1e-9,
                positive: [span(-1, 3)], positiveCounts: [Double(i), 1, 2], negative: [span(0, 1)], negativeCounts: [Double(i)])
        }
        return [
            (encode(ints, float: false).bytes, .histogram), (encode(floats, float: true).bytes, .floatHistogram),
        ]
    }

    @Test func truncationsThrowOrDecodeFewer() {
        for (bytes, encoding) in sampleChunks() {
            for end in 0..<bytes.count {
                let prefix = Array(bytes[..<end])
                // Must not trap; a prefix that keeps all samples' bits may still decode.
                _ = try? HistogramChunkDecoder.decode(prefix, encoding: encoding)
            }
            #expect(throws: CodecError.self) { try HistogramChunkDecoder.decode(Array(bytes[..<2]), encoding: encoding) }
            #expect(throws: CodecError.self) { try HistogramChunkDecoder.decode(Array(bytes.dropLast(4)), encoding: encoding) }
        }
    }

    @Test func bitFlipsNeverTrap() {
        for (bytes, encoding) in sampleChunks() {
            for bit in 0..<(bytes.count * 8) {
                var flipped = bytes
                flipped[bit / 8] ^= 0x80 >> UInt8(bit % 8)
                _ = try? HistogramChunkDecoder.decode(flipped, encoding: encoding)
            }
        }
    }

    @Test func randomGarbageNeverTraps() {
        var rng = ChunkTestRandom(state: 7)
        for round in 0..<3000 {
            let length = Int(rng.next() % 96)
            var bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            if round % 2 == 0 && bytes.count >= 4 {
                // Plausible headers reach deeper into the decoder.
                bytes[0] = 0
                bytes[1] = UInt8(truncatingIfNeeded: rng.next() % 8)
                bytes[3] = 0
            }
            for encoding in [Chunk.Encoding.histogram, .floatHistogram] {
                _ = try? HistogramChunkDecoder.decode(bytes, encoding: encoding)
            }
        }
    }

    @Test func hugeDeclaredCountsAreRejectedBeforeAllocating() {
        // 65535 samples, threshold 0, schema 0, then a span count of 2^64-1 (9-byte varbit uint).
        var bits = Bits()
        bits.add(0xFFFF, width: 16)
        bits.add(0, width: 8)
        bits.add("00000000" + "0" + "11111111")
        bits.add(.max, width: 64)
        #expect(throws: CodecError(.chunkCorrupt, "histogram chunk declares more spans than it holds")) {
            try HistogramChunkDecoder.decode(bits.bytes, encoding: .histogram)
        }
        // One span of 2^32-1 buckets in a few bytes.
        var buckets = Bits()
        buckets.add(1, width: 16)
        buckets.add(0, width: 8)
        buckets.add("00000000" + "0" + "10001" + "11111110")
        buckets.add(UInt64(UInt32.max), width: 56)
        buckets.add("0" + "0")
        buckets.add(0, width: 64)
        #expect(throws: CodecError(.chunkCorrupt, "histogram chunk declares more buckets than it holds")) {
            try HistogramChunkDecoder.decode(buckets.bytes, encoding: .floatHistogram)
        }
        var schema = Bits()
        schema.add(1, width: 16)
        schema.add(0, width: 8)
        schema.add("00000000" + "1110")
        schema.add(100, width: 9)
        #expect(throws: CodecError(.chunkCorrupt, "histogram chunk has an unknown schema")) {
            try HistogramChunkDecoder.decode(schema.bytes + [0, 0, 0], encoding: .histogram)
        }
        #expect(throws: CodecError.self) { try HistogramChunkDecoder.decode([0, 1, 0], encoding: .xor) }
    }
}
