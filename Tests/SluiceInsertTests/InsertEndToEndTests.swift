import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SluiceCodec
import SluiceRing
import SluiceTestSupport
import Testing
@testable import SluiceInsert

/// `sluice insert` end to end: the server in this process on a loopback port, storage nodes that are
/// real Prometheus 2.42 and VictoriaMetrics processes, or remote-write receivers faked in this
/// process where a test needs a node to be slow or to show what it was sent. Every server is stopped
/// and every directory removed when a test ends, passed or failed.
@Suite("InsertEndToEnd", .serialized)
struct InsertEndToEndTests {
    static let hasPrometheus = PeerProcess.Kind.prometheus.isInstalled
    static let hasVictoriaMetrics = PeerProcess.Kind.victoriaMetrics.isInstalled
    static let nodeNames = ["store-a", "store-b", "store-c"]

    static func ring(_ nodes: [(name: String, url: String)], replicationFactor: Int) -> RingConfiguration {
        RingConfiguration(replicationFactor: replicationFactor, nodes: nodes.map { .init(name: $0.name, url: $0.url) })
    }

    static func ring(_ peers: [PeerProcess], replicationFactor: Int) -> RingConfiguration {
        ring(peers.map { ($0.name, $0.writeURL) }, replicationFactor: replicationFactor)
    }

    static func writeURL(port: Int) -> String { "http://127.0.0.1:\(port)/api/v1/write" }

    // MARK: Real storage: placement

    @Test(
        "The fixtures land on exactly the ring's RF Prometheus receivers",
        .enabled(if: hasPrometheus), .timeLimit(.minutes(3)), arguments: [2, 3]
    )
    func fixturesLandOnTheirReplicas(replicationFactor: Int) async throws {
        let fixtures = try Fixtures()
        #expect(fixtures.series().count == 999)
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let peers = try makePeers(.prometheus, names: Self.nodeNames, in: directory)
        defer { for peer in peers { peer.kill() } }
        try await startAll(peers)

        let ring = Self.ring(peers, replicationFactor: replicationFactor)
        try await withInsert(ring: ring, dataDirectory: directory.path + "/insert") { insert in
            for (index, body) in fixtures.bodies.enumerated() {
                let result = try await insert.write(body)
                #expect(result.status == 204, "fixture \(index): \(result.status) \(result.body)")
            }
            // Prometheus takes the first fixture again as out-of-order samples: every replica
            // rejects them, so the client is told its data is bad rather than to retry.
            let again = try await insert.write(fixtures.bodies[0])
            #expect(again.status == 400, "\(again.body)")
            #expect(again.body.contains("storage rejected"), "\(again.body)")
            expectOneLine(again, "out-of-order rewrite")
            let metrics = try await insert.metrics()
            #expect(metrics.value("sluice_insert_hints_total") == nil, "no node failed, so nothing was queued")
            #expect(metrics.value("sluice_insert_requests_total", ["code": "204", "tenant": "default"]) == 6)
        }
        try await expectPlacement(peers, ring: ring, fixtures: fixtures)
        for peer in peers { try await expectInstantValues(peer, fixtures: fixtures, requests: 0..<6, ring: ring) }
    }

    @Test(
        "Any remote-write receiver is a node: VictoriaMetrics single-node",
        .enabled(if: hasVictoriaMetrics), .timeLimit(.minutes(3))
    )
    func victoriaMetricsNodesHoldTheirShare() async throws {
        let fixtures = try Fixtures()
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let peers = try makePeers(.victoriaMetrics, names: Self.nodeNames, in: directory)
        defer { for peer in peers { peer.kill() } }
        try await startAll(peers)

        let ring = Self.ring(peers, replicationFactor: 2)
        try await withInsert(ring: ring, dataDirectory: directory.path + "/insert") { insert in
            for (index, body) in fixtures.bodies.enumerated() {
                let result = try await insert.write(body)
                #expect(result.status == 204, "fixture \(index): \(result.status) \(result.body)")
            }
        }
        // VictoriaMetrics drops NaN samples, so the 14 summary quantiles that are NaN throughout are
        // not stored; everything else is, on exactly its two replicas.
        try await expectPlacement(peers, ring: ring, fixtures: fixtures)
        var union = Set<LabelSet>()
        for peer in peers { union.formUnion(try await peer.series(between: fixtures.timeRange)) }
        let storable = fixtures.series().filter { $0.value.values.contains { !$0.isNaN } }
        #expect(union.count == storable.count)
    }

    // MARK: Real storage: remote write 2.0 to 1.0-only nodes

    @Test(
        "Remote write 2.0 to Prometheus 2.42 and VictoriaMetrics nodes: insert finds they are not 2.0 receivers and translates",
        .enabled(if: hasPrometheus && hasVictoriaMetrics), .timeLimit(.minutes(3))
    )
    func remoteWrite2ReachesOneOnlyNodesTranslated() async throws {
        let fixtures = try Fixtures()
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        // Neither checks Content-Type: each reads a 2.0 body as an empty 1.0 request and answers
        // 204, storing nothing. The missing written-count headers give them away.
        let peers = try makePeers(.prometheus, names: ["store-a", "store-b"], in: directory)
            + makePeers(.victoriaMetrics, names: ["store-c"], in: directory)
        defer { for peer in peers { peer.kill() } }
        try await startAll(peers)

        let ring = Self.ring(peers, replicationFactor: 2)
        let v2Headers = [
            ("Content-Type", "application/x-protobuf;proto=io.prometheus.write.v2.Request"), ("Content-Encoding", "snappy"),
            ("X-Prometheus-Remote-Write-Version", "2.0.0"),
        ]
        try await withInsert(ring: ring, dataDirectory: directory.path + "/insert") { insert in
            for (index, request) in fixtures.requests.enumerated() {
                let body = Snappy.compress(RemoteWriteV2Encoder.encode(request))
                let result = try await insert.write(body, headers: v2Headers)
                #expect(result.status == 204, "fixture \(index): \(result.status) \(result.body)")
                #expect(result.headers.first(name: "X-Prometheus-Remote-Write-Samples-Written") == String(request.sampleCount))
                #expect(result.headers.first(name: "X-Prometheus-Remote-Write-Histograms-Written") == "0")
            }
        }
        // Every series on exactly its two replicas with every sample (untranslated, nothing would
        // be stored), and the instant values as sent.
        try await expectPlacement(peers, ring: ring, fixtures: fixtures)
        for peer in peers.prefix(2) { try await expectInstantValues(peer, fixtures: fixtures, requests: 0..<6, ring: ring) }
    }

    // MARK: Real storage: a node down, then back

    @Test(
        "A stopped node: writes meet quorum, hints queue, and replay when it is back",
        .enabled(if: hasPrometheus), .timeLimit(.minutes(3)), arguments: [false, true]
    )
    func aStoppedNodeCatchesUpFromHints(restartingInsert: Bool) async throws {
        let fixtures = try Fixtures()
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let peers = try makePeers(.prometheus, names: Self.nodeNames, in: directory)
        defer { for peer in peers { peer.kill() } }
        try await startAll(peers)

        let ring = Self.ring(peers, replicationFactor: 3)
        #expect(ring.writeQuorum == 2)
        let stopped = peers[2]
        let dataDirectory = directory.path + "/insert"
        let queueDirectory = dataDirectory + "/hints/" + stopped.name

        try await withInsert(ring: ring, dataDirectory: dataDirectory) { insert in
            for index in 0..<3 {
                let result = try await insert.write(fixtures.bodies[index])
                #expect(result.status == 204, "fixture \(index): \(result.status) \(result.body)")
            }
            try await stopped.stop()
            for index in 3..<6 {
                let result = try await insert.write(fixtures.bodies[index])
                #expect(result.status == 204, "fixture \(index) with \(stopped.name) down: \(result.status) \(result.body)")
            }
            let metrics = try await insert.metrics()
            #expect(metrics.value("sluice_insert_hints_total", ["node": stopped.name, "event": "queued"]) == 3)
            #expect(metrics.value("sluice_insert_hints_total", ["node": "store-a"]) == nil)
            #expect(metrics.value("sluice_insert_hints_total", ["node": "store-b"]) == nil)
            #expect(segmentBytes(in: queueDirectory) > 0, "the hints are on disk under \(queueDirectory)")

            if !restartingInsert {
                try await stopped.start()
                try await expectHintsReplayed(insert, node: stopped.name, records: 3)
            }
        }

        if restartingInsert {
            // A new process on the same data directory finds the queue and counts it before the
            // node is back, then replays it.
            #expect(segmentBytes(in: queueDirectory) > 0, "hints survive the insert's shutdown")
            try await withInsert(ring: ring, dataDirectory: dataDirectory) { insert in
                let counted = try await eventually(timeout: .seconds(10)) {
                    (try await insert.metrics().value("sluice_insert_hint_queue_bytes", ["node": stopped.name]) ?? 0) > 0
                }
                #expect(counted, "the restarted insert reports the queue it found on disk")
                try await stopped.start()
                try await expectHintsReplayed(insert, node: stopped.name, records: 3)
            }
        }

        // At RF=3 over three nodes every node holds every series, and the restarted node has the
        // samples of fixtures 3-5 that only the hints carried.
        try await expectPlacement(peers, ring: ring, fixtures: fixtures)
        #expect(try await stopped.series(between: fixtures.timeRange).count == 999)
        try await expectInstantValues(stopped, fixtures: fixtures, requests: 3..<6, ring: ring)
    }

    @Test(
        "A live write that reaches a restarted node before its hints",
        .enabled(if: hasPrometheus), .timeLimit(.minutes(3))
    )
    func liveWriteRacesHintReplay() async throws {
        let fixtures = try Fixtures()
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let peers = try makePeers(.prometheus, names: Self.nodeNames, in: directory)
        defer { for peer in peers { peer.kill() } }
        try await startAll(peers)

        let ring = Self.ring(peers, replicationFactor: 3)
        let stopped = peers[2]
        try await withInsert(ring: ring, dataDirectory: directory.path + "/insert") { insert in
            for index in 0..<3 { #expect(try await insert.write(fixtures.bodies[index]).status == 204) }
            try await stopped.stop()
            for index in 3..<5 { #expect(try await insert.write(fixtures.bodies[index]).status == 204) }
            // Traffic does not wait for the replay: the next write usually reaches the node first.
            try await stopped.start()
            #expect(try await insert.write(fixtures.bodies[5]).status == 204)
            // Every hint queued replayed: counters, not the queue-bytes gauge, which the replayer
            // refreshes only between its rounds and so can still read 0 just after hints are queued.
            let drained = try await eventually(timeout: .seconds(30), every: .milliseconds(100)) {
                let metrics = try await insert.metrics()
                let queued = metrics.value("sluice_insert_hints_total", ["node": stopped.name, "event": "queued"]) ?? 0
                return queued > 0 && metrics.value("sluice_insert_hints_total", ["node": stopped.name, "event": "replayed"]) == queued
            }
            #expect(drained)
        }
        // Prometheus takes older samples after newer ones as out of order and rejects the request
        // whole, so the live write must not overtake the hints: while a node has hints queued, its
        // new parts queue behind them. The node then holds everything, outage included.
        try await expectPlacement(peers, ring: ring, fixtures: fixtures)
    }

    // MARK: Bad input

    @Test("Each bad input gets its status code and a one-line body", .timeLimit(.minutes(3)))
    func badInputGetsItsStatusCode() async throws {
        let fixtures = try Fixtures()
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let nodes = Self.nodeNames.map { FakeNode(name: $0) }
        try await withFakeNodes(nodes) { ports in
            let ring = Self.ring(zip(Self.nodeNames, ports).map { ($0, Self.writeURL(port: $1)) }, replicationFactor: 2)
            try await withInsert(ring: ring, dataDirectory: directory.path + "/insert", configure: {
                $0.maxBodyBytes = 256 << 10
                $0.maxDecodedBytes = 1 << 20
            }) { insert in
                let timestamp = fixtures.timeRange.upperBound
                func series(_ labels: [(String, String)]) -> [UInt8] {
                    Snappy.compress(RawProtobuf.writeRequest(labels: labels, timestamp: timestamp))
                }
                let twoMiBOfZeros = Snappy.compress([UInt8](repeating: 0, count: 2 << 20))
                #expect(twoMiBOfZeros.count < 256 << 10, "the body itself is under the body limit")

                let cases: [(name: String, body: [UInt8], status: Int)] = [
                    ("not snappy", Array("this is not snappy".utf8), 400),
                    ("snappy length header with no data", [0x64], 400),
                    ("empty body", [], 400),
                    ("snappy of bytes that are not protobuf", Snappy.compress([0xFF, 0xFF, 0xFF, 0xFF, 0x0F]), 400),
                    ("protobuf length past the end", Snappy.compress([0x0A, 0x64, 0x01]), 400),
                    ("empty label name", series([("", "x"), ("__name__", "up")]), 400),
                    ("duplicate label", series([("__name__", "up"), ("job", "a"), ("job", "b")]), 400),
                    ("invalid label name", series([("__name__", "up"), ("job-name", "a")]), 400),
                    ("invalid metric name", series([("__name__", "1up"), ("job", "a")]), 400),
                    ("empty label value", series([("__name__", "up"), ("job", "")]), 400),
                    ("unsorted labels", series([("job", "a"), ("__name__", "up")]), 400),
                    ("missing __name__", series([("instance", "x"), ("job", "a")]), 400),
                    // Checked against snappy's header before anything is decompressed: a few bytes that
                    // claim a gigabyte are 413, not 400 for being corrupt.
                    ("decoded size over the limit", twoMiBOfZeros, 413),
                    ("a 1 GiB claim in 9 bytes", RawProtobuf.varint(1 << 30) + [0, 0, 0, 0, 0], 413),
                    ("Content-Length over the limit", [UInt8](repeating: 0x41, count: 300 << 10), 413),
                ]
                for test in cases {
                    let result = try await insert.write(test.body)
                    #expect(result.status == test.status, "\(test.name): \(result.status) \(result.body)")
                    expectOneLine(result, test.name)
                }

                // Over the body limit with no Content-Length to check first: cut off while reading.
                let chunks = AsyncStream<ByteBuffer> { continuation in
                    for _ in 0..<10 { continuation.yield(ByteBuffer(repeating: 0x41, count: 32 << 10)) }
                    continuation.finish()
                }
                let chunked = try await TestHTTP.send(
                    .POST, insert.url + "/api/v1/write", headers: TestHTTP.remoteWriteHeaders, body: .stream(chunks, length: .unknown)
                )
                #expect(chunked.status == 413, "chunked body over the limit: \(chunked.status) \(chunked.body)")
                expectOneLine(chunked, "chunked body over the limit")

                let valid = series([("__name__", "up"), ("job", "a")])
                let mediaTypes: [(name: String, headers: [(String, String)])] = [
                    ("JSON", [("Content-Type", "application/json"), ("Content-Encoding", "snappy")]),
                    ("gzip", [("Content-Type", "application/x-protobuf"), ("Content-Encoding", "gzip")]),
                    ("unknown message", [("Content-Type", "application/x-protobuf;proto=io.prometheus.write.v3.Request")]),
                ]
                for test in mediaTypes {
                    let result = try await insert.write(valid, headers: test.headers)
                    #expect(result.status == 415, "\(test.name): \(result.status) \(result.body)")
                    expectOneLine(result, test.name)
                }

                // A 1.0 body labelled 2.0 is refused, not acknowledged as an empty 2.0 request.
                let mislabelled = try await insert.write(valid, headers: [("Content-Type", "application/x-protobuf;proto=io.prometheus.write.v2.Request")])
                #expect(mislabelled.status == 400 && mislabelled.body.contains("1.0 fields"), "\(mislabelled.status) \(mislabelled.body)")
                expectOneLine(mislabelled, "1.0 body labelled 2.0")

                for (method, path) in [(HTTPMethod.GET, "/api/v1/write"), (.PUT, "/api/v1/write"), (.GET, "/api/v1/push")] {
                    let result = try await TestHTTP.send(method, insert.url + path, body: method == .PUT ? .bytes(valid) : nil)
                    #expect(result.status == 405, "\(method) \(path): \(result.status)")
                    #expect(result.headers["Allow"] == ["POST"])
                    expectOneLine(result, "\(method) \(path)")
                }

                let badTenant = try await insert.write(valid, headers: TestHTTP.remoteWriteHeaders + [("X-Scope-OrgID", "../etc")])
                #expect(badTenant.status == 400)
                expectOneLine(badTenant, "invalid tenant")

                #expect(nodes.allSatisfy { $0.arrivals == 0 }, "nothing invalid reached storage")

                // Valid writes: without Content-Type and Content-Encoding (taken as remote write 1.0
                // snappy, as Prometheus takes them), with 1.0's proto parameter, and on the aliases.
                let accepted: [(name: String, path: String, headers: [(String, String)], body: [UInt8])] = [
                    ("no content headers", "/api/v1/write", [], fixtures.bodies[0]),
                    ("/api/v1/receive", "/api/v1/receive", TestHTTP.remoteWriteHeaders, fixtures.bodies[1]),
                    ("/api/v1/push", "/api/v1/push", TestHTTP.remoteWriteHeaders, fixtures.bodies[2]),
                    ("1.0 proto parameter", "/api/v1/write", [("Content-Type", "application/x-protobuf; proto=prometheus.WriteRequest")], valid),
                ]
                for test in accepted {
                    let result = try await insert.write(test.body, path: test.path, headers: test.headers)
                    #expect(result.status == 204, "\(test.name): \(result.status) \(result.body)")
                }

                // What the nodes were sent: each series on exactly its ring replicas, tenant label added.
                let hashRing = try ring.makeRing()
                var sent = fixtures.series(in: 0..<3)
                sent[["__name__": "up", "job": "a"]] = [timestamp: 1]
                for node in nodes {
                    let received = Set(node.received.flatMap { $0.request.timeseries.map { LabelSet(uniqueKeysWithValues: $0.labels.map { ($0.name, $0.value) }) } })
                    let expected = Set(sent.keys.filter { owners(of: $0, ring: hashRing).contains(node.name) }.map { stored($0) })
                    let same = received == expected
                    #expect(same, "\(node.name): \(difference(expected: expected, actual: received))")
                }
            }
        }
    }

    @Test("The tenant comes from X-Scope-OrgID or THANOS-TENANT and is labelled and forwarded", .timeLimit(.minutes(3)))
    func tenantIsLabelledAndForwarded() async throws {
        let fixtures = try Fixtures()
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let nodes = Self.nodeNames.map { FakeNode(name: $0) }
        try await withFakeNodes(nodes) { ports in
            let ring = Self.ring(zip(Self.nodeNames, ports).map { ($0, Self.writeURL(port: $1)) }, replicationFactor: 1)
            let hashRing = try ring.makeRing()
            try await withInsert(ring: ring, dataDirectory: directory.path + "/insert") { insert in
                let cases: [(headers: [(String, String)], tenant: String)] = [
                    ([("X-Scope-OrgID", "team-a")], "team-a"),
                    ([("THANOS-TENANT", "team-b")], "team-b"),
                    ([("THANOS-TENANT", "team-c"), ("X-Scope-OrgID", "team-d")], "team-d"),
                ]
                for (index, test) in cases.enumerated() {
                    let before = nodes.map { $0.received.count }
                    let result = try await insert.write(fixtures.bodies[index], headers: TestHTTP.remoteWriteHeaders + test.headers)
                    #expect(result.status == 204, "\(test.tenant): \(result.status) \(result.body)")
                    for (node, count) in zip(nodes, before) {
                        let new = node.received.dropFirst(count)
                        for request in new {
                            #expect(request.headers[.init("X-Scope-OrgID")!] == test.tenant)
                            for series in request.request.timeseries {
                                var labels = LabelSet(uniqueKeysWithValues: series.labels.map { ($0.name, $0.value) })
                                #expect(labels.removeValue(forKey: "tenant_id") == test.tenant)
                                // Placement is by tenant and the labels as sent.
                                #expect(owners(of: labels, tenant: test.tenant, ring: hashRing) == [node.name])
                            }
                        }
                    }
                    #expect(zip(nodes, before).contains { $0.received.count > $1 }, "\(test.tenant): the write reached storage")
                }
                let metrics = try await insert.metrics()
                for tenant in ["team-a", "team-b", "team-d"] {
                    #expect(metrics.value("sluice_insert_requests_total", ["code": "204", "tenant": tenant]) == 1)
                }
            }
        }
    }

    // MARK: Overload, quorum, shutdown

    @Test("Over the in-flight limits a write gets 429 with Retry-After", .timeLimit(.minutes(3)))
    func overloadIs429WithRetryAfter() async throws {
        let fixtures = try Fixtures()
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let slow = FakeNode(name: "store-slow", delay: .seconds(1))
        try await withFakeNodes([slow]) { ports in
            let ring = Self.ring([(slow.name, Self.writeURL(port: ports[0]))], replicationFactor: 1)
            for limit in ["requests", "bytes"] {
                try await withInsert(ring: ring, dataDirectory: directory.path + "/insert-\(limit)", configure: {
                    if limit == "requests" { $0.maxInflightRequests = 1 } else { $0.maxInflightBytes = 1 }
                }) { insert in
                    let arrived = slow.arrivals
                    async let first = insert.write(fixtures.bodies[0])
                    // The first write is now held by the slow node, in flight.
                    let held = try await eventually(timeout: .seconds(10), every: .milliseconds(5)) { slow.arrivals > arrived }
                    #expect(held, "the first write reached the node")
                    let second = try await insert.write(fixtures.bodies[1])
                    #expect(second.status == 429, "\(limit): \(second.status) \(second.body)")
                    #expect(second.headers["Retry-After"] == ["2"], "\(limit)")
                    expectOneLine(second, "429 for \(limit)")
                    let firstResult = try await first
                    #expect(firstResult.status == 204, "\(limit): \(firstResult.status) \(firstResult.body)")
                }
            }
        }
    }

    @Test("Without a quorum a write gets 503 naming the failing nodes; with one, a down node gets hints", .timeLimit(.minutes(3)))
    func quorumDecidesBetween503AndHints() async throws {
        let fixtures = try Fixtures()
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        // Ports nothing listens on stand for nodes that are down.
        let down = try freePorts(2)
        let nodes = [FakeNode(name: "store-a"), FakeNode(name: "store-b")]
        try await withFakeNodes(nodes) { ports in
            let twoDown = Self.ring(
                [("store-a", Self.writeURL(port: ports[0])), ("store-b", Self.writeURL(port: down[0])), ("store-c", Self.writeURL(port: down[1]))],
                replicationFactor: 3
            )
            #expect(twoDown.writeQuorum == 2)
            try await withInsert(ring: twoDown, dataDirectory: directory.path + "/insert-two-down") { insert in
                let result = try await insert.write(fixtures.bodies[0])
                #expect(result.status == 503, "\(result.body)")
                #expect(result.body.contains("store-b") && result.body.contains("store-c") && !result.body.contains("store-a"), "\(result.body)")
                expectOneLine(result, "503")
                let metrics = try await insert.metrics()
                #expect(metrics.value("sluice_insert_quorum_failures_total", ["kind": "unavailable"]) == 1)
                #expect(metrics.value("sluice_insert_hints_total") == nil, "a write that was not acknowledged leaves no hints")
            }

            let oneDown = Self.ring(
                [("store-a", Self.writeURL(port: ports[0])), ("store-b", Self.writeURL(port: ports[1])), ("store-c", Self.writeURL(port: down[0]))],
                replicationFactor: 3
            )
            let dataDirectory = directory.path + "/insert-one-down"
            try await withInsert(ring: oneDown, dataDirectory: dataDirectory) { insert in
                let result = try await insert.write(fixtures.bodies[0])
                #expect(result.status == 204, "\(result.body)")
                let metrics = try await insert.metrics()
                #expect(metrics.value("sluice_insert_hints_total", ["node": "store-c", "event": "queued"]) == 1)
                #expect(segmentBytes(in: dataDirectory + "/hints/store-c") > 0)
            }
        }
    }

    @Test("Graceful shutdown finishes the writes in flight", .timeLimit(.minutes(3)))
    func gracefulShutdownFinishesWritesInFlight() async throws {
        let fixtures = try Fixtures()
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let slow = FakeNode(name: "store-slow", delay: .seconds(1))
        try await withFakeNodes([slow]) { ports in
            let ring = Self.ring([(slow.name, Self.writeURL(port: ports[0]))], replicationFactor: 1)
            try await withInsert(ring: ring, dataDirectory: directory.path + "/insert") { insert in
                async let write = insert.write(fixtures.bodies[0])
                let held = try await eventually(timeout: .seconds(10), every: .milliseconds(5)) { slow.arrivals > 0 }
                #expect(held, "the write reached the node")
                await insert.beginShutdown()
                let result = try await write
                #expect(result.status == 204, "a write accepted before shutdown still completes: \(result.status) \(result.body)")
            }
        }
        #expect(slow.received.count == 1)
    }
}

// MARK: - Checks

/// An error body is one line of at most 1 KB: Prometheus reads no more.
func expectOneLine(_ result: HTTPResult, _ context: String, sourceLocation: SourceLocation = #_sourceLocation) {
    let lines = result.body.split(separator: "\n", omittingEmptySubsequences: false)
    #expect(
        result.body.utf8.count <= 1024 && lines.count == 2 && lines[1].isEmpty && !lines[0].isEmpty,
        "\(context): the body is not one line of at most 1 KB: \(result.body.prefix(200).debugDescription)",
        sourceLocation: sourceLocation
    )
}

/// Bytes in the hint segments under `directory` (0 when it does not exist).
func segmentBytes(in directory: String) -> Int {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
    return names.filter { $0.hasSuffix(".seg") }.reduce(0) { total, name in
        let attributes = try? FileManager.default.attributesOfItem(atPath: directory + "/" + name)
        return total + ((attributes?[.size] as? NSNumber)?.intValue ?? 0)
    }
}

/// Waits (30 s at most) until `node`'s queue is empty after `records` replays.
func expectHintsReplayed(
    _ insert: RunningInsert, node: String, records: Int, sourceLocation: SourceLocation = #_sourceLocation
) async throws {
    var last = MetricsText(text: "")
    let drained = try await eventually(timeout: .seconds(30), every: .milliseconds(100)) {
        last = try await insert.metrics()
        return last.value("sluice_insert_hints_total", ["node": node, "event": "replayed"]) == Double(records)
            && last.value("sluice_insert_hint_queue_bytes", ["node": node]) == 0
    }
    #expect(
        drained,
        "hints for \(node) not replayed: replayed \(String(describing: last.value("sluice_insert_hints_total", ["node": node, "event": "replayed"]))), queue bytes \(String(describing: last.value("sluice_insert_hint_queue_bytes", ["node": node])))",
        sourceLocation: sourceLocation
    )
    #expect(insert.server.hints.openQueues[node]?.count == 0, sourceLocation: sourceLocation)
}

/// Asks `peer` for a few series of each of `requests` at their last sample's timestamp, as a user
/// would query them, and checks the value is the one sent.
func expectInstantValues(
    _ peer: PeerProcess, fixtures: Fixtures, requests: Range<Int>, ring configuration: RingConfiguration,
    sourceLocation: SourceLocation = #_sourceLocation
) async throws {
    let ring = try configuration.makeRing()
    for index in requests {
        let picked = fixtures.requests[index].timeseries.lazy.compactMap { series -> (LabelSet, Sample)? in
            let labels = LabelSet(uniqueKeysWithValues: series.labels.map { ($0.name, $0.value) })
            guard owners(of: labels, ring: ring).contains(peer.name), let sample = series.samples.last, sample.value.isFinite else { return nil }
            return (labels, sample)
        }.prefix(3)
        #expect(picked.count == 3, "fixture \(index) has series with finite values on \(peer.name)", sourceLocation: sourceLocation)
        for (labels, sample) in picked {
            let value = try await peer.instantValue(of: stored(labels), at: sample.timestamp)
            #expect(value == sample.value, "\(peer.name), fixture \(index): \(labels) at \(sample.timestamp)", sourceLocation: sourceLocation)
        }
    }
}

/// Checks what each peer holds against the fixtures and the ring: every series on exactly the nodes
/// the ring places it on (tenant and labels as sent, hashed as the insert tier does), stored with the
/// tenant label and exactly its samples.
///
/// Prometheus keeps every series but leaves stale markers out of range queries; VictoriaMetrics
/// drops NaN samples, and with them series that hold nothing else, and rounds values to 12
/// significant digits.
func expectPlacement(
    _ peers: [PeerProcess], ring configuration: RingConfiguration, fixtures: Fixtures,
    sourceLocation: SourceLocation = #_sourceLocation
) async throws {
    let ring = try configuration.makeRing()
    let sent = fixtures.series()
    var expectedCopies: [LabelSet: Int] = [:]
    var copies: [LabelSet: Int] = [:]
    for peer in peers {
        try await peer.flush()
        let keep: (Double) -> Bool = peer.kind == .prometheus ? { !StaleMarker.isStale($0) } : { !$0.isNaN }
        var expectedSeries = Set<LabelSet>()
        var expectedSamples: [LabelSet: [Int64: Double]] = [:]
        for (labels, samples) in sent where owners(of: labels, ring: ring).contains(peer.name) {
            let kept = samples.filter { keep($0.value) }
            if peer.kind == .prometheus || !kept.isEmpty {
                expectedSeries.insert(stored(labels))
                expectedCopies[stored(labels), default: 0] += 1
            }
            if !kept.isEmpty { expectedSamples[stored(labels)] = kept }
        }

        // Compared outside #expect, which would print both sets whole.
        let held = try await peer.series(between: fixtures.timeRange)
        let sameSeries = held == expectedSeries
        #expect(sameSeries, "\(peer.name) series: \(difference(expected: expectedSeries, actual: held))", sourceLocation: sourceLocation)
        for labels in held { copies[labels, default: 0] += 1 }

        let samples = try await peer.samples(between: fixtures.timeRange)
        let sameKeys = Set(samples.keys) == Set(expectedSamples.keys)
        #expect(
            sameKeys,
            "\(peer.name) series with samples: \(difference(expected: Set(expectedSamples.keys), actual: Set(samples.keys)))",
            sourceLocation: sourceLocation
        )
        // VictoriaMetrics keeps 12 significant decimal digits of a value; Prometheus keeps it exactly.
        let tolerance = peer.kind == .prometheus ? 0 : 1e-11
        let wrong = expectedSamples.filter { labels, expected in samples[labels].map { !sameSamples($0, expected, tolerance: tolerance) } ?? false }
        let allRight = wrong.isEmpty
        #expect(
            allRight,
            "\(peer.name): \(wrong.count) series with other samples than sent, e.g. \(wrong.first.map { "\($0.key): sent \($0.value), stored \(samples[$0.key] ?? [:])" } ?? "")",
            sourceLocation: sourceLocation
        )
    }
    let sameCopies = copies == expectedCopies
    #expect(sameCopies, "copies per series differ from the ring's placement", sourceLocation: sourceLocation)
    if peers.allSatisfy({ $0.kind == .prometheus }) {
        #expect(copies.count == sent.count, "every series is somewhere", sourceLocation: sourceLocation)
        #expect(copies.values.allSatisfy { $0 == min(configuration.replicationFactor, peers.count) }, sourceLocation: sourceLocation)
    }
}
