import Foundation
import NIOCore
import NIOFoundationCompat
import Prometheus
import ServiceLifecycle
import SluiceCodec
import SluiceHTTP
@testable import SluiceRepair
import SluiceRing
import SluiceStorage
import SluiceTestSupport
import Testing

/// `sluice repair` against real storage nodes in this process (HTTP on loopback port 0): a node that
/// lost its disk gets its replicas' history back, equal replicas cost no copy, and a node that does
/// not answer fails the pass.
@Suite("Repair: replicas converge")
struct RepairTests {
    /// 10-minute blocks, so two and a half hours of data cut into blocks within the test.
    static let blockDuration: Int64 = 600_000
    static let step: Int64 = 15_000
    static let now = Int64(Date().timeIntervalSince1970 * 1000)
    static let start = (now - 150 * 60_000) - (now - 150 * 60_000) % blockDuration
    /// 24 series, 2 h 30 min at 15 s, ending about now: inside the nodes' retention.
    static let series: [TimeSeries] = syntheticSeries(24, samples: 600, start: start, step: step).map {
        TimeSeries(labels: ($0.labels + [Label(name: "tenant_id", value: "default")]).sorted { $0.name < $1.name }, samples: $0.samples)
    }

    struct Node: Sendable {
        let name: String
        let port: Int
        let group: ServiceGroup
        var url: String { "http://127.0.0.1:\(port)" }
        var ringNode: RingConfiguration.Node { .init(name: name, url: url + "/api/v1/write") }

        func write(_ request: WriteRequest) async throws {
            let body = Snappy.compress(MessageCodec().encoded { codec, out in codec.encode(request, appendingTo: out) })
            let result = try await TestHTTP.send(.POST, url + "/api/v1/write", headers: TestHTTP.remoteWriteHeaders, body: .bytes(body))
            guard result.status == 204 else { throw EndToEndError("\(name) answered \(result.status): \(result.body)") }
        }

        /// What the node holds of every series before `end`, read back through remote read.
        func read(before end: Int64) async throws -> [LabelSet: [Int64: Double]] {
            let query = Query(startMs: RepairTests.start, endMs: end - 1, matchers: [LabelMatcher(.regex, name: "__name__", value: ".+")])
            let request = ReadRequest(queries: [query], acceptedResponseTypes: [.samples])
            let body = Snappy.compress(MessageCodec().encoded { codec, out in codec.encode(request, appendingTo: out) })
            let headers = [("Content-Type", "application/x-protobuf"), ("Content-Encoding", "snappy"), ("X-Prometheus-Remote-Read-Version", "0.1.0")]
            let result = try await TestHTTP.send(.POST, url + "/api/v1/read", headers: headers, body: .bytes(body))
            guard result.status == 200 else { throw EndToEndError("\(name) read answered \(result.status)") }
            let decoded = try Snappy.decompress(result.bytes, limit: 1 << 30).withUnsafeBytes { try MessageCodec().decodeReadResponse($0) }
            var out: [LabelSet: [Int64: Double]] = [:]
            for series in decoded.results[0].timeseries {
                out[Dictionary(uniqueKeysWithValues: series.labels.map { ($0.name, $0.value) })] = Dictionary(uniqueKeysWithValues: series.samples.map { ($0.timestamp, $0.value) })
            }
            return out
        }
    }

    /// Three storage nodes, each in its own service group, for the duration of `body`.
    static func withNodes<T: Sendable>(in directory: String, _ body: ([Node]) async throws -> T) async throws -> T {
        var servers: [StorageServer] = []
        for name in ["a", "b", "c"] {
            var configuration = StorageConfiguration()
            configuration.port = 0
            configuration.dataDirectory = directory + "/" + name
            configuration.blockDuration = .milliseconds(blockDuration)
            configuration.compactionInterval = .milliseconds(100)
            servers.append(try StorageServer(configuration: configuration, logger: TestLog.logger("repair.storage.\(name)")))
        }
        let ports = servers.map { _ in PortPromise() }
        let groups = zip(servers, ports).map { server, port in server.service(onServerRunning: { port.fulfil($0) }) }
        return try await withServices(groups) { _ in
            var nodes: [Node] = []
            for (index, name) in ["a", "b", "c"].enumerated() {
                nodes.append(Node(name: name, port: try await ports[index].wait(timeout: .seconds(120)), group: groups[index]))
            }
            for node in nodes {
                let ready = try await eventually(timeout: .seconds(120)) { (try? await TestHTTP.get(node.url + "/-/ready"))?.status == 200 }
                guard ready else { throw EndToEndError("\(node.name) not ready") }
            }
            return try await body(nodes)
        }
    }

    /// Where the ring places each series: by name of node.
    static func placement(_ ring: RingConfiguration, of series: [TimeSeries] = series) throws -> [[Label]: [String]] {
        let hashRing = try ring.makeRing()
        var out: [[Label]: [String]] = [:]
        for one in series {
            let own = one.labels.filter { $0.name != "tenant_id" }.map { (name: $0.name, value: $0.value) }
            out[one.labels] = hashRing.replicaNames(for: SeriesKeyHasher.hash(tenant: "default", labels: own))
        }
        return out
    }

    /// Writes each series to its replicas, ten minutes per request; `c` only from `cFrom` on.
    static func write(_ nodes: [Node], placement: [[Label]: [String]], cFrom: Int64, series: [TimeSeries] = series) async throws {
        for from in stride(from: Self.start, to: series[0].samples.last!.timestamp + 1, by: Int(Self.blockDuration)) {
            for node in nodes {
                let mine = series.filter { placement[$0.labels]!.contains(node.name) }.map { one in
                    TimeSeries(labels: one.labels, samples: one.samples.filter {
                        $0.timestamp >= from && $0.timestamp < from + blockDuration && (node.name != "c" || $0.timestamp >= cFrom)
                    })
                }.filter { !$0.samples.isEmpty }
                if !mine.isEmpty { try await node.write(WriteRequest(timeseries: mine)) }
            }
        }
    }

    /// The digests' boundary of every node, once each has cut what it can.
    static func boundaries(_ nodes: [Node], ring: RingConfiguration) async throws -> [Int64] {
        var out: [Int64] = []
        for node in nodes {
            let request = SeriesDigest.Request(ring: ring.yaml(), replicaSet: ["a", "b"], buckets: 1, tenantLabel: "tenant_id", defaultTenant: "default")
            let body = try JSONEncoder().encode(request)
            let result = try await TestHTTP.send(.POST, node.url + SeriesDigest.path, headers: [("Content-Type", "application/json")], body: .bytes(ByteBuffer(data: body)))
            guard result.status == 200 else { throw EndToEndError("digest answered \(result.status): \(result.body)") }
            out.append(try JSONDecoder().decode(SeriesDigest.Response.self, from: Data(result.bytes)).backfillBoundary)
        }
        return out
    }

    @Test func aNodeThatLostItsDiskGetsItsReplicasHistoryBack() async throws {
        let directory = try TemporaryDirectory("sluice-repair")
        defer { directory.remove() }
        try await Self.withNodes(in: directory.path) { nodes in
            let ring = RingConfiguration(replicationFactor: 2, nodes: nodes.map(\.ringNode))
            let ringFile = directory.path + "/ring.yml"
            try ring.yaml().write(toFile: ringFile, atomically: true, encoding: .utf8)
            let placement = try Self.placement(ring)
            #expect(placement.values.contains { $0.contains("c") })
            // c came back empty 20 minutes before the end and has taken writes since.
            let cFrom = Self.series[0].samples.last!.timestamp - 20 * 60_000
            try await Self.write(nodes, placement: placement, cFrom: cFrom)
            // Each node cuts what its head is done with.
            let cut = try await eventually(timeout: .seconds(60)) {
                try await Self.boundaries(nodes, ring: ring).allSatisfy { $0 >= cFrom - Self.blockDuration }
            }
            #expect(cut)
            let boundary = try await Self.boundaries(nodes, ring: ring).min()!

            var configuration = RepairConfiguration(ringFile: ringFile)
            configuration.buckets = 8
            configuration.seriesPerRead = 5
            configuration.maxBackfillBytes = 16 * 1024

            // A dry run finds what c lacks and copies nothing.
            configuration.dryRun = true
            let dry = Repairer(configuration: configuration, logger: TestLog.logger("repair"))
            let found = try await dry.pass()
            try await dry.shutdown()
            #expect(found.replicaSets == 3 && found.replicaSetsCompared == 3)
            #expect(found.cellsDiffering > 0)
            #expect(found.seriesDiffering == placement.values.filter { $0.contains("c") }.count)
            #expect(found.samplesCopied == 0)
            #expect(!found.agreed)

            configuration.dryRun = false
            let repairer = Repairer(configuration: configuration, logger: TestLog.logger("repair"))
            var lines: [String] = []
            let report = try await repairer.pass { progress, _ in lines.append(progress.line) }
            #expect(lines.count == 3)
            #expect(report.agreed, "\(report)")
            #expect(report.cellsConflicting == 0)
            let lacking = Self.series.filter { placement[$0.labels]!.contains("c") }
                .reduce(0) { $0 + $1.samples.filter { $0.timestamp < min(cFrom, boundary) }.count }
            #expect(report.samplesCopied == lacking)
            #expect(report.seriesCopied == report.seriesDiffering)
            #expect(report.bytesCopied > 0)

            // c now holds, below the boundary, exactly what the ring placed on it.
            let held = try await nodes[2].read(before: boundary)
            var want: [LabelSet: [Int64: Double]] = [:]
            for one in Self.series where placement[one.labels]!.contains("c") {
                want[Dictionary(uniqueKeysWithValues: one.labels.map { ($0.name, $0.value) })] =
                    Dictionary(uniqueKeysWithValues: one.samples.filter { $0.timestamp < boundary }.map { ($0.timestamp, $0.value) })
            }
            // By bit pattern: the synthetic series hold NaNs, which equal nothing as doubles.
            let bits = { (data: [LabelSet: [Int64: Double]]) in data.mapValues { $0.mapValues(\.bitPattern) } }
            #expect(bits(held) == bits(want), "c holds \(held.count) series, \(held.values.reduce(0) { $0 + $1.count }) samples; want \(want.count), \(want.values.reduce(0) { $0 + $1.count })")

            // Equal replicas: a second pass compares and copies nothing.
            let again = try await repairer.pass()
            try await repairer.shutdown()
            #expect(again.agreed)
            #expect(again.cellsDiffering == 0 && again.samplesCopied == 0 && again.bytesCopied == 0)
            // Each window as one cell, with no drill-down into buckets: fewer cells, fewer bytes.
            #expect(again.cellsCompared > 0 && again.cellsCompared < report.cellsCompared)
            #expect(again.bytesCompared > 0 && again.bytesCompared < report.bytesCompared)
        }
    }

    /// Replicas that agree cost little to compare: over a cluster holding a million samples (RF 2,
    /// so two million stored), a pass receives digests of less than 1% of what copying the samples
    /// would send (their remote-write bytes, snappy-compressed).
    @Test func aPassOverEqualReplicasMovesUnderOnePercentOfTheirBytes() async throws {
        let directory = try TemporaryDirectory("sluice-repair-equal")
        defer { directory.remove() }
        // 1,000 series × 1,000 samples at 9 s: the same two and a half hours as the other tests.
        let million = syntheticSeries(1000, samples: 1000, start: Self.start, step: 9_000).map {
            TimeSeries(labels: ($0.labels + [Label(name: "tenant_id", value: "default")]).sorted { $0.name < $1.name }, samples: $0.samples)
        }
        try await Self.withNodes(in: directory.path) { nodes in
            let ring = RingConfiguration(replicationFactor: 2, nodes: nodes.map(\.ringNode))
            let ringFile = directory.path + "/ring.yml"
            try ring.yaml().write(toFile: ringFile, atomically: true, encoding: .utf8)
            try await Self.write(nodes, placement: try Self.placement(ring, of: million), cFrom: .min, series: million)
            let cut = try await eventually(timeout: .seconds(60)) {
                try await Self.boundaries(nodes, ring: ring).allSatisfy { $0 >= million[0].samples.last!.timestamp - 2 * Self.blockDuration }
            }
            #expect(cut)

            let repairer = Repairer(configuration: RepairConfiguration(ringFile: ringFile), logger: TestLog.logger("repair"))
            let report = try await repairer.pass()
            try await repairer.shutdown()
            #expect(report.agreed, "\(report)")
            #expect(report.cellsDiffering == 0 && report.samplesCopied == 0)
            let wire = Snappy.compress(MessageCodec().encoded { codec, out in codec.encode(WriteRequest(timeseries: million), appendingTo: out) }).count
            #expect(report.bytesCompared > 0)
            #expect(report.bytesCompared * 100 < wire, "digests took \(report.bytesCompared) bytes; the samples are \(wire) bytes on the wire")
        }
    }

    /// Two nodes at RF 2 hold everything, written under the old ring; c joins (RF 2 over three).
    /// Returns the two ring files, the series the new ring puts on c, and the boundary every node
    /// has cut to, once the two have cut their history.
    static func cJoins(_ nodes: [Node], in directory: String) async throws -> (old: String, new: String, moving: [TimeSeries], boundary: Int64) {
        let old = RingConfiguration(replicationFactor: 2, nodes: Array(nodes.prefix(2)).map(\.ringNode))
        let new = RingConfiguration(replicationFactor: 2, nodes: nodes.map(\.ringNode))
        let oldFile = directory + "/old.yml"
        let newFile = directory + "/new.yml"
        try old.yaml().write(toFile: oldFile, atomically: true, encoding: .utf8)
        try new.yaml().write(toFile: newFile, atomically: true, encoding: .utf8)
        let after = try placement(new)
        let moving = series.filter { after[$0.labels]!.contains("c") }
        try await write(Array(nodes.prefix(2)), placement: try placement(old), cFrom: .max)
        // One sample of now on c, which holds nothing else: an empty head counts its boundary from
        // the wall clock, which would move it mid-test whenever a ten-minute window passes.
        try await nodes[2].write(WriteRequest(timeseries: [TimeSeries(
            labels: [Label(name: "__name__", value: "anchor")], samples: [Sample(timestamp: Int64(Date().timeIntervalSince1970 * 1000), value: 1)]
        )]))
        let cut = try await eventually(timeout: .seconds(60)) {
            try await boundaries(Array(nodes.prefix(2)), ring: new).allSatisfy { $0 >= series[0].samples.last!.timestamp - 2 * blockDuration }
        }
        guard cut else { throw EndToEndError("the nodes did not cut their history within 60 s") }
        return (oldFile, newFile, moving, try await boundaries(nodes, ring: new).min()!)
    }

    @Test func rebalanceCopiesMovedHistoryToANewNodeAndARerunCopiesNothing() async throws {
        let directory = try TemporaryDirectory("sluice-rebalance")
        defer { directory.remove() }
        try await Self.withNodes(in: directory.path) { nodes in
            let (oldFile, newFile, moving, boundary) = try await Self.cJoins(nodes, in: directory.path)
            #expect(!moving.isEmpty)

            let repairer = Repairer(configuration: RepairConfiguration(ringFile: newFile), logger: TestLog.logger("rebalance"))
            let report = try await repairer.rebalance(from: oldFile)
            #expect(report.agreed, "\(report)")
            #expect(report.replicaSets == 3)
            #expect(report.seriesCopied == moving.count)
            #expect(report.samplesCopied == moving.reduce(0) { $0 + $1.samples.filter { $0.timestamp < boundary }.count })

            let held = try await nodes[2].read(before: boundary)
            #expect(Set(held.keys) == Set(moving.map { Dictionary(uniqueKeysWithValues: $0.labels.map { ($0.name, $0.value) }) }))
            #expect(held.values.reduce(0) { $0 + $1.count } == report.samplesCopied)

            // Interrupted or not, a rerun finds the new owners complete and copies nothing.
            let again = try await repairer.rebalance(from: oldFile)
            try await repairer.shutdown()
            #expect(again.agreed)
            #expect(again.samplesCopied == 0 && again.bytesCopied == 0)
        }
    }

    @Test func deleteMovedLeavesEachSeriesOnItsNewOwnersOnly() async throws {
        let directory = try TemporaryDirectory("sluice-rebalance-delete")
        defer { directory.remove() }
        try await Self.withNodes(in: directory.path) { nodes in
            let (oldFile, newFile, _, boundary) = try await Self.cJoins(nodes, in: directory.path)
            let after = try Self.placement(RingConfiguration.load(path: newFile))
            let repairer = Repairer(configuration: RepairConfiguration(ringFile: newFile), logger: TestLog.logger("rebalance"))
            let report = try await repairer.rebalance(from: oldFile, deleteMoved: true)
            #expect(report.agreed, "\(report)")
            #expect(report.deletionsSkipped.isEmpty)
            // Every moved series left exactly the old owner it no longer has.
            #expect(report.seriesDeleted > 0)
            #expect(report.samplesDeleted == report.samplesCopied)
            for node in nodes {
                let held = try await node.read(before: boundary)
                let want = Set(Self.series.filter { after[$0.labels]!.contains(node.name) }.map { Dictionary(uniqueKeysWithValues: $0.labels.map { ($0.name, $0.value) }) })
                #expect(Set(held.keys) == want, "\(node.name) holds \(held.count) series, owns \(want.count)")
                #expect(held.values.allSatisfy { $0.count == Int((boundary - Self.start) / Self.step) }, "\(node.name) lacks samples")
            }
            // Done is done: a rerun copies and deletes nothing.
            let again = try await repairer.rebalance(from: oldFile, deleteMoved: true)
            try await repairer.shutdown()
            #expect(again.agreed && again.samplesCopied == 0 && again.seriesDeleted == 0)
        }
    }

    /// Draining a node: rebalance to a ring without it, with `--delete-moved`. Below the boundary
    /// the two that stay then hold every sample of every series (RF 2 of 2), and the drained node
    /// holds nothing there, so stopping it loses nothing.
    @Test func drainingANodeLeavesEverySampleOnTheOthers() async throws {
        let directory = try TemporaryDirectory("sluice-rebalance-drain")
        defer { directory.remove() }
        try await Self.withNodes(in: directory.path) { nodes in
            let three = RingConfiguration(replicationFactor: 2, nodes: nodes.map(\.ringNode))
            let two = RingConfiguration(replicationFactor: 2, nodes: Array(nodes.prefix(2)).map(\.ringNode))
            let oldFile = directory.path + "/three.yml"
            let newFile = directory.path + "/two.yml"
            try three.yaml().write(toFile: oldFile, atomically: true, encoding: .utf8)
            try two.yaml().write(toFile: newFile, atomically: true, encoding: .utf8)
            let before = try Self.placement(three)
            #expect(before.values.contains { $0.contains("c") })
            try await Self.write(nodes, placement: before, cFrom: .min)
            let cut = try await eventually(timeout: .seconds(60)) {
                try await Self.boundaries(nodes, ring: two).allSatisfy { $0 >= Self.series[0].samples.last!.timestamp - 2 * Self.blockDuration }
            }
            #expect(cut)
            let boundary = try await Self.boundaries(nodes, ring: two).min()!

            let repairer = Repairer(configuration: RepairConfiguration(ringFile: newFile), logger: TestLog.logger("drain"))
            let report = try await repairer.rebalance(from: oldFile, deleteMoved: true)
            try await repairer.shutdown()
            #expect(report.agreed, "\(report)")
            #expect(report.deletionsSkipped.isEmpty)
            #expect(report.samplesCopied > 0)

            let everything = Set(Self.series.map { Dictionary(uniqueKeysWithValues: $0.labels.map { ($0.name, $0.value) }) })
            let perSeries = Int((boundary - Self.start) / Self.step)
            for node in nodes.prefix(2) {
                let held = try await node.read(before: boundary)
                #expect(Set(held.keys) == everything, "\(node.name) holds \(held.count) of \(everything.count) series")
                #expect(held.values.allSatisfy { $0.count == perSeries }, "\(node.name) lacks samples")
            }
            let drained = try await nodes[2].read(before: boundary)
            #expect(drained.isEmpty, "c still holds \(drained.count) series below the boundary")
        }
    }

    @Test func deleteMovedKeepsASourcesCopyWhileTheNewOwnersConflict() async throws {
        let directory = try TemporaryDirectory("sluice-rebalance-conflict")
        defer { directory.remove() }
        try await Self.withNodes(in: directory.path) { nodes in
            let (oldFile, newFile, moving, _) = try await Self.cJoins(nodes, in: directory.path)
            // c already holds another value at one timestamp of a series it will own.
            let series = try #require(moving.first)
            let first = series.samples[0]
            let conflicting = WriteRequest(timeseries: [TimeSeries(labels: series.labels, samples: [Sample(timestamp: first.timestamp, value: first.value + 1)])])
            let body = Snappy.compress(MessageCodec().encoded { codec, out in codec.encode(conflicting, appendingTo: out) })
            let backfilled = try await TestHTTP.send(.POST, nodes[2].url + BackfillHeaders.path, headers: TestHTTP.remoteWriteHeaders, body: .bytes(body))
            #expect(backfilled.status == 204, "\(backfilled.body)")

            let repairer = Repairer(configuration: RepairConfiguration(ringFile: newFile), logger: TestLog.logger("rebalance"))
            let report = try await repairer.rebalance(from: oldFile, deleteMoved: true)
            try await repairer.shutdown()
            #expect(!report.agreed)
            #expect(report.cellsConflicting >= 1)
            #expect(!report.deletionsSkipped.isEmpty)
            // The old owner that would have lost the series keeps it.
            let labels = Dictionary(uniqueKeysWithValues: series.labels.map { ($0.name, $0.value) })
            let keepers = try await [nodes[0].read(before: Self.series[0].samples.last!.timestamp), nodes[1].read(before: Self.series[0].samples.last!.timestamp)]
            #expect(keepers.allSatisfy { $0[labels]?[first.timestamp] == first.value })
        }
    }

    @Test func aRebalanceKilledMidwayAndRunAgainFinishesTheJob() async throws {
        let directory = try TemporaryDirectory("sluice-rebalance-kill")
        defer { directory.remove() }
        try await Self.withNodes(in: directory.path) { nodes in
            let (oldFile, newFile, moving, boundary) = try await Self.cJoins(nodes, in: directory.path)
            let total = moving.reduce(0) { $0 + $1.samples.filter { $0.timestamp < boundary }.count }
            let backfilled = { () async throws -> Double in
                MetricsText(text: try await TestHTTP.get(nodes[2].url + "/metrics").body).value("sluice_storage_backfilled_samples_total") ?? 0
            }

            // The CLI, slowed to a few kilobytes a second so the first copy is followed by a wait,
            // killed with SIGKILL as soon as c has taken something.
            let started = try await killSluice(
                ["ring", "rebalance", "--config", oldFile, "--to", newFile, "--max-bytes-per-second", "2000", "--log-level", "error"],
                once: { try await backfilled() > 0 })
            #expect(started)
            let partial = try await backfilled()
            #expect(partial > 0 && Int(partial) < total, "copied \(partial) of \(total) before the kill")

            let rerun = try await runSluice(["ring", "rebalance", "--config", oldFile, "--to", newFile, "--log-level", "error"])
            #expect(rerun.status == 0, "\(rerun.stdout)\(rerun.stderr)")
            #expect(rerun.stdout.contains("replicas agree"))
            // Nothing twice: c holds each moved sample once, the kill's copies and the rerun's together.
            #expect(Int(try await backfilled()) == total)
            let held = try await nodes[2].read(before: boundary)
            #expect(held.values.reduce(0) { $0 + $1.count } == total)
        }
    }

    @Test func asAServiceItRunsPassesAndShowsThemInMetrics() async throws {
        let directory = try TemporaryDirectory("sluice-repair-service")
        defer { directory.remove() }
        try await Self.withNodes(in: directory.path) { nodes in
            let ring = RingConfiguration(replicationFactor: 2, nodes: nodes.map(\.ringNode))
            let ringFile = directory.path + "/ring.yml"
            try ring.yaml().write(toFile: ringFile, atomically: true, encoding: .utf8)
            var configuration = RepairConfiguration(ringFile: ringFile)
            configuration.interval = .milliseconds(200)
            configuration.port = 0
            let server = RepairServer(configuration: configuration, logger: TestLog.logger("repair.service"))
            let port = PortPromise()
            try await withServices([server.service(onServerRunning: { port.fulfil($0) })]) { _ in
                let url = "http://127.0.0.1:\(try await port.wait(timeout: .seconds(60)))/metrics"
                let passes = try await eventually(timeout: .seconds(60)) {
                    let text = MetricsText(text: try await TestHTTP.get(url).body)
                    return (text.value("sluice_repair_passes_total", ["result": "agreed"]) ?? 0) >= 2
                }
                #expect(passes, "no two agreed passes in /metrics")
                let text = MetricsText(text: try await TestHTTP.get(url).body)
                #expect(text.value("sluice_repair_replicas_agree") == 1)
                #expect(text.value("sluice_repair_passes_total", ["result": "disagreed"]) == 0)
                // Every counter a pass adds to is shown from the first pass.
                for counted in RepairMetrics.counted { #expect(text.value(counted.name) != nil, "\(counted.name) not in /metrics") }
            }
        }
    }

    @Test func eachPassAddsItsFiguresToTheCounters() {
        let registry = PrometheusCollectorRegistry()
        let metrics = RepairMetrics(registry: registry)
        var report = RepairReport()
        report.cellsCompared = 7
        report.cellsDiffering = 2
        report.seriesCopied = 3
        report.samplesCopied = 40
        report.bytesCopied = 500
        metrics.record(report)
        metrics.record(report)
        var bytes: [UInt8] = []
        registry.emit(into: &bytes)
        let text = MetricsText(text: String(decoding: bytes, as: UTF8.self))
        #expect(text.value("sluice_repair_cells_compared_total") == 14)
        #expect(text.value("sluice_repair_cells_differing_total") == 4)
        #expect(text.value("sluice_repair_series_copied_total") == 6)
        #expect(text.value("sluice_repair_samples_copied_total") == 80)
        #expect(text.value("sluice_repair_bytes_copied_total") == 1000)
    }

    @Test func aNodeThatDoesNotAnswerFailsThePass() async throws {
        let directory = try TemporaryDirectory("sluice-repair-down")
        defer { directory.remove() }
        try await Self.withNodes(in: directory.path) { nodes in
            // c's port is taken by nothing: a node that is down.
            var ringNodes = nodes.map(\.ringNode)
            ringNodes[2] = .init(name: "c", url: "http://127.0.0.1:1/api/v1/write")
            let ring = RingConfiguration(replicationFactor: 2, nodes: ringNodes)
            let ringFile = directory.path + "/ring.yml"
            try ring.yaml().write(toFile: ringFile, atomically: true, encoding: .utf8)
            var configuration = RepairConfiguration(ringFile: ringFile)
            configuration.timeout = .seconds(10)
            let repairer = Repairer(configuration: configuration, logger: TestLog.logger("repair"))
            let report = try await repairer.pass()
            try await repairer.shutdown()
            #expect(report.unreachable == ["c"])
            #expect(report.replicaSetsCompared == 1)
            #expect(!report.agreed)
        }
    }
}
