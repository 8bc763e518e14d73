/// A tenant's ingestion-rate budget: `rate` tokens (samples) a second, up to `burst` saved up.
///
/// A value type driven by the instants it is given, never by reading a clock, so that its decisions
/// are tested without sleeping. It starts full, as Mimir's and `golang.org/x/time/rate`'s do: a
/// tenant's first request after a restart is not refused for lack of history.
struct TokenBucket: Sendable, Hashable {
    /// What the bucket says to a request of some samples.
    enum Admission: Sendable, Hashable {
        /// The samples were taken from the bucket.
        case admitted
        /// The bucket is short now; it holds the request's samples after `retryAfter`. Nothing was taken.
        case rateLimited(retryAfter: Duration)
        /// The request is larger than the bucket can ever hold: retrying cannot help.
        case exceedsBurst
    }

    private(set) var rate: Double
    private(set) var burst: Double
    private(set) var tokens: Double
    private var updated: ContinuousClock.Instant

    init(rate: Double, burst: Double, at now: ContinuousClock.Instant) {
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.updated = now
    }

    /// Takes `samples` tokens if the bucket holds them at `now`.
    mutating func take(_ samples: Int, at now: ContinuousClock.Instant) -> Admission {
        refill(at: now)
        let wanted = Double(samples)
        guard wanted <= burst else { return .exceedsBurst }
        guard wanted > tokens else {
            tokens -= wanted
            return .admitted
        }
        // Capped so that a tiny rate cannot overflow `Duration`; a day is already "not soon".
        return .rateLimited(retryAfter: .seconds(min((wanted - tokens) / rate, 86_400)))
    }

    /// A new rate or burst from reloaded limits. Tokens earned so far are earned at the old rate; a
    /// smaller burst caps what is saved. The bucket is not refilled: a reload is not a free burst.
    mutating func reconfigure(rate: Double, burst: Double, at now: ContinuousClock.Instant) {
        refill(at: now)
        self.rate = rate
        self.burst = burst
        tokens = min(tokens, burst)
    }

    private mutating func refill(at now: ContinuousClock.Instant) {
        // An instant earlier than the last one (callers racing to the lock) earns nothing.
        guard now > updated else { return }
        let elapsed = updated.duration(to: now)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        tokens = min(burst, tokens + seconds * rate)
        updated = now
    }
}

extension TokenBucket.Admission {
    /// The `Retry-After` value: whole seconds, rounded up, at least 1 (0 would invite a retry loop).
    static func retryAfterSeconds(_ wait: Duration) -> Int {
        let seconds = Double(wait.components.seconds) + Double(wait.components.attoseconds) / 1e18
        guard seconds.isFinite else { return Int(Int32.max) }
        return max(1, Int(min(seconds.rounded(.up), Double(Int32.max))))
    }
}
