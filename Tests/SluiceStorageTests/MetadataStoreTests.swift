import Foundation
import SluiceCodec
import SluiceQuery
import SluiceTestSupport
import Testing
@testable import SluiceStorage

@Suite("Metadata store, and both endpoints on a storage node")
struct MetadataStoreTests {
    static let start: Int64 = 1_700_000_000_000

    static func counter(_ name: String, _ help: String = "Requests.") -> MetricMetadata {
        MetricMetadata(type: .counter, metricFamilyName: name, help: help)
    }

    @Test func aFamilyKeepsItsLastDistinctEntriesMostRecentFirst() {
        let store = MetadataStore(entriesPerFamily: 2, maxFamilies: 10)
        #expect(store.append([Self.counter("rpc", "one"), Self.counter("rpc", "one")], wal: nil).stored == 1)
        // A repeat stores nothing new and logs nothing.
        #expect(store.append([Self.counter("rpc", "one")], wal: nil).stored == 0)
        #expect(store.append([Self.counter("rpc", "two")], wal: nil).stored == 1)
        #expect(store.families().map(\.entries) == [[Self.counter("rpc", "two"), Self.counter("rpc", "one")]])
        // Received again, "one" is the most recent; a third distinct entry pushes out the oldest.
        #expect(store.append([Self.counter("rpc", "one")], wal: nil).stored == 0)
        #expect(store.append([Self.counter("rpc", "three")], wal: nil).stored == 1)
        #expect(store.families(metric: "rpc").map(\.entries) == [[Self.counter("rpc", "three"), Self.counter("rpc", "one")]])
        #expect(store.families(metric: "other").isEmpty)
        // No family name: nothing to file it under.
        #expect(store.append([Self.counter("")], wal: nil).stored == 0)
    }

    @Test func theFamilyReceivedLeastRecentlyGoesFirst() {
        let store = MetadataStore(entriesPerFamily: 2, maxFamilies: 3)
        _ = store.append([Self.counter("a"), Self.counter("b"), Self.counter("c")], wal: nil)
        // "a" is seen again, so "b" is the one received least recently.
        _ = store.append([Self.counter("a")], wal: nil)
        _ = store.append([Self.counter("d")], wal: nil)
        #expect(store.families().map(\.name) == ["a", "c", "d"])
        // Many repeats do not let the recency list grow without bound.
        for _ in 0..<5_000 { _ = store.append([Self.counter("c")], wal: nil) }
        _ = store.append([Self.counter("e")], wal: nil)
        #expect(store.families().map(\.name) == ["c", "d", "e"])
    }

    @Test func walReplayRebuildsTheStore() {
        let store = MetadataStore(entriesPerFamily: 2, maxFamilies: 10)
        _ = store.append([Self.counter("a", "1"), Self.counter("b"), Self.counter("a", "2")], wal: nil)
        let replayed = MetadataStore(entriesPerFamily: 2, maxFamilies: 10)
        for record in store.checkpointRecords() {
            guard case .metadata(let list) = record else { Issue.record("not a metadata record"); continue }
            replayed.replay(list)
        }
        #expect(replayed.families().map(\.name) == store.families().map(\.name))
        #expect(replayed.families().map(\.entries) == store.families().map(\.entries))
    }

    @Test func valuesAndTimestampsAreWrittenAsPrometheusWritesThem() {
        let cases: [(Double, String)] = [
            (0, "0"), (-0.0, "-0"), (1, "1"), (-2.5, "-2.5"), (0.1, "0.1"), (100, "100"), (1e15, "1000000000000000"),
            (1e16, "10000000000000000"), (123456789.125, "123456789.125"), (1e-5, "0.00001"), (1e-6, "0.000001"),
            (1e-7, "1e-07"), (1.5e-10, "1.5e-10"), (1e21, "1e+21"), (2.5e300, "2.5e+300"), (.leastNonzeroMagnitude, "5e-324"),
            (.infinity, "+Inf"), (-.infinity, "-Inf"), (.nan, "NaN"),
        ]
        for (value, text) in cases { #expect(PromAPIJSON.formatValue(value) == text, "\(value)") }
        #expect(PromAPIJSON.formatTimestamp(1_600_000_000_123) == "1600000000.123")
        #expect(PromAPIJSON.formatTimestamp(1_600_000_000_050) == "1600000000.050")
        #expect(PromAPIJSON.formatTimestamp(1_600_000_000_000) == "1600000000")
        #expect(PromAPIJSON.formatTimestamp(-1_500) == "-1.500")
    }

    @Test func bothEndpointsAnswerInPrometheusJSON() async throws {
        let directory = try TemporaryDirectory("sluice-metadata")
        defer { directory.remove() }
        let labels = [Label(name: "__name__", value: "rpc_seconds_bucket"), Label(name: "job", value: "api"), Label(name: "le", value: "+Inf")]
        let exemplars = [
            Exemplar(labels: [Label(name: "trace_id", value: "abc")], value: 1.5, timestamp: Self.start + 123),
            Exemplar(labels: [Label(name: "trace_id", value: "<d>")], value: 2, timestamp: Self.start + 2000),
        ]
        let request = WriteRequest(
            timeseries: [TimeSeries(labels: labels, samples: [Sample(timestamp: Self.start, value: 3)], exemplars: exemplars)],
            metadata: [
                MetricMetadata(type: .histogram, metricFamilyName: "rpc_seconds", help: "RPC \"latency\".", unit: "seconds"),
                MetricMetadata(type: .gaugeHistogram, metricFamilyName: "queue", help: "Queue."),
                MetricMetadata(type: .init(rawValue: 42), metricFamilyName: "future", help: ""),
            ]
        )
        let body = """
            {"status":"success","data":[{"seriesLabels":{"__name__":"rpc_seconds_bucket","job":"api","le":"+Inf"},\
            "exemplars":[{"labels":{"trace_id":"abc"},"value":"1.5","timestamp":1700000000.123},\
            {"labels":{"trace_id":"\\u003cd\\u003e"},"value":"2","timestamp":1700000002}]}]}
            """
        func check(_ node: RunningStorage) async throws {
            let all = try await TestHTTP.get(node.url + "/api/v1/metadata")
            #expect(all.status == 200)
            #expect(all.body == """
                {"status":"success","data":{"future":[{"type":"unknown","help":"","unit":""}],\
                "queue":[{"type":"gaugehistogram","help":"Queue.","unit":""}],\
                "rpc_seconds":[{"type":"histogram","help":"RPC \\"latency\\".","unit":"seconds"}]}}
                """)
            let one = try await TestHTTP.get(node.url + "/api/v1/metadata", [("metric", "queue")])
            #expect(one.body == #"{"status":"success","data":{"queue":[{"type":"gaugehistogram","help":"Queue.","unit":""}]}}"#)
            let limited = try await TestHTTP.get(node.url + "/api/v1/metadata", [("limit", "1")])
            #expect(limited.body == #"{"status":"success","data":{"future":[{"type":"unknown","help":"","unit":""}]}}"#)
            let bad = try await TestHTTP.get(node.url + "/api/v1/metadata", [("limit", "x")])
            #expect(bad.status == 400)
            #expect(bad.body == #"{"status":"error","errorType":"bad_data","error":"limit must be a number"}"#)

            let found = try await TestHTTP.get(node.url + "/api/v1/query_exemplars", [("query", #"rpc_seconds_bucket{job="api"}"#)])
            #expect(found.status == 200)
            #expect(found.body == body)
            let post = try await TestHTTP.send(
                .POST, node.url + "/api/v1/query_exemplars", headers: [("Content-Type", "application/x-www-form-urlencoded")],
                body: .bytes(Array("query=rpc_seconds_bucket&start=1700000001&end=1700000003".utf8))
            )
            #expect(post.status == 200)
            #expect(post.body.contains("1700000002") && !post.body.contains("abc"), "\(post.body)")
            let none = try await TestHTTP.get(node.url + "/api/v1/query_exemplars", [("query", "other")])
            #expect(none.body == #"{"status":"success","data":[]}"#)
            let unparsable = try await TestHTTP.get(node.url + "/api/v1/query_exemplars", [("query", "rate(x[5m])")])
            #expect(unparsable.status == 400)
            #expect(unparsable.body.contains(#""errorType":"bad_data""#), "\(unparsable.body)")
            let backwards = try await TestHTTP.get(node.url + "/api/v1/query_exemplars", [("query", "x"), ("start", "2"), ("end", "1")])
            #expect(backwards.status == 400)
        }
        try await withStorage(dataDirectory: directory.path) { node in
            let written = try await node.write(request)
            #expect(written.status == 204, "\(written.body)")
            try await check(node)
            let metrics = try await node.metrics()
            #expect(metrics.value("sluice_storage_exemplars_appended_total") == 2)
            #expect(metrics.value("sluice_storage_exemplars_in_storage") == 2)
            #expect(metrics.value("sluice_storage_exemplars_dropped_total", ["reason": "out_of_order"]) == 0)
        }
        // From the WAL after a restart.
        try await withStorage(dataDirectory: directory.path) { node in try await check(node) }
    }
}
