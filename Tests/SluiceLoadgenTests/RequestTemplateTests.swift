import SluiceCodec
import Testing

@testable import SluiceLoadgen

/// `RequestTemplate` patches values and timestamps into pre-encoded bytes; the only proof that the
/// patching is right is decoding the result with the real decoders and comparing with `SeriesShape`.
@Suite struct RequestTemplateTests {
    static func shape(series: Int = 1050, metrics: Int = 120, churnPercent: Double = 0, outOfOrder: Double = 0) -> SeriesShape {
        SeriesShape(
            series: series, metrics: metrics, intervalMs: 15_000, startMs: 1_700_000_000_000,
            churnPercent: churnPercent, outOfOrder: outOfOrder, runID: "template-test"
        )
    }

    /// Renders `template` at `tick` into a buffer of exactly `compressedSize` bytes, the size `render`
    /// promises to need, and returns the compressed body.
    static func render(_ template: inout RequestTemplate, shape: SeriesShape, tick: Int) -> [UInt8] {
        var output = [UInt8](repeating: 0xEE, count: template.compressedSize)
        let size = output.withUnsafeMutableBytes { template.render(shape: shape, tick: tick, into: $0) }
        #expect(size > 0 && size == template.compressedSize)
        return Array(output.prefix(size))
    }

    static func decompress(_ body: [UInt8]) throws -> [UInt8] {
        try Snappy.decompress(body, limit: 64 << 20)
    }

    /// What the request for `slots` at `tick` must hold.
    static func expected(shape: SeriesShape, slots: Range<Int>, tick: Int) -> WriteRequest {
        WriteRequest(timeseries: slots.map { slot in
            TimeSeries(
                labels: shape.labels(slot: slot, generation: shape.generation(slot: slot, tick: tick)),
                samples: [Sample(timestamp: shape.sampleTimestamp(slot: slot, tick: tick), value: shape.value(slot: slot, tick: tick))]
            )
        })
    }

    /// Renders and checks the body against `expected`, with both decoders.
    static func check(_ template: inout RequestTemplate, shape: SeriesShape, tick: Int) throws {
        let body = render(&template, shape: shape, tick: tick)
        let raw = try decompress(body)
        #expect(raw == template.encoded)
        #expect(raw.count == template.encodedSize)
        let decoded = try MessageCodec().decodeWriteRequest(raw)
        let expected = expected(shape: shape, slots: template.slots, tick: tick)
        #expect(decoded.timeseries.count == expected.timeseries.count)
        #expect(decoded.sampleCount == template.sampleCount)
        for (got, want) in zip(decoded.timeseries, expected.timeseries) where got != want {
            Issue.record("tick \(tick): got \(got.labels) \(got.samples), want \(want.labels) \(want.samples)")
            break
        }
        #expect(decoded == expected)
        // Bit-exact values, checked separately from Sample's own equality.
        #expect(decoded.timeseries.map { $0.samples.map(\.value.bitPattern) } == expected.timeseries.map { $0.samples.map(\.value.bitPattern) })
        #expect(try scannedLabels(raw) == expected.timeseries.map(\.labels))
    }

    /// The insert tier's scanner must accept the body; returns the label sets it saw.
    static func scannedLabels(_ raw: [UInt8]) throws -> [[Label]] {
        let scanner = WriteRequestScanner()
        var labelSets: [[Label]] = []
        var samples: [Int] = []
        let summary = try raw.withUnsafeBytes { body in
            try scanner.scan(body) { (series) throws(CodecError) in
                samples.append(series.samples)
                labelSets.append(series.labels.map { label in
                    Label(
                        name: String(decoding: UnsafeRawBufferPointer(rebasing: body[label.name]), as: UTF8.self),
                        value: String(decoding: UnsafeRawBufferPointer(rebasing: body[label.value]), as: UTF8.self)
                    )
                })
            }
        }
        #expect(summary.series == labelSets.count)
        #expect(summary.samples == labelSets.count)
        #expect(summary.exemplars == 0 && summary.histograms == 0 && summary.metadata.isEmpty)
        #expect(samples.allSatisfy { $0 == 1 })
        return labelSets
    }

    // MARK: Tests

    @Test(arguments: [0..<200, 200..<400, 1000..<1050, 0..<1, 1049..<1050, 0..<1050])
    func rendersWhatTheShapeSays(slots: Range<Int>) throws {
        let shape = Self.shape()
        var template = RequestTemplate(shape: shape, slots: slots, tick: 0)
        #expect(template.sampleCount == slots.count)
        #expect(template.slots == slots)
        for tick in [0, 1, 2, 17, 1000] {
            try Self.check(&template, shape: shape, tick: tick)
        }
    }

    @Test func everyBatchOfARunIncludingTheLastPartialOne() throws {
        let shape = Self.shape(series: 1050, metrics: 120)
        let batch = 200
        var covered: [Int] = []
        for first in stride(from: 0, to: shape.series, by: batch) {
            let slots = first..<min(first + batch, shape.series)
            var template = RequestTemplate(shape: shape, slots: slots, tick: 3)
            try Self.check(&template, shape: shape, tick: 3)
            covered += Array(slots)
        }
        #expect(covered == Array(0..<1050))
    }

    @Test func rendersOutOfOrderTimestamps() throws {
        let shape = Self.shape(outOfOrder: 0.3)
        var template = RequestTemplate(shape: shape, slots: 0..<500, tick: 0)
        for tick in [0, 1, 5, 6] {
            try Self.check(&template, shape: shape, tick: tick)
        }
        // The body really carries late timestamps, not just whatever the shape says.
        let decoded = try MessageCodec().decodeWriteRequest(try Self.decompress(Self.render(&template, shape: shape, tick: 7)))
        let late = decoded.timeseries.filter { $0.samples.first?.timestamp == shape.timestamp(tick: 6) - 1 }
        #expect(late.count > 100 && late.count < 200)
    }

    @Test func reRenderingLeavesNoStaleBytes() throws {
        let shape = Self.shape(outOfOrder: 0.2)
        var reused = RequestTemplate(shape: shape, slots: 100..<400, tick: 0)
        _ = Self.render(&reused, shape: shape, tick: 5)
        let first = reused.encoded
        try Self.check(&reused, shape: shape, tick: 6)
        #expect(reused.encoded != first)
        var fresh = RequestTemplate(shape: shape, slots: 100..<400, tick: 0)
        let freshBody = Self.render(&fresh, shape: shape, tick: 6)
        #expect(reused.encoded == fresh.encoded)
        #expect(Self.render(&reused, shape: shape, tick: 6) == freshBody)
        // And back again.
        try Self.check(&reused, shape: shape, tick: 5)
        #expect(reused.encoded == first)
    }

    @Test func refreshReencodesReplacedSeries() throws {
        let shape = Self.shape(series: 1000, metrics: 100, churnPercent: 10)
        var template = RequestTemplate(shape: shape, slots: 200..<400, tick: 0)
        #expect(template.generations == Array(repeating: 0, count: 200))
        try Self.check(&template, shape: shape, tick: 0)
        for tick in 1...25 {
            let before = template.generations
            template.refresh(shape: shape, tick: tick)
            #expect(template.generations == (200..<400).map { shape.generation(slot: $0, tick: tick) })
            // Ticks 3 and 4 replace slots 200…399; other ticks leave this batch alone until the next cycle.
            let changed = zip(before, template.generations).filter { $0 != $1 }.count
            #expect(changed == (tick % 10 == 3 || tick % 10 == 4 ? 100 : 0), "tick \(tick)")
            try Self.check(&template, shape: shape, tick: tick)
        }
        // Replaced at ticks 3 (or 4), 13 (or 14) and 23 (or 24).
        #expect(template.generations.allSatisfy { $0 == 3 })
    }

    @Test func withoutRefreshTheLabelsStayAtTheirGeneration() throws {
        let shape = Self.shape(series: 1000, metrics: 100, churnPercent: 10)
        var template = RequestTemplate(shape: shape, slots: 0..<100, tick: 0)
        let raw = try Self.decompress(Self.render(&template, shape: shape, tick: 1))
        let decoded = try MessageCodec().decodeWriteRequest(raw)
        #expect(decoded.timeseries.map(\.labels) == (0..<100).map { shape.labels(slot: $0, generation: 0) })
        // The same template after refresh carries the replacements.
        template.refresh(shape: shape, tick: 1)
        let refreshed = try MessageCodec().decodeWriteRequest(try Self.decompress(Self.render(&template, shape: shape, tick: 1)))
        #expect(refreshed.timeseries.map(\.labels) == (0..<100).map { shape.labels(slot: $0, generation: 1) })
    }

    @Test func refreshWithoutReplacementsChangesNothing() throws {
        let shape = Self.shape(series: 1000, metrics: 100, churnPercent: 10)
        var template = RequestTemplate(shape: shape, slots: 500..<600, tick: 0)
        _ = Self.render(&template, shape: shape, tick: 2)
        let before = template.encoded
        template.refresh(shape: shape, tick: 2)  // slots 500…599 are first replaced at tick 6
        #expect(template.encoded == before)
        #expect(template.generations.allSatisfy { $0 == 0 })
    }

    @Test func templateBuiltMidRunStartsAtThatTicksGenerations() throws {
        let shape = Self.shape(series: 1000, metrics: 100, churnPercent: 10)
        var template = RequestTemplate(shape: shape, slots: 0..<250, tick: 13)
        #expect(template.generations == (0..<250).map { shape.generation(slot: $0, tick: 13) })
        try Self.check(&template, shape: shape, tick: 13)
    }

    @Test func sizesAreConsistent() throws {
        let shape = Self.shape()
        var template = RequestTemplate(shape: shape, slots: 0..<300, tick: 0)
        let sizeBefore = template.encodedSize
        _ = Self.render(&template, shape: shape, tick: 9)
        // Patching never changes the size: every length prefix stays valid.
        #expect(template.encodedSize == sizeBefore)
        #expect(template.encoded.count == template.encodedSize)
        // Each series: tag, length, labels, and an 18-byte sample field.
        // Every label here is short: 2 bytes of tag and length around 2 + name + 2 + value, 6 + name + value in all.
        let seriesBytes = (0..<300).map { slot -> Int in
            let body = shape.labels(slot: slot, generation: 0).reduce(0) { $0 + 6 + $1.name.utf8.count + $1.value.utf8.count } + 18
            return 1 + Varint.size(UInt64(body)) + body
        }
        #expect(template.encodedSize == seriesBytes.reduce(0, +))
        // Splitting the slots splits the bytes.
        let left = RequestTemplate(shape: shape, slots: 0..<120, tick: 0)
        let right = RequestTemplate(shape: shape, slots: 120..<300, tick: 0)
        #expect(left.encodedSize + right.encodedSize == template.encodedSize)
        #expect(left.sampleCount + right.sampleCount == template.sampleCount)
    }

    @Test(arguments: [0..<200, 1000..<1050, 0..<1])
    func rendersRemoteWrite2WithSymbolsAndMetadata(slots: Range<Int>) throws {
        let shape = Self.shape(churnPercent: 10)
        var template = RequestTemplate(shape: shape, slots: slots, tick: 0, remoteWriteVersion: 2)
        for tick in [0, 1, 7] {
            template.refresh(shape: shape, tick: tick)
            let raw = try Self.decompress(Self.render(&template, shape: shape, tick: tick))
            #expect(raw == template.encoded)
            // The insert tier's 2.0 scanner accepts it, and libprotobuf-c decodes what the shape says.
            let summary = try raw.withUnsafeBytes { bytes in try WriteRequestV2Scanner().scan(bytes) { _ in } }
            #expect(summary.series == slots.count && summary.samples == slots.count)
            let decoded = try MessageCodec().decodeWriteRequestV2(raw)
            let expected = Self.expected(shape: shape, slots: slots, tick: tick)
            #expect(decoded.timeseries == expected.timeseries)
            #expect(decoded.timeseries.map { $0.samples.map(\.value.bitPattern) } == expected.timeseries.map { $0.samples.map(\.value.bitPattern) })
            #expect(decoded.metadata.count == slots.count)
            #expect(decoded.metadata.map(\.type) == slots.map { shape.isCounter(slot: $0) ? .counter : .gauge })
            #expect(decoded.metadata.allSatisfy { !$0.help.isEmpty })
        }
    }

    @Test func emptyTemplateRendersAnEmptyRequest() throws {
        let shape = Self.shape()
        var template = RequestTemplate(shape: shape, slots: 5..<5, tick: 0)
        #expect(template.sampleCount == 0)
        #expect(template.encodedSize == 0)
        let raw = try Self.decompress(Self.render(&template, shape: shape, tick: 1))
        #expect(raw.isEmpty)
    }
}
