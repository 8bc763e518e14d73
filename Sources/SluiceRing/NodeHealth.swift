/// Whether to send to a storage node, from its recent answers. A value type driven by insert's
/// forwarder and hint replayer and by select's fan-out; tested without I/O (NodeHealthTests).
///
/// A node is healthy until `failureThreshold` consecutive failures; then it is down for a backoff
/// that doubles with each further failure up to `maximumBackoff`. While down, requests skip it (its
/// part goes straight to hinted handoff) instead of waiting on timeouts. When the backoff ends, the
/// next request probes it: one success makes it healthy again.
public struct NodeHealth: Sendable, Equatable {
    public struct Configuration: Sendable, Equatable {
        public var failureThreshold = 3
        public var initialBackoff: Duration = .milliseconds(500)
        public var maximumBackoff: Duration = .seconds(30)

        public init() {}

        public init(failureThreshold: Int, initialBackoff: Duration, maximumBackoff: Duration) {
            self.failureThreshold = failureThreshold
            self.initialBackoff = initialBackoff
            self.maximumBackoff = maximumBackoff
        }
    }

    public enum State: Sendable, Equatable {
        case healthy
        /// Skipped until `until`, measured on the forwarder's clock.
        case down(until: ContinuousClock.Instant)
    }

    public let configuration: Configuration
    public private(set) var state: State = .healthy
    public private(set) var consecutiveFailures = 0

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// Whether a request at `now` should be sent to the node.
    public func shouldSend(at now: ContinuousClock.Instant) -> Bool {
        switch state {
        case .healthy: true
        case .down(let until): now >= until
        }
    }

    public var isHealthy: Bool { state == .healthy }

    public mutating func recordSuccess() {
        state = .healthy
        consecutiveFailures = 0
    }

    public mutating func recordFailure(at now: ContinuousClock.Instant) {
        consecutiveFailures += 1
        guard consecutiveFailures >= configuration.failureThreshold else { return }
        let doublings = min(consecutiveFailures - configuration.failureThreshold, 16)
        let backoff = min(configuration.initialBackoff * (1 << doublings), configuration.maximumBackoff)
        state = .down(until: now + backoff)
    }
}
