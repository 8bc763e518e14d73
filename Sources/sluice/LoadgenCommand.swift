import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import SluiceHTTP
import SluiceLoadgen

/// `sluice loadgen`: maps flags onto `LoadgenConfiguration`, runs the load under a `ServiceGroup`
/// (Ctrl-C stops it and still prints the report), then verifies. Exits 1 if verification finds loss.
struct LoadgenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loadgen",
        abstract: "Send realistic remote-write load, report throughput and latency, and read it all back to prove nothing was lost.",
        discussion: """
            Series look like node_exporter's: real metric names, ten labels, counters that rise and gauges that wander, one
            sample per series per --interval. Without --rate or --max the pace is what Prometheus scraping --series series
            would send; faster paces move the samples' timestamps ahead of the clock (tick k is start + k × interval).
            Each run labels its series with loadgen_run=<run id>, so runs never collide.
            """
    )

    @Option(name: .long, help: "Remote-write URL, e.g. http://127.0.0.1:9201/api/v1/write.")
    var url: String?

    @Option(name: .long, help: "Series in the run.")
    var series: Int = 10_000

    @Option(name: .long, help: "Distinct metric names the series are spread over.")
    var metrics: Int = 100

    @Option(name: .long, help: "Scrape interval: every series gets one sample per interval (Prometheus duration).")
    var interval: String = "15s"

    @Option(name: .long, help: "Target samples per second (default: series / interval, as a real scrape would send).")
    var rate: Double?

    @Flag(name: .long, help: "Send as fast as the receiver acknowledges.")
    var max = false

    @Option(name: .long, help: "How long to send (Prometheus duration). The run ends at --duration or --requests, whichever comes first.")
    var duration: String?

    @Option(name: .long, help: "How many requests to send.")
    var requests: Int?

    @Option(name: .long, help: "Samples per request (Prometheus' max_samples_per_send).")
    var batch: Int = 2000

    @Option(name: .long, help: "Ticks to send before measuring, as fast as accepted: they create the series, which costs receivers far more than later samples.")
    var warmupTicks: Int = 0

    @Option(name: .long, help: "Requests in flight; at most one per batch of series.")
    var concurrency: Int = 8

    @Option(name: .long, help: "Percent of series replaced by new ones each interval.")
    var churn: Double = 0

    @Option(name: .long, help: "Tenant, sent as X-Scope-OrgID.")
    var tenant: String?

    @Option(name: .long, help: "Fraction of samples sent out of order (1 ms before the previous one), to exercise rejections.")
    var outOfOrder: Double = 0

    @Option(name: .long, help: "Remote-write protocol version: 1 (prometheus.WriteRequest) or 2 (io.prometheus.write.v2.Request, with a symbols table and per-series metadata).")
    var remoteWriteVersion: Int = 1

    @Option(name: .long, help: "Also write the report as JSON to this file.")
    var report: String?

    @Option(name: .long, help: "After the run, read every series back from this remote-read URL and check every acknowledged sample.")
    var verify: String?

    @Option(name: .long, help: "The loadgen_run label value (default: random).")
    var runID: String?

    @Option(name: .long, help: "Retry a request (5xx, 429, connection errors) for at most this long before counting it failed.")
    var maxRetryTime: String = "1m"

    @Option(name: .long, help: "Timeout of one HTTP attempt.")
    var requestTimeout: String = "30s"

    @Option(name: .long, help: "Progress output on stderr: auto, tty, plain or none.")
    var progress: String = "auto"

    @Option(name: .long, help: "Seconds between progress lines when not on a terminal.")
    var progressInterval: Double = 10

    @Flag(name: .long, help: "Render and compress every request but send nothing: what the generator alone can do.")
    var dryRun = false

    @Option(name: .long, help: "Send HTTP basic auth as this user (with --basic-password-file), to --url and --verify.")
    var basicUser: String?

    @Option(name: .long, help: "File holding the basic-auth password.")
    var basicPasswordFile: String?

    @Option(name: .long, help: "Send this bearer token (read from the file), to --url and --verify.")
    var bearerTokenFile: String?

    @Option(name: .long, help: "PEM CA certificates to trust, besides the system's, for https:// --url and --verify.")
    var tlsCaFile: String?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "warning"

    func makeConfiguration() throws -> LoadgenConfiguration {
        var configuration = LoadgenConfiguration(url: url, runID: runID ?? Self.randomRunID())
        configuration.series = series
        configuration.metrics = metrics
        configuration.intervalMs = Int64((seconds(try parsePrometheusDuration(interval, flag: "--interval")) * 1000).rounded())
        if max && rate != nil { throw ValidationError("give --rate or --max, not both") }
        configuration.pace = max ? .max : rate.map { .rate($0) } ?? .realistic
        configuration.duration = try duration.map { try seconds(parsePrometheusDuration($0, flag: "--duration")) }
            ?? (requests == nil ? 60 : nil)
        configuration.requests = requests
        configuration.batch = batch
        configuration.warmupTicks = warmupTicks
        configuration.concurrency = concurrency
        configuration.churnPercent = churn
        configuration.tenant = tenant
        configuration.tlsCAFile = tlsCaFile
        configuration.authorization = try parseAuth(
            basicUser: basicUser, passwordFile: basicPasswordFile, tokenFile: bearerTokenFile, flagPrefix: ""
        ).authorization
        configuration.outOfOrder = outOfOrder
        configuration.remoteWriteVersion = remoteWriteVersion
        configuration.reportPath = report
        configuration.verifyURL = verify
        configuration.maxRetryTime = seconds(try parsePrometheusDuration(maxRetryTime, flag: "--max-retry-time"))
        configuration.requestTimeout = seconds(try parsePrometheusDuration(requestTimeout, flag: "--request-timeout"))
        guard let mode = LoadgenConfiguration.Progress(rawValue: progress) else {
            throw ValidationError("--progress must be auto, tty, plain or none")
        }
        configuration.progress = mode
        configuration.progressInterval = progressInterval
        configuration.dryRun = dryRun
        do {
            try configuration.validate()
        } catch {
            throw ValidationError(error.description)
        }
        return configuration
    }

    func validate() throws {
        _ = try makeConfiguration()
    }

    func run() async throws {
        let logger = try bootstrapLogging(label: "sluice.loadgen", level: logLevel)
        let configuration = try makeConfiguration()
        let generator = try LoadGenerator(configuration: configuration)
        let group = ServiceGroup(
            configuration: .init(services: [.init(service: generator, successTerminationBehavior: .gracefullyShutdownGroup)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        )
        try await group.run()
        guard var report = generator.report else { throw ExitCode.failure }
        if let verifyURL = configuration.verifyURL {
            var verifier = Verifier(
                url: verifyURL, tenant: configuration.tenant, shape: generator.shape, batch: configuration.batch,
                outcomes: generator.recorder.outcomes
            )
            verifier.authorization = configuration.authorization
            verifier.tlsCAFile = configuration.tlsCAFile
            do {
                report.verify = try await verifier.verify()
            } catch {
                // The run's report still stands; the check could not be made, which is a failure too.
                print(report.text)
                if let path = configuration.reportPath { try report.json().write(to: URL(fileURLWithPath: path)) }
                FileHandle.standardError.write(Data("sluice loadgen: \(error)\n".utf8))
                throw ExitCode.failure
            }
        }
        print(report.text)
        if let path = configuration.reportPath {
            try report.json().write(to: URL(fileURLWithPath: path))
        }
        if report.verify?.ok == false { throw ExitCode.failure }
    }

    private static func randomRunID() -> String {
        String((0..<8).map { _ in "0123456789abcdef".randomElement()! })
    }
}

private func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}
