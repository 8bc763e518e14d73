import Foundation
import SluiceTestSupport
import Testing

/// `sluice loadgen` as the README tells a user to run it: against `sluice up`, reading everything
/// back through select with `--verify`.
@Suite("sluice loadgen against sluice up", .serialized, .enabled(if: PeerProcess.Kind.sluice([]).isInstalled, "needs the sluice binary (swift build)"))
struct LoadgenClusterTests {
    @Test func everyAcknowledgedSampleReadsBackThroughSelect() async throws {
        let directory = try TemporaryDirectory("sluice-loadgen-up")
        defer { directory.remove() }
        let (storagePort, others) = try consecutiveFreePorts(3, extra: 2)
        let (insertPort, selectPort) = (others[0], others[1])
        let up = UpProcess(
            arguments: [
                "up", "--data-dir", directory.path + "/data", "--nodes", "3", "--replication-factor", "2",
                "--insert-port", String(insertPort), "--select-port", String(selectPort), "--storage-port", String(storagePort),
                "--host", "127.0.0.1",
            ],
            directory: directory.path + "/up"
        )
        defer { up.kill() }
        _ = try await up.start(timeout: .seconds(120))

        let report = directory.path + "/report.json"
        let result = try await runSluice(
            [
                "loadgen", "--url", "http://127.0.0.1:\(insertPort)/api/v1/write", "--series", "2000", "--metrics", "20",
                "--batch", "500", "--requests", "40", "--max", "--concurrency", "4", "--churn", "5", "--tenant", "team-a",
                "--verify", "http://127.0.0.1:\(selectPort)/api/v1/read", "--report", report, "--progress", "plain",
            ],
            timeout: .seconds(300)
        )
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
        #expect(result.stdout.contains("verify     OK: nothing acknowledged was lost"), "\(result.stdout)")
        let json = try #require(FileManager.default.contents(atPath: report))
        let object = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any])
        let samples = try #require(object["samples"] as? [String: Any])
        let verify = try #require(object["verify"] as? [String: Any])
        // 40 requests of 500 samples, every one acknowledged and read back once, replicas merged.
        #expect(samples["acknowledged"] as? Int == 20_000)
        #expect(verify["acknowledgedSamples"] as? Int == 20_000 && verify["matched"] as? Int == 20_000)
        #expect(verify["samplesRead"] as? Int == 20_000)
        #expect(verify["missing"] as? Int == 0 && verify["extra"] as? Int == 0 && verify["mismatched"] as? Int == 0)

        // Another tenant reads nothing of it.
        let other = try await runSluice(
            [
                "loadgen", "--url", "http://127.0.0.1:\(insertPort)/api/v1/write", "--series", "10", "--metrics", "1",
                "--requests", "1", "--max", "--tenant", "team-b", "--run-id", "other",
                "--verify", "http://127.0.0.1:\(selectPort)/api/v1/read", "--progress", "none",
            ],
            timeout: .seconds(120)
        )
        #expect(other.status == 0, "\(other.stdout)\n\(other.stderr)")
        #expect(other.stdout.contains("10 matched, 0 missing, 0 mismatched, 0 extra"), "\(other.stdout)")

        // Remote write 2.0 end to end: insert passes 2.0 through to the storage nodes, and every
        // acknowledged sample reads back through select.
        let v2 = try await runSluice(
            [
                "loadgen", "--url", "http://127.0.0.1:\(insertPort)/api/v1/write", "--remote-write-version", "2",
                "--series", "1000", "--metrics", "10", "--batch", "250", "--requests", "20", "--max", "--concurrency", "4",
                "--churn", "5", "--tenant", "team-a", "--run-id", "rw2",
                "--verify", "http://127.0.0.1:\(selectPort)/api/v1/read", "--progress", "none",
            ],
            timeout: .seconds(300)
        )
        #expect(v2.status == 0, "\(v2.stdout)\n\(v2.stderr)")
        #expect(v2.stdout.contains("5,000 matched, 0 missing, 0 mismatched, 0 extra"), "\(v2.stdout)")
    }
}
