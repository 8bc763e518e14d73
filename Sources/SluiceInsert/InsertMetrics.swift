import Prometheus

/// The insert tier's self-metrics, registered once; `/metrics` renders the registry.
struct InsertMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    let inflightRequests: Gauge
    let inflightBytes: Gauge
    let ringNodes: Gauge
    let ringHealthyNodes: Gauge
    let forwardDuration: DurationHistogram

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        inflightRequests = registry.makeGauge(name: "sluice_insert_inflight_requests", help: "Write requests being handled.")
        inflightBytes = registry.makeGauge(name: "sluice_insert_inflight_bytes", help: "Decoded bytes of the write requests being handled.")
        ringNodes = registry.makeGauge(name: "sluice_ring_nodes", help: "Storage nodes in the ring.")
        ringHealthyNodes = registry.makeGauge(name: "sluice_ring_healthy_nodes", help: "Storage nodes not backing off.")
        forwardDuration = registry.makeDurationHistogram(
            name: "sluice_insert_forward_duration_seconds",
            buckets: [.milliseconds(1), .milliseconds(2.5), .milliseconds(5), .milliseconds(10), .milliseconds(25),
                      .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
                      .seconds(2.5), .seconds(5), .seconds(10)],
            help: "Time to forward one request to one storage node."
        )
    }

    func received(code: Int, tenant: String, series: Int, samples: Int) {
        let labels = [("code", String(code)), ("tenant", tenant)]
        registry.makeCounter(name: "sluice_insert_requests_total", labels: labels, help: "Write requests received, by answer.").increment()
        if series > 0 {
            registry.makeCounter(name: "sluice_insert_series_received_total", labels: labels, help: "Series received, by the answer to their request.").increment(by: Int64(series))
        }
        if samples > 0 {
            registry.makeCounter(name: "sluice_insert_samples_received_total", labels: labels, help: "Samples received, by the answer to their request.").increment(by: Int64(samples))
        }
    }

    func forwarded(node: String, result: String, samples: Int) {
        registry.makeCounter(
            name: "sluice_insert_samples_forwarded_total", labels: [("node", node), ("result", result)],
            help: "Samples sent to storage nodes, by result: accepted, rejected, failed or skipped."
        ).increment(by: Int64(samples))
    }

    func quorumFailure(kind: String) {
        registry.makeCounter(name: "sluice_insert_quorum_failures_total", labels: [("kind", kind)], help: "Requests that did not meet write quorum.").increment()
    }

    func hintQueueBytes(node: String) -> Gauge {
        registry.makeGauge(name: "sluice_insert_hint_queue_bytes", labels: [("node", node)], help: "Bytes queued for hinted handoff.")
    }

    func hints(node: String, event: String, count: Int = 1) {
        registry.makeCounter(
            name: "sluice_insert_hints_total", labels: [("node", node), ("event", event)],
            help: "Hinted-handoff records by event: queued, replayed, dropped (queue full) or discarded (node rejected)."
        ).increment(by: Int64(count))
    }

    func ringReload(result: String) {
        registry.makeCounter(name: "sluice_ring_config_reloads_total", labels: [("result", result)], help: "Ring file reloads, by result.").increment()
    }
}

/// Admission control: at most `maxRequests` requests and `maxBytes` decoded bytes in flight, so an
/// overload gets 429 instead of memory growth.
final class InflightLimiter: Sendable {
    private let state = Mutex<(requests: Int, bytes: Int)>((0, 0))
    let maxRequests: Int
    let maxBytes: Int
    let metrics: InsertMetrics

    init(maxRequests: Int, maxBytes: Int, metrics: InsertMetrics) {
        self.maxRequests = maxRequests
        self.maxBytes = maxBytes
        self.metrics = metrics
    }

    /// Admits a request; false means answer 429.
    func acquireRequest() -> Bool {
        let admitted = state.withLock { state -> Bool in
            guard state.requests < maxRequests else { return false }
            state.requests += 1
            return true
        }
        if admitted { metrics.inflightRequests.increment() }
        return admitted
    }

    func releaseRequest() {
        state.withLock { $0.requests -= 1 }
        metrics.inflightRequests.decrement()
    }

    /// Admits `bytes` decoded bytes. A request larger than the whole budget is still admitted when
    /// nothing else is in flight, so the per-request limit (413), not this one, decides its fate.
    func acquireBytes(_ bytes: Int) -> Bool {
        let admitted = state.withLock { state -> Bool in
            guard state.bytes == 0 || state.bytes + bytes <= maxBytes else { return false }
            state.bytes += bytes
            return true
        }
        if admitted { metrics.inflightBytes.increment(by: Double(bytes)) }
        return admitted
    }

    func releaseBytes(_ bytes: Int) {
        state.withLock { $0.bytes -= bytes }
        metrics.inflightBytes.decrement(by: Double(bytes))
    }
}

import Synchronization
