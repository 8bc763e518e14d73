import Testing
@testable import SluiceCodec

/// The hand-written encoders of the read path must produce exactly what libprotobuf-c produces for the
/// same message.
@Suite struct DirectEncoderTests {
    static func randomSeries(_ generator: inout SplitMix64, count: Int) -> [TimeSeries] {
        (0..<count).map { index in
            // No empty name or value: the storage rejects them, and `LabelSetBytes` (the labels as
            // the read path carries them) writes both fields where protoc would leave one out.
            let labels = [Label(name: "__name__", value: "metric_\(index % 7)"), Label(name: "job", value: "jöb-\(index)")]
            let samples = (0..<Int.random(in: 0...130, using: &generator)).map { step -> Sample in
                let values: [Double] = [0, 1.5, -3, .infinity, StaleMarker.value, Double(step), 1e300]
                let timestamps: [Int64] = [0, -1, 1_700_000_000_000 + Int64(step) * 15_000, Int64.max, Int64.min]
                return Sample(timestamp: timestamps.randomElement(using: &generator)!, value: values.randomElement(using: &generator)!)
            }
            return TimeSeries(labels: labels, samples: samples)
        }
    }

    /// `ReadResponseEncoder.append` writes exactly libprotobuf-c's bytes for `results`, and they decode back.
    static func expectMatchesLibprotobufC(_ results: [[TimeSeries]], round: Int, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let reference = MessageCodec().encoded { codec, out in
            codec.encode(ReadResponse(results: results.map { QueryResult(timeseries: $0) }), appendingTo: out)
        }
        let direct = ByteScratch()
        ReadResponseEncoder.append(results, to: direct)
        #expect(direct.toArray() == reference, "round \(round)", sourceLocation: sourceLocation)
        let decoded = try MessageCodec().decodeReadResponse(direct.toArray())
        #expect(decoded.results.map(\.timeseries) == results, sourceLocation: sourceLocation)
    }

    @Test func readResponseMatchesLibprotobufC() throws {
        var generator = SplitMix64(seed: 7)
        for round in 0..<20 {
            let results = (0..<(round % 3 + 1)).map { _ in Self.randomSeries(&generator, count: Int.random(in: 0...40, using: &generator)) }
            try Self.expectMatchesLibprotobufC(results, round: round)
        }
    }

    /// Series with native histograms (through libprotobuf-c, one series at a time) among float-only
    /// ones (written directly): the answer is still byte for byte libprotobuf-c's.
    @Test func readResponseWithHistogramsMatchesLibprotobufC() throws {
        var generator = SplitMix64(seed: 13)
        for round in 0..<10 {
            var results = (0..<(round % 3 + 1)).map { _ in Self.randomSeries(&generator, count: Int.random(in: 1...12, using: &generator)) }
            for index in results.indices {
                for series in results[index].indices where Bool.random(using: &generator) {
                    results[index][series].histograms = (0..<Int.random(in: 1...4, using: &generator)).map { step in
                        Histogram(
                            count: .int(UInt64(step + 3)), sum: 1.5 * Double(step), schema: 1, zeroThreshold: 0.001, zeroCount: .int(1),
                            negativeSpans: [], negativeDeltas: [], positiveSpans: [BucketSpan(offset: 0, length: 2)],
                            positiveDeltas: [1, 1], resetHint: 0, timestamp: 1_700_000_000_000 + Int64(step) * 15_000, customValues: [])
                    }
                }
            }
            try Self.expectMatchesLibprotobufC(results, round: round)
        }
    }

    @Test func chunkedFrameMatchesLibprotobufC() throws {
        var generator = SplitMix64(seed: 11)
        for round in 0..<50 {
            let labels = [Label(name: "__name__", value: "up"), Label(name: "instance", value: "host-\(round):9100"), Label(name: "x", value: "\(round)")]
            let chunks = (0..<Int.random(in: 0...5, using: &generator)).map { index in
                var encoder = XORChunkEncoder()
                for step in 0..<Int.random(in: 1...120, using: &generator) {
                    encoder.append(timestamp: Int64(index * 1_000_000 + step * 15_000) - 500_000, value: Double(step) * 0.5)
                }
                return Chunk(minTimeMs: encoder.minTime, maxTimeMs: encoder.maxTime, encoding: .xor, data: encoder.bytes)
            }
            let queryIndex = Int64(round % 4)
            let message = MessageCodec().encoded { codec, out in
                codec.encode(ChunkedReadResponse(chunkedSeries: [ChunkedSeries(labels: labels, chunks: chunks)], queryIndex: queryIndex), appendingTo: out)
            }
            let reference = ByteScratch()
            message.withUnsafeBytes { ChunkedFrame.append(message: $0, to: reference) }
            let direct = ByteScratch()
            LabelSetBytes.bytes(labels).withUnsafeBytes {
                ChunkedFrame.appendSeries(labelBytes: $0, chunks: chunks[...], queryIndex: queryIndex, to: direct)
            }
            #expect(direct.toArray() == reference.toArray(), "round \(round)")
        }
    }
}

extension MessageCodec {
    func decodeReadResponse(_ bytes: [UInt8]) throws -> ReadResponse {
        try bytes.withUnsafeBytes { try decodeReadResponse($0) }
    }
}

extension ReadResponseEncoder {
    /// A whole `ReadResponse`, one `QueryResult` per element of `results`, as the read handlers
    /// write it series by series.
    static func append(_ results: [[TimeSeries]], to output: ByteScratch) {
        for result in results {
            let start = beginResult(in: output)
            for series in result {
                LabelSetBytes.bytes(series.labels).withUnsafeBytes {
                    appendSeries(labelBytes: $0, samples: series.samples, histograms: series.histograms, to: output)
                }
            }
            endResult(start, in: output)
        }
    }
}
