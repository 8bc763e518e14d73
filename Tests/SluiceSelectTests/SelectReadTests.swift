import Foundation
import Logging
import SluiceCodec
import SluiceQuery
import SluiceRing
import SluiceTestSupport
import Testing

@Suite("Select over real storage nodes: remote read across the ring")
struct SelectReadTests {
    static let start: Int64 = 1_700_000_000_000
    static let step: Int64 = 15_000
    static let everything = [LabelMatcher(.regex, name: "__name__", value: ".+")]

    static func all(_ samples: Int) -> Query {
        Query(startMs: start, endMs: start + Int64(samples) * step, matchers: everything)
    }

    @Test func replicasAreReadOnce() async throws {
        let directory = try TemporaryDirectory("sluice-select")
        defer { directory.remove() }
        let series = syntheticSeries(24, samples: 400, start: Self.start, step: Self.step)
        try await withStorageNodes(3, in: directory) { nodes in
            let ring = try currentRing(nodes.map(\.ringNode), replicationFactor: 2)
            try await withInsert(ring: ring, dataDirectory: try directory.subdirectory("insert")) { insert in
                for request in batches(series, perRequest: 100) { try await insert.write(request) }
            }
            // Every series is on two nodes, under the tenant label: the duplicates select removes are there.
            var stored = 0
            for node in nodes {
                let list = try decodeJSON(SeriesList.self, try await TestHTTP.get(node.url + "/api/v1/series", [("match[]", "{__name__=~\".+\"}")]))
                #expect(list.data.allSatisfy { $0["tenant_id"] == "default" })
                #expect(list.data.count < series.count, "\(node.name) holds every series: the ring placed nothing elsewhere")
                stored += list.data.count
            }
            #expect(stored == 2 * series.count)

            try await withSelect(ring: ring) { select in
                let cut = Query(startMs: Self.start + 1_000_000, endMs: Self.start + 2_000_000, matchers: [LabelMatcher(.equal, name: "job", value: "node")])
                let queries = [Self.all(400), cut]
                let want = [
                    expected(series),
                    expected(series, in: cut.startMs...cut.endMs) { $0.contains(Label(name: "job", value: "node")) },
                ]
                #expect(want[0].count == 24 && want[1].count == 12)
                let (samples, streamed) = try await Read.both(select.readURL, queries)
                for index in queries.indices {
                    // Exactly the written samples, once each, in label-set order, without the tenant label.
                    #expect(samples[index] == want[index], "SAMPLES query \(index): \(describeDifference(want[index], samples[index]))")
                    #expect(streamed[index] == want[index], "STREAMED query \(index): \(describeDifference(want[index], streamed[index]))")
                }
                let metrics = try await select.metrics()
                for node in nodes {
                    #expect(metrics.value("sluice_select_node_requests_total", ["node": node.name, "result": "ok"]) == 2)
                }
                #expect(metrics.value("sluice_select_requests_total", ["handler": "read", "code": "200"]) == 2)
            }
            // 24 series x 400 samples pass a limit of 5000: SAMPLES refuses the read, STREAMED is not limited.
            try await withSelect(ring: ring, configure: { $0.readSampleLimit = 5000 }) { select in
                let limited = try await Read.post(select.readURL, [Self.all(400)])
                #expect(limited.status == 400 && limited.text.contains("exceeded sample limit (5000)"), "\(limited.status) \(limited.text)")
                let streamed = try await Read.post(select.readURL, [Self.all(400)], accept: [.streamedXORChunks])
                #expect(try streamed.streamed(queries: 1)[0] == expected(series))
            }
        }
    }

    @Test func aReplicaMissingAStretchIsFilledFromTheOther() async throws {
        let directory = try TemporaryDirectory("sluice-select")
        defer { directory.remove() }
        let count = 700
        let first = [Label(name: "__name__", value: "gap_test"), Label(name: "job", value: "a")]
        let second = [Label(name: "__name__", value: "gap_test"), Label(name: "job", value: "b")]
        let written = [first, second].enumerated().map { index, labels in
            TimeSeries(labels: labels, samples: (0..<count).map { Sample(timestamp: Self.start + Int64($0) * Self.step, value: Double(index * 10_000 + $0) / 4) })
        }
        try await withStorageNodes(3, in: directory) { nodes in
            let ring = try currentRing(nodes.map(\.ringNode), replicationFactor: 2)
            let byName = Dictionary(uniqueKeysWithValues: nodes.map { ($0.name, $0) })
            // Each series directly to its two owners, as insert would place it, but one owner misses a
            // stretch: of the first series the second owner, of the second series the first. Written
            // in time order across both series, as Prometheus sends, so no node sees a too-old sample.
            let gaps: [(owner: Int, missing: Range<Int>)] = [(1, 300..<400), (0, 500..<560)]
            let placement = written.map { owners(of: $0.labels, ring: ring) }
            #expect(placement.allSatisfy { $0.count == 2 })
            for window in stride(from: 0, to: count, by: 100) {
                for ((series, gap), owners) in zip(zip(written, gaps), placement) {
                    for (position, owner) in owners.enumerated() {
                        let kept = (window..<min(window + 100, count)).filter { position != gap.owner || !gap.missing.contains($0) }
                        guard !kept.isEmpty else { continue }
                        let labels = adding("tenant_id", "default", to: series.labels)
                        let request = WriteRequest(timeseries: [TimeSeries(labels: labels, samples: kept.map { series.samples[$0] })])
                        let result = try await byName[owner]!.write(request)
                        #expect(result.status == 204, "\(result.body)")
                    }
                }
            }
            for ((series, gap), owners) in zip(zip(written, gaps), placement) {
                // The gappy replica really lacks the stretch; the other has it all.
                for (position, owner) in owners.enumerated() {
                    let query = Query(startMs: Self.start, endMs: Self.start + Int64(count) * Self.step, matchers: [LabelMatcher(.equal, name: "job", value: series.labels[1].value)])
                    let direct = try await Read.post(byName[owner]!.readURL, [query]).samples()
                    #expect(direct.first?.first?.samples.count == (position == gap.owner ? count - gap.missing.count : count))
                }
            }

            try await withSelect(ring: ring) { select in
                let across = Query(startMs: Self.start + 250 * Self.step, endMs: Self.start + 580 * Self.step, matchers: [LabelMatcher(.equal, name: "__name__", value: "gap_test")])
                let queries = [Self.all(count), across]
                let want = [expected(written), expected(written, in: across.startMs...across.endMs)]
                let (samples, streamed) = try await Read.both(select.readURL, queries)
                for index in queries.indices {
                    #expect(samples[index] == want[index], "SAMPLES query \(index): \(describeDifference(want[index], samples[index]))")
                    #expect(streamed[index] == want[index], "STREAMED query \(index): \(describeDifference(want[index], streamed[index]))")
                }
            }
        }
    }

    @Test func completenessFollowsTheReplicationFactor() async throws {
        let directory = try TemporaryDirectory("sluice-select")
        defer { directory.remove() }
        let series = syntheticSeries(18, samples: 200, start: Self.start, step: Self.step)
        try await withStorageNodes(3, in: directory) { nodes in
            let ring = try currentRing(nodes.map(\.ringNode), replicationFactor: 2)
            try await withInsert(ring: ring, dataDirectory: try directory.subdirectory("insert")) { insert in
                for request in batches(series, perRequest: 100) { try await insert.write(request) }
            }
            let query = [Self.all(200)]
            let want = expected(series)
            let onLast = expected(series) { owners(of: $0, ring: ring).contains("store-2") }
            #expect(!onLast.isEmpty && onLast.count < series.count)
            let partialHeader = "X-Sluice-Partial-Response"

            try await withSelect(ring: ring) { select in
                try await withSelect(ring: ring, configure: { $0.partialResponse = true }) { partial in
                    // One of three nodes down with RF 2: every series still has a replica.
                    try await nodes[0].stop()
                    for server in [select, partial] {
                        let (samples, streamed) = try await Read.both(server.readURL, query)
                        #expect(samples[0] == want, "\(describeDifference(want, samples[0]))")
                        #expect(streamed[0] == want, "\(describeDifference(want, streamed[0]))")
                        let answer = try await Read.post(server.readURL, query)
                        #expect(answer.status == 200)
                        #expect(answer.headers.first(name: partialHeader) == nil)
                        #expect(answer.headers.first(name: "Warning") == nil)
                        let labels = try await server.api("/api/v1/labels")
                        #expect(labels.status == 200)
                        #expect(try decodeJSON(Strings.self, labels).data == ["__name__", "cpu", "instance", "job", "series"])
                    }
                    #expect(try await partial.metrics().value("sluice_select_partial_responses_total") == 0)

                    // Two down: some series have no replica left.
                    try await nodes[1].stop()
                    for accept in [[], [ReadRequest.ResponseType.streamedXORChunks]] {
                        let refused = try await Read.post(select.readURL, query, accept: accept)
                        #expect(refused.status == 503)
                        #expect(refused.text.contains("store-0") && refused.text.contains("store-1"), "\(refused.text)")
                        #expect(!refused.text.contains("store-2"), "\(refused.text)")
                    }
                    let labels = try await select.api("/api/v1/labels")
                    #expect(labels.status == 503)
                    #expect(labels.body.contains(#""errorType":"unavailable""#), "\(labels.body)")
                    #expect(labels.body.contains("store-0") && labels.body.contains("store-1"), "\(labels.body)")

                    // With --partial-response: what the last node holds, flagged as partial, counted.
                    let answer = try await Read.post(partial.readURL, query)
                    #expect(answer.status == 200)
                    #expect(answer.headers.first(name: partialHeader) == "true")
                    let warning = answer.headers.first(name: "Warning") ?? ""
                    #expect(warning.hasPrefix("299 sluice \"partial response"), "\(warning)")
                    #expect(warning.contains("store-0") && warning.contains("store-1") && !warning.contains("store-2"), "\(warning)")
                    let samples = try answer.samples()[0]
                    #expect(samples == onLast, "\(describeDifference(onLast, samples))")
                    #expect(try await partial.metrics().value("sluice_select_partial_responses_total") == 1)

                    let streamedAnswer = try await Read.post(partial.readURL, query, accept: [.streamedXORChunks])
                    #expect(streamedAnswer.headers.first(name: partialHeader) == "true")
                    let streamed = try streamedAnswer.streamed(queries: 1)[0]
                    #expect(streamed == onLast, "\(describeDifference(onLast, streamed))")
                    let partialLabels = try await partial.api("/api/v1/labels")
                    #expect(partialLabels.status == 200)
                    #expect(partialLabels.headers.first(name: partialHeader) == "true")
                    #expect(try await partial.metrics().value("sluice_select_partial_responses_total") == 3)
                    #expect(try await select.metrics().value("sluice_select_partial_responses_total") == 0)
                }
            }
        }
    }

    @Test func badRequestsAreRefused() async throws {
        let directory = try TemporaryDirectory("sluice-select")
        defer { directory.remove() }
        let series = syntheticSeries(4, samples: 10, start: Self.start, step: Self.step)
        try await withStorageNodes(2, in: directory) { nodes in
            let ring = try currentRing(nodes.map(\.ringNode), replicationFactor: 2)
            for node in nodes {
                let request = WriteRequest(timeseries: series.map { TimeSeries(labels: adding("tenant_id", "default", to: $0.labels), samples: $0.samples) })
                #expect(try await node.write(request).status == 204)
            }
            try await withSelect(ring: ring) { select in
                let garbage = try await Read.post(select.readURL, body: [1, 2, 3])
                #expect(garbage.status == 400, "\(garbage.text)")
                let notProtobuf = try await Read.post(select.readURL, body: Snappy.compress([0xFF, 0xFF, 0xFF, 0xFF]))
                #expect(notProtobuf.status == 400, "\(notProtobuf.text)")
                let unsupported = try await Read.post(select.readURL, [Self.all(10)], accept: [ReadRequest.ResponseType(rawValue: 7)])
                #expect(unsupported.status == 400)
                #expect(unsupported.text.contains("accepted response types"), "\(unsupported.text)")
                // Select does not parse regexes; the nodes refuse it and select passes their 400 on.
                let badRegex = try await Read.post(select.readURL, [Query(startMs: Self.start, endMs: Self.start + 1000, matchers: [LabelMatcher(.regex, name: "job", value: "(")])])
                #expect(badRegex.status == 400)
                #expect(badRegex.text.contains("rejected the query"), "\(badRegex.text)")
                let badTenant = try await Read.post(select.readURL, [Self.all(10)], tenant: "a/b")
                #expect(badTenant.status == 400)
                let get = try await TestHTTP.get(select.readURL)
                #expect(get.status == 405)
                #expect(get.headers.first(name: "Allow") == "POST")

                // None of that was the nodes' failure, and a good request still works.
                let good = try await Read.post(select.readURL, [Self.all(10)]).samples()
                #expect(good[0] == expected(series))
                let metrics = try await select.metrics()
                #expect(metrics.value("sluice_select_requests_total", ["handler": "read", "code": "400"]) == 5)
                #expect(metrics.value("sluice_select_node_requests_total", ["result": "failed"]) == nil)
                #expect((metrics.value("sluice_select_node_requests_total", ["result": "rejected"]) ?? 0) >= 1)
            }
        }
    }

    @Test func selectFollowsRingFileReloads() async throws {
        let directory = try TemporaryDirectory("sluice-select")
        defer { directory.remove() }
        let labels = [[Label(name: "__name__", value: "reload_test"), Label(name: "node", value: "0")],
                      [Label(name: "__name__", value: "reload_test"), Label(name: "node", value: "1")]]
        let written = labels.map { TimeSeries(labels: $0, samples: [Sample(timestamp: Self.start, value: 1), Sample(timestamp: Self.start + Self.step, value: 2)]) }
        try await withStorageNodes(2, in: directory) { nodes in
            for (node, series) in zip(nodes, written) {
                let request = WriteRequest(timeseries: [TimeSeries(labels: adding("tenant_id", "default", to: series.labels), samples: series.samples)])
                #expect(try await node.write(request).status == 204)
            }
            let path = directory.path + "/ring.yaml"
            try RingConfiguration(replicationFactor: 1, nodes: [nodes[0].ringNode]).yaml().write(toFile: path, atomically: true, encoding: .utf8)
            try await withSelect(ringFile: .init(path: path, pollInterval: .milliseconds(100), reloadOnSIGHUP: false)) { select in
                let query = [Self.all(2)]
                #expect(try await Read.post(select.readURL, query).samples()[0] == [written[0]])
                try RingConfiguration(replicationFactor: 1, nodes: nodes.map(\.ringNode)).yaml().write(toFile: path, atomically: true, encoding: .utf8)
                var last: [TimeSeries] = []
                let both = try await eventually(timeout: .seconds(60)) {
                    last = try await Read.post(select.readURL, query).samples()[0]
                    return last == written
                }
                #expect(both, "\(describeDifference(written, last))")
            }
        }
    }
}
