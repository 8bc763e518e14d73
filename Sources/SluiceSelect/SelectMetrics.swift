import Prometheus
import SluiceHTTP

/// The select tier's self-metrics, registered once; `/metrics` renders the registry.
struct SelectMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    let fanOutDuration: DurationHistogram
    // Labeled counters, made once per label values (`CounterFamily`): counted per request.
    let requests: CounterFamily
    let nodeRequests: CounterFamily
    let partialResponses: Counter

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        fanOutDuration = registry.makeDurationHistogram(
            descriptor: metricDescriptor("sluice_select_fanout_duration_seconds", "Time for every storage node to answer one request (or fail)."),
            buckets: [.milliseconds(1), .milliseconds(2.5), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
                      .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30)]
        )
        requests = CounterFamily(registry, "sluice_select_requests_total", "Requests answered, by handler and status code.", labels: "handler", "code")
        nodeRequests = CounterFamily(
            registry, "sluice_select_node_requests_total", "Requests to storage nodes, by node and result: ok, rejected, failed.",
            labels: "node", "result")
        partialResponses = registry.makeCounter(descriptor: metricDescriptor(
            "sluice_select_partial_responses_total", "Answers given with replication-factor or more nodes failed (--partial-response)."))
    }

    func request(handler: String, code: Int) {
        requests.counter(handler, String(code)).increment()
    }

    func node(_ name: String, result: String) {
        nodeRequests.counter(name, result).increment()
    }

    func nodeUp(_ name: String, _ up: Bool) {
        registry.makeGauge(
            descriptor: metricDescriptor("sluice_select_node_up", "1 while select asks the storage node, 0 while it skips it after a failure and probes it."),
            labels: [("node", name)]
        ).set(Double(up ? 1 : 0))
    }

    func partialResponse() {
        partialResponses.increment()
    }
}
