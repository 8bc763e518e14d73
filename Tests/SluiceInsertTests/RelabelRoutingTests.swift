import NIOCore
import SluiceCodec
import SluiceHTTP
import SluiceQuery
import SluiceRelabel
import SluiceRing
import SluiceTestSupport
import Testing
@testable import SluiceInsert

/// Relabeling in the routers: dropped series go nowhere, kept ones carry their new labels (plus the
/// tenant label) and are placed by those labels, for remote write 1.0 and 2.0 alike.
@Suite struct RelabelRoutingTests {
    static let rules: RelabelRules = {
        let yaml = """
            - {source_labels: [__name__], regex: 'go_.*', action: drop}
            - {regex: 'pod_uid', action: labeldrop}
            - {source_labels: [instance], regex: '([^:]+):\\d+', target_label: host}
            - {target_label: env, replacement: prod}
            - {target_label: tenant_id, replacement: someone-else}
            """
        return try! RelabelRules.parse(yaml: yaml)
    }()

    static func series(_ i: Int) -> TimeSeries {
        let name = i % 3 == 0 ? "go_gc_duration_seconds" : "http_requests_total"
        return TimeSeries(
            labels: [
                Label(name: "__name__", value: name), Label(name: "instance", value: "host-\(i):9100"),
                Label(name: "job", value: "node"), Label(name: "pod_uid", value: "uid-\(i)"),
            ],
            samples: [Sample(timestamp: 1_000 + Int64(i), value: Double(i))],
            exemplars: i % 4 == 1 ? [Exemplar(labels: [Label(name: "trace_id", value: "t\(i)")], value: 1, timestamp: 1_000)] : []
        )
    }

    static let request = WriteRequest(timeseries: (0..<30).map(series), metadata: [])

    /// What the rules should make of series `i`, with the tenant label the router adds.
    static func expectedLabels(_ i: Int) -> [Label]? {
        guard i % 3 != 0 else { return nil }
        return [
            Label(name: "__name__", value: "http_requests_total"), Label(name: "env", value: "prod"),
            Label(name: "host", value: "host-\(i)"), Label(name: "instance", value: "host-\(i):9100"),
            Label(name: "job", value: "node"), Label(name: "tenant_id", value: "team-a"),
        ]
    }

    static let ring = try! HashRing(nodes: (0..<3).map { RingNode(name: "store-\($0)") }, replicationFactor: 2)

    static func decode(_ part: NodeBody, v2: Bool) throws -> WriteRequest {
        let raw = try Snappy.decompress(Array(part.snappyCompressed.readableBytesView), limit: 64 << 20)
        return v2 ? try MessageCodec().decodeWriteRequestV2(raw) : try MessageCodec().decodeWriteRequest(raw)
    }

    /// Routes `request`, as 1.0 or as 2.0 with `v2Nodes` getting 2.0 bodies; every copy of every
    /// series with the nodes it went to.
    static func route(
        _ request: WriteRequest, v2: Bool, v2Nodes: Set<Int> = [], relabel: RelabelRules?
    ) throws -> [TimeSeries: Set<Int>] {
        let router = RequestRouter()
        let body = v2 ? RemoteWriteV2Encoder.encode(request) : MessageCodec().encoded { $0.encode(request, appendingTo: $1) }
        try Snappy.compress(body).withUnsafeBytes { raw in try Snappy.decompress(raw, into: router.decompressed, limit: 64 << 20) }
        let routed =
            v2
            ? try router.routeV2(tenant: "team-a", tenantLabel: "tenant_id", ring: ring, v2Nodes: v2Nodes, relabel: relabel)
            : try router.route(tenant: "team-a", tenantLabel: "tenant_id", ring: ring, relabel: relabel)
        var nodes: [TimeSeries: Set<Int>] = [:]
        for part in routed.parts {
            for series in try decode(part.body, v2: routed.v2Nodes.contains(part.node)).timeseries {
                #expect(nodes[series, default: []].insert(part.node).inserted)
            }
        }
        return nodes
    }

    @Test(arguments: [(false, Set<Int>()), (true, Set<Int>()), (true, Set([0, 1, 2])), (true, Set([1]))])
    func relabeledSeriesAreForwardedAndDroppedOnesAreNot(v2: Bool, v2Nodes: Set<Int>) throws {
        let routed = try Self.route(Self.request, v2: v2, v2Nodes: v2Nodes, relabel: Self.rules)
        let expected = (0..<30).compactMap { i -> TimeSeries? in
            guard let labels = Self.expectedLabels(i) else { return nil }
            var series = Self.series(i)
            series.labels = labels
            return series
        }
        #expect(Set(routed.keys) == Set(expected))
        #expect(routed.values.allSatisfy { $0.count == 2 })
    }

    @Test(arguments: [false, true])
    func placementUsesTheRelabeledLabels(v2: Bool) throws {
        // The same series written already relabeled, without rules, must land on the same nodes.
        let relabeled = try Self.route(Self.request, v2: v2, relabel: Self.rules)
        let prepared = WriteRequest(
            timeseries: (0..<30).compactMap { i in
                Self.expectedLabels(i).map { labels in
                    var series = Self.series(i)
                    series.labels = labels.filter { $0.name != "tenant_id" }
                    return series
                }
            }, metadata: [])
        let plain = try Self.route(prepared, v2: v2, relabel: nil)
        #expect(relabeled == plain)
    }

    @Test func noRulesKeepsTheOriginalBytes() throws {
        let withEmpty = try Self.route(Self.request, v2: false, relabel: RelabelRules([]))
        let without = try Self.route(Self.request, v2: false, relabel: nil)
        #expect(withEmpty == without)
        #expect(withEmpty.count == 30)
    }
}
