import Foundation
import SluiceTestSupport
import Testing

/// Real clients end to end: node_exporter scraped by a Prometheus 2.42 that remote-writes into a
/// Sluice cluster of separate processes, and a second Prometheus that only remote-reads it back
/// through select. PromQL must answer the same on both, also with a storage node killed.
@Suite(
    "Prometheus through a Sluice cluster", .serialized,
    .enabled(
        if: PeerProcess.Kind.prometheus.isInstalled && PeerProcess.Kind.nodeExporter.isInstalled && PeerProcess.Kind.sluice([]).isInstalled,
        "needs /usr/bin/prometheus, /usr/bin/prometheus-node-exporter and the sluice binary"
    )
)
struct RealClientsTests {
    static let queries = [
        "rate(node_cpu_seconds_total[10s])",
        "sum by (mode) (rate(node_cpu_seconds_total[10s]))",
        "{__name__=~\"node_memory_Mem.*_bytes\"}",
        "count({__name__=~\"node_.+\"})",
        "up",
        "count by (job) ({__name__=~\".+\", job=~\"node|prometheus\"})",
        "count_over_time(up[20s])",
    ]
    /// Seconds of scrapes compared.
    static let window: Int64 = 20

    @Test func promQLThroughSelectMatchesTheWriter() async throws {
        let directory = try TemporaryDirectory("sluice-cluster")
        defer { directory.remove() }
        let ports = try freePorts(8)
        let ring = directory.path + "/ring.yml"
        let storage = (0..<3).map { index in
            PeerProcess(.sluiceStorage([]), name: "storage-\(index + 1)", port: ports[index], directory: directory.path + "/storage-\(index + 1)")
        }
        // Write quorum 1 of 2: the cluster keeps taking writes, and keeps every series readable,
        // with one node dead.
        try """
            replication_factor: 2
            write_quorum: 1
            nodes:
            \(storage.map { "  - {name: \($0.name), url: \($0.writeURL)}" }.joined(separator: "\n"))

            """.write(toFile: ring, atomically: true, encoding: .utf8)
        let insert = PeerProcess(
            .sluice(["insert", "--config", ring, "--listen", "127.0.0.1:\(ports[3])", "--data-dir", directory.path + "/insert/data"]),
            name: "insert", port: ports[3], directory: directory.path + "/insert"
        )
        let select = PeerProcess(
            .sluice(["select", "--config", ring, "--listen", "127.0.0.1:\(ports[4])"]),
            name: "select", port: ports[4], directory: directory.path + "/select"
        )
        let nodeExporter = PeerProcess(.nodeExporter, name: "node-exporter", port: ports[5], directory: directory.path + "/node-exporter")
        let writer = PeerProcess(.prometheus, name: "writer", port: ports[6], directory: directory.path + "/writer")
        let reader = PeerProcess(.prometheus, name: "reader", port: ports[7], directory: directory.path + "/reader")
        let everything = storage + [insert, select, nodeExporter, writer, reader]
        defer { for peer in everything { peer.kill() } }

        // No external labels on either: what the reader sees must be exactly what the writer stored.
        writer.prometheusConfiguration = """
            global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}
            scrape_configs:
              - job_name: prometheus
                static_configs: [{targets: ["127.0.0.1:\(writer.port)"]}]
              - job_name: node
                static_configs: [{targets: ["127.0.0.1:\(nodeExporter.port)"]}]
            remote_write:
              - url: \(insert.writeURL)
                queue_config: {batch_send_deadline: 1s, min_backoff: 100ms, max_backoff: 1s}

            """
        reader.prometheusConfiguration = """
            global: {scrape_interval: 15s}
            remote_read:
              - url: \(select.baseURL)/api/v1/read
                read_recent: true

            """
        try await startAll(storage + [nodeExporter])
        try await startAll([insert, select])
        try await startAll([writer, reader])

        // The window opens once both targets have been scraped (the remote-write queue sends only
        // what was scraped after it started) and ends `window` seconds later.
        let scraping = try await eventually(timeout: .seconds(30), every: .milliseconds(200)) {
            try await PromQL.scalar(writer, "sum(up)") == 2
        }
        #expect(scraping, "the writer did not scrape both targets within 30 s: \(writer.logTail())")
        guard scraping else { return }
        let start = Int64(Date().timeIntervalSince1970.rounded(.up)) + 2
        let end = start + Self.window

        // Wait until the window is 10 s old and the writer has sent everything in it, with margin:
        // the highest sent timestamp is the maximum over the queue's shards.
        let sent = try await eventually(timeout: .seconds(Self.window + 60), every: .milliseconds(500)) {
            guard Date().timeIntervalSince1970 >= Double(end + 10) else { return false }
            let metrics = MetricsText(text: try await TestHTTP.get(writer.baseURL + "/metrics").body)
            return (metrics.value("prometheus_remote_storage_queue_highest_sent_timestamp_seconds") ?? 0) >= Double(end + 5)
        }
        let metrics = MetricsText(text: try await TestHTTP.get(writer.baseURL + "/metrics").body)
        #expect(sent, "the writer had not sent \(end + 5) within \(Self.window + 60) s: \(writer.logTail())")
        #expect((metrics.value("prometheus_remote_storage_samples_total") ?? 0) > 0)
        #expect(metrics.value("prometheus_remote_storage_samples_failed_total") == 0, "insert rejected some of the writer's samples: \(insert.logTail())")
        #expect(metrics.value("prometheus_remote_storage_samples_dropped_total") == 0)

        try await compare(writer, reader, start: start, end: end, "all storage nodes up")
        // At least one scrape a second for the whole window reached the reader.
        let scrapes = try await PromQL.queryRange(reader, "count_over_time(up[\(Self.window)s])", start: Double(end), end: Double(end), step: 1)
        #expect(scrapes.count == 2 && scrapes.values.allSatisfy { ($0[end * 1000] ?? 0) >= Double(Self.window) }, "\(scrapes)")

        storage[0].kill()
        try await compare(writer, reader, start: start, end: end, "storage-1 killed")
        // The answers came from two nodes: select asked the dead one, it failed, and select then left it
        // out (node health) instead of waiting on it for every query.
        let selectMetrics = MetricsText(text: try await TestHTTP.get(select.baseURL + "/metrics").body)
        #expect((selectMetrics.value("sluice_select_node_requests_total", ["node": "storage-1", "result": "failed"]) ?? 0) >= 1)
        #expect(selectMetrics.value("sluice_select_node_up", ["node": "storage-1"]) == 0)
    }

    private func compare(_ writer: PeerProcess, _ reader: PeerProcess, start: Int64, end: Int64, _ when: String) async throws {
        for promql in Self.queries {
            let local = try await PromQL.queryRange(writer, promql, start: Double(start), end: Double(end), step: 1)
            let remote = try await PromQL.queryRange(reader, promql, start: Double(start), end: Double(end), step: 1)
            #expect(!local.isEmpty, "\(when): \(promql) found nothing on the writer")
            #expect(
                Set(local.keys) == Set(remote.keys),
                "\(when): \(promql): series differ: \(difference(expected: Set(local.keys), actual: Set(remote.keys)))"
            )
            for (labels, values) in local {
                let other = remote[labels] ?? [:]
                #expect(
                    sameSamples(values, other, tolerance: 1e-9),
                    "\(when): \(promql) \(labels): \(values.count) points on the writer, \(other.count) through select; first differing at \(firstDifference(values, other))"
                )
            }
        }
    }

    private func firstDifference(_ a: [Int64: Double], _ b: [Int64: Double]) -> String {
        for t in Set(a.keys).union(b.keys).sorted() {
            guard let x = a[t], let y = b[t], sameSamples([t: x], [t: y], tolerance: 1e-9) else {
                return "t=\(t): \(a[t].map { "\($0)" } ?? "none") vs \(b[t].map { "\($0)" } ?? "none")"
            }
        }
        return "-"
    }
}
