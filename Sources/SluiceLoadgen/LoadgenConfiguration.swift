/// Everything one `sluice loadgen` run needs. The CLI only maps flags onto this; `validate()` says
/// what is wrong in the words of the flags.
public struct LoadgenConfiguration: Sendable {
    public enum Pace: Sendable, Equatable {
        /// One sample per series per interval: what Prometheus scraping this many series sends.
        case realistic
        /// Samples per second across all workers.
        case rate(Double)
        /// As fast as the receiver acknowledges.
        case max
    }

    public enum Progress: String, Sendable, CaseIterable {
        /// An updating line on a terminal, periodic lines otherwise.
        case auto
        case tty
        case plain
        case none
    }

    /// Where requests go; `nil` with `dryRun` only.
    public var url: String?
    public var series = 10_000
    public var metrics = 100
    public var intervalMs: Int64 = 15_000
    public var pace: Pace = .realistic
    /// Seconds; the run stops at whichever of duration and requests comes first.
    public var duration: Double? = 60
    public var requests: Int?
    public var batch = 2000
    /// Ticks sent before the measured run starts, as fast as accepted: they create the series.
    public var warmupTicks = 0
    public var concurrency = 8
    public var churnPercent = 0.0
    public var tenant: String?
    /// The `Authorization` header for every request, `--verify`'s included.
    public var authorization: String?
    /// PEM CA certificates to trust, besides the system's, for https:// URLs.
    public var tlsCAFile: String?
    public var outOfOrder = 0.0
    public var remoteWriteVersion = 1
    public var reportPath: String?
    public var verifyURL: String?
    public var runID: String
    /// How long one request is retried (5xx, 429, connection errors) before it counts as failed.
    public var maxRetryTime: Double = 60
    public var minBackoff: Double = 0.03
    public var maxBackoff: Double = 5
    /// Per attempt.
    public var requestTimeout: Double = 30
    public var progress: Progress = .auto
    /// Seconds between plain progress lines.
    public var progressInterval: Double = 10
    /// Render and compress every request but send none: what the generator alone can do.
    public var dryRun = false
    /// The wall clock at tick 0; now when nil. Tests pin it.
    public var startMs: Int64?

    public init(url: String?, runID: String) {
        self.url = url
        self.runID = runID
    }

    public func validate() throws(LoadgenError) {
        if url == nil && !dryRun { throw .invalid("--url is required (or --dry-run)") }
        if let url, !(url.hasPrefix("http://") || url.hasPrefix("https://")) {
            throw .invalid("--url must be an http:// or https:// URL, got \(url)")
        }
        if let verifyURL, !(verifyURL.hasPrefix("http://") || verifyURL.hasPrefix("https://")) {
            throw .invalid("--verify must be an http:// or https:// remote-read URL, got \(verifyURL)")
        }
        if verifyURL != nil && dryRun { throw .invalid("--verify needs a real run, not --dry-run") }
        guard series > 0 else { throw .invalid("--series must be at least 1") }
        guard metrics > 0 else { throw .invalid("--metrics must be at least 1") }
        guard metrics <= series else { throw .invalid("--metrics (\(metrics)) cannot exceed --series (\(series))") }
        guard intervalMs >= 10 else { throw .invalid("--interval must be at least 10ms") }
        if case .rate(let rate) = pace, !(rate > 0) { throw .invalid("--rate must be positive") }
        if let duration, !(duration > 0) { throw .invalid("--duration must be positive") }
        if let requests, requests <= 0 { throw .invalid("--requests must be at least 1") }
        if duration == nil && requests == nil { throw .invalid("give --duration or --requests, so the run ends") }
        guard batch > 0 else { throw .invalid("--batch must be at least 1") }
        guard warmupTicks >= 0 else { throw .invalid("--warmup-ticks cannot be negative") }
        guard concurrency > 0 && concurrency <= 1024 else { throw .invalid("--concurrency must be 1…1024") }
        guard (0...100).contains(churnPercent) else { throw .invalid("--churn is a percentage, 0…100") }
        if churnPercent > 0 && (Double(series) * churnPercent / 100).rounded() < 1 {
            throw .invalid("--churn \(churnPercent)% of \(series) series is less than one series per interval")
        }
        guard (0...1).contains(outOfOrder) else { throw .invalid("--out-of-order is a fraction, 0…1") }
        switch remoteWriteVersion {
        case 1, 2: break
        default: throw .invalid("--remote-write-version must be 1 or 2")
        }
        guard maxRetryTime >= 0, minBackoff > 0, maxBackoff >= minBackoff, requestTimeout > 0 else {
            throw .invalid("retry and timeout settings must be positive, with max backoff ≥ min backoff")
        }
        guard !runID.isEmpty, runID.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != 0x22 && $0 != 0x5C }) else {
            throw .invalid("--run-id must be printable ASCII without spaces, quotes or backslashes")
        }
        // Tick 0 is aligned down to the interval, and out-of-order samples go one interval and 1 ms
        // further back: all of it must stay in the range the templates can patch.
        if let startMs, !RequestTemplate.timestampRange.contains(startMs - startMs % intervalMs - intervalMs - 1) {
            throw .invalid("the start time must lie between 1971 and 2109")
        }
    }

    /// Requests per tick: the series split into consecutive batches.
    public var batchesPerTick: Int { (series + batch - 1) / batch }

    /// Samples per second the schedule asks for, or nil for as fast as possible.
    public var targetRate: Double? {
        switch pace {
        case .realistic: Double(series) * 1000 / Double(intervalMs)
        case .rate(let rate): rate
        case .max: nil
        }
    }
}

public enum LoadgenError: Error, CustomStringConvertible, Equatable {
    case invalid(String)
    case verification(String)

    public var description: String {
        switch self {
        case .invalid(let message): message
        case .verification(let message): "verify: \(message)"
        }
    }
}
