import Prometheus
import Synchronization

/// One labeled counter, its series made once per label values and kept.
///
/// swift-prometheus' `makeCounter` checks the name and help text, builds the descriptor's strings and
/// looks the labels up on every call: on a per-request path that cost more than the increment. A
/// family asks the registry once per label values and answers later calls from its own table. The
/// registry hands out the same counter for the same name and labels, so what `/metrics` shows is
/// unchanged.
public final class CounterFamily: Sendable {
    private let registry: PrometheusCollectorRegistry
    private let name: String
    private let help: String
    private let labelNames: (String, String?)
    private let counters = Mutex<[LabelValues: Counter]>([:])

    private struct LabelValues: Hashable {
        var first: String
        var second: String?
    }

    /// A family with one label, or two when `second` is given.
    public init(_ registry: PrometheusCollectorRegistry, _ name: String, _ help: String, labels first: String, _ second: String? = nil) {
        self.registry = registry
        self.name = name
        self.help = help
        self.labelNames = (first, second)
    }

    /// The counter for these label values: `second` is given exactly when the family has two labels.
    public func counter(_ first: String, _ second: String? = nil) -> Counter {
        precondition((second == nil) == (labelNames.1 == nil), "\(name): label values do not match its labels")
        let key = LabelValues(first: first, second: second)
        if let counter = counters.withLock({ $0[key] }) { return counter }
        var labels = [(labelNames.0, first)]
        if let secondName = labelNames.1, let second { labels.append((secondName, second)) }
        let counter = registry.makeCounter(descriptor: metricDescriptor(name, help), labels: labels)
        counters.withLock { $0[key] = counter }
        return counter
    }
}
