import Foundation
import SluiceCodec
import SluiceQuery
import SluiceTestSupport
import Testing

@Suite("Select: exemplars and metadata joined across storage nodes, per tenant")
struct SelectExemplarMetadataTests {
    static let start: Int64 = 1_700_000_000_000

    static func exemplar(_ seconds: Int64, _ trace: String) -> Exemplar {
        Exemplar(labels: [Label(name: "trace_id", value: trace)], value: 0.5, timestamp: start + seconds * 1000)
    }

    static func series(_ name: String, tenant: String, exemplars: [Exemplar]) -> TimeSeries {
        TimeSeries(
            labels: [Label(name: "__name__", value: name), Label(name: "job", value: "api"), Label(name: "tenant_id", value: tenant)],
            samples: [Sample(timestamp: start, value: 1)],
            exemplars: exemplars
        )
    }

    @Test func replicasJoinAndTenantsSeeOnlyTheirOwn() async throws {
        let directory = try TemporaryDirectory("sluice-select-exemplars")
        defer { directory.remove() }
        let latency = MetricMetadata(type: .histogram, metricFamilyName: "rpc_seconds", help: "RPC latency.", unit: "seconds")
        let latencyOther = MetricMetadata(type: .histogram, metricFamilyName: "rpc_seconds", help: "Latency of RPCs.", unit: "seconds")
        let queue = MetricMetadata(type: .gauge, metricFamilyName: "queue_depth", help: "Queue depth.")
        try await withStorageNodes(2, in: directory) { nodes in
            // Two replicas of tenant a's series, each with an exemplar the other lacks; tenant b's own
            // family on one node.
            let first = try await nodes[0].write(WriteRequest(
                timeseries: [Self.series("rpc_seconds_bucket", tenant: "a", exemplars: [Self.exemplar(1, "x"), Self.exemplar(2, "y")])],
                metadata: [latency, queue]
            ))
            let second = try await nodes[1].write(WriteRequest(
                timeseries: [
                    Self.series("rpc_seconds_bucket", tenant: "a", exemplars: [Self.exemplar(2, "y"), Self.exemplar(3, "z")]),
                    Self.series("queue_depth", tenant: "b", exemplars: [Self.exemplar(4, "q")]),
                ],
                metadata: [latencyOther, queue]
            ))
            #expect(first.status == 204 && second.status == 204, "\(first.body) \(second.body)")
            let ring = try currentRing(nodes.map(\.ringNode), replicationFactor: 2)
            try await withSelect(ring: ring) { select in
                let joined = try await select.api("/api/v1/query_exemplars", [("query", "rpc_seconds_bucket")], tenant: "a")
                #expect(joined.status == 200)
                #expect(joined.body == """
                    {"status":"success","data":[{"seriesLabels":{"__name__":"rpc_seconds_bucket","job":"api"},"exemplars":[\
                    {"labels":{"trace_id":"x"},"value":"0.5","timestamp":1700000001},\
                    {"labels":{"trace_id":"y"},"value":"0.5","timestamp":1700000002},\
                    {"labels":{"trace_id":"z"},"value":"0.5","timestamp":1700000003}]}]}
                    """)
                // Another tenant's series stay out of reach, even by naming the tenant label.
                let other = try await select.api("/api/v1/query_exemplars", [("query", #"{__name__=~".+",tenant_id="b"}"#)], tenant: "a")
                #expect(other.body == #"{"status":"success","data":[]}"#)
                let own = try await select.api("/api/v1/query_exemplars", [("query", "queue_depth")], tenant: "b")
                #expect(own.body.contains(#""trace_id":"q""#), "\(own.body)")
                let bad = try await select.api("/api/v1/query_exemplars", [("query", "sum(x)")], tenant: "a")
                #expect(bad.status == 400)

                let metadataA = try await select.api("/api/v1/metadata", tenant: "a")
                #expect(metadataA.status == 200)
                #expect(metadataA.body == """
                    {"status":"success","data":{"rpc_seconds":[\
                    {"type":"histogram","help":"RPC latency.","unit":"seconds"},\
                    {"type":"histogram","help":"Latency of RPCs.","unit":"seconds"}]}}
                    """ || metadataA.body == """
                    {"status":"success","data":{"rpc_seconds":[\
                    {"type":"histogram","help":"Latency of RPCs.","unit":"seconds"},\
                    {"type":"histogram","help":"RPC latency.","unit":"seconds"}]}}
                    """, "\(metadataA.body)")
                let metadataB = try await select.api("/api/v1/metadata", tenant: "b")
                #expect(metadataB.body == #"{"status":"success","data":{"queue_depth":[{"type":"gauge","help":"Queue depth.","unit":""}]}}"#)
                let perMetric = try await select.api("/api/v1/metadata", [("metric", "rpc_seconds"), ("limit_per_metric", "1")], tenant: "a")
                #expect(perMetric.body.components(separatedBy: #""type""#).count == 2, "\(perMetric.body)")
            }
        }
    }
}
