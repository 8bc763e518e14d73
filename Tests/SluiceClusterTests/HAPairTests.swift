import Foundation
import SluiceCodec
import SluiceTestSupport
import Testing

/// An HA pair of real Prometheus 2.42 servers, scraping the same target and both writing to one
/// `sluice insert --ha-tracker`: the storage node holds one copy of each series, without the replica
/// label, and when the elected replica dies the other takes over within the failover timeout.
@Suite(
    "HA pair of Prometheus through insert's HA tracker", .serialized,
    .enabled(
        if: PeerProcess.Kind.prometheus.isInstalled && PeerProcess.Kind.sluice([]).isInstalled,
        "needs /usr/bin/prometheus and the sluice binary"
    )
)
struct HAPairTests {
    @Test(.timeLimit(.minutes(3)))
    func onlyTheElectedReplicaIsStoredAndTheOtherTakesOverWhenItDies() async throws {
        let directory = try TemporaryDirectory("sluice-ha")
        defer { directory.remove() }
        let ports = try freePorts(4)
        let ring = directory.path + "/ring.yml"
        let storage = PeerProcess(.sluiceStorage([]), name: "storage-1", port: ports[0], directory: directory.path + "/storage-1")
        try """
            replication_factor: 1
            nodes:
              - {name: \(storage.name), url: \(storage.writeURL)}

            """.write(toFile: ring, atomically: true, encoding: .utf8)
        let insert = PeerProcess(
            .sluice([
                "insert", "--config", ring, "--listen", "127.0.0.1:\(ports[1])", "--data-dir", directory.path + "/insert/data",
                "--ha-tracker", "--ha-failover-timeout", "3s", "--ha-update-timeout", "1s",
            ]),
            name: "insert", port: ports[1], directory: directory.path + "/insert"
        )
        let replicas = ["a", "b"].enumerated().map { index, replica in
            PeerProcess(.prometheus, name: "prometheus-\(replica)", port: ports[2 + index], directory: directory.path + "/prometheus-\(replica)")
        }
        defer { for peer in [storage, insert] + replicas { peer.kill() } }
        // The same scrape config on both; only the replica label differs, as in an HA pair.
        for (peer, replica) in zip(replicas, ["a", "b"]) {
            peer.prometheusConfiguration = """
                global:
                  scrape_interval: 1s
                  scrape_timeout: 1s
                  external_labels: {cluster: ha, __replica__: \(replica)}
                scrape_configs:
                  - job_name: storage
                    static_configs: [{targets: ["127.0.0.1:\(storage.port)"]}]
                remote_write:
                  - url: \(insert.writeURL)
                    queue_config: {batch_send_deadline: 1s, min_backoff: 100ms, max_backoff: 1s}

                """
        }
        try await startAll([storage])
        try await startAll([insert])
        // a first, so a is the elected replica; b joins once a's data is in.
        try await startAll([replicas[0]])
        let read = { (from: Int64) async throws -> [LabelSet: [Int64: Double]] in
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            let query = Query(startMs: from, endMs: now + 60_000, matchers: [LabelMatcher(.equal, name: "job", value: "storage")])
            let answer = try await RemoteReadClient.read(storage.baseURL + "/api/v1/read", [query])
            guard answer.status == 200 else { throw EndToEndError("remote read answered \(answer.status): \(answer.error)") }
            return answer.results[0]
        }
        let start = Int64(Date().timeIntervalSince1970 * 1000) - 60_000
        let arrived = try await eventually(timeout: .seconds(30), every: .milliseconds(250)) { try await !read(start).isEmpty }
        #expect(arrived, "nothing reached the storage node within 30 s: \(replicas[0].logTail()) \(insert.logTail())")
        guard arrived else { return }

        try await startAll([replicas[1]])
        let deduplicated = { () async throws -> Double in
            let metrics = MetricsText(text: try await TestHTTP.get(insert.baseURL + "/metrics").body)
            return metrics.value("sluice_insert_ha_deduplicated_samples_total", ["tenant": "default", "cluster": "ha"]) ?? 0
        }
        let rejected = try await eventually(timeout: .seconds(30), every: .milliseconds(250)) { try await deduplicated() > 0 }
        #expect(rejected, "insert deduplicated nothing of replica b within 30 s: \(replicas[1].logTail()) \(insert.logTail())")
        // A few more seconds of both replicas writing.
        try await Task.sleep(for: .seconds(4))

        let killedAt = Int64(Date().timeIntervalSince1970 * 1000)
        replicas[0].kill()
        let beforeKill = try await read(start)
        #expect(!beforeKill.isEmpty)
        for (labels, samples) in beforeKill {
            #expect(labels["cluster"] == "ha", "\(labels)")
            #expect(labels["__replica__"] == nil, "\(labels)")
            #expect(labels.keys.allSatisfy { !$0.contains("replica") }, "\(labels)")
            // One replica's scrapes, a second apart: a second replica's interleaved samples would
            // land in between (each Prometheus offsets its scrapes differently).
            let times = samples.keys.sorted()
            let closest = zip(times, times.dropFirst()).map { $1 - $0 }.min() ?? 1000
            #expect(closest >= 500, "\(labels): samples \(closest) ms apart, from both replicas")
        }

        // b is elected once a has been silent for 3 s, and its samples arrive.
        let tookOver = try await eventually(timeout: .seconds(60), every: .milliseconds(500)) {
            let metrics = MetricsText(text: try await TestHTTP.get(insert.baseURL + "/metrics").body)
            guard metrics.value("sluice_insert_ha_elected_replica_changes_total", ["tenant": "default", "cluster": "ha"]) == 1 else { return false }
            let newest = try await read(start).values.compactMap { $0.keys.max() }.max() ?? 0
            return newest > killedAt + 5_000
        }
        #expect(tookOver, "replica b's samples did not arrive within 60 s of killing a: \(insert.logTail()) \(replicas[1].logTail())")
        let afterKill = try await read(start)
        for labels in afterKill.keys {
            #expect(labels["__replica__"] == nil && labels["cluster"] == "ha", "\(labels)")
        }
        // Still one series per label set: b's series are a's series, continued.
        #expect(Set(afterKill.keys).isSuperset(of: beforeKill.keys.filter { $0["__name__"] == "up" }))
    }
}
