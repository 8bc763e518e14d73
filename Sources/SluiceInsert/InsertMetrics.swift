import Prometheus
import SluiceHTTP

/// The insert tier's self-metrics, registered once; `/metrics` renders the registry.
struct InsertMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    let inflightRequests: Gauge
    let inflightBytes: Gauge
    let ring: RingGauges
    let forwardDuration: DurationHistogram

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        inflightRequests = registry.makeGauge(descriptor: metricDescriptor("sluice_insert_inflight_requests", "Write requests being handled."))
        inflightBytes = registry.makeGauge(descriptor: metricDescriptor("sluice_insert_inflight_bytes", "Decoded bytes of the write requests being handled."))
        ring = RingGauges(registry: registry)
        forwardDuration = registry.makeDurationHistogram(
            descriptor: metricDescriptor("sluice_insert_forward_duration_seconds", "Time to forward one request to one storage node."),
            buckets: [.milliseconds(1), .milliseconds(2.5), .milliseconds(5), .milliseconds(10), .milliseconds(25),
                      .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
                      .seconds(2.5), .seconds(5), .seconds(10)]
        )
    }

    func received(code: Int, tenant: String, series: Int, samples: Int) {
        let labels = [("code", String(code)), ("tenant", tenant)]
        registry.makeCounter(descriptor: metricDescriptor("sluice_insert_requests_total", "Write requests received, by answer."), labels: labels).increment()
        if series > 0 {
            registry.makeCounter(descriptor: metricDescriptor("sluice_insert_series_received_total", "Series received, by the answer to their request."), labels: labels).increment(by: Int64(series))
        }
        if samples > 0 {
            registry.makeCounter(descriptor: metricDescriptor("sluice_insert_samples_received_total", "Samples received, by the answer to their request."), labels: labels).increment(by: Int64(samples))
        }
    }

    func forwarded(node: String, result: String, samples: Int) {
        registry.makeCounter(descriptor: metricDescriptor("sluice_insert_samples_forwarded_total", "Samples for storage nodes, by result: accepted, rejected, failed, skipped (node backing off) or queued (behind its hints)."), labels: [("node", node), ("result", result)]).increment(by: Int64(samples))
    }

    /// One forward to `node` carrying `parts` requests' parts (group commit, `ForwardBatcher`).
    func forwardBatch(node: String, parts: Int) {
        let labels = [("node", node)]
        registry.makeCounter(descriptor: metricDescriptor("sluice_insert_node_forwards_total", "1.0 forwards to storage nodes; with sluice_insert_node_forward_parts_total, how many requests' parts each carried."), labels: labels).increment()
        registry.makeCounter(descriptor: metricDescriptor("sluice_insert_node_forward_parts_total", "Requests' 1.0 parts carried by forwards to storage nodes."), labels: labels).increment(by: Int64(parts))
    }

    func quorumFailure(kind: String) {
        registry.makeCounter(descriptor: metricDescriptor("sluice_insert_quorum_failures_total", "Requests that did not meet write quorum."), labels: [("kind", kind)]).increment()
    }

    func hintQueueBytes(node: String) -> Gauge {
        registry.makeGauge(descriptor: metricDescriptor("sluice_insert_hint_queue_bytes", "Bytes queued for hinted handoff."), labels: [("node", node)])
    }

    func hints(node: String, event: String, count: Int = 1) {
        registry.makeCounter(descriptor: metricDescriptor("sluice_insert_hints_total", "Hinted-handoff records by event: queued, replayed, dropped (queue full) or discarded (node rejected)."), labels: [("node", node), ("event", event)]).increment(by: Int64(count))
    }

    /// A request turned away by one of its tenant's limits: rate_limited, burst_exceeded,
    /// labels_per_series or series_per_request.
    func limited(tenant: String, reason: String) {
        registry.makeCounter(descriptor: metricDescriptor("sluice_insert_limited_requests_total", "Write requests refused by a per-tenant limit, by reason."), labels: [("tenant", tenant), ("reason", reason)]).increment()
    }

    func haDeduplicated(tenant: String, cluster: String, samples: Int) {
        registry.makeCounter(descriptor: metricDescriptor("sluice_insert_ha_deduplicated_samples_total", "Samples dropped because their HA replica is not the elected one."), labels: [("tenant", tenant), ("cluster", cluster)]).increment(by: Int64(samples))
    }

    func haElectedReplicaChange(tenant: String, cluster: String) {
        registry.makeCounter(descriptor: metricDescriptor("sluice_insert_ha_elected_replica_changes_total", "Times another replica of an HA pair was elected, its predecessor having gone silent."), labels: [("tenant", tenant), ("cluster", cluster)]).increment()
    }

    func overridesReload(result: String) {
        registry.makeCounter(descriptor: metricDescriptor("sluice_insert_overrides_reloads_total", "Overrides file reloads, by result."), labels: [("result", result)]).increment()
    }

    func ringReload(result: String) {
        registry.makeCounter(descriptor: metricDescriptor("sluice_ring_config_reloads_total", "Ring file reloads, by result."), labels: [("result", result)]).increment()
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
