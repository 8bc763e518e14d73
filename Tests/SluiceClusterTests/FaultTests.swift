import Foundation
import SluiceLoadgen
import SluiceTestSupport
import Testing

/// Nodes die while `sluice loadgen` writes through a cluster of separate processes (3 storage
/// nodes, RF 3, write quorum 2, insert, select), and nothing acknowledged may be lost: loadgen
/// reads everything back through select, and a storage node that was down must catch up through
/// hinted handoff, checked on that node alone. `make test-faults` runs these with the 20-round
/// storage crash test.
@Suite("Faults under load", .serialized, .enabled(if: PeerProcess.Kind.sluice([]).isInstalled, "needs the sluice binary (swift build)"))
struct FaultTests {
    /// The cluster, started; `body` gets it and the insert URL.
    private func withCluster<T: Sendable>(_ body: (Cluster) async throws -> T) async throws -> T {
        let directory = try TemporaryDirectory("sluice-faults")
        defer { directory.remove() }
        let cluster = try Cluster(directory: directory.path)
        defer { cluster.killAll() }
        try await cluster.start()
        return try await body(cluster)
    }

    /// A paced run of about 12 s: 500 series in 5 batches, 2,000 samples/s.
    private func load(_ cluster: Cluster) throws -> LoadGenerator {
        var configuration = LoadgenConfiguration.bounded(
            url: cluster.insert.writeURL, run: "fault", series: 500, requests: 240, concurrency: 5, pace: .rate(2000), maxRetryTime: 90)
        configuration.intervalMs = 1000
        return try LoadGenerator(configuration: configuration)
    }

    private func verify(_ generator: LoadGenerator, at url: String) async throws -> VerificationReport {
        var verifier = Verifier(
            url: url, tenant: nil, shape: generator.shape, batch: generator.configuration.batch, outcomes: generator.recorder.outcomes
        )
        // A storage node read directly holds the tenant label insert adds; select removes it.
        verifier.ignoredLabels = ["tenant_id"]
        return try await verifier.verify()
    }

    @Test func aStorageNodeKilledUnderLoadLosesNothingAndCatchesUp() async throws {
        try await withCluster { cluster in
            let generator = try load(cluster)
            async let run = generator.generate()
            let victim = cluster.storage[1]
            // Kill once a quarter of the run is acknowledged, restart after another quarter.
            _ = try await eventually(timeout: .seconds(60)) { generator.recorder.totals.requestsAcknowledged >= 60 }
            victim.kill()
            _ = try await eventually(timeout: .seconds(60)) { generator.recorder.totals.requestsAcknowledged >= 120 }
            try await victim.start(timeout: .seconds(120))
            let report = try await run
            // Two of three replicas stayed up: write quorum 2 held throughout.
            #expect(report.requests.acknowledged == 240 && report.requests.failed == 0, "\(report.text)")

            let throughSelect = try await verify(generator, at: cluster.select.baseURL + "/api/v1/read")
            #expect(throughSelect.ok && throughSelect.missing == 0 && throughSelect.matched == 24_000, "\(throughSelect.examples)")

            // The victim alone: every acknowledged sample, once its hints are replayed.
            let drained = try await eventually(timeout: .seconds(120), every: .milliseconds(500)) {
                let metrics = MetricsText(text: try await TestHTTP.get(cluster.insert.baseURL + "/metrics").body)
                return metrics.value("sluice_insert_hint_queue_bytes", ["node": victim.name]) == 0
            }
            #expect(drained, "the hint queue for \(victim.name) did not drain")
            let alone = try await verify(generator, at: victim.baseURL + "/api/v1/read")
            #expect(alone.ok && alone.missing == 0 && alone.matched == 24_000, "\(alone.missing) missing on \(victim.name): \(alone.examples)")
            let replayed = MetricsText(text: try await TestHTTP.get(cluster.insert.baseURL + "/metrics").body)
                .value("sluice_insert_hints_total", ["node": victim.name, "event": "replayed"]) ?? 0
            #expect(replayed > 0, "the victim was never behind: the kill missed the load")
        }
    }

    @Test func theInsertNodeKilledUnderLoadLosesNothingWithRetries() async throws {
        try await withCluster { cluster in
            let generator = try load(cluster)
            async let run = generator.generate()
            _ = try await eventually(timeout: .seconds(60)) { generator.recorder.totals.requestsAcknowledged >= 60 }
            cluster.insert.kill()
            // Down for a couple of seconds: loadgen's retries (connection refused) carry the requests over.
            try await Task.sleep(for: .seconds(2))
            try await cluster.insert.start(timeout: .seconds(120))
            let report = try await run
            #expect(report.requests.acknowledged == 240 && report.requests.failed == 0, "\(report.text)")
            #expect(report.requests.retries > 0, "the kill did not interrupt any request")
            let verified = try await verify(generator, at: cluster.select.baseURL + "/api/v1/read")
            #expect(verified.ok && verified.missing == 0 && verified.matched == 24_000, "\(verified.examples)")
        }
    }
}

/// Ten times more requests than insert admits at once: the rest get 429 with `Retry-After`, the
/// process stays small, and loadgen's retries deliver everything.
@Suite("Overload", .serialized, .enabled(if: PeerProcess.Kind.sluice([]).isInstalled, "needs the sluice binary (swift build)"))
struct OverloadTests {
    @Test func tenTimesOverloadGets429sAndLosesNothing() async throws {
        let directory = try TemporaryDirectory("sluice-overload")
        defer { directory.remove() }
        let cluster = try Cluster(directory: directory.path, insertFlags: ["--max-inflight-requests", "2"])
        defer { cluster.killAll() }
        try await cluster.start()

        // 20 requests in flight against a limit of 2.
        let configuration = LoadgenConfiguration.bounded(
            url: cluster.insert.writeURL, run: "overload", series: 2000, metrics: 20, requests: 60, concurrency: 20, pace: .max,
            maxRetryTime: 120)
        let generator = try LoadGenerator(configuration: configuration)
        let report = try await generator.generate()
        #expect(report.requests.acknowledged == 60 && report.requests.failed == 0, "\(report.text)")
        #expect((report.statusCodes["429"] ?? 0) > 0, "no request was refused: \(report.statusCodes)")
        #expect(report.firstErrors["429"]?.contains("too many requests in flight") == true, "\(report.firstErrors)")

        var verifier = Verifier(
            url: cluster.select.baseURL + "/api/v1/read", tenant: nil, shape: generator.shape, batch: configuration.batch,
            outcomes: generator.recorder.outcomes
        )
        verifier.ignoredLabels = ["tenant_id"]
        let verified = try await verifier.verify()
        #expect(verified.ok && verified.matched == 6000, """
            \(verified.matched) matched, \(verified.missing) missing, \(verified.extra) extra; read \(verified.samplesRead) \
            samples of \(verified.seriesRead) series: \(verified.examples)
            """)

        // Refused requests cost no memory: the insert process stays small (measured: about 40 MiB).
        let peakKiB = try #require(cluster.insert.peakResidentKiB)
        print("overload: \(report.statusCodes["429"] ?? 0) answers 429 for 60 requests; insert peak RSS \(peakKiB / 1024) MiB")
        #expect(peakKiB < 256 * 1024, "insert peaked at \(peakKiB / 1024) MiB")
    }
}

/// Three `sluice storage`, `sluice insert` (RF 3 unless told otherwise, write quorum 2) and `sluice select`, each a process;
/// with `tlsCAFile`, all of them serve HTTPS (their flags say with which certificate).
final class Cluster: Sendable {
    let storage: [PeerProcess]
    let insert: PeerProcess
    let select: PeerProcess

    init(
        directory: String, storageFlags: [String] = [], insertFlags: [String] = [], selectFlags: [String] = [],
        tlsCAFile: String? = nil, replicationFactor: Int = 3
    ) throws {
        let ports = try freePorts(5)
        storage = (0..<3).map { index in
            let peer = PeerProcess(
                .sluiceStorage(["--log-level=warning"] + storageFlags), name: "storage-\(index + 1)", port: ports[index],
                directory: directory + "/storage-\(index + 1)"
            )
            peer.tlsCAFile = tlsCAFile
            return peer
        }
        let ring = directory + "/ring.yml"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try ("replication_factor: \(replicationFactor)\nwrite_quorum: 2\nnodes:\n"
            + storage.map { "  - {name: \($0.name), url: \($0.writeURL)}\n" }.joined()).write(toFile: ring, atomically: true, encoding: .utf8)
        insert = PeerProcess(
            .sluice(["insert", "--config", ring, "--listen", "127.0.0.1:\(ports[3])", "--data-dir", directory + "/insert/data", "--log-level", "warning"] + insertFlags),
            name: "insert", port: ports[3], directory: directory + "/insert"
        )
        select = PeerProcess(
            .sluice(["select", "--config", ring, "--listen", "127.0.0.1:\(ports[4])", "--log-level", "warning"] + selectFlags),
            name: "select", port: ports[4], directory: directory + "/select"
        )
        insert.tlsCAFile = tlsCAFile
        select.tlsCAFile = tlsCAFile
    }

    func start() async throws {
        for peer in storage + [insert, select] { try await peer.start(timeout: .seconds(120)) }
    }

    func killAll() {
        for peer in storage + [insert, select] { peer.kill() }
    }
}

/// A storage node whose disk fills up: writes get 5xx, what it stored stays intact, and it takes
/// writes again once space returns. The disk is a small tmpfs, so this needs root (CI has it).
@Suite("Out of disk", .serialized, .enabled(if: PeerProcess.Kind.sluice([]).isInstalled && SmallDisk.canMount, "needs the sluice binary and tmpfs mounts (root)"))
struct OutOfDiskTests {
    private func run(_ url: String, series: Int = 200, requests: Int, maxRetryTime: Double = 60) async throws -> LoadGenerator {
        var configuration = LoadgenConfiguration.bounded(
            url: url, run: "disk", series: series, requests: requests, concurrency: 2, pace: .max, maxRetryTime: maxRetryTime)
        configuration.maxBackoff = 0.1
        let generator = try LoadGenerator(configuration: configuration)
        try await generator.generate()
        return generator
    }

    private func verify(_ generator: LoadGenerator, at url: String) async throws -> VerificationReport {
        try await Verifier(
            url: url, tenant: nil, shape: generator.shape, batch: generator.configuration.batch, outcomes: generator.recorder.outcomes
        ).verify()
    }

    @Test func writesFailWithFiveHundredsDataSurvivesAndTheNodeRecovers() async throws {
        let directory = try TemporaryDirectory("sluice-disk")
        defer { directory.remove() }
        let disk = try SmallDisk(at: directory.path + "/disk", megabytes: 16)
        defer { disk.unmount() }
        let node = PeerProcess(.sluiceStorage(["--log-level=error"]), name: "storage", port: try freePorts(1)[0], directory: disk.path)
        defer { node.kill() }
        try await node.start(timeout: .seconds(120))
        let readURL = node.baseURL + "/api/v1/read"

        let before = try await run(node.writeURL, requests: 10)
        #expect(before.recorder.totals.requestsAcknowledged == 10)

        try disk.fill()
        let full = try await run(node.writeURL, series: 2000, requests: 20, maxRetryTime: 1)
        let fullTotals = full.recorder.totals
        #expect(fullTotals.requestsFailed > 0, "the full disk took every write: \(fullTotals.statusCounts)")
        #expect(fullTotals.statusCounts.keys.allSatisfy { $0.hasPrefix("5") || $0.hasPrefix("2") }, "\(fullTotals.statusCounts)")
        let intact = try await verify(before, at: readURL)
        #expect(intact.ok && intact.matched == 1000, "\(intact.examples)")

        disk.free()
        let after = try await run(node.writeURL, series: 2000, requests: 20, maxRetryTime: 30)
        #expect(after.recorder.totals.requestsAcknowledged == 20, "\(after.recorder.totals.statusCounts)")

        // And all of it from the WAL after a restart.
        try await node.stop()
        try await node.start(timeout: .seconds(120))
        for generator in [before, full, after] {
            let verified = try await verify(generator, at: readURL)
            #expect(verified.ok, "\(verified.missing) missing, \(verified.mismatched) mismatched: \(verified.examples)")
        }
    }
}

/// A tmpfs of a few megabytes, and a file that takes all of its free space.
struct SmallDisk: Sendable {
    let path: String

    static let canMount: Bool = {
        guard let directory = try? TemporaryDirectory("sluice-mount-probe") else { return false }
        defer { directory.remove() }
        guard (try? SmallDisk(at: directory.path + "/disk", megabytes: 1)).map({ $0.unmount() }) != nil else { return false }
        return true
    }()

    init(at path: String, megabytes: Int) throws {
        self.path = path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        guard Self.command("/bin/mount", ["-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", path]) == 0 else {
            throw EndToEndError("mount -t tmpfs failed")
        }
    }

    private var filler: String { path + "/filler" }

    /// Writes zeros until the disk is full.
    func fill() throws {
        _ = FileManager.default.createFile(atPath: filler, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: filler))
        defer { try? handle.close() }
        let chunk = Data(count: 64 * 1024)
        while (try? handle.write(contentsOf: chunk)) != nil {}
        // Then byte by byte, so not even a small write fits.
        let byte = Data(count: 1)
        while (try? handle.write(contentsOf: byte)) != nil {}
    }

    func free() {
        try? FileManager.default.removeItem(atPath: filler)
    }

    func unmount() {
        _ = Self.command("/bin/umount", ["-l", path])
    }

    private static func command(_ executable: String, _ arguments: [String]) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return -1 }
        process.waitUntilExit()
        return process.terminationStatus
    }
}
