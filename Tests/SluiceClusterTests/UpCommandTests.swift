import Foundation
import SluiceCodec
import SluiceTestSupport
import Testing

/// `sluice up` as a user runs it: one command, a banner, Prometheus' writes in and out again, Ctrl-C,
/// and the data still there on the next run.
@Suite("sluice up", .serialized, .enabled(if: PeerProcess.Kind.sluice([]).isInstalled, "needs the sluice binary (swift build)"))
struct UpCommandTests {
    @Test func upServesWritesAndKeepsThemAcrossARestart() async throws {
        let directory = try TemporaryDirectory("sluice-up")
        defer { directory.remove() }
        let fixtures = try Fixtures.load()
        let (storagePort, others) = try consecutiveFreePorts(3, extra: 2)
        let (insertPort, selectPort) = (others[0], others[1])
        let data = directory.path + "/data"
        let arguments = [
            "up", "--data-dir", data, "--nodes", "3", "--replication-factor", "2",
            "--insert-port", String(insertPort), "--select-port", String(selectPort), "--storage-port", String(storagePort),
            "--host", "127.0.0.1",
        ]
        let readURL = "http://127.0.0.1:\(selectPort)/api/v1/read"
        // The fixtures' whole span, and a little more on each side.
        let query = Query(
            startMs: fixtures.range.lowerBound - 60_000, endMs: fixtures.range.upperBound + 60_000,
            matchers: [LabelMatcher(.regex, name: "__name__", value: ".+")]
        )

        let first = UpProcess(arguments: arguments, directory: directory.path + "/run-1")
        defer { first.kill() }
        let banner = try await first.start()
        for line in [
            "Sluice is up: 3 storage nodes, replication factor 2",
            "remote write  http://127.0.0.1:\(insertPort)/api/v1/write",
            "remote read   http://127.0.0.1:\(selectPort)/api/v1/read",
            "http://127.0.0.1:\(storagePort)  http://127.0.0.1:\(storagePort + 1)  http://127.0.0.1:\(storagePort + 2)",
            "(ring file: \(data)/ring.yml)",
            "  - url: http://127.0.0.1:\(insertPort)/api/v1/write",
            "  - url: http://127.0.0.1:\(selectPort)/api/v1/read\n    read_recent: true",
        ] {
            #expect(banner.contains(line), "banner lacks \(line): \(banner)")
        }
        #expect(FileManager.default.fileExists(atPath: data + "/ring.yml"))

        for (index, body) in fixtures.bodies.enumerated() {
            let answer = try await TestHTTP.send(
                .POST, "http://127.0.0.1:\(insertPort)/api/v1/write", headers: TestHTTP.remoteWriteHeaders, body: .bytes(body)
            )
            #expect(answer.status == 204, "fixture \(index): \(answer.status) \(answer.body)")
        }
        try await expectFixtures(readURL, query, fixtures.series, "first run")

        let status = try await first.interrupt()
        #expect(status == 0, "Ctrl-C: exit status \(status.map(String.init) ?? "none within 20 s"); stderr \(first.stderrTail)")
        #expect(first.stdout.contains("sluice up: stopped; data is in \(data)"), "\(first.stdout.suffix(300))")

        // The same command again, on the same data directory.
        let second = UpProcess(arguments: arguments, directory: directory.path + "/run-2")
        defer { second.kill() }
        _ = try await second.start()
        try await expectFixtures(readURL, query, fixtures.series, "after a restart")

        // Insert inside `sluice up` follows the ring file as `sluice insert` does: its ring gauges,
        // and a reload that adds a node moves them and counts.
        let metricsURL = "http://127.0.0.1:\(insertPort)/metrics"
        let before = try await TestHTTP.get(metricsURL).body
        #expect(before.contains("sluice_ring_nodes 3"), "\(before.split(separator: "\n").filter { $0.hasPrefix("sluice_ring") })")
        let ringFile = data + "/ring.yml"
        let ring = try String(contentsOfFile: ringFile, encoding: .utf8)
        try (ring + "  - {name: storage-4, url: http://127.0.0.1:1/api/v1/write}\n").write(toFile: ringFile, atomically: true, encoding: .utf8)
        var after = ""
        let reloaded = try await eventually(timeout: .seconds(20)) {
            after = try await TestHTTP.get(metricsURL).body
            return after.contains("sluice_ring_nodes 4") && after.contains("sluice_ring_config_reloads_total{result=\"success\"} 1")
        }
        #expect(reloaded, "\(after.split(separator: "\n").filter { $0.hasPrefix("sluice_ring") })")
        let again = try await second.interrupt()
        #expect(again == 0, "Ctrl-C after the restart: exit status \(again.map(String.init) ?? "none within 20 s"); stderr \(second.stderrTail)")
    }

    /// Remote read through select, both response types, answers exactly the fixtures: no tenant
    /// label, no replica counted twice, every stale marker kept.
    private func expectFixtures(_ url: String, _ query: Query, _ expected: [LabelSet: [Int64: Double]], _ when: String) async throws {
        let samples = try await RemoteReadClient.read(url, [query])
        #expect(samples.status == 200, "\(when), SAMPLES: \(samples.status) \(samples.error)")
        #expect(samples.contentType == "application/x-protobuf", "\(when)")
        let sameSamples = sameData(expected, samples.results[0])
        #expect(sameSamples, "\(when), SAMPLES: \(describeDifference(expected, samples.results[0]))")

        let streamed = try await RemoteReadClient.read(url, [query], accept: [.streamedXORChunks])
        #expect(streamed.status == 200, "\(when), STREAMED: \(streamed.status) \(streamed.error)")
        #expect(streamed.contentType?.hasPrefix("application/x-streamed-protobuf") == true, "\(when): \(streamed.contentType ?? "no content type")")
        let sameStreamed = sameData(expected, streamed.results[0])
        #expect(sameStreamed, "\(when), STREAMED: \(describeDifference(expected, streamed.results[0]))")
    }
}
