import Foundation
import SluiceCodec
import SluiceTestSupport
import Testing

/// Per-tenant limits in a real `sluice insert` process: `--overrides-file` is read at start and
/// reread while it runs, without a restart.
@Suite("Tenant limits", .serialized, .enabled(if: PeerProcess.Kind.sluice([]).isInstalled, "needs the sluice binary (swift build)"))
struct TenantLimitsClusterTests {
    @Test(.timeLimit(.minutes(3)))
    func limitedTenantGets429UntilTheFileRaisesItsRate() async throws {
        let directory = try TemporaryDirectory("sluice-tenant-limits")
        defer { directory.remove() }
        let overrides = directory.path + "/overrides.yaml"
        // Two samples saved up, then one every 100 s: team-a's third request is refused.
        try "overrides:\n  team-a: {ingestion_rate: 0.01, ingestion_burst_size: 2}\n".write(toFile: overrides, atomically: true, encoding: .utf8)
        let cluster = try Cluster(directory: directory.path, insertFlags: ["--overrides-file", overrides, "--overrides-reload-interval", "0.2"])
        defer { cluster.killAll() }
        try await cluster.start()

        let now = Int64(Date().timeIntervalSince1970 * 1000)
        var sent = 0
        func write(_ tenant: String) async throws -> HTTPResult {
            sent += 1
            let body = Snappy.compress(RawProtobuf.writeRequest(labels: [("__name__", "limits_test"), ("n", "\(sent)")], timestamp: now))
            return try await TestHTTP.send(
                .POST, cluster.insert.writeURL, headers: TestHTTP.remoteWriteHeaders + [("X-Scope-OrgID", tenant)], body: .bytes(body)
            )
        }

        #expect(try await write("team-a").status == 204)
        #expect(try await write("team-a").status == 204)
        let limited = try await write("team-a")
        #expect(limited.status == 429, "\(limited.body)")
        #expect((limited.headers.first(name: "Retry-After").flatMap { Int($0) } ?? 0) >= 1, "\(limited.headers)")
        #expect(limited.body.contains("tenant team-a"), "\(limited.body)")
        let other = try await write("team-b")
        #expect(other.status == 204, "team-b has no limit: \(other.body)")

        try "overrides:\n  team-a: {ingestion_rate: 100000}\n".write(toFile: overrides, atomically: true, encoding: .utf8)
        let accepted = try await eventually(timeout: .seconds(30), every: .milliseconds(100)) {
            try await write("team-a").status == 204
        }
        #expect(accepted, "team-a is still refused after the file raised its rate")
    }
}
