import Foundation
import SluiceCodec
import SluiceQuery
import SluiceTestSupport
import Testing
@testable import SluiceStorage

/// The storage's scanned write path must see exactly what the full decode sees: the same label sets
/// (as the head's key bytes) and the same samples, for Prometheus' own bodies and for every unusual
/// but valid encoding.
@Suite("Scanned write path: label bytes, samples, series table")
struct ScannedWriteTests {
    static let fixtures: [(name: String, body: [UInt8])] = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let folder = ProcessInfo.processInfo.environment["SLUICE_FIXTURES"].map { URL(fileURLWithPath: $0) }
            ?? root.deletingLastPathComponent().appendingPathComponent("shared/fixtures/prometheus-2.42")
        let writes = folder.appendingPathComponent("remote-write")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: writes.path)) ?? []
        return names.filter { $0.hasPrefix("write-") && $0.hasSuffix(".bin") }.sorted().compactMap { name in
            guard let data = FileManager.default.contents(atPath: writes.appendingPathComponent(name).path),
                let body = try? Snappy.decompress([UInt8](data), limit: 1 << 28)
            else { return nil }
            return (name, body)
        }
    }()

    /// Scans `body` and checks every series against the decoder's view of it.
    func expectAgreement(_ body: [UInt8], expectInPlace: Bool? = nil, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let decoded = try MessageCodec().decodeWriteRequest(body)
        let scratch = ByteScratch()
        body.withUnsafeBytes { scratch.append($0) }
        guard case .floats(let write) = try ScannedWrite.scan(scratch, with: WriteRequestScanner()) else {
            Issue.record("a float-only body was not scanned", sourceLocation: sourceLocation)
            return
        }
        let withSamples = decoded.timeseries.filter { !$0.samples.isEmpty }
        try #require(write.parts.count == 1 && write.parts[0].selection == nil, sourceLocation: sourceLocation)
        let scannedSeries = write.parts[0].series
        try #require(scannedSeries.entries.count == withSamples.count, sourceLocation: sourceLocation)
        for (scanned, series) in zip(scannedSeries.entries, withSamples) {
            let key = Array(scannedSeries.key(scanned))
            #expect(key == LabelSetBytes.bytes(series.labels), sourceLocation: sourceLocation)
            #expect(LabelSetBytes.labels(key) == series.labels, sourceLocation: sourceLocation)
            #expect(scanned.hash == XXHash64.hash(key), sourceLocation: sourceLocation)
            #expect(Array(scannedSeries.samples[scanned.samples]) == series.samples, sourceLocation: sourceLocation)
            // A key left in place lies inside the body; a built one was added after it.
            if let expectInPlace { #expect((scanned.key.upperBound <= body.count) == expectInPlace, sourceLocation: sourceLocation) }
        }
    }

    @Test func prometheusBodiesAreScannedInPlace() throws {
        #expect(!Self.fixtures.isEmpty, "the shared fixtures are missing")
        var checked = 0
        for fixture in Self.fixtures {
            let decoded = try MessageCodec().decodeWriteRequest(fixture.body)
            // Bodies with exemplars, histograms or metadata take the full decode.
            guard decoded.timeseries.allSatisfy({ $0.exemplars.isEmpty && $0.histograms.isEmpty }), decoded.metadata.isEmpty else { continue }
            try expectAgreement(fixture.body, expectInPlace: true)
            checked += 1
        }
        #expect(checked > 0)
    }

    @Test func ourOwnEncodingIsScannedInPlace() throws {
        let long = String(repeating: "v", count: 300)
        let request = WriteRequest(timeseries: [
            TimeSeries(labels: [Label(name: "__name__", value: "a"), Label(name: "x", value: long)], samples: [Sample(timestamp: -5, value: 0)]),
            TimeSeries(labels: [Label(name: "__name__", value: "b"), Label(name: "zone", value: "ü")], samples: [
                Sample(timestamp: 1, value: 1.5), Sample(timestamp: 2, value: StaleMarker.value), Sample(timestamp: .max, value: -.infinity),
            ]),
            TimeSeries(labels: [Label(name: "__name__", value: "only_labels")], samples: []),
        ])
        let body = MessageCodec().encoded { codec, out in codec.encode(request, appendingTo: out) }
        try expectAgreement(body, expectInPlace: true)
    }

    // MARK: Unusual encodings: the key is rebuilt, the samples still read right.

    static func field(_ number: UInt8, _ bytes: [UInt8]) -> [UInt8] { [number << 3 | 2] + varint(bytes.count) + bytes }
    static func varint(_ value: Int) -> [UInt8] {
        var value = UInt64(value)
        var out: [UInt8] = []
        while value >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        return out + [UInt8(value)]
    }
    static func label(_ name: String, _ value: String) -> [UInt8] { field(1, field(1, Array(name.utf8)) + field(2, Array(value.utf8))) }
    static func sample(_ value: Double, _ timestamp: Int64) -> [UInt8] {
        var bits = value.bitPattern.littleEndian
        let valueBytes = withUnsafeBytes(of: &bits) { Array($0) }
        return field(2, [0x09] + valueBytes + [0x10] + varint(Int(truncatingIfNeeded: timestamp)))
    }
    static func body(_ series: [UInt8]...) -> [UInt8] { series.flatMap { field(1, $0) } }

    @Test func valueBeforeName() throws {
        let swapped = Self.field(1, Self.field(2, Array("up".utf8)) + Self.field(1, Array("__name__".utf8)))
        try expectAgreement(Self.body(swapped + Self.label("job", "a") + Self.sample(1, 10)), expectInPlace: false)
    }

    @Test func samplesBeforeAndBetweenLabels() throws {
        try expectAgreement(Self.body(Self.sample(1, 10) + Self.label("__name__", "up") + Self.sample(2, 20) + Self.label("job", "a")), expectInPlace: false)
    }

    @Test func paddedLengthPrefix() throws {
        // The label's length as a two-byte varint: valid, but not the canonical bytes.
        let inner = Self.field(1, Array("__name__".utf8)) + Self.field(2, Array("up".utf8))
        let padded = [0x0A, UInt8(inner.count) | 0x80, 0x00] + inner
        try expectAgreement(Self.body(padded + Self.sample(3, 30)), expectInPlace: false)
    }

    @Test func unknownFieldInsideALabel() throws {
        let inner = Self.field(1, Array("__name__".utf8)) + Self.field(2, Array("up".utf8)) + [0x18, 0x01]
        try expectAgreement(Self.body(Self.field(1, inner) + Self.sample(3, 30)), expectInPlace: false)
    }

    @Test func oddSampleShapes() throws {
        // Value absent (0), timestamp first, repeated fields (the last wins), an unknown field.
        let onlyTimestamp = Self.field(2, [0x10, 0x05])
        var bits = 2.5.bitPattern.littleEndian
        let value = withUnsafeBytes(of: &bits) { Array($0) }
        let reversed = Self.field(2, [0x10, 0x07, 0x09] + value)
        let repeated = Self.field(2, [0x09] + value + [0x10, 0x01, 0x10, 0x09, 0x09] + value)
        let unknown = Self.field(2, [0x09] + value + [0x10, 0x0B, 0x18, 0x2A])
        try expectAgreement(Self.body(Self.label("__name__", "up") + onlyTimestamp + reversed + repeated + unknown))
    }

    @Test func bodiesThatNeedTheWholeMessage() throws {
        let exemplar = Self.field(3, Self.field(1, Self.field(1, Array("trace_id".utf8)) + Self.field(2, Array("x".utf8))) + [0x11] + [UInt8](repeating: 0, count: 8) + [0x18, 0x01])
        let metadata = Self.field(3, [0x08, 0x01] + Self.field(2, Array("up".utf8)))
        for body in [Self.body(Self.label("__name__", "up") + Self.sample(1, 1) + exemplar), Self.body(Self.label("__name__", "up") + Self.sample(1, 1)) + metadata] {
            let scratch = ByteScratch()
            body.withUnsafeBytes { scratch.append($0) }
            guard case .needsDecoding = try ScannedWrite.scan(scratch, with: WriteRequestScanner()) else {
                Issue.record("a body with exemplars or metadata was scanned as floats only")
                continue
            }
        }
    }

    @Test func invalidBodiesAreRejectedWhole() {
        let body = Self.body(Self.label("__name__", "up") + Self.sample(1, 1), Self.label("job", "a") + Self.sample(1, 1))
        let scratch = ByteScratch()
        body.withUnsafeBytes { scratch.append($0) }
        #expect(throws: CodecError.self) { try ScannedWrite.scan(scratch, with: WriteRequestScanner()) }
    }

    // MARK: Remote write 2.0

    /// A 2.0 body scanned in place gives what the full decode gives: label sets, samples, and the
    /// series' metadata (each distinct entry once, in order).
    @Test func a2BodyAgreesWithTheFullDecode() throws {
        let long = String(repeating: "h", count: 200)
        let request = WriteRequest(
            timeseries: [
                TimeSeries(labels: [Label(name: "__name__", value: "http_requests_total"), Label(name: "code", value: "200")], samples: [
                    Sample(timestamp: 1000, value: 1), Sample(timestamp: 2000, value: 2),
                ]),
                TimeSeries(labels: [Label(name: "__name__", value: "http_requests_total"), Label(name: "code", value: "500")], samples: [
                    Sample(timestamp: 1000, value: StaleMarker.value),
                ]),
                TimeSeries(labels: [Label(name: "__name__", value: "temperature"), Label(name: "zone", value: long)], samples: [
                    Sample(timestamp: -5, value: -1.5),
                ]),
                TimeSeries(labels: [Label(name: "__name__", value: "no_samples")], samples: []),
            ],
            metadata: [
                MetricMetadata(type: .counter, metricFamilyName: "http_requests_total", help: "Requests.", unit: ""),
                MetricMetadata(type: .gauge, metricFamilyName: "temperature", help: long, unit: "celsius"),
                MetricMetadata(type: .gauge, metricFamilyName: "no_samples", help: "", unit: ""),
            ]
        )
        let body = RemoteWriteV2Encoder.encode(request)
        let decoded = try MessageCodec().decodeWriteRequestV2(body)
        let scratch = ByteScratch()
        body.withUnsafeBytes { scratch.append($0) }
        guard case .floats(let write) = try ScannedWrite.scanV2(scratch, with: WriteRequestV2Scanner()) else {
            Issue.record("a float-only 2.0 body was not scanned")
            return
        }
        let withSamples = decoded.timeseries.filter { !$0.samples.isEmpty }
        let scannedSeries = write.parts[0].series
        try #require(scannedSeries.entries.count == withSamples.count)
        for (scanned, series) in zip(scannedSeries.entries, withSamples) {
            #expect(Array(scannedSeries.key(scanned)) == LabelSetBytes.bytes(series.labels))
            #expect(Array(scannedSeries.samples[scanned.samples]) == series.samples)
        }
        var distinct: [MetricMetadata] = []
        for entry in decoded.metadata where !distinct.contains(entry) { distinct.append(entry) }
        #expect(write.metadata == distinct)
        #expect(write.metadata.count == 3)

        // Histograms or exemplars need the whole message.
        var withHistogram = request
        withHistogram.timeseries.append(TimeSeries(labels: [Label(name: "__name__", value: "h")], histograms: [
            Histogram(count: .int(1), sum: 1, schema: 0, zeroThreshold: 0, zeroCount: .int(0), positiveSpans: [BucketSpan(offset: 0, length: 1)], positiveDeltas: [1], timestamp: 1),
        ]))
        let histogramBody = RemoteWriteV2Encoder.encode(withHistogram)
        let other = ByteScratch()
        histogramBody.withUnsafeBytes { other.append($0) }
        guard case .needsDecoding = try ScannedWrite.scanV2(other, with: WriteRequestV2Scanner()) else {
            Issue.record("a 2.0 body with a histogram was scanned as floats only")
            return
        }
    }

    // MARK: The head

    @Test func scannedAndDecodedWritesMeetInOneSeries() throws {
        let head = Head()
        let labels = [Label(name: "__name__", value: "up"), Label(name: "job", value: String(repeating: "j", count: 200))]
        #expect(head.append(WriteRequest(timeseries: [TimeSeries(labels: labels, samples: [Sample(timestamp: 1, value: 1)])]), wal: nil).createdSeries == 1)
        let request = WriteRequest(timeseries: [TimeSeries(labels: labels, samples: [Sample(timestamp: 1, value: 1), Sample(timestamp: 2, value: 2)])])
        let scratch = ByteScratch()
        MessageCodec().encode(request, appendingTo: scratch)
        guard case .floats(let write) = try ScannedWrite.scan(scratch, with: WriteRequestScanner()) else {
            Issue.record("not scanned")
            return
        }
        let outcome = head.append(write, wal: nil)
        #expect(outcome.createdSeries == 0 && outcome.duplicates == 1 && outcome.appended == 1)
        #expect(head.seriesCount == 1)
        #expect(head.labelSets(nil, minTime: .min, maxTime: .max) == [labels])
    }

    /// The head finds every series of a request before it appends any sample: a series new to the
    /// head that appears twice in one request is created once and takes both samples in order, and a
    /// rejection names the right series.
    @Test func aRequestsSeriesAreFoundFirstThenAppendedInOrder() throws {
        let head = Head()
        let x = [Label(name: "__name__", value: "x")]
        let y = [Label(name: "__name__", value: "y")]
        #expect(head.append(WriteRequest(timeseries: [TimeSeries(labels: y, samples: [Sample(timestamp: 5, value: 1)])]), wal: nil).createdSeries == 1)
        let request = WriteRequest(timeseries: [
            TimeSeries(labels: x, samples: [Sample(timestamp: 1, value: 1)]),
            TimeSeries(labels: y, samples: [Sample(timestamp: 4, value: 2)]),
            TimeSeries(labels: x, samples: [Sample(timestamp: 2, value: 3)]),
        ])
        let scratch = ByteScratch()
        MessageCodec().encode(request, appendingTo: scratch)
        guard case .floats(let write) = try ScannedWrite.scan(scratch, with: WriteRequestScanner()) else {
            Issue.record("not scanned")
            return
        }
        let outcome = head.append(write, wal: nil)
        #expect(outcome.createdSeries == 1 && outcome.appended == 2)
        #expect(outcome.rejected == [.outOfOrder: 1])
        #expect(outcome.firstRejection?.contains("y{}") == true || outcome.firstRejection?.contains("for series y") == true, "\(outcome.firstRejection ?? "")")
        let all = try CompiledMatcher(LabelMatcher(.regex, name: "__name__", value: ".+"))
        let selected = head.select([all], minTime: .min, maxTime: .max)
        #expect(selected.map(\.labels) == [x, y])
        #expect(try selected[0].chunks.flatMap { try XORChunkDecoder.decodeAll($0.bytes) }.map(\.timestamp) == [1, 2])
    }

    /// Series leave the head when a block takes their last chunk; the last series moves into a
    /// removed one's place, and lookups, postings and label order must follow it, with the label
    /// symbols left as they are or rebuilt without the removed series (a floor of 0).
    @Test(arguments: [0, 1 << 20])
    func removedSeriesLeaveNoTraceAndTheRestStayFindable(labelGarbageFloor: Int) throws {
        let head = Head(configuration: .init(chunkRange: 10_000, labelGarbageFloor: labelGarbageFloor))
        func series(_ name: String, _ times: ClosedRange<Int64>) -> TimeSeries {
            TimeSeries(labels: [Label(name: "__name__", value: name)], samples: times.map { Sample(timestamp: $0 * 1000, value: Double($0)) })
        }
        // a, b and c until 9 s; only c (the last slot) goes on, into the next range.
        #expect(head.append(WriteRequest(timeseries: [series("a", 0...9), series("b", 0...9), series("c", 0...25)]), wal: nil).createdSeries == 3)
        _ = head.prepareBlock(maxTime: 10_000)
        _ = head.dropBefore(10_000, wal: nil)
        #expect(head.seriesCount == 1)
        let all = try CompiledMatcher(LabelMatcher(.regex, name: "__name__", value: ".+"))
        #expect(head.select([all], minTime: .min, maxTime: .max).map(\.labels) == [[Label(name: "__name__", value: "c")]])
        let c = try CompiledMatcher(LabelMatcher(.equal, name: "__name__", value: "c"))
        #expect(head.select([c], minTime: .min, maxTime: .max).count == 1)
        // c is found again by its bytes, a comes back as a new series, and both are in label order.
        let outcome = head.append(WriteRequest(timeseries: [series("a", 20...21), series("c", 26...26)]), wal: nil)
        #expect(outcome.createdSeries == 1 && outcome.appended == 3)
        #expect(head.labelSets([all], minTime: .min, maxTime: .max).sorted { compareLabelSets($0, $1) < 0 } == [[Label(name: "__name__", value: "a")], [Label(name: "__name__", value: "c")]])
        #expect(head.select([all], minTime: .min, maxTime: .max).map(\.labels) == [[Label(name: "__name__", value: "a")], [Label(name: "__name__", value: "c")]])
    }

    /// Random inserts and removals with many equal hashes against a dictionary: every probe run,
    /// backward shift and move must keep each entry findable.
    @Test func seriesTableAgreesWithADictionary() {
        var table = SeriesTable()
        var model: [Int: UInt64] = [:]  // slot → hash
        var generator = SystemRandomNumberGenerator()
        var slots: [Int] = []
        for step in 0..<20_000 {
            if slots.isEmpty || Int.random(in: 0..<3, using: &generator) > 0 {
                let slot = slots.count
                // Few distinct hashes, so long runs and many equal hashes.
                let hash = UInt64.random(in: 0..<64, using: &generator) &* 0x9E37_79B9_7F4A_7C15
                table.insert(hash, slot: slot)
                model[slot] = hash
                slots.append(slot)
            } else {
                // Remove a random slot; the last takes its place, as the head does.
                let slot = Int.random(in: 0..<slots.count, using: &generator)
                let last = slots.count - 1
                table.remove(model[slot]!, slot: slot)
                if slot != last {
                    table.move(model[last]!, from: last, to: slot)
                    model[slot] = model[last]
                }
                model[last] = nil
                slots.removeLast()
            }
            if step % 997 == 0 || step == 19_999 {
                #expect(table.count == model.count)
                for (slot, hash) in model {
                    #expect(table.find(hash) { $0 == slot } == slot)
                }
                #expect(table.find(1) { _ in true } == nil || model.values.contains(1))
            }
        }
    }

    /// Insert hands a node series without samples too (so their nodes get a part): the head creates
    /// nothing for them, and appends the rest as usual.
    @Test func seriesWithoutSamplesCreateNothing() throws {
        let request = WriteRequest(timeseries: [
            TimeSeries(labels: [Label(name: "__name__", value: "empty")]),
            TimeSeries(labels: [Label(name: "__name__", value: "full")], samples: [Sample(timestamp: 1, value: 1)]),
        ])
        let bytes = MessageCodec().encoded { $0.encode(request, appendingTo: $1) }
        var builder = ScannedSeriesBuilder(expectedBytes: bytes.count)
        try bytes.withUnsafeBytes { body in
            _ = try WriteRequestScanner().scan(body) { (series) throws(CodecError) in
                try builder.add(series.labels, message: series.message, in: body)
            }
        }
        let series = builder.finish()
        #expect(series.entries.count == 2 && series.entries[0].samples.isEmpty)
        let head = Head()
        let outcome = head.append(ScannedWrite(parts: [ScannedSeries.Part(series)]), wal: nil)
        #expect(outcome.createdSeries == 1 && outcome.appended == 1)
        #expect(head.seriesCount == 1)
    }
}
