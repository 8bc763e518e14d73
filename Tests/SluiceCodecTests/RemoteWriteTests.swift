import Testing
@testable import SluiceCodec

@Suite struct RemoteWriteTests {
    static let limit = 32 << 20

    /// Series, samples and labels per fixture, counted by an independent protobuf walker
    /// (Python over libsnappy through ctypes, walking the wire format by hand) when the fixtures
    /// were added. Prometheus 2.42 sent one sample per series and no exemplars, histograms or metadata.
    static let expected: [String: (series: Int, samples: Int, labels: Int, protobufBytes: Int)] = [
        "write-0.bin": (397, 397, 2366, 73948),
        "write-1.bin": (512, 512, 2937, 81631),
        "write-2.bin": (438, 438, 2639, 82429),
        "write-3.bin": (512, 512, 2937, 81622),
        "write-4.bin": (438, 438, 2639, 82420),
        "write-5.bin": (487, 487, 2975, 93005),
    ]

    @Test func fixturesArePresent() {
        #expect(Fixtures.remoteWrite.count == Self.expected.count, "fixtures not found in \(Fixtures.directory.path)")
    }

    @Test(arguments: Fixtures.remoteWrite)
    func fixtureDecodesWithTheRightCounts(_ body: Fixtures.Body) throws {
        let protobuf = try Snappy.decompress(body.bytes, limit: Self.limit)
        let request = try MessageCodec().decodeWriteRequest(protobuf)
        let expected = try #require(Self.expected[body.name])
        #expect(protobuf.count == expected.protobufBytes)
        #expect(request.timeseries.count == expected.series)
        #expect(request.sampleCount == expected.samples)
        #expect(request.timeseries.reduce(0) { $0 + $1.labels.count } == expected.labels)
        for series in request.timeseries {
            #expect(series.labels.first?.name == "__name__")
            #expect(series.labels.contains(Label(name: "__replica__", value: series.labels.first { $0.name == "__replica__" }?.value ?? "")))
            #expect(series.labels == series.labels.sorted(), "Prometheus sends labels sorted")
        }
    }

    @Test(arguments: Fixtures.remoteWrite)
    func fixtureReencodesToTheSameBytes(_ body: Fixtures.Body) throws {
        let protobuf = try Snappy.decompress(body.bytes, limit: Self.limit)
        let codec = MessageCodec()
        let request = try codec.decodeWriteRequest(protobuf)
        let encoded = codec.encoded { $0.encode(request, appendingTo: $1) }
        #expect(try codec.decodeWriteRequest(encoded) == request)
        // Both gogoproto and libprotobuf-c write fields in number order and skip proto3 defaults.
        #expect(encoded == protobuf)
    }

    @Test(arguments: Fixtures.remoteWrite)
    func everyTruncationOfTheBodyIsATypedError(_ body: Fixtures.Body) {
        let codec = MessageCodec()
        let scratch = ByteScratch()
        for cut in 0..<body.bytes.count {
            do {
                try body.bytes[..<cut].withBytes { (raw) throws(CodecError) in
                    try Snappy.decompress(raw, into: scratch, limit: Self.limit)
                    _ = try codec.decodeWriteRequest(scratch.bytes)
                }
                Issue.record("a body cut at \(cut) of \(body.bytes.count) bytes decoded")
            } catch {
                #expect(error.code == .snappyCorrupt || error.code == .protobufInvalid)
            }
        }
    }

    @Test(arguments: Fixtures.remoteWrite)
    func bitFlipsNeverCrash(_ body: Fixtures.Body) {
        var generator = SplitMix64(seed: UInt64(body.bytes.count))
        let codec = MessageCodec()
        let scratch = ByteScratch()
        var typedErrors = 0
        for _ in 0..<2000 {
            var mutated = body.bytes
            for _ in 0..<(1 + Int(generator.next() % 4)) {
                let bit = Int(generator.next() % UInt64(mutated.count * 8))
                mutated[bit / 8] ^= 1 << (bit % 8)
            }
            do {
                try mutated.withBytes { (raw) throws(CodecError) in
                    try Snappy.decompress(raw, into: scratch, limit: Self.limit)
                    _ = try codec.decodeWriteRequest(scratch.bytes)
                }
            } catch {
                typedErrors += 1
            }
        }
        // A flipped bit inside a sample value still decodes; most flips break the framing.
        #expect(typedErrors > 0)
    }

    @Test func everyFieldRoundTripsBitExact() throws {
        let request = WriteRequest(
            timeseries: [
                TimeSeries(
                    labels: [Label(name: "__name__", value: "up"), Label(name: "job", value: "ünïcode ✓")],
                    samples: [
                        Sample(timestamp: 1, value: StaleMarker.value),
                        Sample(timestamp: 2, value: Double(bitPattern: 0x7ff8_0000_0000_0001)),
                        Sample(timestamp: 3, value: -.infinity),
                        Sample(timestamp: -4, value: 1e-300),
                        Sample(timestamp: .max, value: .greatestFiniteMagnitude),
                    ],
                    exemplars: [Exemplar(labels: [Label(name: "trace_id", value: "abc")], value: 0.5, timestamp: 7)]
                ),
                TimeSeries(
                    labels: [Label(name: "__name__", value: "rpc_duration_seconds")],
                    histograms: [
                        Histogram(
                            count: .int(10), sum: 12.5, schema: 3, zeroThreshold: 1e-128, zeroCount: .int(1),
                            negativeSpans: [BucketSpan(offset: -2, length: 1)], negativeDeltas: [1],
                            positiveSpans: [BucketSpan(offset: 0, length: 2), BucketSpan(offset: 3, length: 1)],
                            positiveDeltas: [2, -1, 5], resetHint: 2, timestamp: 1000
                        ),
                        Histogram(
                            count: .float(3.5), sum: StaleMarker.value, schema: -4, zeroCount: .float(0.25),
                            positiveSpans: [BucketSpan(offset: 1, length: 1)], positiveCounts: [3.25],
                            resetHint: 3, timestamp: 2000
                        ),
                    ]
                ),
            ],
            metadata: [MetricMetadata(type: .counter, metricFamilyName: "http_requests_total", help: "Requests.", unit: "")]
        )
        let codec = MessageCodec()
        let encoded = codec.encoded { $0.encode(request, appendingTo: $1) }
        let decoded = try codec.decodeWriteRequest(encoded)
        #expect(decoded == request)
        #expect(decoded.timeseries[0].samples[0].value.bitPattern == StaleMarker.bitPattern)
        #expect(decoded.timeseries[0].samples[1].value.bitPattern == 0x7ff8_0000_0000_0001)
        #expect(decoded.timeseries[1].histograms[1].sum.bitPattern == StaleMarker.bitPattern)
    }

    @Test func negativeZeroIsAProto3DefaultAsInPrometheus() throws {
        // gogoproto (`m.Value != 0`) and libprotobuf-c both treat -0.0 as the default and omit it,
        // so Prometheus itself turns a -0.0 sample into 0.0 on the wire. Sluice does the same.
        let request = WriteRequest(timeseries: [TimeSeries(labels: [Label(name: "__name__", value: "x")], samples: [Sample(timestamp: 1, value: -0.0)])])
        let codec = MessageCodec()
        let decoded = try codec.decodeWriteRequest(codec.encoded { $0.encode(request, appendingTo: $1) })
        #expect(decoded.timeseries[0].samples[0].value.bitPattern == 0)
    }

    @Test func hostileExpansionIsBounded() {
        // One series holding 100k empty samples: 2 bytes each on the wire, ~50 in memory.
        var inner: [UInt8] = []
        for _ in 0..<100_000 { inner += [0x12, 0x00] }
        var body: [UInt8] = [0x0a]
        var n = inner.count
        while n >= 0x80 { body.append(UInt8(n & 0x7f) | 0x80); n >>= 7 }
        body.append(UInt8(n))
        body += inner
        let small = MessageCodec(memoryLimit: 1 << 20)
        #expect(throws: CodecError.self) { try small.decodeWriteRequest(body) }
        let roomy = MessageCodec()
        #expect((try? roomy.decodeWriteRequest(body))?.sampleCount == 100_000)
    }
}

