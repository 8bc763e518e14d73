import SluiceCodec
import Testing
@testable import SluiceSelect

/// Replica answers holding native histograms, merged by `SeriesMerger`.
///
/// Histograms read back are compared with the reset hint normalized: a chunk keeps a counter-reset
/// header for its first histogram only, and readers give later ones "no", as Prometheus' iterators do.
/// Every other field must match bit for bit.
@Suite("SeriesMerger: native histograms")
struct HistogramMergeTests {
    static let labels = [Label(name: "__name__", value: "rpc_seconds"), Label(name: "job", value: "api")]
    static let start: Int64 = 1_700_000_000_000
    static let step: Int64 = 15_000

    static func time(_ index: Int) -> Int64 { start + Int64(index) * step }

    /// An integer histogram growing with `index`; `offset` changes its sum, to tell replicas apart.
    static func intHistogram(_ index: Int, offset: Double = 0) -> Histogram {
        let i = Int64(index)
        return Histogram(
            count: .int(UInt64(3 * index + 2)), sum: Double(index) * 0.5 + offset, schema: 2, zeroThreshold: 0.001,
            zeroCount: .int(1), positiveSpans: [BucketSpan(offset: 0, length: 2), BucketSpan(offset: 3, length: 1)],
            positiveDeltas: [i, 1, -1], timestamp: time(index)
        )
    }

    static func floatHistogram(_ index: Int) -> Histogram {
        let x = Double(index)
        return Histogram(
            count: .float(3 * x + 1), sum: x, schema: 0, zeroCount: .float(1),
            positiveSpans: [BucketSpan(offset: 1, length: 2)], positiveCounts: [x, 2 * x], timestamp: time(index)
        )
    }

    /// Histogram chunks as a storage node cuts them: at most `per` each.
    static func chunks(_ histograms: [Histogram], per: Int = 120) -> [Chunk] {
        stride(from: 0, to: histograms.count, by: per).map { offset in
            let part = histograms[offset..<min(offset + per, histograms.count)]
            var encoder = HistogramChunkEncoder(float: part.first!.isFloat)
            for histogram in part { #expect(encoder.append(histogram) == .appended) }
            return Chunk(minTimeMs: encoder.minTime, maxTimeMs: encoder.maxTime, encoding: encoder.encoding, data: encoder.bytes)
        }
    }

    static func xorChunk(_ samples: [Sample]) -> Chunk {
        var encoder = XORChunkEncoder()
        for sample in samples { encoder.append(timestamp: sample.timestamp, value: sample.value) }
        return Chunk(minTimeMs: encoder.minTime, maxTimeMs: encoder.maxTime, encoding: .xor, data: encoder.bytes)
    }

    static func normalized(_ histograms: [Histogram]) -> [Histogram] {
        histograms.map { var h = $0; h.resetHint = 0; return h }
    }

    static func decodeHistograms(_ chunks: [Chunk]) throws -> [Histogram] {
        try chunks.filter { $0.encoding != .xor }.flatMap { try HistogramChunkDecoder.decode($0.data, encoding: $0.encoding) }
    }

    /// Chunks in time order, not overlapping, each's declared range matching its content, at most 120.
    static func checkWellFormed(_ chunks: [Chunk], sourceLocation: SourceLocation = #_sourceLocation) throws {
        var previousEnd = Int64.min
        for chunk in chunks {
            let times = try SeriesMerger.decode(chunk).map(\.timestamp)
            #expect(!times.isEmpty && times.count <= 120, "\(times.count) points in one chunk", sourceLocation: sourceLocation)
            #expect(times.first == chunk.minTimeMs && times.last == chunk.maxTimeMs, sourceLocation: sourceLocation)
            #expect(chunk.minTimeMs > previousEnd, "chunks overlap or are out of order", sourceLocation: sourceLocation)
            previousEnd = chunk.maxTimeMs
        }
    }

    @Test func identicalHistogramChunksAreSentOnceUntouched() throws {
        let written = (0..<200).map { Self.intHistogram($0) }
        let stored = Self.chunks(written)
        let parts = (0..<3).map { _ in NodeSeries(labels: Self.labels, chunks: stored) }
        #expect(try SeriesMerger.chunks(parts) == stored)
        let merged = try SeriesMerger.series(parts, minTime: .min, maxTime: .max)
        #expect(merged.samples.isEmpty)
        #expect(Self.normalized(merged.histograms) == Self.normalized(written))
        // The range bounds a SAMPLES answer, inclusive at both ends.
        let inside = try SeriesMerger.series(parts, minTime: Self.time(10), maxTime: Self.time(20)).histograms
        #expect(Self.normalized(inside) == Self.normalized(Array(written[10...20])))
    }

    @Test func disjointHistogramChunksPassThrough() throws {
        let written = (0..<300).map { Self.intHistogram($0) }
        let stored = Self.chunks(written, per: 100)
        let parts = [
            NodeSeries(labels: Self.labels, chunks: [stored[0], stored[2]]),
            NodeSeries(labels: Self.labels, chunks: [stored[1]]),
        ]
        #expect(try SeriesMerger.chunks(parts) == stored)
        #expect(Self.normalized(try SeriesMerger.series(parts, minTime: .min, maxTime: .max).histograms) == Self.normalized(written))
    }

    @Test func overlappingReplicasMergeOneHistogramPerTimestamp() throws {
        let written = (0..<300).map { Self.intHistogram($0) }
        let full = Self.chunks(written)
        // The second replica missed 150..<180 and holds another value at 100..<120 (a conflict the
        // first node wins); its chunks are cut elsewhere.
        let other = (0..<300).filter { !(150..<180).contains($0) }.map { Self.intHistogram($0, offset: (100..<120).contains($0) ? 0.25 : 0) }
        let gappy = Self.chunks(other, per: 90)
        for (parts, first) in [
            ([NodeSeries(labels: Self.labels, chunks: full), NodeSeries(labels: Self.labels, chunks: gappy)], written),
            ([NodeSeries(labels: Self.labels, chunks: gappy), NodeSeries(labels: Self.labels, chunks: full)], nil),
        ] {
            let merged = try SeriesMerger.chunks(parts)
            try Self.checkWellFormed(merged)
            #expect(merged.allSatisfy { $0.encoding == .histogram })
            let histograms = try Self.decodeHistograms(merged)
            #expect(histograms.map(\.timestamp) == written.map(\.timestamp), "every timestamp once")
            if let first {
                #expect(Self.normalized(histograms) == Self.normalized(first))
            } else {
                // The gappy node first: its values where it has them, the other node's in its gap.
                let want = (0..<300).map { Self.intHistogram($0, offset: (100..<120).contains($0) ? 0.25 : 0) }
                #expect(Self.normalized(histograms) == Self.normalized(want))
            }
            #expect(Self.normalized(try SeriesMerger.series(parts, minTime: .min, maxTime: .max).histograms) == Self.normalized(histograms))
        }
    }

    @Test func floatsAndHistogramsOfOneSeriesMergeIntoChunksOfEachKind() throws {
        // One series' timeline: floats, integer histograms, float histograms. Replica A has it in the
        // storage's chunks; replica B's chunks are cut differently, so everything overlaps.
        let floats = (0..<50).map { Sample(timestamp: Self.time($0), value: Double($0)) }
        let ints = (50..<100).map { Self.intHistogram($0) }
        let floatHistograms = (100..<150).map { Self.floatHistogram($0) }
        let a = [Self.xorChunk(floats)] + Self.chunks(ints) + Self.chunks(floatHistograms)
        let b = [Self.xorChunk(Array(floats[..<30])), Self.xorChunk(Array(floats[30...]))] + Self.chunks(ints, per: 20) + Self.chunks(floatHistograms, per: 35)
        let parts = [NodeSeries(labels: Self.labels, chunks: a), NodeSeries(labels: Self.labels, chunks: b)]

        let merged = try SeriesMerger.chunks(parts)
        try Self.checkWellFormed(merged)
        #expect(merged.map(\.encoding) == [.xor, .histogram, .floatHistogram])
        let series = try SeriesMerger.series(parts, minTime: .min, maxTime: .max)
        #expect(series.samples == floats)
        #expect(Self.normalized(series.histograms) == Self.normalized(ints + floatHistograms))
        #expect(try SeriesMerger.samples(parts, minTime: .min, maxTime: .max) == floats)

        // A SAMPLES answer's floats beside another node's histogram chunks.
        let mixed = [NodeSeries(labels: Self.labels, samples: floats), NodeSeries(labels: Self.labels, chunks: Self.chunks(ints))]
        let fromMixed = try SeriesMerger.series(mixed, minTime: .min, maxTime: .max)
        #expect(fromMixed.samples == floats)
        #expect(Self.normalized(fromMixed.histograms) == Self.normalized(ints))
    }

    @Test func reencodingCutsOnLayoutChangeAndCounterReset() {
        var points = (0..<10).map { SeriesMerger.Point.histogram(Self.intHistogram($0)) }
        var wider = Self.intHistogram(10)
        wider.positiveSpans.append(BucketSpan(offset: 1, length: 1))
        wider.positiveDeltas.append(1)
        points.append(.histogram(wider))
        var reset = Self.intHistogram(0)
        reset.timestamp = Self.time(11)
        points.append(.histogram(reset))
        points.append(.float(Sample(timestamp: Self.time(12), value: 1)))
        let chunks = SeriesMerger.encode(points)
        #expect(chunks.map(\.encoding) == [.histogram, .histogram, .histogram, .xor])
        #expect(chunks.map { (try? SeriesMerger.decode($0).count) ?? -1 } == [10, 1, 1, 1])
        // The reset's chunk says so in its header.
        #expect((try? HistogramChunkDecoder.decode(chunks[2].data, encoding: .histogram).first?.resetHint) == Histogram.ResetHint.yes.rawValue)
    }
}
