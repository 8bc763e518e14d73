import Histogram
import Synchronization

/// What happened to one request, once it is settled.
public enum RequestOutcome: UInt8, Sendable {
    case unsent = 0
    /// A 2xx: the receiver promised the samples are stored.
    case acknowledged = 1
    /// A 4xx other than 429, or retries ran out: some of the samples may be stored, none promised.
    case failed = 2
}

/// Counters, latency histograms and every request's outcome, shared by the workers. One lock; at a
/// few thousand requests per second it is never contended enough to matter.
public final class LoadRecorder: Sendable {
    public struct Totals: Sendable {
        public var requestsSent = 0
        public var requestsAcknowledged = 0
        public var requestsFailed = 0
        public var retries = 0
        public var samplesSent = 0
        public var samplesAcknowledged = 0
        public var samplesFailed = 0
        /// Per attempt: the HTTP status, or "transport" when no response came.
        public var statusCounts: [String: Int] = [:]
        public var latency = Histogram<UInt64>(highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: .three)
    }

    private struct State {
        var totals = Totals()
        /// Since the last progress line.
        var window = Histogram<UInt64>(highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: .two)
        var windowAcknowledged = 0
        /// Indexed by request number (tick × batches per tick + batch); grown by doubling, so only
        /// the first `settledEnd` entries mean anything.
        var outcomes: [UInt8] = []
        var settledEnd = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// One HTTP attempt finished with `status` (nil: no response) after `micros`.
    public func recordAttempt(status: Int?, micros: UInt64) {
        state.withLock { state in
            state.totals.statusCounts[status.map(String.init) ?? "transport", default: 0] += 1
            _ = state.totals.latency.record(min(micros, 120_000_000))
            _ = state.window.record(min(micros, 120_000_000))
        }
    }

    public func recordRetry() {
        state.withLock { $0.totals.retries += 1 }
    }

    /// Request `number`, holding `samples`, is settled. Uncounted (warm-up) requests keep their
    /// outcome for verification but stay out of the totals.
    public func settle(request number: Int, samples: Int, outcome: RequestOutcome, counted: Bool = true) {
        state.withLock { state in
            defer {
                if number >= state.outcomes.count {
                    state.outcomes.append(contentsOf: repeatElement(0, count: max(number + 1 - state.outcomes.count, state.outcomes.count)))
                }
                state.outcomes[number] = outcome.rawValue
                state.settledEnd = max(state.settledEnd, number + 1)
            }
            guard counted else { return }
            state.totals.requestsSent += 1
            state.totals.samplesSent += samples
            switch outcome {
            case .acknowledged:
                state.totals.requestsAcknowledged += 1
                state.totals.samplesAcknowledged += samples
                state.windowAcknowledged += samples
            case .failed:
                state.totals.requestsFailed += 1
                state.totals.samplesFailed += samples
            case .unsent:
                break
            }
        }
    }

    public var totals: Totals { state.withLock { $0.totals } }

    public func outcome(request number: Int) -> RequestOutcome {
        state.withLock { number < $0.outcomes.count ? RequestOutcome(rawValue: $0.outcomes[number]) ?? .unsent : .unsent }
    }

    /// Every request's outcome, for verification after the run.
    public var outcomes: [UInt8] { state.withLock { Array($0.outcomes[..<$0.settledEnd]) } }

    /// Samples acknowledged and the latency of attempts since the last call; resets the window.
    public func takeWindow() -> (acknowledged: Int, p50: UInt64, p99: UInt64, totals: Totals) {
        state.withLock { state in
            let result = (state.windowAcknowledged, state.window.valueAtPercentile(50), state.window.valueAtPercentile(99), state.totals)
            state.window.reset()
            state.windowAcknowledged = 0
            return result
        }
    }
}
