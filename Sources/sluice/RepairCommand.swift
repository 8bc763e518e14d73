import ArgumentParser
import Foundation
import Logging
import SluiceRepair

/// `sluice repair`: maps flags onto `RepairConfiguration`; one pass, or a service with `--interval`.
struct RepairCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repair",
        abstract: "Compare the replicas of every replica set of the ring and copy to each what it lacks (Sluice storage nodes).",
        discussion:
            "Without --interval: one pass, then exit 0 once every replica set's replicas agree, 1 if a " +
            "node did not answer or replicas hold different values at one timestamp. Only block windows " +
            "every replica has cut are compared: the head's last hours follow once cut."
    )

    @Option(name: .long, help: "The ring file (YAML): its replica sets are compared, and each node places series with it.")
    var config: String

    @Option(name: .long, help: "Run a pass every this long (Prometheus duration), as a service with /metrics; without it, run one pass and exit.")
    var interval: String?

    @OptionGroup var copy: CopyOptions

    @Option(name: .long, help: "With --interval: address for /metrics, host:port.")
    var listen: String = "127.0.0.1:9204"

    @OptionGroup var log: LogOptions

    func run() async throws {
        let logger = try log.bootstrap(label: "sluice.repair")
        var configuration = try copy.configuration(ringFile: config)
        configuration.interval = try interval.map { try parsePositiveDuration($0, flag: "--interval") }
        (configuration.host, configuration.port) = try parseListen(listen)
        if configuration.interval != nil {
            let server = RepairServer(configuration: configuration, logger: logger)
            let host = configuration.host
            try await runUntilSignalled([server.service { port in
                logger.info("sluice repair serving /metrics", metadata: ["address": "\(host):\(port)"])
            }], logger: logger)
            return
        }
        try await copy.runOnce(Repairer(configuration: configuration, logger: logger), name: "repair") { repairer, progress in
            try await repairer.pass(progress: progress)
        }
    }
}

/// The flags of the commands that copy between storage nodes (`repair`, `ring rebalance`), and
/// their one pass with its progress lines, final line and report.
struct CopyOptions: ParsableArguments {
    @Option(name: .long, help: "Bound the backfill bytes sent per second, over all nodes.")
    var maxBytesPerSecond: Int?

    @Option(name: .long, help: "Largest backfill request, in bytes: a node's missing samples go in requests of about this size.")
    var maxBackfillBytes: Int = RepairConfiguration(ringFile: "").maxBackfillBytes

    @Flag(name: .long, help: "Compare and report; copy nothing.")
    var dryRun = false

    @Option(name: .long, help: "Write the final report (JSON) here.")
    var report: String?

    @Option(name: .long, help: "Buckets the series of a block window are compared in.")
    var buckets: Int = RepairConfiguration(ringFile: "").buckets

    @Option(name: .long, help: "Insert's --tenant-label: nodes need it to place series as insert did; empty for none.")
    var tenantLabel: String = RepairConfiguration(ringFile: "").tenantLabel ?? ""

    @Option(name: .long, help: "Insert's --default-tenant.")
    var defaultTenant: String = RepairConfiguration(ringFile: "").defaultTenant

    func configuration(ringFile: String) throws -> RepairConfiguration {
        var configuration = RepairConfiguration(ringFile: ringFile)
        if let maxBytesPerSecond, maxBytesPerSecond <= 0 { throw ValidationError("--max-bytes-per-second must be positive") }
        configuration.maxBytesPerSecond = maxBytesPerSecond
        guard maxBackfillBytes > 0 else { throw ValidationError("--max-backfill-bytes must be positive") }
        configuration.maxBackfillBytes = maxBackfillBytes
        configuration.dryRun = dryRun
        guard (1...65536).contains(buckets) else { throw ValidationError("--buckets must be 1 to 65536") }
        configuration.buckets = buckets
        configuration.tenantLabel = tenantLabel.isEmpty ? nil : tenantLabel
        configuration.defaultTenant = defaultTenant
        return configuration
    }

    /// Runs `pass` once with a progress line per replica set on standard error, prints the result,
    /// writes the report, and exits 1 unless the replicas agree.
    func runOnce(
        _ repairer: Repairer, name: String,
        _ pass: (Repairer, (RepairReport, Duration) -> Void) async throws -> RepairReport
    ) async throws {
        let result: RepairReport
        do {
            result = try await pass(repairer) { progress, remaining in
                let eta = Double(remaining.components.seconds) + Double(remaining.components.attoseconds) / 1e18
                FileHandle.standardError.write(Data("\(name): \(progress.line) · ETA \(String(format: "%.0f", eta)) s\n".utf8))
            }
        } catch {
            try? await repairer.shutdown()
            throw error
        }
        try await repairer.shutdown()
        print("sluice \(name): \(result.agreed ? "replicas agree" : "replicas do not agree") · \(result.line) · \(String(format: "%.1f", result.seconds)) s")
        for error in result.errors { print("  \(error)") }
        for skipped in result.deletionsSkipped { print("  kept: \(skipped)") }
        if let report {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(result).write(to: URL(fileURLWithPath: report))
        }
        if !result.agreed { throw ExitCode(1) }
    }
}
