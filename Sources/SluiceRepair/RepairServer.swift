import Foundation
import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle
import SluiceHTTP

/// What `/metrics` shows of repair run as a service.
public struct RepairMetrics: Sendable {
    /// The counters a pass adds to, each with the figure of its report it adds.
    static let counted: [(name: String, help: String, figure: KeyPath<RepairReport, Int> & Sendable)] = [
        ("sluice_repair_cells_compared_total", "Block windows x buckets compared.", \.cellsCompared),
        ("sluice_repair_cells_differing_total", "Cells the replicas disagreed on.", \.cellsDiffering),
        ("sluice_repair_series_copied_total", "Series some replica got samples of.", \.seriesCopied),
        ("sluice_repair_samples_copied_total", "Samples the replicas took by backfill.", \.samplesCopied),
        ("sluice_repair_bytes_copied_total", "Compressed backfill bytes sent.", \.bytesCopied),
    ]
    let registry: PrometheusCollectorRegistry
    let passes: Counter
    let failedPasses: Counter
    /// In `counted` order.
    let counters: [Counter]
    let cellsConflicting: Gauge
    let agreed: Gauge
    let lastPass: Gauge

    public init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        let passesDescriptor = metricDescriptor("sluice_repair_passes_total", "Repair passes, by whether the replicas agreed at the end.")
        passes = registry.makeCounter(descriptor: passesDescriptor, labels: [("result", "agreed")])
        failedPasses = registry.makeCounter(descriptor: passesDescriptor, labels: [("result", "disagreed")])
        counters = Self.counted.map { registry.makeCounter(descriptor: metricDescriptor($0.name, $0.help)) }
        cellsConflicting = registry.makeGauge(descriptor: metricDescriptor("sluice_repair_cells_conflicting", "Cells still differing after the last pass: different values at one timestamp."))
        agreed = registry.makeGauge(descriptor: metricDescriptor("sluice_repair_replicas_agree", "1 when the last pass ended with every replica set agreeing."))
        lastPass = registry.makeGauge(descriptor: metricDescriptor("sluice_repair_last_pass_timestamp_seconds", "When the last pass ended, in seconds since the epoch."))
    }

    func record(_ report: RepairReport) {
        (report.agreed ? passes : failedPasses).increment()
        for (counter, counted) in zip(counters, Self.counted) { counter.increment(by: Int64(report[keyPath: counted.figure])) }
        cellsConflicting.set(Double(report.cellsConflicting) as Double)
        agreed.set((report.agreed ? 1 : 0) as Double)
        lastPass.set(Date().timeIntervalSince1970 as Double)
    }
}

/// `sluice repair --interval`: a pass every interval, and `/metrics`, as one service.
public struct RepairServer: Sendable {
    public let configuration: RepairConfiguration
    public let registry = PrometheusCollectorRegistry()
    let repairer: Repairer
    let logger: Logger

    public init(configuration: RepairConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        repairer = Repairer(configuration: configuration, metrics: RepairMetrics(registry: registry), logger: logger)
    }

    /// The passes, the HTTP server, and the client's shutdown once both stopped.
    public func service(onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> ServiceGroup {
        let router = Router()
        OperationalRoutes.add(to: router, registry: registry)
        let application = Application(
            router: router,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "sluice-repair"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
            logger: logger
        )
        let services: [any Service] = [RepairShutdown(repairer: repairer), application, RepairLoop(repairer: repairer, logger: logger)]
        return ServiceGroup(services: services, logger: logger)
    }
}

/// A pass, then a wait of `interval`, until shutdown.
struct RepairLoop: Service {
    let repairer: Repairer
    let logger: Logger

    func run() async throws {
        let interval = repairer.configuration.interval ?? .seconds(3600)
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    let report = try await repairer.pass()
                    logger.info("repair pass", metadata: ["repair.report": "\(report.line)", "repair.agreed": "\(report.agreed)"])
                } catch {
                    logger.error("repair pass failed", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: interval)
            }
        }
    }
}

/// Closes the repair's HTTP client after everything else stopped.
struct RepairShutdown: Service {
    let repairer: Repairer

    func run() async throws {
        try? await gracefulShutdown()
        try await repairer.shutdown()
    }
}
