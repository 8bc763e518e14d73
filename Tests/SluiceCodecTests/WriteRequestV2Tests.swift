import SluiceCodec
import SluiceTestSupport
import Testing

/// The remote-write 2.0 scanner, the 2.0 encoder, libprotobuf-c's 2.0 decode, and the forwarding
/// builders (2.0 passthrough and translation to 1.0), checked against one another.
@Suite struct WriteRequestV2Tests {
    static let request = WriteRequest(
        timeseries: [
            TimeSeries(
                labels: [Label(name: "__name__", value: "http_requests_total"), Label(name: "job", value: "api")],
                samples: [Sample(timestamp: 1_700_000_000_000, value: 1), Sample(timestamp: 1_700_000_015_000, value: StaleMarker.value)],
                exemplars: [Exemplar(labels: [Label(name: "trace_id", value: "abc")], value: 0.5, timestamp: 1_700_000_000_001)]
            ),
            TimeSeries(
                labels: [Label(name: "__name__", value: "latency_seconds"), Label(name: "job", value: "api")],
                histograms: [
                    Histogram(
                        count: .int(5), sum: 2.5, schema: 0, zeroThreshold: 1e-128, zeroCount: .int(1),
                        positiveSpans: [BucketSpan(offset: 0, length: 2)], positiveDeltas: [2, 0], timestamp: 1_700_000_000_000
                    ),
                ]
            ),
            TimeSeries(
                labels: [Label(name: "__name__", value: "temperature"), Label(name: "room", value: "b")],
                histograms: [
                    Histogram(
                        count: .float(3), sum: 9, schema: Histogram.customBucketsSchema, zeroCount: nil,
                        positiveSpans: [BucketSpan(offset: 0, length: 2)], positiveCounts: [1, 2], timestamp: 1_700_000_000_000,
                        customValues: [1, 10]
                    ),
                ]
            ),
        ],
        metadata: [MetricMetadata(type: .counter, metricFamilyName: "http_requests_total", help: "Requests.", unit: "")]
    )

    static func scan(_ bytes: [UInt8], _ visit: (borrowing WriteRequestV2Scanner.Series) -> Void = { _ in }) throws -> WriteRequestV2Scanner.Summary {
        let scanner = WriteRequestV2Scanner()
        return try bytes.withUnsafeBytes { raw in try scanner.scan(raw) { series in visit(series) } }
    }

    @Test func encodedRequestScansAndDecodesBackToTheModel() throws {
        let bytes = RemoteWriteV2Encoder.encode(Self.request)
        let summary = try Self.scan(bytes)
        #expect(summary == .init(series: 3, samples: 2, histograms: 2, exemplars: 1))
        let decoded = try MessageCodec().decodeWriteRequestV2(bytes)
        #expect(decoded.timeseries == Self.request.timeseries)
        #expect(decoded.metadata == Self.request.metadata)
    }

    @Test func unsortedLabelsAreSortedNotRejected() throws {
        var request = Self.request
        request.timeseries[0].labels.reverse()
        let bytes = RemoteWriteV2Encoder.encode(request)
        var inOrder: [Bool] = []
        _ = try Self.scan(bytes) { inOrder.append($0.labelsInOrder) }
        #expect(inOrder == [false, true, true])
        #expect(try MessageCodec().decodeWriteRequestV2(bytes).timeseries[0].labels == Self.request.timeseries[0].labels)
    }

    @Test func bothCreatedTimestampLayoutsAreAccepted() throws {
        // rc.4: start_timestamp in Sample (3) and Histogram (17).
        let rc4 = RemoteWriteV2Encoder.encode(Self.request) { _ in 1_699_999_999_000 }
        #expect(try Self.scan(rc4).samples == 2)
        // Earlier drafts: TimeSeries.created_timestamp (6), appended to the first series' message.
        var legacy = RemoteWriteV2Encoder.encode(WriteRequest(timeseries: [Self.request.timeseries[0]]))
        let seriesStart = legacy.firstIndex(of: 0x2A)!
        legacy[seriesStart + 1] += 2  // one-byte length: room for the two bytes below
        legacy += [0x30, 0x05]
        #expect(try Self.scan(legacy).samples == 2)
        #expect(try MessageCodec().decodeWriteRequestV2(legacy).timeseries == [Self.request.timeseries[0]])
    }

    /// Hand-built bodies: symbols (field 4) and one series (field 5) with raw label refs.
    static func body(symbols: [String], refs: [UInt64], extra: [UInt8] = [0x12, 0x0B, 0x09, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F, 0x10, 0x01]) -> [UInt8] {
        var out: [UInt8] = []
        for symbol in symbols { out += [0x22, UInt8(symbol.utf8.count)] + Array(symbol.utf8) }
        var packed: [UInt8] = []
        for ref in refs { packed.append(UInt8(ref)) }
        let series = [0x0A, UInt8(packed.count)] + packed + extra
        return out + [0x2A, UInt8(series.count)] + series
    }

    @Test(arguments: [
        (["x", "__name__", "up"], [1, 2] as [UInt64], "first symbol must be the empty string"),
        (["", "__name__", "up"], [1, 3], "outside the symbols table"),
        (["", "__name__", "up"], [1, 2, 1], "odd length"),
        (["", "job", "up"], [1, 2], "no __name__"),
        (["", "__name__", "up", "a"], [1, 2, 3, 0], "empty value"),
        (["", "__name__", "up"], [1, 2, 1, 2], "duplicate label name"),
        (["", "__name__", "up", "a\u{0}b", "x"], [1, 2, 3, 4], "NUL"),
    ])
    func invalidRequestsAreRejectedWithAClearReason(symbols: [String], refs: [UInt64], reason: String) {
        let bytes = Self.body(symbols: symbols, refs: refs)
        #expect {
            try Self.scan(bytes)
        } throws: { error in
            (error as? CodecError)?.code == .invalidSeries && "\(error)".contains(reason)
        }
    }

    @Test func aValidHandBuiltBodyScans() throws {
        #expect(try Self.scan(Self.body(symbols: ["", "__name__", "up"], refs: [1, 2])).samples == 1)
    }

    /// 2.0 names are any UTF-8 (the spec's MUST, and the compliance suite's "metric with dots").
    @Test func utf8NamesAreAcceptedIn2_0() throws {
        let body = Self.body(symbols: ["", "__name__", "resource.cpu usage", "dc.zone", "é"], refs: [1, 2, 3, 4])
        #expect(try Self.scan(body).samples == 1)
        #expect(try MessageCodec().decodeWriteRequestV2(body).timeseries[0].labels.map(\.name) == ["__name__", "dc.zone"])
    }

    /// A body of one version under the other's Content-Type would otherwise scan as an empty request
    /// and be acknowledged: 2.0 reserves 1.0's fields 1-3, and 1.0 has no fields 4 and 5.
    @Test func aBodyOfTheOtherVersionIsRejectedNotAcknowledgedEmpty() throws {
        let v1 = MessageCodec().encoded { $0.encode(Self.request, appendingTo: $1) }
        #expect { try Self.scan(v1) } throws: { "\($0)".contains("1.0 fields") }
        let v2 = RemoteWriteV2Encoder.encode(Self.request)
        #expect { try v2.withUnsafeBytes { raw in try WriteRequestScanner().scan(raw) { _ in } } } throws: { "\($0)".contains("2.0 fields") }
    }

    @Test func samplesAndHistogramsInOneSeriesAreRejected() {
        var series = Self.request.timeseries[1]
        series.samples = [Sample(timestamp: 1, value: 1)]
        #expect(throws: CodecError.self) { try Self.scan(RemoteWriteV2Encoder.encode(WriteRequest(timeseries: [series]))) }
    }

    @Test func anInconsistentHistogramIsRejected() {
        var series = Self.request.timeseries[1]
        series.histograms[0].count = .int(99)  // buckets and zero bucket hold 5
        #expect(throws: CodecError.self) { try Self.scan(RemoteWriteV2Encoder.encode(WriteRequest(timeseries: [series]))) }
    }

    @Test func translationToV1KeepsEverythingTheModelHolds() throws {
        let bytes = RemoteWriteV2Encoder.encode(Self.request) { _ in 5 }
        let scanner = WriteRequestV2Scanner()
        let out = ByteScratch()
        let scratch = ByteScratch()
        let metadata = ByteScratch()
        _ = try bytes.withUnsafeBytes { raw in
            try scanner.scan(raw) { (series) throws(CodecError) in
                try scanner.appendV1Series(series, labels: series.labels, extra: [], body: raw, scratch: scratch, to: out)
                try scanner.appendV1Metadata(series, body: raw, scratch: scratch, to: metadata)
            }
        }
        out.append(metadata.bytes)
        let v1 = try MessageCodec().decodeWriteRequest(out.toArray())
        #expect(v1 == Self.request)
        // And the 1.0 scanner insert and storage use agrees.
        _ = try out.toArray().withUnsafeBytes { raw in try WriteRequestScanner().scan(raw) { _ in } }
    }

    @Test func passthroughWithAnAddedLabelKeepsTheRestOfTheSeries() throws {
        var request = Self.request
        request.timeseries[0].labels.reverse()
        let bytes = RemoteWriteV2Encoder.encode(request)
        let scanner = WriteRequestV2Scanner()
        let out = ByteScratch()
        let extra = [Array("tenant".utf8), Array("team-a".utf8)]
        _ = try bytes.withUnsafeBytes { raw in
            try scanner.scan(raw) { (series) throws(CodecError) in
                if out.count == 0 { scanner.appendSymbols(raw, extra: extra, to: out) }
                let count = UInt32(scanner.symbols.count)
                let labels = Array(series.labels) + [.init(name: count, value: count + 1)]
                scanner.appendV2Series(series, labels: labels[...], body: raw, to: out)
            }
        }
        let forwarded = out.toArray()
        #expect(try Self.scan(forwarded) == .init(series: 3, samples: 2, histograms: 2, exemplars: 1))
        let decoded = try MessageCodec().decodeWriteRequestV2(forwarded)
        var expected = Self.request
        for i in expected.timeseries.indices { expected.timeseries[i].labels.append(Label(name: "tenant", value: "team-a")) }
        #expect(decoded.timeseries == expected.timeseries)
        #expect(decoded.metadata == expected.metadata)
    }

    @Test func truncationsAndCorruptionNeverTrap() {
        let bytes = RemoteWriteV2Encoder.encode(Self.request)
        for cut in 0..<bytes.count { _ = try? Self.scan(Array(bytes[..<cut])) }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            var corrupt = bytes
            for _ in 0..<3 { corrupt[Int.random(in: 0..<corrupt.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator) }
            if (try? Self.scan(corrupt)) != nil {
                // Whatever the scanner accepts, libprotobuf-c decodes.
                #expect(throws: Never.self) { try MessageCodec().decodeWriteRequestV2(corrupt) }
            }
        }
    }
}
