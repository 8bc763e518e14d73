import Foundation
import NIOCore
import SluiceCodec
import SluiceQuery
import SluiceTestSupport
import Testing
@testable import SluiceStorage

@Suite("Storage node over HTTP: write answers, remote read, query API")
struct StorageHTTPTests {
    static let start: Int64 = 1_700_000_000_000

    @Test func writeAnswersFollowTheOrderingRules() async throws {
        let directory = try TemporaryDirectory("sluice-storage")
        defer { directory.remove() }
        try await withStorage(dataDirectory: directory.path) { node in
            let labels = [Label(name: "__name__", value: "up"), Label(name: "job", value: "a")]
            func body(_ samples: [(Int64, Double)]) -> WriteRequest {
                WriteRequest(timeseries: [TimeSeries(labels: labels, samples: samples.map { Sample(timestamp: $0.0, value: $0.1) })])
            }
            #expect(try await node.write(body([(Self.start, 1), (Self.start + 1000, 2)])).status == 204)
            // A retry of the same request is idempotent.
            let retry = try await node.write(body([(Self.start + 1000, 2)]))
            #expect(retry.status == 204)
            let conflict = try await node.write(body([(Self.start + 1000, 3)]))
            #expect(conflict.status == 400)
            #expect(conflict.body.contains("duplicate sample for timestamp"), "\(conflict.body)")
            let older = try await node.write(body([(Self.start + 500, 3)]))
            #expect(older.status == 400)
            #expect(older.body.contains("out of order sample"), "\(older.body)")
            #expect(older.body.contains("up{job=\"a\"}"), "\(older.body)")

            // Unsorted labels break the remote-write rules: 400 before anything is appended.
            let unsorted = RawProtobuf.writeRequest(labels: [("job", "x"), ("__name__", "up")], timestamp: Self.start)
            #expect(try await node.write(body: Snappy.compress(unsorted)).status == 400)
            #expect(try await node.write(body: [1, 2, 3]).status == 400)
            let json = try await node.write(body: [1], headers: [("Content-Type", "application/json")])
            #expect(json.status == 415)
            #expect(try await TestHTTP.get(node.url + "/api/v1/write").status == 405)

            let metrics = try await node.metrics()
            #expect(metrics.value("sluice_storage_samples_appended_total") == 2)
            #expect(metrics.value("sluice_storage_samples_rejected_total", ["reason": "out_of_order"]) == 1)
            #expect(metrics.value("sluice_storage_samples_rejected_total", ["reason": "duplicate_timestamp"]) == 1)
            #expect(metrics.value("sluice_storage_head_series") == 1)
            #expect((metrics.value("sluice_storage_wal_fsync_duration_seconds_count") ?? 0) >= 1)
            #expect(try await TestHTTP.get(node.url + "/-/ready").status == 200)

            // A corrupt snappy block and a truncated protobuf change nothing
            // stored: exactly the two accepted samples read back, through the WAL after a restart too.
            let valid = Snappy.compress(MessageCodec().encoded { codec, out in codec.encode(body([(Self.start + 5000, 9)]), appendingTo: out) })
            #expect(try await node.write(body: Array(valid.prefix(valid.count / 2))).status == 400)
            #expect(try await node.write(body: Snappy.compress(Array(MessageCodec().encoded { codec, out in codec.encode(body([(Self.start + 5000, 9)]), appendingTo: out) }.dropLast(3)))).status == 400)
            let query = Query(startMs: 0, endMs: Self.start * 2, matchers: [LabelMatcher(.equal, name: "__name__", value: "up")])
            let stored = try await RemoteReadClient.read(node.readURL, [query])
            #expect(stored.results[0] == [["__name__": "up", "job": "a"]: [Self.start: 1, Self.start + 1000: 2]])
        }
        try await withStorage(dataDirectory: directory.path) { node in
            let query = Query(startMs: 0, endMs: Self.start * 2, matchers: [LabelMatcher(.equal, name: "__name__", value: "up")])
            let stored = try await RemoteReadClient.read(node.readURL, [query])
            #expect(stored.results[0] == [["__name__": "up", "job": "a"]: [Self.start: 1, Self.start + 1000: 2]], "after restart")
        }
    }

    /// A write from insert in the same process may come raw: it is held to the decoded-size limit,
    /// as the compressed body it stands for would be, not to the compressed-body limit.
    @Test func inProcessWritesTakeTheLimitOfTheirForm() async throws {
        let directory = try TemporaryDirectory("sluice-storage")
        defer { directory.remove() }
        try await withStorage(dataDirectory: directory.path, configure: { $0.maxBodyBytes = 1024; $0.maxDecodedBytes = 64 * 1024 }) { node in
            // Random values, so that even compressed the body is over 1 KiB.
            let request = WriteRequest(timeseries: (0..<300).map { index in
                TimeSeries(
                    labels: [Label(name: "__name__", value: "up"), Label(name: "instance", value: "host-\(index).example:9100")],
                    samples: [Sample(timestamp: Self.start, value: Double.random(in: 0..<1))]
                )
            })
            let raw = MessageCodec().encoded { codec, out in codec.encode(request, appendingTo: out) }
            let compressed = Snappy.compress(raw)
            #expect(raw.count > 1024 && raw.count < 64 * 1024 && compressed.count > 1024)
            let writer = node.server.inProcessWriter()
            #expect(await writer(.snappy(ByteBuffer(bytes: compressed)), .v1).status == 413)
            #expect(await writer(.protobuf(ByteBuffer(bytes: raw)), .v1).status == 204)
            var tooLarge = request
            tooLarge.timeseries += (300..<3000).map { index in
                TimeSeries(labels: [Label(name: "__name__", value: "up"), Label(name: "instance", value: "host-\(index)")], samples: [Sample(timestamp: Self.start, value: 1)])
            }
            let rawTooLarge = MessageCodec().encoded { codec, out in codec.encode(tooLarge, appendingTo: out) }
            #expect(rawTooLarge.count > 64 * 1024)
            #expect(await writer(.protobuf(ByteBuffer(bytes: rawTooLarge)), .v1).status == 413)
            #expect(node.storage.head.seriesCount == 300)
        }
    }

    @Test func remoteReadNegotiatesLimitsAndFrames() async throws {
        let directory = try TemporaryDirectory("sluice-storage")
        defer { directory.remove() }
        let series = syntheticSeries(30, samples: 400, start: Self.start, step: 15_000)
        try await withStorage(dataDirectory: directory.path, configure: {
            $0.readMaxBytesInFrame = 2048
            $0.readSampleLimit = 5000
        }) { node in
            for request in batches(series, perRequest: 100) {
                let answer = try await node.write(request)
                #expect(answer.status == 204, "\(answer.body)")
            }
            let all = [LabelMatcher(.regex, name: "__name__", value: "node_.*")]
            let range = Query(startMs: Self.start + 600_000, endMs: Self.start + 1_200_000, matchers: all)
            let want = expected(series, in: range.startMs...range.endMs)

            let samples = try await RemoteReadClient.read(node.readURL, [range])
            #expect(samples.status == 200, "\(samples.error)")
            #expect(samples.contentType == "application/x-protobuf")
            #expect(sameData(samples.results[0], want), "\(describeDifference(want, samples.results[0]))")
            #expect(samples.order[0] == samples.order[0].sorted { compareLabelSets($0, $1) < 0 })

            let streamed = try await RemoteReadClient.read(node.readURL, [range], accept: [.streamedXORChunks, .samples])
            #expect(streamed.status == 200, "\(streamed.error)")
            #expect(streamed.contentType == "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse")
            #expect(sameData(streamed.results[0], want), "\(describeDifference(want, streamed.results[0]))")
            #expect(streamed.frameSizes.allSatisfy { $0 <= 2048 }, "\(streamed.frameSizes.max() ?? 0)")
            // Chunks inside the range are sent as stored: the 120-sample chunks that fit whole.
            #expect(streamed.chunks.contains { (try? XORChunkDecoder.decodeAll($0.data).count) == 120 } || streamed.chunks.count > 0)
            for chunk in streamed.chunks {
                #expect(chunk.minTimeMs >= range.startMs && chunk.maxTimeMs <= range.endMs)
            }

            // 30 series × 400 samples pass the 5000-sample limit: SAMPLES refuses, STREAMED is not limited.
            let everything = Query(startMs: Self.start, endMs: Self.start + 10_000_000, matchers: all)
            let limited = try await RemoteReadClient.read(node.readURL, [everything])
            #expect(limited.status == 400)
            #expect(limited.error.contains("exceeded sample limit"), "\(limited.error)")
            let unlimited = try await RemoteReadClient.read(node.readURL, [everything], accept: [.streamedXORChunks])
            #expect(unlimited.status == 200)
            #expect(sameData(unlimited.results[0], expected(series)))
            #expect(unlimited.frameSizes.allSatisfy { $0 <= 2048 }, "\(unlimited.frameSizes.max() ?? 0)")
            #expect(unlimited.frameSizes.count > 30, "a 2 KiB frame limit splits series over several frames: \(unlimited.frameSizes.count) frames")

            let badRegex = try await RemoteReadClient.read(node.readURL, [Query(startMs: 0, endMs: 1, matchers: [LabelMatcher(.regex, name: "job", value: "(")])])
            #expect(badRegex.status == 400)
            let unsupported = try await RemoteReadClient.read(node.readURL, [range], accept: [ReadRequest.ResponseType(rawValue: 7)])
            #expect(unsupported.status == 400)
        }
    }

    @Test func queryAPIAnswersInPrometheusJSON() async throws {
        let directory = try TemporaryDirectory("sluice-storage")
        defer { directory.remove() }
        let series = syntheticSeries(8, samples: 10, start: Self.start, step: 15_000)
        try await withStorage(dataDirectory: directory.path) { node in
            for request in batches(series, perRequest: 10) { #expect(try await node.write(request).status == 204) }
            struct Strings: Decodable { var status: String; var data: [String] }
            struct SeriesList: Decodable { var status: String; var data: [LabelSet] }
            let names = try JSONDecoder().decode(Strings.self, from: Data(try await TestHTTP.get(node.url + "/api/v1/labels").body.utf8))
            #expect(names.data == ["__name__", "cpu", "instance", "job", "series"])
            let jobs = try JSONDecoder().decode(Strings.self, from: Data(try await TestHTTP.get(node.url + "/api/v1/label/job/values").body.utf8))
            #expect(jobs.data == ["node", "node-b"])
            let cpus = try await TestHTTP.get(node.url + "/api/v1/label/cpu/values", [("match[]", "node_cpu_seconds_total{job=\"node\"}")])
            #expect(try JSONDecoder().decode(Strings.self, from: Data(cpus.body.utf8)).data == ["0", "2"])
            let found = try await TestHTTP.get(node.url + "/api/v1/series", [("match[]", "{job=~\"node-.*\"}"), ("start", String(Self.start / 1000)), ("end", String(Self.start / 1000 + 3600))])
            let list = try JSONDecoder().decode(SeriesList.self, from: Data(found.body.utf8))
            #expect(Set(list.data) == Set(series.map(\.labels).filter { $0.contains(Label(name: "job", value: "node-b")) }.map(labelSet)))
            // Outside the data's time range: nothing.
            let later = try await TestHTTP.get(node.url + "/api/v1/series", [("match[]", "{job=~\"node.*\"}"), ("start", "2000000000")])
            #expect(try JSONDecoder().decode(SeriesList.self, from: Data(later.body.utf8)).data.isEmpty)
            let missing = try await TestHTTP.get(node.url + "/api/v1/series")
            #expect(missing.status == 400)
            #expect(missing.body.contains("\"errorType\":\"bad_data\""))
            let invalid = try await TestHTTP.get(node.url + "/api/v1/series", [("match[]", "{job=~\"(\"}")])
            #expect(invalid.status == 400)
            // POST with a form body, as Prometheus' own clients send long selectors.
            let posted = try await TestHTTP.send(
                .POST, node.url + "/api/v1/series", headers: [("Content-Type", "application/x-www-form-urlencoded")],
                body: .bytes(Array(TestHTTP.formEncoded([("match[]", "node_memory_bytes")]).utf8))
            )
            #expect(try JSONDecoder().decode(SeriesList.self, from: Data(posted.body.utf8)).data.count == series.filter { $0.labels[0].value == "node_memory_bytes" }.count)
        }
    }
}
