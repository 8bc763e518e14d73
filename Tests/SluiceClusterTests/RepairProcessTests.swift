#if canImport(Glibc)
import Glibc
#endif
import Foundation
import NIOCore
import SluiceCodec
import SluiceLoadgen
import SluiceRing
import Synchronization
import SluiceTestSupport
import Testing

/// `sluice repair` against a cluster of separate processes: what hinted handoff could not carry to
/// a node that was down, repair copies to it.
@Suite("Repair across processes", .serialized, .enabled(if: PeerProcess.Kind.sluice([]).isInstalled, "needs the sluice binary (swift build)"))
struct RepairProcessTests {
    static let blockDuration: Int64 = 600_000
    static let step: Int64 = 15_000

    /// storage-3 is down while two and a half hours of history are written at RF 3; its hint queue
    /// (64 KiB) keeps only the newest part, dropping the rest. Back up, it gets those hints. A
    /// `sluice repair` killed with SIGKILL mid-copy, then one full pass, give it everything else:
    /// read alone, it then holds every sample the other two hold below the repair boundary, each
    /// once, and a second pass copies nothing.
    @Test func aNodeWhoseHintsOverflowedGetsEverythingBackFromRepairEvenAfterAKill() async throws {
        try await Self.withCluster("sluice-repair-hints", insertFlags: ["--max-hint-bytes-per-node", "65536"]) { cluster, directory in
            let victim = cluster.storage[2]
            try await victim.stop()

            let (series, start, last) = try await Self.writeHistory(through: cluster.insert)
            let metrics = { MetricsText(text: try await TestHTTP.get(cluster.insert.baseURL + "/metrics").body) }
            let dropped = try await metrics().value("sluice_insert_hints_total", ["node": victim.name, "event": "dropped"]) ?? 0
            #expect(dropped > 0, "the hint queue held everything: the test would not need repair")

            try await victim.start(timeout: .seconds(120))
            let drained = try await eventually(timeout: .seconds(120), every: .milliseconds(200)) {
                try await metrics().value("sluice_insert_hint_queue_bytes", ["node": victim.name]) == 0
            }
            #expect(drained, "the hints for \(victim.name) did not drain")

            let ring = directory.path + "/ring.yml"
            let boundary = try await Self.cutBoundary(cluster.storage, ring: ring, last: last)
            let before = try await Self.read(victim, from: start, before: boundary)
            let expected = try await Self.read(cluster.storage[0], from: start, before: boundary)
            #expect(expected.count == series.count)
            #expect(before.values.reduce(0) { $0 + $1.count } < expected.values.reduce(0) { $0 + $1.count }, "nothing was missing")

            // A first pass, copying in 4 KiB requests two seconds apart, killed with SIGKILL once the
            // victim has taken the first: the rerun must still end with each sample there once.
            let backfilled = { () async throws -> Double in
                MetricsText(text: try await TestHTTP.get(victim.baseURL + "/metrics").body).value("sluice_storage_backfilled_samples_total") ?? 0
            }
            let started = try await killSluice(
                ["repair", "--config", ring, "--max-bytes-per-second", "2000", "--max-backfill-bytes", "4096", "--log-level", "error"],
                once: { try await backfilled() > 0 })
            #expect(started)
            let missing = expected.values.reduce(0) { $0 + $1.count } - before.values.reduce(0) { $0 + $1.count }
            let partial = try await backfilled()
            #expect(partial > 0 && Int(partial) < missing, "copied \(partial) of \(missing) before the kill")

            #expect(try await Self.repair(ring, in: directory.path) != nil)
            let after = try await Self.read(victim, from: start, before: boundary)
            #expect(Self.bits(after) == Self.bits(expected), "\(describeDifference(expected, after))")
            // Nothing twice: the killed pass's copies and the rerun's together are exactly what was missing.
            #expect(Int(try await backfilled()) == missing)
            #expect(Self.bits(try await Self.read(cluster.storage[1], from: start, before: boundary)) == Self.bits(expected))

            let again = try await Self.repair(ring, in: directory.path)
            #expect(again?["samplesCopied"] as? Int == 0, "a second pass copied: \(again ?? [:])")
        }
    }

    /// A node lost its disk at RF 2: killed with SIGKILL, its data directory deleted, started
    /// empty. One `sluice repair` pass gives it back, read alone, every sample of every series the
    /// ring places on it, none missing and none extra, and a second pass copies nothing.
    @Test func aNodeThatLostItsDiskGetsItsHistoryBack() async throws {
        try await Self.withCluster("sluice-repair-disk", replicationFactor: 2) { cluster, directory in
            let (series, start, last) = try await Self.writeHistory(through: cluster.insert)
            let ring = directory.path + "/ring.yml"
            _ = try await Self.cutBoundary(cluster.storage, ring: ring, last: last, replicationFactor: 2)

            let victim = cluster.storage[1]
            let owned = try Self.owned(series, by: victim.name, ring: ring)
            #expect(!owned.isEmpty && owned.count < series.count)
            victim.kill()
            try FileManager.default.removeItem(atPath: victim.directory)
            try await victim.start(timeout: .seconds(120))
            // One sample of now, so that the empty node's boundary follows its head, not the wall
            // clock: the two passes below then compare the same windows.
            let anchor = WriteRequest(timeseries: [TimeSeries(
                labels: [Label(name: "__name__", value: "anchor")], samples: [Sample(timestamp: Int64(Date().timeIntervalSince1970 * 1000), value: 1)]
            )])
            #expect(try await Self.post(anchor, to: victim.writeURL) == 204)
            let boundary = try await Self.cutBoundary(cluster.storage, ring: ring, last: last, replicationFactor: 2)
            #expect(try await Self.read(victim, from: start, before: boundary).isEmpty)

            #expect(try await Self.repair(ring, in: directory.path) != nil)
            let after = try await Self.read(victim, from: start, before: boundary)
            var want: [LabelSet: [Int64: Double]] = [:]
            for one in series where owned.contains(one.labels) {
                var labels = Dictionary(uniqueKeysWithValues: one.labels.map { ($0.name, $0.value) })
                labels["tenant_id"] = "default"
                want[labels] = Dictionary(uniqueKeysWithValues: one.samples.filter { $0.timestamp < boundary }.map { ($0.timestamp, $0.value) })
            }
            #expect(Self.bits(after) == Self.bits(want), "\(describeDifference(want, after))")
            let again = try await Self.repair(ring, in: directory.path)
            #expect(again?["samplesCopied"] as? Int == 0, "a second pass copied: \(again ?? [:])")
        }
    }

    /// A fourth node joins at RF 3: insert and select switch to the new ring, and `sluice ring
    /// rebalance --delete-moved` runs while loadgen writes and reads through select. Every read of
    /// the history through select during the rebalance is complete, loadgen verifies every
    /// acknowledged sample, and afterwards each node holds below the boundary exactly the series
    /// the new ring gives it, each whole.
    @Test func aNodeJoinsAndRebalanceMovesHistoryWhileReadsStayComplete() async throws {
        try await Self.withCluster("sluice-rebalance-join") { cluster, directory in
        let joining = PeerProcess(
            .sluiceStorage(["--log-level=warning"] + Self.storageFlags), name: "storage-4", port: try freePorts(1)[0], directory: directory.path + "/storage-4"
        )
        defer { joining.kill() }
            let (series, start, last) = try await Self.writeHistory(through: cluster.insert)
            let ring = directory.path + "/ring.yml"
            let oldRing = directory.path + "/old.yml"
            _ = try await Self.cutBoundary(cluster.storage, ring: ring, last: last)

            try await joining.start(timeout: .seconds(120))
            let nodes = cluster.storage + [joining]
            #expect(try await Self.switchRing(ring, keeping: oldRing, to: nodes, replicationFactor: 3, insert: cluster.insert), "insert did not load the new ring")
            // Select has switched once a read asks the new node too.
            let selectSwitched = try await eventually(timeout: .seconds(30), every: .milliseconds(100)) {
                _ = try await Self.read(cluster.select, from: start, before: start + Self.step)
                let metrics = MetricsText(text: try await TestHTTP.get(cluster.select.baseURL + "/metrics").body)
                return metrics.value("sluice_select_node_requests_total", ["node": joining.name, "result": "ok"]) != nil
            }
            #expect(selectSwitched, "select did not load the new ring")
            let boundary = try await Self.cutBoundary(nodes, ring: ring, last: last)
            let history = series.reduce(0) { $0 + $1.samples.filter { $0.timestamp < boundary }.count }

            let configuration = LoadgenConfiguration.bounded(
                url: cluster.insert.writeURL, run: "join", series: 200, requests: 60, concurrency: 2, pace: .rate(1000), maxRetryTime: 60)
            let generator = try LoadGenerator(configuration: configuration)
            async let load = generator.generate()
            let finished = Finished()
            let rebalance = Task {
                defer { finished.value.store(true, ordering: .releasing) }
                return try await runSluice(["ring", "rebalance", "--config", oldRing, "--to", ring, "--delete-moved", "--log-level", "error"])
            }
            // History through select, read again and again while the rebalance copies and deletes.
            var reads = 0
            var incomplete: [Int] = []
            repeat {
                let held = try await Self.read(cluster.select, from: start, before: boundary)
                let count = held.values.reduce(0) { $0 + $1.count }
                reads += 1
                if count != history { incomplete.append(count) }
            } while !finished.value.load(ordering: .acquiring) && reads < 200
            let moved = try await rebalance.value
            let report = try await load
            #expect(moved.status == 0, "rebalance exited \(moved.status): \(moved.stdout) \(moved.stderr)")
            #expect(reads > 0 && incomplete.isEmpty, "\(incomplete.count) of \(reads) reads through select were incomplete: \(incomplete.prefix(5)) of \(history)")
            #expect(report.requests.failed == 0, "\(report.text)")
            var verifier = Verifier(
                url: cluster.select.baseURL + "/api/v1/read", tenant: nil, shape: generator.shape, batch: configuration.batch,
                outcomes: generator.recorder.outcomes
            )
            verifier.ignoredLabels = ["tenant_id"]
            let verified = try await verifier.verify()
            #expect(verified.ok && verified.missing == 0, "\(verified.examples)")

            // Node by node: exactly the series the new ring places there, each with all its history.
            for node in nodes {
                let held = try await Self.read(node, from: start, before: boundary)
                let want = Set(try Self.owned(series, by: node.name, ring: ring).map { Dictionary(uniqueKeysWithValues: $0.map { ($0.name, $0.value) }) })
                let keys = Set(held.keys.map { $0.filter { $0.key != "tenant_id" } })
                #expect(keys == want, "\(node.name) holds \(keys.count) series, the ring gives it \(want.count)")
                #expect(held.values.allSatisfy { $0.count == history / series.count }, "\(node.name) holds a series only in part")
            }
        }
    }

    /// Draining a node: insert and select switch to a ring without storage-3, `sluice ring rebalance
    /// --delete-moved` runs, and storage-3 is stopped. Nothing is lost at RF 2: the two left each
    /// hold every series whole below the boundary, select reads all of it, and the drained node
    /// held none of it before it stopped.
    @Test func aDrainedNodeCanBeStoppedLosingNothing() async throws {
        try await Self.withCluster("sluice-rebalance-drain", replicationFactor: 2) { cluster, directory in
            let (series, start, last) = try await Self.writeHistory(through: cluster.insert)
            let ring = directory.path + "/ring.yml"
            let oldRing = directory.path + "/old.yml"
            _ = try await Self.cutBoundary(cluster.storage, ring: ring, last: last, replicationFactor: 2)
            let drained = cluster.storage[2]
            #expect(!(try Self.owned(series, by: drained.name, ring: ring)).isEmpty)

            let staying = Array(cluster.storage.prefix(2))
            #expect(try await Self.switchRing(ring, keeping: oldRing, to: staying, replicationFactor: 2, insert: cluster.insert), "insert did not load the new ring")
            let boundary = try await Self.cutBoundary(cluster.storage, ring: oldRing, last: last, replicationFactor: 2)

            let moved = try await runSluice(["ring", "rebalance", "--config", oldRing, "--to", ring, "--delete-moved", "--log-level", "error"])
            #expect(moved.status == 0, "rebalance exited \(moved.status): \(moved.stdout) \(moved.stderr)")
            #expect(try await Self.read(drained, from: start, before: boundary).isEmpty, "the drained node still holds history")
            try await drained.stop()

            let history = series.reduce(0) { $0 + $1.samples.filter { $0.timestamp < boundary }.count }
            for node in staying {
                let held = try await Self.read(node, from: start, before: boundary)
                #expect(held.count == series.count && held.values.reduce(0) { $0 + $1.count } == history, "\(node.name) holds \(held.count) series")
            }
            // Select, on the new ring, reads everything from the two left (some read may still find
            // the stopped node in its health board: it is not in the ring any more).
            let throughSelect = try await Self.read(cluster.select, from: start, before: boundary)
            #expect(throughSelect.values.reduce(0) { $0 + $1.count } == history)
        }
    }

    /// A pass over replicas that agree, a million samples at RF 2 written through insert: the
    /// digests it receives are under 1% of the samples' bytes as compressed remote write.
    @Test func aPassOverAMillionEqualSamplesMovesUnderOnePercent() async throws {
        try await Self.withCluster("sluice-repair-million", replicationFactor: 2) { cluster, directory in
            // 1,000 series × 1,000 samples at 9 s: two and a half hours ending about now.
            let (series, _, last) = try await Self.writeHistory(through: cluster.insert, series: 1000, step: 9_000)
            let ring = directory.path + "/ring.yml"
            _ = try await Self.cutBoundary(cluster.storage, ring: ring, last: last, replicationFactor: 2)
            let report = try await Self.repair(ring, in: directory.path)
            let compared = report?["bytesCompared"] as? Int ?? 0
            #expect(report?["samplesCopied"] as? Int == 0)
            let wire = Snappy.compress(MessageCodec().encoded { codec, out in codec.encode(WriteRequest(timeseries: series), appendingTo: out) }).count
            #expect(compared > 0 && compared * 100 < wire, "digests took \(compared) bytes; the samples are \(wire) bytes on the wire")
        }
    }

    static let storageFlags = ["--block-duration", "10m", "--compaction-interval", "100ms", "--retention", "0"]

    /// Compares by bit pattern: the synthetic series hold NaNs, which equal nothing as doubles.
    static func bits(_ data: [LabelSet: [Int64: Double]]) -> [LabelSet: [Int64: UInt64]] {
        data.mapValues { $0.mapValues(\.bitPattern) }
    }

    /// Remote-writes `request` to `url`; returns the status.
    static func post(_ request: WriteRequest, to url: String) async throws -> Int {
        let body = Snappy.compress(MessageCodec().encoded { codec, out in codec.encode(request, appendingTo: out) })
        return Int(try await TestHTTP.send(.POST, url, headers: TestHTTP.remoteWriteHeaders, body: .bytes(body)).status)
    }

    /// One `sluice repair` pass: its report, or nil (recorded as an issue) when it did not exit 0.
    static func repair(_ ring: String, in directory: String) async throws -> [String: Any]? {
        let path = directory + "/report-\(UUID().uuidString).json"
        let pass = try await runSluice(["repair", "--config", ring, "--report", path, "--log-level", "error"])
        guard pass.status == 0 else {
            Issue.record("repair exited \(pass.status): \(pass.stdout) \(pass.stderr)")
            return nil
        }
        return try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any]
    }

    /// Keeps the ring file as `oldRing`, replaces it (atomically, as an operator would) with a ring
    /// of `nodes`, and waits until insert has loaded it.
    static func switchRing(_ ring: String, keeping oldRing: String, to nodes: [PeerProcess], replicationFactor: Int, insert: PeerProcess) async throws -> Bool {
        try FileManager.default.copyItem(atPath: ring, toPath: oldRing)
        let yaml = "replication_factor: \(replicationFactor)\nwrite_quorum: 2\nnodes:\n" + nodes.map { "  - {name: \($0.name), url: \($0.writeURL)}\n" }.joined()
        try yaml.write(toFile: ring + ".new", atomically: true, encoding: .utf8)
        guard rename(ring + ".new", ring) == 0 else { throw EndToEndError("could not replace \(ring)") }
        return try await eventually(timeout: .seconds(30), every: .milliseconds(100)) {
            MetricsText(text: try await TestHTTP.get(insert.baseURL + "/metrics").body).value("sluice_ring_nodes") == Double(nodes.count)
        }
    }

    /// Runs `body` with a started cluster of this suite's storage nodes in a fresh directory named
    /// after `name`, then kills every process and removes the directory.
    static func withCluster(
        _ name: String, replicationFactor: Int = 3, insertFlags: [String] = [],
        _ body: (Cluster, TemporaryDirectory) async throws -> Void
    ) async throws {
        let directory = try TemporaryDirectory(name)
        defer { directory.remove() }
        let cluster = try Cluster(
            directory: directory.path, storageFlags: storageFlags, insertFlags: insertFlags, replicationFactor: replicationFactor)
        defer { cluster.killAll() }
        try await cluster.start()
        try await body(cluster, directory)
    }

    /// Writes two and a half hours of `count` series (24 at 15 s unless told) through `insert`, ten
    /// minutes per request, in time order, ending about now.
    static func writeHistory(
        through insert: PeerProcess, series count: Int = 24, step: Int64 = step
    ) async throws -> (series: [TimeSeries], start: Int64, last: Int64) {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let start = (now - 150 * 60_000) - (now - 150 * 60_000) % Self.blockDuration
        let series = syntheticSeries(count, samples: Int(150 * 60_000 / step), start: start, step: step)
        let last = series[0].samples.last!.timestamp
        for from in stride(from: start, through: last, by: Int(Self.blockDuration)) {
            let slice = WriteRequest(timeseries: series.map { one in
                TimeSeries(labels: one.labels, samples: one.samples.filter { $0.timestamp >= from && $0.timestamp < from + Self.blockDuration })
            })
            #expect(try await Self.post(slice, to: insert.writeURL) == 204)
        }
        return (series, start, last)
    }

    /// The label sets of `series` the ring in `ring` places on `node`, hashed as insert hashes them
    /// (tenant `default`, its label not part of the key).
    static func owned(_ series: [TimeSeries], by node: String, ring: String) throws -> Set<[Label]> {
        let hashRing = try RingConfiguration.parse(yaml: try String(contentsOfFile: ring, encoding: .utf8)).makeRing()
        return Set(series.map(\.labels).filter { labels in
            hashRing.replicaNames(for: SeriesKeyHasher.hash(tenant: "default", labels: labels.map { (name: $0.name, value: $0.value) })).contains(node)
        })
    }

    /// Waits until every node has cut what its head is done with, and returns the repair boundary.
    static func cutBoundary(_ nodes: [PeerProcess], ring: String, last: Int64, replicationFactor: Int = 3) async throws -> Int64 {
        let cut = try await eventually(timeout: .seconds(60), every: .milliseconds(200)) {
            try await Self.boundary(nodes, ring: ring, replicationFactor: replicationFactor) >= last - 2 * Self.blockDuration
        }
        #expect(cut)
        return try await Self.boundary(nodes, ring: ring, replicationFactor: replicationFactor)
    }

    /// The lowest backfill boundary of the nodes: below it, every node's head is done.
    static func boundary(_ nodes: [PeerProcess], ring: String, replicationFactor: Int = 3) async throws -> Int64 {
        let yaml = try String(contentsOfFile: ring, encoding: .utf8)
        var lowest = Int64.max
        for node in nodes {
            let request: [String: Any] = [
                // Any replica set will do: the boundary is the node's, whatever the set.
                "series": ["ring": yaml, "replicaSet": nodes.prefix(replicationFactor).map(\.name), "defaultTenant": "default"], "buckets": 1, "detail": [],
            ]
            let body = try JSONSerialization.data(withJSONObject: request)
            let answer = try await TestHTTP.send(.POST, node.baseURL + "/api/v1/digest", headers: [("Content-Type", "application/json")], body: .bytes(ByteBuffer(bytes: Array(body))))
            guard answer.status == 200 else { throw EndToEndError("\(node.name) digest answered \(answer.status): \(answer.body)") }
            let decoded = try JSONSerialization.jsonObject(with: Data(answer.bytes)) as? [String: Any]
            guard let value = (decoded?["backfillBoundary"] as? NSNumber)?.int64Value else { throw EndToEndError("no backfillBoundary in \(answer.body)") }
            lowest = min(lowest, value)
        }
        return lowest
    }

    /// Everything `node` holds in `[from, before)`, read from it alone.
    static func read(_ node: PeerProcess, from: Int64, before: Int64) async throws -> [LabelSet: [Int64: Double]] {
        let query = Query(startMs: from, endMs: before - 1, matchers: [LabelMatcher(.regex, name: "__name__", value: ".+")])
        let request = ReadRequest(queries: [query], acceptedResponseTypes: [.samples])
        let body = Snappy.compress(MessageCodec().encoded { codec, out in codec.encode(request, appendingTo: out) })
        let headers = [("Content-Type", "application/x-protobuf"), ("Content-Encoding", "snappy"), ("X-Prometheus-Remote-Read-Version", "0.1.0")]
        let answer = try await TestHTTP.send(.POST, node.baseURL + "/api/v1/read", headers: headers, body: .bytes(body))
        guard answer.status == 200 else { throw EndToEndError("\(node.name) read answered \(answer.status)") }
        let decoded = try Snappy.decompress(answer.bytes, limit: 1 << 30).withUnsafeBytes { try MessageCodec().decodeReadResponse($0) }
        var out: [LabelSet: [Int64: Double]] = [:]
        for one in decoded.results[0].timeseries {
            out[Dictionary(uniqueKeysWithValues: one.labels.map { ($0.name, $0.value) })] = Dictionary(uniqueKeysWithValues: one.samples.map { ($0.timestamp, $0.value) })
        }
        return out
    }
}

/// Set once a background task is done.
private final class Finished: Sendable {
    let value = Atomic<Bool>(false)
}
