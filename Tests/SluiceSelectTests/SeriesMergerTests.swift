import SluiceCodec
import SluiceQuery
import Testing
@testable import SluiceSelect

@Suite("SeriesMerger: replica answers joined into one answer")
struct SeriesMergerTests {
    static let labels = [Label(name: "__name__", value: "up"), Label(name: "job", value: "a")]
    static let start: Int64 = 1_700_000_000_000
    static let step: Int64 = 15_000

    /// Samples at `indices` (one every 15 s from `start`), the value a function of the index.
    static func samples(_ indices: some Sequence<Int>, value: (Int) -> Double = { Double($0) * 1.5 }) -> [Sample] {
        indices.map { Sample(timestamp: start + Int64($0) * step, value: value($0)) }
    }

    static func time(_ index: Int) -> Int64 { start + Int64(index) * step }

    /// XOR chunks of at most `per` samples, cut as a storage node cuts them.
    static func chunks(_ samples: [Sample], per: Int = 120) -> [Chunk] {
        stride(from: 0, to: samples.count, by: per).map { offset in
            var encoder = XORChunkEncoder()
            for sample in samples[offset..<min(offset + per, samples.count)] { encoder.append(timestamp: sample.timestamp, value: sample.value) }
            return Chunk(minTimeMs: encoder.minTime, maxTimeMs: encoder.maxTime, encoding: .xor, data: encoder.bytes)
        }
    }

    static func decode(_ chunks: [Chunk]) throws -> [Sample] {
        try chunks.flatMap { try XORChunkDecoder.decodeAll($0.data).map { Sample(timestamp: $0.timestamp, value: $0.value) } }
    }

    /// What a valid streamed answer's chunks must be: XOR, at most 120 samples, the declared time
    /// range matching the content, in time order and not overlapping.
    static func checkWellFormed(_ chunks: [Chunk], sourceLocation: SourceLocation = #_sourceLocation) throws {
        var previousEnd = Int64.min
        for chunk in chunks {
            let decoded = try XORChunkDecoder.decodeAll(chunk.data)
            #expect(chunk.encoding == .xor, sourceLocation: sourceLocation)
            #expect(!decoded.isEmpty && decoded.count <= 120, "\(decoded.count) samples in one chunk", sourceLocation: sourceLocation)
            #expect(decoded.first?.timestamp == chunk.minTimeMs && decoded.last?.timestamp == chunk.maxTimeMs, sourceLocation: sourceLocation)
            #expect(chunk.minTimeMs > previousEnd, "chunks overlap or are out of order", sourceLocation: sourceLocation)
            previousEnd = chunk.maxTimeMs
        }
    }

    @Test func identicalChunksFromThreeReplicasAreSentOnceUntouched() throws {
        let written = Self.samples(0..<300)
        let stored = Self.chunks(written)
        #expect(stored.count == 3)
        let parts = (0..<3).map { _ in NodeSeries(labels: Self.labels, chunks: stored) }
        let merged = try SeriesMerger.chunks(parts)
        // The very chunks the nodes sent, byte for byte: nothing was decoded and re-encoded.
        #expect(merged == stored)
        #expect(try SeriesMerger.samples(parts, minTime: .min, maxTime: .max) == written)
    }

    @Test func disjointChunksPassThroughUntouched() throws {
        let written = Self.samples(0..<400)
        let stored = Self.chunks(written)  // 0-119, 120-239, 240-359, 360-399
        #expect(stored.count == 4)
        let parts = [
            NodeSeries(labels: Self.labels, chunks: [stored[0], stored[2]]),
            NodeSeries(labels: Self.labels, chunks: [stored[1]]),
            NodeSeries(labels: Self.labels, chunks: [stored[3]]),
        ]
        #expect(try SeriesMerger.chunks(parts) == stored)
        #expect(try SeriesMerger.samples(parts, minTime: .min, maxTime: .max) == written)
    }

    @Test func overlappingDifferentChunksAreMergedOneSamplePerTimestamp() throws {
        let written = Self.samples(0..<300)
        let full = Self.chunks(written)  // 0-119, 120-239, 240-299
        // The second replica missed samples 200..<250, so from 120 on its chunks are cut elsewhere.
        let gappy = Self.chunks(Self.samples(Array(0..<200) + Array(250..<300)))
        #expect(gappy[0] == full[0])
        #expect(gappy[1] != full[1])
        for parts in [
            [NodeSeries(labels: Self.labels, chunks: full), NodeSeries(labels: Self.labels, chunks: gappy)],
            [NodeSeries(labels: Self.labels, chunks: gappy), NodeSeries(labels: Self.labels, chunks: full)],
        ] {
            let merged = try SeriesMerger.chunks(parts)
            try Self.checkWellFormed(merged)
            #expect(try Self.decode(merged) == written)
            // The chunk both hold is still sent as it came; only the overlapping run is re-encoded.
            #expect(merged.first == full[0])
            #expect(merged.map { (try? XORChunkDecoder.decodeAll($0.data).count) ?? -1 } == [120, 120, 60])
            #expect(try SeriesMerger.samples(parts, minTime: .min, maxTime: .max) == written)
        }

        // A long overlapping run comes back in 120-sample chunks, not one big one.
        let long = Self.samples(0..<1000)
        let shifted = Self.chunks(Array(long[5...]), per: 200)
        let merged = try SeriesMerger.chunks([NodeSeries(labels: Self.labels, chunks: Self.chunks(long)), NodeSeries(labels: Self.labels, chunks: shifted)])
        try Self.checkWellFormed(merged)
        #expect(try Self.decode(merged) == long)
        #expect(merged.count == 9)
    }

    @Test func samplesAnswersMergeWithChunks() throws {
        let written = Self.samples(0..<300)
        let fromSamples = NodeSeries(labels: Self.labels, samples: Array(written[0..<200]))
        let fromChunks = NodeSeries(labels: Self.labels, chunks: Self.chunks(Array(written[100..<300])))
        for parts in [[fromSamples, fromChunks], [fromChunks, fromSamples]] {
            let merged = try SeriesMerger.chunks(parts)
            try Self.checkWellFormed(merged)
            #expect(try Self.decode(merged) == written)
            #expect(try SeriesMerger.samples(parts, minTime: .min, maxTime: .max) == written)
            // The query's range bounds what SAMPLES sends, inclusive at both ends.
            #expect(try SeriesMerger.samples(parts, minTime: Self.time(50), maxTime: Self.time(250)) == Array(written[50...250]))
        }

        // Two SAMPLES answers only.
        let both = [
            NodeSeries(labels: Self.labels, samples: Array(written[0..<150])),
            NodeSeries(labels: Self.labels, samples: Array(written[100..<300])),
        ]
        #expect(try SeriesMerger.samples(both, minTime: .min, maxTime: .max) == written)
        let merged = try SeriesMerger.chunks(both)
        try Self.checkWellFormed(merged)
        #expect(try Self.decode(merged) == written)
    }

    @Test func groupsStripTheTenantLabelAndSortByLabelSet() {
        func series(_ pairs: [(String, String)]) -> NodeSeries {
            NodeSeries(labels: pairs.map { Label(name: $0.0, value: $0.1) }, samples: Self.samples(0..<1))
        }
        let upJobB = series([("__name__", "up"), ("job", "b"), ("tenant_id", "t")])
        let up = series([("__name__", "up"), ("tenant_id", "t")])
        let goGC = series([("__name__", "go_gc"), ("instance", "x"), ("tenant_id", "t")])
        let zeta = series([("__name__", "Zeta"), ("tenant_id", "t")])
        let upJobA = series([("__name__", "up"), ("job", "a"), ("tenant_id", "t")])
        let answers = [[upJobB, up, goGC], [zeta, upJobA, upJobB], [up, upJobA]]

        let groups = SeriesMerger.group(answers, strippedLabel: "tenant_id")
        let expected: [[Label]] = [
            [Label(name: "__name__", value: "Zeta")],  // "Z" sorts before "g" by bytes
            [Label(name: "__name__", value: "go_gc"), Label(name: "instance", value: "x")],
            // With the tenant label `up{tenant_id}` would sort after `up{job}`; without it, first.
            [Label(name: "__name__", value: "up")],
            [Label(name: "__name__", value: "up"), Label(name: "job", value: "a")],
            [Label(name: "__name__", value: "up"), Label(name: "job", value: "b")],
        ]
        #expect(groups.map(\.labels) == expected)
        #expect(groups.map(\.labels) == expected.sorted { compareLabelSets($0, $1) < 0 })
        #expect(groups.map(\.parts.count) == [1, 1, 2, 2, 2])
        // Only the group's labels, which the answer carries, lose the tenant label: the parts are the
        // nodes' series as sent (nothing reads their labels again), so no per-part copy is made.
        #expect(groups.allSatisfy { group in group.parts.allSatisfy { part in part.labels.contains { $0.name == "tenant_id" } } })

        // Without tenancy the label is a label like any other.
        let kept = SeriesMerger.group(answers, strippedLabel: nil)
        #expect(kept.count == 5)
        #expect(kept.allSatisfy { $0.labels.last?.name == "tenant_id" })
        #expect(kept.map(\.labels) == kept.map(\.labels).sorted { compareLabelSets($0, $1) < 0 })
    }

    /// Each group takes every node's series with its label set, and only those: a node that lists
    /// one label set twice has both copies joined to the one group, sorted or not.
    @Test func groupsTakeEveryEqualSeriesOnce() {
        func series(_ name: String, _ sample: Int) -> NodeSeries {
            NodeSeries(labels: [Label(name: "__name__", value: name)], samples: Self.samples(sample..<sample + 1))
        }
        let answers = [
            [series("a", 0), series("b", 1), series("c", 2)],
            [series("b", 3), series("b", 4), series("d", 5)],
            [series("c", 6), series("a", 7)],
            [],
        ]
        let groups = SeriesMerger.group(answers, strippedLabel: nil)
        #expect(groups.map { $0.labels.map(\.value) } == [["a"], ["b"], ["c"], ["d"]])
        // Parts in node order; within a node, as it listed them.
        #expect(groups.map { $0.parts.map { Int($0.samples[0].value / 1.5) } } == [[0, 7], [1, 3, 4], [2, 6], [5]])
    }

    @Test func conflictingValuesKeepTheFirstNodesValue() throws {
        // Node 0's chunk starts later than node 1's, so sorting chunks by time puts node 1's first:
        // the first node's value must still win where both hold a timestamp.
        let first = Self.samples(60..<180) { 1000 + Double($0) }
        let second = Self.samples(0..<120) { Double($0) }
        let want = Array(second[0..<60]) + first
        let parts = [NodeSeries(labels: Self.labels, chunks: Self.chunks(first)), NodeSeries(labels: Self.labels, chunks: Self.chunks(second))]
        let merged = try SeriesMerger.chunks(parts)
        try Self.checkWellFormed(merged)
        #expect(try Self.decode(merged) == want)
        #expect(try SeriesMerger.samples(parts, minTime: .min, maxTime: .max) == want)

        // The other node order: the other value.
        let reversed = [parts[1], parts[0]]
        let wantReversed = second + Array(first[60...])
        #expect(try Self.decode(try SeriesMerger.chunks(reversed)) == wantReversed)
        #expect(try SeriesMerger.samples(reversed, minTime: .min, maxTime: .max) == wantReversed)

        // SAMPLES answers and a mix of both behave the same.
        let asSamples = [NodeSeries(labels: Self.labels, samples: first), NodeSeries(labels: Self.labels, samples: second)]
        #expect(try SeriesMerger.samples(asSamples, minTime: .min, maxTime: .max) == want)
        #expect(try Self.decode(try SeriesMerger.chunks(asSamples)) == want)
        let mixed = [NodeSeries(labels: Self.labels, samples: first), NodeSeries(labels: Self.labels, chunks: Self.chunks(second))]
        #expect(try SeriesMerger.samples(mixed, minTime: .min, maxTime: .max) == want)
        #expect(try Self.decode(try SeriesMerger.chunks(mixed)) == want)
    }

    /// Grouping merges the nodes' sorted answers: equal label sets (tenant label aside) become one
    /// group with the parts in node order, and the groups come out sorted without the tenant label,
    /// also where leaving it out reorders a node's series.
    @Test func groupsMergeSortedAnswersAndSortWithoutTheTenantLabel() {
        func set(_ pairs: [(String, String)]) -> [Label] { pairs.map { Label(name: $0.0, value: $0.1) } }
        // Sorted with the tenant label: {a, b, tenant_id} before {a, tenant_id}; without it, {a} first.
        let short = set([("a", "1"), ("tenant_id", "t")])
        let long = set([("a", "1"), ("b", "2"), ("tenant_id", "t")])
        let other = set([("c", "3"), ("tenant_id", "t")])
        #expect(compareLabelSets(long, short) < 0 && compareLabelSets(long, short, ignoring: "tenant_id") > 0)
        let first = [NodeSeries(labels: long, samples: [Sample(timestamp: 1, value: 1)]), NodeSeries(labels: short, samples: [Sample(timestamp: 2, value: 2)])]
        let second = [NodeSeries(labels: short, samples: [Sample(timestamp: 3, value: 3)]), NodeSeries(labels: other, samples: [Sample(timestamp: 4, value: 4)])]
        let third: [NodeSeries] = [NodeSeries(labels: other, samples: [Sample(timestamp: 5, value: 5)])]
        let groups = SeriesMerger.group([first, second, third], strippedLabel: "tenant_id")
        #expect(groups.map(\.labels) == [set([("a", "1")]), set([("a", "1"), ("b", "2")]), set([("c", "3")])])
        #expect(groups.map { $0.parts.map(\.samples[0].timestamp) } == [[2, 3], [1], [4, 5]], "parts in node order")
        // Without a tenant label, the same sets group as they are.
        let plain = SeriesMerger.group([first, second], strippedLabel: nil)
        #expect(plain.map(\.labels) == [long, short, other])
        #expect(plain.map(\.parts.count) == [1, 2, 1])
    }
}

/// Tests build a node's series from labels, and read a group's labels back, as strings.
extension NodeSeries {
    init(labels: [Label], chunks: [Chunk] = [], samples: [Sample] = []) {
        self.init(labelBytes: LabelSetBytes.bytes(labels), chunks: chunks, samples: samples)
    }

    var labels: [Label] { LabelSetBytes.labels(labelBytes) }
}

extension SeriesMerger.Group {
    var labels: [Label] { LabelSetBytes.labels(labelBytes) }
}
