import Foundation
import SluiceCodec
import SluiceQuery
import SluiceTestSupport
import Testing
@testable import SluiceStorage

/// Prometheus 2.42 as the reference: the same writes into it and into a Sluice node must read back
/// the same, through remote read and through PromQL.
@Suite("Storage node against Prometheus 2.42", .serialized, .enabled(if: PeerProcess.Kind.prometheus.isInstalled, "needs /usr/bin/prometheus"))
struct StoragePrometheusTests {
    /// Fixtures and a 2.5-hour synthetic set ending before them, so that both stores cut blocks.
    static func data() throws -> (requests: [WriteRequest], series: [TimeSeries]) {
        let fixtures = BuiltProducts.fixtureBodies("remote-write").map { body in
            try! MessageCodec().decodeWriteRequest(try! Snappy.decompress(body, limit: 64 << 20))
        }
        guard fixtures.count == 6 else { throw EndToEndError("expected 6 remote-write fixtures in \(BuiltProducts.fixtures)") }
        let first = fixtures.flatMap { $0.timeseries.flatMap { $0.samples.map(\.timestamp) } }.min()!
        let synthetic = syntheticSeries(60, samples: 600, start: first - 3 * 3_600_000, step: 15_000)
        let requests = batches(synthetic, perRequest: 40) + fixtures
        return (requests, synthetic + fixtures.flatMap(\.timeseries))
    }

    static let selectors: [[LabelMatcher]] = [
        [LabelMatcher(.regex, name: "__name__", value: ".+")],
        [LabelMatcher(.equal, name: "__name__", value: "up")],
        [LabelMatcher(.equal, name: "job", value: "node")],
        [LabelMatcher(.regex, name: "__name__", value: "node_cpu.*"), LabelMatcher(.notEqual, name: "cpu", value: "0")],
        [LabelMatcher(.regex, name: "__name__", value: "prometheus_http_.*"), LabelMatcher(.notRegex, name: "handler", value: "/api/.*")],
        [LabelMatcher(.equal, name: "__name__", value: "node_memory_bytes"), LabelMatcher(.regex, name: "job", value: "node|node-b"), LabelMatcher(.notEqual, name: "instance", value: "")],
        [LabelMatcher(.regex, name: "__name__", value: "go_.*"), LabelMatcher(.regex, name: "nonexistent", value: "")],
        [LabelMatcher(.regex, name: "__name__", value: ".+"), LabelMatcher(.regex, name: "cpu", value: "")],
        [LabelMatcher(.regex, name: "instance", value: "host-1.*|host-3.*"), LabelMatcher(.notRegex, name: "series", value: "1.|2.")],
        [LabelMatcher(.equal, name: "__name__", value: "no_such_metric")],
    ]

    @Test func remoteReadMatchesPrometheus() async throws {
        let directory = try TemporaryDirectory("sluice-vs-prometheus")
        defer { directory.remove() }
        let (requests, series) = try Self.data()
        let prometheus = try makePeers(.prometheus, names: ["prometheus"], in: directory)[0]
        defer { prometheus.kill() }
        try await prometheus.start()
        // Keep everything: the fixtures are from 2026-11-21, and retention counts by the wall clock
        // (Prometheus' counts from the newest block, so it keeps them).
        try await withStorage(dataDirectory: try directory.subdirectory("sluice"), configure: { $0.retention = .zero }) { node in
            for request in requests {
                let body = Snappy.compress(MessageCodec().encoded { codec, out in codec.encode(request, appendingTo: out) })
                let intoPrometheus = try await TestHTTP.send(.POST, prometheus.writeURL, headers: TestHTTP.remoteWriteHeaders, body: .bytes(body))
                let intoSluice = try await node.write(body: body)
                #expect(intoPrometheus.status == 204, "\(intoPrometheus.body)")
                #expect(intoSluice.status == 204, "\(intoSluice.body)")
            }
            // Sluice cuts a block of the older data once the head spans 3 h.
            try await node.storage.compact()
            #expect(!node.storage.blockList.isEmpty)

            let all = series.flatMap { $0.samples.map(\.timestamp) }
            let ranges: [ClosedRange<Int64>] = [all.min()!...all.max()!, (all.min()! + 3_600_000)...(all.min()! + 5_400_000), all.max()!...all.max()!]
            for matchers in Self.selectors {
                for range in ranges {
                    let query = Query(startMs: range.lowerBound, endMs: range.upperBound, matchers: matchers)
                    for accept in [[], [ReadRequest.ResponseType.streamedXORChunks]] {
                        let reference = try await RemoteReadClient.read(prometheus.baseURL + "/api/v1/read", [query], accept: accept)
                        let ours = try await RemoteReadClient.read(node.readURL, [query], accept: accept)
                        #expect(reference.status == 200, "\(reference.error)")
                        #expect(ours.status == 200, "\(ours.error)")
                        let context = "\(matchers) \(range) \(accept)"
                        #expect(sameData(ours.results[0], reference.results[0]), "\(context): \(describeDifference(reference.results[0], ours.results[0]))")
                        // Prometheus sends series sorted by label set; so must Sluice.
                        #expect(ours.order[0].map(labelSet).uniqued() == reference.order[0].map(labelSet).uniqued(), "\(context): series order")
                        if accept.isEmpty, matchers == Self.selectors[0], range == ranges[0] {
                            #expect(sameData(ours.results[0], expected(series)), "everything: \(describeDifference(expected(series), ours.results[0]))")
                        }
                    }
                }
            }
        }
    }

    /// Prometheus reading a Sluice node through `remote_read` answers PromQL exactly as Prometheus
    /// answers over the same data stored locally.
    @Test func promQLOverRemoteReadMatchesPrometheusLocal() async throws {
        let directory = try TemporaryDirectory("sluice-promql")
        defer { directory.remove() }
        let (requests, series) = try Self.data()
        let peers = try makePeers(.prometheus, names: ["local", "reader"], in: directory)
        defer { for peer in peers { peer.kill() } }
        let (local, reader) = (peers[0], peers[1])
        try await local.start()
        // Keep everything: the fixtures are from 2026-11-21, and retention counts by the wall clock
        // (Prometheus' counts from the newest block, so it keeps them).
        try await withStorage(dataDirectory: try directory.subdirectory("sluice"), configure: { $0.retention = .zero }) { node in
            reader.prometheusConfiguration = """
                global: {scrape_interval: 15s}
                remote_read:
                  - url: \(node.readURL)
                    read_recent: true

                """
            try await reader.start()
            for request in requests {
                let body = Snappy.compress(MessageCodec().encoded { codec, out in codec.encode(request, appendingTo: out) })
                #expect(try await TestHTTP.send(.POST, local.writeURL, headers: TestHTTP.remoteWriteHeaders, body: .bytes(body)).status == 204)
                #expect(try await node.write(body: body).status == 204)
            }
            try await node.storage.compact()
            let synthetic = series.prefix(60).flatMap { $0.samples.map(\.timestamp) }
            let start = Double(synthetic.min()!) / 1000 + 600
            let end = Double(synthetic.max()!) / 1000
            let queries = [
                "rate(node_cpu_seconds_total[5m])",
                "sum by (job) (node_memory_bytes)",
                "count({__name__=~\"node_.+\", job=~\"node|node-b\"})",
                "max_over_time(node_memory_bytes{series=~\"1.*\"}[10m])",
                "node_memory_bytes{job!=\"node\"} > 50",
            ]
            for promql in queries {
                let a = try await PromQL.queryRange(local, promql, start: start, end: end, step: 60)
                let b = try await PromQL.queryRange(reader, promql, start: start, end: end, step: 60)
                #expect(!a.isEmpty, "\(promql) found nothing locally")
                #expect(Set(a.keys) == Set(b.keys), "\(promql): series differ")
                for (labels, values) in a {
                    #expect(sameSamples(values, b[labels] ?? [:], tolerance: 1e-9), "\(promql) \(labels)")
                }
            }
            // The fixtures' own metrics, at their one instant.
            let fixtureTime = Double(series.last!.samples.last!.timestamp) / 1000
            for promql in ["up", "sum by (job) (up)", "count(go_goroutines)"] {
                let a = try await PromQL.queryRange(local, promql, start: fixtureTime, end: fixtureTime, step: 15)
                let b = try await PromQL.queryRange(reader, promql, start: fixtureTime, end: fixtureTime, step: 15)
                #expect(!a.isEmpty && a.keys.count == b.keys.count, "\(promql)")
                for (labels, values) in a { #expect(sameSamples(values, b[labels] ?? [:], tolerance: 1e-9), "\(promql) \(labels)") }
            }
        }
    }
}

extension Array where Element: Hashable {
    func uniqued() -> [Element] {
        var seen = Set<Element>()
        return filter { seen.insert($0).inserted }
    }
}
