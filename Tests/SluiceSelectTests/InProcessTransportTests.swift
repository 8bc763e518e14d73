import Foundation
import NIOCore
import SluiceCodec
import SluiceHTTP
import SluiceQuery
import SluiceRing
import SluiceTestSupport
import Testing

/// `sluice up`'s hop: insert hands each part to a storage node in its own process (`InProcessNodes`)
/// instead of over HTTP. Quorum and hinted handoff must behave as over HTTP: a stopped node's parts
/// wait as hints and reach it once it is back.
@Suite("Insert to storage in one process, without HTTP")
struct InProcessTransportTests {
    static let start: Int64 = 1_700_000_000_000
    static let step: Int64 = 15_000

    /// Write URLs no HTTP client can reach: only the in-process path delivers to them.
    static func unreachable(_ name: String) -> String { "http://in-process.invalid/\(name)/api/v1/write" }

    static func stored(on node: StorageNode) async throws -> Int {
        try decodeJSON(SeriesList.self, try await TestHTTP.get(node.url + "/api/v1/series", [("match[]", "{__name__=~\".+\"}")])).data.count
    }

    @Test func partsGoInProcessAndAStoppedNodeGetsItsHintsWhenItReturns() async throws {
        let directory = try TemporaryDirectory("sluice-inprocess")
        defer { directory.remove() }
        let series = syntheticSeries(18, samples: 80, start: Self.start, step: Self.step)
        let requests = batches(series, perRequest: 20)
        try await withStorageNodes(3, in: directory) { nodes in
            let inProcess = InProcessNodes()
            for node in nodes { inProcess.register(Self.unreachable(node.name), node.writer) }
            let configuration = RingConfiguration(
                replicationFactor: 2, writeQuorum: 1, nodes: nodes.map { .init(name: $0.name, url: Self.unreachable($0.name)) }
            )
            let ring = CurrentRing(RingSnapshot(configuration: configuration, ring: try configuration.makeRing(), generation: 1))
            let onFirst = series.filter { owners(of: $0.labels, ring: ring).contains("store-0") }.count
            #expect(onFirst > 0 && onFirst < series.count)

            try await withInsert(ring: ring, dataDirectory: try directory.subdirectory("insert"), inProcess: inProcess) { insert in
                for request in requests.prefix(2) { try await insert.write(request) }
                var stored = 0
                for node in nodes { stored += try await Self.stored(on: node) }
                #expect(stored == 2 * series.count, "every series on its two replicas, through no HTTP request")

                // store-0 stops: with write quorum 1 the writes still succeed, its parts become hints.
                try await nodes[0].stop()
                // Its HTTP server stops first; the storage closes after. Wait for that, so the next
                // parts find it closed rather than still taking writes.
                let closed = try await eventually(timeout: readyTimeout, every: .milliseconds(50)) {
                    await nodes[0].writer(.protobuf(ByteBuffer()), .v1).status == 503
                }
                #expect(closed)
                for request in requests.dropFirst(2) { try await insert.write(request) }
                #expect((try await insert.metrics().value("sluice_insert_hints_total", ["node": "store-0", "event": "queued"]) ?? 0) > 0)

                // Back on the same data, reachable in process again: the hints drain into it.
                try await withStorageNode(name: "store-0", dataDirectory: try directory.subdirectory("store-0")) { restarted in
                    inProcess.register(Self.unreachable("store-0"), restarted.writer)
                    // Counters, not the queue-bytes gauge, which the replayer refreshes only between rounds.
                    let drained = try await eventually(timeout: .seconds(60), every: .milliseconds(200)) {
                        let metrics = try await insert.metrics()
                        let queued = metrics.value("sluice_insert_hints_total", ["node": "store-0", "event": "queued"]) ?? 0
                        return queued > 0 && metrics.value("sluice_insert_hints_total", ["node": "store-0", "event": "replayed"]) == queued
                    }
                    #expect(drained, "store-0's hints were not replayed within 60 s")
                    #expect(try await Self.stored(on: restarted) == onFirst)

                    // Every sample on both replicas: reading store-0 with the other nodes down would
                    // need it whole, so read through select over the real URLs.
                    let readRing = try currentRing([restarted.ringNode] + nodes.dropFirst().map(\.ringNode), replicationFactor: 2)
                    try await withSelect(ring: readRing) { select in
                        let query = [Query(startMs: Self.start, endMs: Self.start + 80 * Self.step, matchers: [LabelMatcher(.regex, name: "__name__", value: ".+")])]
                        let (samples, _) = try await Read.both(select.readURL, query)
                        let want = expected(series)
                        #expect(samples[0] == want, "\(describeDifference(want, samples[0]))")
                    }
                    for other in nodes.dropFirst() { try await other.stop() }
                    try await withSelect(ring: readRing) { select in
                        // Only store-0 answers now: what it holds must be complete for its series.
                        let query = [Query(startMs: Self.start, endMs: Self.start + 80 * Self.step, matchers: [LabelMatcher(.regex, name: "__name__", value: ".+")])]
                        let answer = try await Read.post(select.readURL, query)
                        #expect(answer.status == 503, "two of three nodes down with RF 2")
                    }
                }
            }
        }
    }

    /// Select in `sluice up` reads each node's series straight from its storage: the answers must
    /// be those select gives over HTTP, for SAMPLES and streamed chunks, and a node that stops
    /// counts as failed as it does over HTTP.
    @Test func selectReadsInProcessAndAnswersAsOverHTTP() async throws {
        let directory = try TemporaryDirectory("sluice-inprocess-read")
        defer { directory.remove() }
        let series = syntheticSeries(18, samples: 80, start: Self.start, step: Self.step)
        try await withStorageNodes(3, in: directory) { nodes in
            let inProcess = InProcessNodes()
            for node in nodes {
                inProcess.register(Self.unreachable(node.name), node.writer)
                inProcess.registerReader(Self.unreachable(node.name), node.reader)
            }
            let configuration = RingConfiguration(
                replicationFactor: 2, writeQuorum: 2, nodes: nodes.map { .init(name: $0.name, url: Self.unreachable($0.name)) }
            )
            let ring = CurrentRing(RingSnapshot(configuration: configuration, ring: try configuration.makeRing(), generation: 1))
            try await withInsert(ring: ring, dataDirectory: try directory.subdirectory("insert"), inProcess: inProcess) { insert in
                for request in batches(series, perRequest: 20) { try await insert.write(request) }
            }
            let query = [Query(startMs: Self.start + 10 * Self.step, endMs: Self.start + 70 * Self.step, matchers: [LabelMatcher(.regex, name: "__name__", value: ".+")])]
            let overHTTP = try await withSelect(ring: try currentRing(nodes.map(\.ringNode), replicationFactor: 2)) { select in
                try await Read.both(select.readURL, query)
            }
            let inProcessAnswer = try await withSelect(ring: ring, configure: { $0.inProcess = inProcess }) { select in
                try await Read.both(select.readURL, query)
            }
            #expect(!overHTTP.samples[0].isEmpty)
            #expect(inProcessAnswer.samples == overHTTP.samples, "\(describeDifference(overHTTP.samples[0], inProcessAnswer.samples[0]))")
            #expect(inProcessAnswer.streamed == overHTTP.streamed, "\(describeDifference(overHTTP.streamed[0], inProcessAnswer.streamed[0]))")

            // Two of three nodes stopped with RF 2: some series have no replica left, so 503.
            try await nodes[0].stop()
            try await nodes[1].stop()
            // Their HTTP servers stop first and the storages close after: wait for that, so the read
            // finds them closed rather than still answering.
            let closed = try await eventually(timeout: readyTimeout, every: .milliseconds(50)) {
                for node in nodes.prefix(2) {
                    guard case .failure = await node.reader(query) else { return false }
                }
                return true
            }
            #expect(closed)
            try await withSelect(ring: ring, configure: { $0.inProcess = inProcess }) { select in
                let answer = try await Read.post(select.readURL, query)
                #expect(answer.status == 503)
            }
        }
    }
}
