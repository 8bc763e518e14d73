import Prometheus
import SluiceHTTP

/// The storage node's self-metrics, registered once; `/metrics` renders the registry.
struct StorageMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    let headSeries: Gauge
    let headChunks: Gauge
    let samplesAppended: Counter
    /// Native histograms appended to the head; apart from the float samples so that neither rate
    /// hides the other (one histogram carries many buckets, one sample one value).
    let histogramsAppended: Counter
    /// Exemplars new to the exemplar store; repeats and dropped ones are not counted.
    let exemplarsAppended: Counter
    let exemplarsInStorage: Gauge
    let walFsyncDuration: DurationHistogram
    let walCorruptions: Counter
    let blocks: BlockGauges
    let blocksDeleted: Counter
    let backfilledSamples: Counter
    // Labeled counters, made once per label values (`CounterFamily`): requests are counted per request.
    let exemplarsDroppedByReason: CounterFamily
    let rejectedByReason: CounterFamily
    let compactionsByResult: CounterFamily
    let requests: CounterFamily

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        headSeries = registry.makeGauge(descriptor: metricDescriptor("sluice_storage_head_series", "Series in the in-memory head."))
        headChunks = registry.makeGauge(descriptor: metricDescriptor("sluice_storage_head_chunks", "Chunks in the in-memory head, open ones included."))
        samplesAppended = registry.makeCounter(descriptor: metricDescriptor("sluice_storage_samples_appended_total", "Float samples appended to the head."))
        histogramsAppended = registry.makeCounter(descriptor: metricDescriptor("sluice_storage_histograms_appended_total", "Native histograms appended to the head."))
        exemplarsAppended = registry.makeCounter(descriptor: metricDescriptor("sluice_storage_exemplars_appended_total", "Exemplars added to the exemplar store."))
        exemplarsInStorage = registry.makeGauge(descriptor: metricDescriptor("sluice_storage_exemplars_in_storage", "Exemplars in the exemplar store."))
        exemplarsDroppedByReason = CounterFamily(
            registry, "sluice_storage_exemplars_dropped_total",
            "Exemplars not stored, by reason: out_of_order, label_set_too_long. The write still succeeds.", labels: "reason")
        for reason in ExemplarDropReason.allCases { _ = exemplarsDroppedByReason.counter(reason.rawValue) }
        walFsyncDuration = registry.makeDurationHistogram(
            descriptor: metricDescriptor("sluice_storage_wal_fsync_duration_seconds", "Time of one WAL fsync; concurrent writes share one."),
            buckets: [.microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5),
                      .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
                      .milliseconds(250), .milliseconds(500), .seconds(1)]
        )
        walCorruptions = registry.makeCounter(descriptor: metricDescriptor("sluice_storage_wal_corruptions_total", "Torn or corrupt WAL tails truncated at replay."))
        blocks = BlockGauges(registry: registry)
        blocksDeleted = registry.makeCounter(descriptor: metricDescriptor("sluice_storage_blocks_deleted_total", "Blocks deleted by retention."))
        backfilledSamples = registry.makeCounter(
            descriptor: metricDescriptor("sluice_storage_backfilled_samples_total", "Samples written into blocks by backfill (repair, rebalance) that the node did not hold.")
        )
        rejectedByReason = CounterFamily(
            registry, "sluice_storage_samples_rejected_total",
            "Samples and native histograms rejected, by reason: out_of_order, too_old, duplicate_timestamp, invalid_histogram.",
            labels: "reason")
        for reason in RejectReason.allCases { _ = rejectedByReason.counter(reason.rawValue) }
        compactionsByResult = CounterFamily(registry, "sluice_storage_compactions_total", "Head-to-block cuts, by result.", labels: "result")
        requests = CounterFamily(registry, "sluice_storage_requests_total", "HTTP requests, by handler and status code.", labels: "handler", "code")
    }

    func exemplarsDropped(_ reason: ExemplarDropReason, count: Int) {
        exemplarsDroppedByReason.counter(reason.rawValue).increment(by: Int64(count))
    }

    func rejected(_ reason: String, count: Int) {
        rejectedByReason.counter(reason).increment(by: Int64(count))
    }

    func compactions(result: String) {
        compactionsByResult.counter(result).increment()
    }

    func request(handler: String, code: Int) {
        requests.counter(handler, String(code)).increment()
    }
}

/// The gauges of the blocks on disk, set together whenever the set of blocks changes.
struct BlockGauges: Sendable {
    let count: Gauge
    let bytes: Gauge
    let samples: Gauge
    let bytesPerSample: Gauge

    init(registry: PrometheusCollectorRegistry) {
        count = registry.makeGauge(descriptor: metricDescriptor("sluice_storage_blocks", "Blocks on disk."))
        bytes = registry.makeGauge(descriptor: metricDescriptor("sluice_storage_block_bytes", "Bytes of all blocks on disk."))
        samples = registry.makeGauge(descriptor: metricDescriptor("sluice_storage_block_samples", "Samples in all blocks on disk."))
        bytesPerSample = registry.makeGauge(descriptor: metricDescriptor("sluice_storage_block_bytes_per_sample", "Block bytes on disk per sample they hold."))
    }

    func record(blocks: Int, bytes byteCount: Int, samples sampleCount: Int) {
        count.set(Double(blocks))
        bytes.set(Double(byteCount))
        samples.set(Double(sampleCount))
        bytesPerSample.set(sampleCount == 0 ? 0 : Double(byteCount) / Double(sampleCount))
    }
}
