import Prometheus
import SluiceHTTP

/// The insert tier's self-metrics, registered once; `/metrics` renders the registry. A class, so
/// that the many places holding it share one reference.
final class InsertMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    let inflightRequests: Gauge
    let inflightBytes: Gauge
    let ring: RingGauges
    let forwardDuration: DurationHistogram
    // Labeled counters, made once per label values (`CounterFamily`): several are counted per request.
    let requests: CounterFamily
    let seriesReceived: CounterFamily
    let samplesReceived: CounterFamily
    let samplesForwarded: CounterFamily
    let nodeForwards: CounterFamily
    let nodeForwardParts: CounterFamily
    let quorumFailures: CounterFamily
    let hintRecords: CounterFamily
    let limitedRequests: CounterFamily
    let haDeduplicatedSamples: CounterFamily
    let haElectedReplicaChanges: CounterFamily
    let overridesReloads: CounterFamily
    let ringReloads: CounterFamily

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        inflightRequests = registry.makeGauge(descriptor: metricDescriptor("sluice_insert_inflight_requests", "Write requests being handled."))
        inflightBytes = registry.makeGauge(descriptor: metricDescriptor("sluice_insert_inflight_bytes", "Decoded bytes of the write requests being handled."))
        ring = RingGauges(registry: registry)
        requests = CounterFamily(registry, "sluice_insert_requests_total", "Write requests received, by answer.", labels: "code", "tenant")
        seriesReceived = CounterFamily(
            registry, "sluice_insert_series_received_total", "Series received, by the answer to their request.", labels: "code", "tenant")
        samplesReceived = CounterFamily(
            registry, "sluice_insert_samples_received_total", "Samples received, by the answer to their request.", labels: "code", "tenant")
        samplesForwarded = CounterFamily(
            registry, "sluice_insert_samples_forwarded_total",
            "Samples for storage nodes, by result: accepted, rejected, failed, skipped (node backing off) or queued (behind its hints).",
            labels: "node", "result")
        nodeForwards = CounterFamily(
            registry, "sluice_insert_node_forwards_total",
            "1.0 forwards to storage nodes; with sluice_insert_node_forward_parts_total, how many requests' parts each carried.", labels: "node")
        nodeForwardParts = CounterFamily(
            registry, "sluice_insert_node_forward_parts_total", "Requests' 1.0 parts carried by forwards to storage nodes.", labels: "node")
        quorumFailures = CounterFamily(registry, "sluice_insert_quorum_failures_total", "Requests that did not meet write quorum.", labels: "kind")
        hintRecords = CounterFamily(
            registry, "sluice_insert_hints_total",
            "Hinted-handoff records by event: queued, replayed, dropped (queue full) or discarded (node rejected).", labels: "node", "event")
        limitedRequests = CounterFamily(
            registry, "sluice_insert_limited_requests_total", "Write requests refused by a per-tenant limit, by reason.", labels: "tenant", "reason")
        haDeduplicatedSamples = CounterFamily(
            registry, "sluice_insert_ha_deduplicated_samples_total", "Samples dropped because their HA replica is not the elected one.",
            labels: "tenant", "cluster")
        haElectedReplicaChanges = CounterFamily(
            registry, "sluice_insert_ha_elected_replica_changes_total",
            "Times another replica of an HA pair was elected, its predecessor having gone silent.", labels: "tenant", "cluster")
        overridesReloads = CounterFamily(registry, "sluice_insert_overrides_reloads_total", "Overrides file reloads, by result.", labels: "result")
        ringReloads = CounterFamily(registry, "sluice_ring_config_reloads_total", "Ring file reloads, by result.", labels: "result")
        forwardDuration = registry.makeDurationHistogram(
            descriptor: metricDescriptor("sluice_insert_forward_duration_seconds", "Time to forward one request to one storage node."),
            buckets: [.milliseconds(1), .milliseconds(2.5), .milliseconds(5), .milliseconds(10), .milliseconds(25),
                      .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
                      .seconds(2.5), .seconds(5), .seconds(10)]
        )
    }

    func received(code: Int, tenant: String, series: Int, samples: Int) {
        // Three digits: a small string, held inline, with no allocation.
        let code = String(code)
        requests.counter(code, tenant).increment()
        if series > 0 { seriesReceived.counter(code, tenant).increment(by: Int64(series)) }
        if samples > 0 { samplesReceived.counter(code, tenant).increment(by: Int64(samples)) }
    }

    func forwarded(node: String, result: String, samples: Int) {
        samplesForwarded.counter(node, result).increment(by: Int64(samples))
    }

    /// One forward to `node` carrying `parts` requests' parts (group commit, `ForwardBatcher`).
    func forwardBatch(node: String, parts: Int) {
        nodeForwards.counter(node).increment()
        nodeForwardParts.counter(node).increment(by: Int64(parts))
    }

    func quorumFailure(kind: String) {
        quorumFailures.counter(kind).increment()
    }

    func hintQueueBytes(node: String) -> Gauge {
        registry.makeGauge(descriptor: metricDescriptor("sluice_insert_hint_queue_bytes", "Bytes queued for hinted handoff."), labels: [("node", node)])
    }

    func hints(node: String, event: String, count: Int = 1) {
        hintRecords.counter(node, event).increment(by: Int64(count))
    }

    /// A request turned away by one of its tenant's limits: rate_limited, burst_exceeded,
    /// labels_per_series or series_per_request.
    func limited(tenant: String, reason: String) {
        limitedRequests.counter(tenant, reason).increment()
    }

    func haDeduplicated(tenant: String, cluster: String, samples: Int) {
        haDeduplicatedSamples.counter(tenant, cluster).increment(by: Int64(samples))
    }

    func haElectedReplicaChange(tenant: String, cluster: String) {
        haElectedReplicaChanges.counter(tenant, cluster).increment()
    }

    func overridesReload(result: String) {
        overridesReloads.counter(result).increment()
    }

    func ringReload(result: String) {
        ringReloads.counter(result).increment()
    }
}

/// The ring's gauges, set together whenever the ring or a node's health changes.
struct RingGauges: Sendable {
    let nodes: Gauge
    let healthyNodes: Gauge

    init(registry: PrometheusCollectorRegistry) {
        nodes = registry.makeGauge(descriptor: metricDescriptor("sluice_ring_nodes", "Storage nodes in the ring."))
        healthyNodes = registry.makeGauge(descriptor: metricDescriptor("sluice_ring_healthy_nodes", "Storage nodes not backing off."))
    }

    func record(nodes count: Int, healthy: Int) {
        nodes.set(Double(count))
        healthyNodes.set(Double(healthy))
    }
}
