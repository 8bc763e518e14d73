import Foundation

/// What a run did, as text for people and as JSON (`--report`) for scripts. Latencies are per HTTP
/// attempt, from HdrHistogram with three significant digits.
public struct LoadReport: Codable, Sendable {
    public struct Settings: Codable, Sendable {
        public var url: String?
        public var series: Int
        public var metrics: Int
        public var intervalSeconds: Double
        public var batch: Int
        /// Ticks sent before the measured run, left out of every figure but `verify`.
        public var warmupTicks: Int
        public var concurrency: Int
        /// Concurrency actually used: at most one worker per batch.
        public var workers: Int
        /// Target samples/s; nil with `--max`.
        public var rate: Double?
        public var churnPercent: Double
        public var outOfOrder: Double
        public var tenant: String?
        public var remoteWriteVersion: Int
        public var dryRun: Bool
        public var runID: String
        /// Tick 0's timestamp, milliseconds.
        public var startMs: Int64
    }

    public struct Requests: Codable, Sendable {
        public var sent: Int
        public var acknowledged: Int
        public var failed: Int
        public var retries: Int
    }

    public struct Samples: Codable, Sendable {
        public var sent: Int
        public var acknowledged: Int
        public var failed: Int
    }

    public struct Throughput: Codable, Sendable {
        /// Acknowledged samples per second of the whole run.
        public var samplesPerSecond: Double
        public var requestsPerSecond: Double
    }

    public struct Latency: Codable, Sendable {
        public var p50: Double
        public var p90: Double
        public var p99: Double
        public var p999: Double
        public var max: Double
        public var mean: Double
    }

    public var version = 1
    /// When the measured run began (after any warm-up).
    public var startedAt: String
    public var startedAtUnixSeconds: Double
    public var durationSeconds: Double
    public var configuration: Settings
    public var requests: Requests
    public var samples: Samples
    public var throughput: Throughput
    public var latencyMs: Latency
    /// Per attempt: HTTP status → count, plus "transport" for attempts that got no answer.
    public var statusCodes: [String: Int]
    /// The first error message seen for each status.
    public var firstErrors: [String: String]
    public var verify: VerificationReport?

    init(
        configuration: LoadgenConfiguration, shape: SeriesShape, totals: LoadRecorder.Totals, workers: Int,
        durationSeconds: Double, startedAtSeconds: Double, firstErrors: [String: String]
    ) {
        self.startedAt = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: startedAtSeconds))
        self.startedAtUnixSeconds = startedAtSeconds
        self.durationSeconds = durationSeconds
        self.configuration = Settings(
            url: configuration.url, series: configuration.series, metrics: shape.metrics,
            intervalSeconds: Double(configuration.intervalMs) / 1000, batch: configuration.batch, warmupTicks: configuration.warmupTicks,
            concurrency: configuration.concurrency, workers: workers, rate: configuration.targetRate,
            churnPercent: configuration.churnPercent, outOfOrder: configuration.outOfOrder, tenant: configuration.tenant,
            remoteWriteVersion: configuration.remoteWriteVersion, dryRun: configuration.dryRun, runID: configuration.runID,
            startMs: shape.startMs
        )
        requests = Requests(
            sent: totals.requestsSent, acknowledged: totals.requestsAcknowledged, failed: totals.requestsFailed, retries: totals.retries
        )
        samples = Samples(sent: totals.samplesSent, acknowledged: totals.samplesAcknowledged, failed: totals.samplesFailed)
        let seconds = max(durationSeconds, 1e-9)
        throughput = Throughput(
            samplesPerSecond: Double(totals.samplesAcknowledged) / seconds, requestsPerSecond: Double(totals.requestsSent) / seconds
        )
        let histogram = totals.latency
        let empty = histogram.totalCount == 0
        func ms(_ percentile: Double) -> Double { empty ? 0 : Double(histogram.valueAtPercentile(percentile)) / 1000 }
        latencyMs = Latency(
            p50: ms(50), p90: ms(90), p99: ms(99), p999: ms(99.9),
            max: empty ? 0 : Double(histogram.max) / 1000, mean: empty ? 0 : histogram.mean / 1000
        )
        statusCodes = totals.statusCounts
        self.firstErrors = firstErrors
    }

    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    /// The report for a terminal.
    public var text: String {
        var lines: [String] = []
        let target = configuration.dryRun ? "dry run (nothing sent)" : configuration.url ?? ""
        lines.append("sluice loadgen: \(fixed(durationSeconds, 1)) s, \(target), run \(configuration.runID)")
        lines.append(
            "  shape      \(grouped(configuration.series)) series over \(configuration.metrics) metrics, every \(fixed(configuration.intervalSeconds, 3))s;"
                + " \(configuration.workers) workers, batches of \(configuration.batch)"
                + (configuration.warmupTicks > 0 ? "; \(configuration.warmupTicks) warm-up ticks not counted" : "")
        )
        lines.append(
            "  requests   \(grouped(requests.sent)) sent, \(grouped(requests.acknowledged)) acknowledged, \(grouped(requests.failed)) failed, \(grouped(requests.retries)) retries"
        )
        lines.append(
            "  samples    \(grouped(samples.sent)) sent, \(grouped(samples.acknowledged)) acknowledged, \(grouped(samples.failed)) in failed requests"
        )
        lines.append(
            "  throughput \(human(throughput.samplesPerSecond)) samples/s acknowledged (\(fixed(throughput.requestsPerSecond, 1)) requests/s)"
        )
        if !configuration.dryRun {
            lines.append(
                "  latency    p50 \(fixed(latencyMs.p50, 2))ms  p90 \(fixed(latencyMs.p90, 2))ms  p99 \(fixed(latencyMs.p99, 2))ms"
                    + "  p99.9 \(fixed(latencyMs.p999, 2))ms  max \(fixed(latencyMs.max, 2))ms"
            )
            let statuses = statusCodes.sorted { $0.key < $1.key }.map { "\($0.key): \(grouped($0.value))" }
            lines.append("  status     \(statuses.isEmpty ? "none" : statuses.joined(separator: "  "))")
            for (status, message) in firstErrors.sorted(by: { $0.key < $1.key }) {
                lines.append("  first \(status): \(message)")
            }
        }
        if let verify { lines.append(contentsOf: verify.lines) }
        return lines.joined(separator: "\n")
    }
}
