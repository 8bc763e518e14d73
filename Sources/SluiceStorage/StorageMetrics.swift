import Prometheus

/// The storage node's self-metrics, registered once; `/metrics` renders the registry.
struct StorageMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    let headSeries: Gauge
    let headChunks: Gauge
    let samplesAppended: Counter
    let walFsyncDuration: DurationHistogram
    let walCorruptions: Counter
    let blocks: Gauge
    let blockBytes: Gauge
    let blockSamples: Gauge
    let bytesPerSample: Gauge
    let blocksDeleted: Counter

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        headSeries = registry.makeGauge(descriptor: Self.describe("sluice_storage_head_series", "Series in the in-memory head."))
        headChunks = registry.makeGauge(descriptor: Self.describe("sluice_storage_head_chunks", "Chunks in the in-memory head, open ones included."))
        samplesAppended = registry.makeCounter(descriptor: Self.describe("sluice_storage_samples_appended_total", "Samples appended to the head."))
        walFsyncDuration = registry.makeDurationHistogram(
            descriptor: Self.describe("sluice_storage_wal_fsync_duration_seconds", "Time of one WAL fsync; concurrent writes share one."),
            buckets: [.microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5),
                      .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
                      .milliseconds(250), .milliseconds(500), .seconds(1)]
        )
        walCorruptions = registry.makeCounter(descriptor: Self.describe("sluice_storage_wal_corruptions_total", "Torn or corrupt WAL tails truncated at replay."))
        blocks = registry.makeGauge(descriptor: Self.describe("sluice_storage_blocks", "Blocks on disk."))
        blockBytes = registry.makeGauge(descriptor: Self.describe("sluice_storage_block_bytes", "Bytes of all blocks on disk."))
        blockSamples = registry.makeGauge(descriptor: Self.describe("sluice_storage_block_samples", "Samples in all blocks on disk."))
        bytesPerSample = registry.makeGauge(descriptor: Self.describe("sluice_storage_block_bytes_per_sample", "Block bytes on disk per sample they hold."))
        blocksDeleted = registry.makeCounter(descriptor: Self.describe("sluice_storage_blocks_deleted_total", "Blocks deleted by retention."))
        for reason in RejectReason.allCases.map(\.rawValue) + ["histograms_unsupported"] {
            _ = registry.makeCounter(descriptor: Self.rejectedDescriptor, labels: [("reason", reason)])
        }
    }

    private static var rejectedDescriptor: MetricNameDescriptor { describe(
        "sluice_storage_samples_rejected_total", "Samples rejected, by reason: out_of_order, too_old, duplicate_timestamp, histograms_unsupported."
    ) }

    func rejected(_ reason: String, count: Int) {
        registry.makeCounter(descriptor: Self.rejectedDescriptor, labels: [("reason", reason)]).increment(by: Int64(count))
    }

    func compactions(result: String) {
        registry.makeCounter(descriptor: Self.describe("sluice_storage_compactions_total", "Head-to-block cuts, by result."), labels: [("result", result)]).increment()
    }

    func request(handler: String, code: Int) {
        registry.makeCounter(
            descriptor: Self.describe("sluice_storage_requests_total", "HTTP requests, by handler and status code."),
            labels: [("handler", handler), ("code", String(code))]
        ).increment()
    }

    private static func describe(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }
}
