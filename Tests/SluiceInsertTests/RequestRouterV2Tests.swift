import NIOCore
import SluiceCodec
import SluiceHTTP
import SluiceRing
import SluiceTestSupport
import Testing
@testable import SluiceInsert

/// Routing remote-write 2.0: passthrough to 2.0 nodes, translation for 1.0 nodes, the tenant label,
/// and placement identical to 1.0's.
@Suite struct RequestRouterV2Tests {
    static let request: WriteRequest = {
        var series: [TimeSeries] = []
        for i in 0..<60 {
            // Labels deliberately unsorted for a third of the series: 2.0 allows it.
            var labels = [Label(name: "__name__", value: "m\(i % 7)"), Label(name: "instance", value: "host-\(i)"), Label(name: "job", value: "node")]
            if i % 3 == 0 { labels.reverse() }
            if i % 10 == 0 {
                series.append(TimeSeries(labels: labels, histograms: [
                    Histogram(count: .int(3), sum: 1, schema: 1, zeroThreshold: 0.001, zeroCount: .int(1),
                              positiveSpans: [BucketSpan(offset: 1, length: 1)], positiveDeltas: [2], timestamp: 1_000 + Int64(i)),
                ]))
            } else {
                series.append(TimeSeries(
                    labels: labels, samples: [Sample(timestamp: 1_000 + Int64(i), value: Double(i))],
                    exemplars: i % 4 == 0 ? [Exemplar(labels: [Label(name: "trace_id", value: "t\(i)")], value: 1, timestamp: 1_000)] : []
                ))
            }
        }
        return WriteRequest(timeseries: series, metadata: [MetricMetadata(type: .gauge, metricFamilyName: "m1", help: "M one.")])
    }()

    static func sorted(_ labels: [Label]) -> [Label] { labels.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) } }

    func route(v2Nodes: Set<Int>, tenantLabel: String?, rf: Int = 2) throws -> (RoutedRequest, HashRing) {
        let ring = try HashRing(nodes: (0..<3).map { RingNode(name: "store-\($0)") }, replicationFactor: rf)
        let router = RequestRouter()
        let compressed = Snappy.compress(RemoteWriteV2Encoder.encode(Self.request))
        try compressed.withUnsafeBytes { raw in try Snappy.decompress(raw, into: router.decompressed, limit: 64 << 20) }
        return (try router.routeV2(tenant: "team-a", tenantLabel: tenantLabel, ring: ring, v2Nodes: v2Nodes), ring)
    }

    static func decode(_ part: NodeBody, v2: Bool) throws -> WriteRequest {
        let raw = try Snappy.decompress(Array(part.snappyCompressed.readableBytesView), limit: 64 << 20)
        return v2 ? try MessageCodec().decodeWriteRequestV2(raw) : try MessageCodec().decodeWriteRequest(raw)
    }

    @Test(arguments: [Set<Int>(), [0, 1, 2], [1]])
    func everySeriesReachesRFNodesWithAllItsData(v2Nodes: Set<Int>) throws {
        let (routed, _) = try route(v2Nodes: v2Nodes, tenantLabel: nil)
        #expect(routed.v2Nodes == v2Nodes.intersection(routed.parts.map(\.node)))
        #expect(routed.summary.series == 60 && routed.summary.histograms == 6 && routed.summary.samples == 54 && routed.summary.exemplars == 12)
        var copies: [TimeSeries: Int] = [:]
        var metadata: [MetricMetadata] = []
        for part in routed.parts {
            let decoded = try Self.decode(part.body, v2: routed.v2Nodes.contains(part.node))
            for series in decoded.timeseries { copies[series, default: 0] += 1 }
            metadata += decoded.metadata
        }
        let expected = Self.request.timeseries.map { series in
            var sorted = series
            sorted.labels = Self.sorted(series.labels)
            return sorted
        }
        #expect(Set(copies.keys) == Set(expected))
        #expect(copies.values.allSatisfy { $0 == 2 })
        // m1's metadata travels with each of its series' copies.
        #expect(!metadata.isEmpty && metadata.allSatisfy { $0 == Self.request.metadata[0] })
    }

    @Test func theTenantLabelIsAddedInItsSortedPlaceAndPlacementMatches1_0() throws {
        let (routed, ring) = try route(v2Nodes: [0, 2], tenantLabel: "tenant")
        for part in routed.parts {
            for series in try Self.decode(part.body, v2: routed.v2Nodes.contains(part.node)).timeseries {
                #expect(series.labels == Self.sorted(series.labels))
                #expect(series.labels.contains(Label(name: "tenant", value: "team-a")))
                // Placement ignores the added label, exactly as the 1.0 path does.
                var hasher = SeriesKeyHasher()
                Array("team-a".utf8).withUnsafeBytes { hasher.start(tenant: $0) }
                for label in series.labels where label.name != "tenant" {
                    Array(label.name.utf8).withUnsafeBytes { name in
                        Array(label.value.utf8).withUnsafeBytes { value in hasher.add(name: name, value: value) }
                    }
                }
                var replicas: [Int] = []
                ring.replicas(for: hasher.finish(), into: &replicas)
                #expect(replicas.contains(part.node))
            }
        }
    }
}
