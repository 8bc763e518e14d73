import Foundation
import SluiceCodec
import SluiceTestSupport
import Testing

/// Sluice's native-histogram chunk codec against the real thing: Prometheus 2.42 stores histograms
/// written to it and serves its own head chunks through streamed remote read. Sluice's decoder must
/// read them back exactly, and Sluice's encoder must produce the same bytes for the same input.
@Suite("Histogram chunks against Prometheus 2.42", .serialized, .enabled(if: PeerProcess.Kind.prometheus.isInstalled, "needs prometheus"))
struct HistogramChunkPrometheusTests {
    /// Integer histograms of one counter series: same layout throughout, counts only growing.
    static func histograms(start: Int64) -> [Histogram] {
        (0..<40).map { i in
            let n = Int64(i)
            // Buckets at indexes -1, 0 (span 1) and 3, 4 (span 2, after a gap of 2); deltas between them.
            let counts: [Int64] = [1 + n, 2 + 2 * n, 3 * n, 1 + n]
            var deltas: [Int64] = []
            var previous: Int64 = 0
            for c in counts {
                deltas.append(c - previous)
                previous = c
            }
            let zero = UInt64(n / 3) + 1
            return Histogram(
                count: .int(UInt64(counts.reduce(0, +)) + zero), sum: Double(n) * 1.25 + 0.5, schema: 1, zeroThreshold: 1e-128,
                zeroCount: .int(zero), positiveSpans: [BucketSpan(offset: -1, length: 2), BucketSpan(offset: 2, length: 2)],
                positiveDeltas: deltas, timestamp: start + n * 15_000
            )
        }
    }

    static func normalized(_ h: Histogram) -> Histogram {
        var h = h
        h.resetHint = 0
        return h
    }

    @Test func prometheusChunksDecodeExactlyAndSluiceEncodesTheSameBytes() async throws {
        let directory = try TemporaryDirectory("sluice-histogram-prometheus")
        defer { directory.remove() }
        let port = try freePorts(1)[0]
        let prometheus = PeerProcess(.prometheus, name: "prometheus", port: port, directory: directory.path)
        prometheus.extraArguments = ["--enable-feature=native-histograms"]
        defer { prometheus.kill() }
        try await prometheus.start(timeout: .seconds(120))

        var start = (Int64(Date().timeIntervalSince1970 * 1000) / 60_000 - 20) * 60_000
        // Prometheus cuts head chunks at its 2 h block boundaries: keep the 10 minutes of histograms
        // on one side of one, or a run at the wrong minute reads two chunks.
        let boundary = (start + 40 * 15_000) / 7_200_000 * 7_200_000
        if boundary > start { start = boundary - 40 * 15_000 - 60_000 }
        let sent = Self.histograms(start: start)
        let request = WriteRequest(timeseries: [
            TimeSeries(labels: [Label(name: "__name__", value: "sluice_test_histogram"), Label(name: "job", value: "golden")], histograms: sent),
        ])
        let body = Snappy.compress(MessageCodec().encoded { $0.encode(request, appendingTo: $1) })
        let write = try await TestHTTP.send(.POST, prometheus.writeURL, headers: TestHTTP.remoteWriteHeaders, body: .bytes(body))
        #expect(write.status == 204, "\(write.body)")

        let query = Query(
            startMs: start - 1, endMs: start + 3_600_000,
            matchers: [LabelMatcher(.equal, name: "__name__", value: "sluice_test_histogram")]
        )
        let answer = try await RemoteReadClient.read(prometheus.baseURL + "/api/v1/read", [query], accept: [.streamedXORChunks])
        #expect(answer.status == 200, "\(answer.error)")
        let chunks = answer.chunks
        #expect(chunks.count == 1 && chunks.allSatisfy { $0.encoding == .histogram }, "\(chunks.map(\.encoding))")
        let chunk = try #require(chunks.first)

        // Prometheus' bytes, decoded by Sluice.
        let decoded = try HistogramChunkDecoder.decode(chunk.data, encoding: .histogram)
        #expect(decoded.count == 40 && chunk.minTimeMs == start && chunk.maxTimeMs == start + 39 * 15_000)
        #expect(decoded.map(Self.normalized) == sent.map(Self.normalized))

        // The same histograms, encoded by Sluice: byte for byte what Prometheus wrote.
        var encoder = HistogramChunkEncoder(float: false)
        for h in sent { #expect(encoder.append(h) == .appended) }
        #expect(encoder.bytes == chunk.data, "sluice \(encoder.bytes.prefix(24)) vs prometheus \(chunk.data.prefix(24))")
    }
}
