import Synchronization

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
