import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle
import SluiceHTTP
import SluiceRing

/// `sluice insert`: built from its configuration and ring file, it runs as one service (`service`):
/// the ring watcher, the overrides watcher, the HTTP server, hint replay and the forwarder. The
/// command only maps flags; `sluice up` composes it with the other tiers.
public struct InsertServer: Sendable {
    public let configuration: InsertConfiguration
    public let ring: CurrentRing
    /// The watcher of the ring file this server owns and runs; nil when built on a given ring.
    let ringWatcher: RingFileWatcher?
    public let nodes: StorageNodeDirectory
    public let hints: HintStore
    public let registry: PrometheusCollectorRegistry
    /// Every tenant's limits and token buckets; the overrides watcher replaces the limits.
    public let tenantLimits: TenantLimiter
    let overridesWatcher: OverridesWatcher?
    /// Where HA elections live, with `--ha-tracker`.
    let haElections: (any HAElectionStore)?
    let forwarder: WriteForwarder
    let metrics: InsertMetrics
    let logger: Logger

    public static let writePaths: [RouterPath] = ["/api/v1/write", "/api/v1/receive", "/api/v1/push"]

    /// Routes to `ring` as it is given; whoever changes it owns its watcher.
    public init(
        configuration: InsertConfiguration,
        ring: CurrentRing,
        registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
        logger: Logger
    ) throws {
        try self.init(configuration: configuration, ring: ring, ringWatcher: nil, registry: registry, logger: logger)
    }

    /// Reads the ring file and follows it: the server runs the watcher, and each reload that changes
    /// the ring refreshes the ring gauges and counts in the reload metric.
    public init(
        configuration: InsertConfiguration,
        ringFile: RingFileWatcher.Configuration,
        registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
        logger: Logger
    ) throws {
        let watcher = try RingFileWatcher(configuration: ringFile, logger: logger)
        try self.init(configuration: configuration, ring: watcher.current, ringWatcher: watcher, registry: registry, logger: logger)
        watcher.onChange { [self] snapshot in ringChanged(snapshot) }
    }

    private init(
        configuration: InsertConfiguration,
        ring: CurrentRing,
        ringWatcher: RingFileWatcher?,
        registry: PrometheusCollectorRegistry,
        logger: Logger
    ) throws {
        self.configuration = configuration
        self.ring = ring
        self.ringWatcher = ringWatcher
        self.registry = registry
        self.logger = logger
        let metrics = InsertMetrics(registry: registry)
        self.metrics = metrics
        let flags = TenantLimits(flags: configuration.limits)
        let tenantLimits = TenantLimiter(overrides: TenantOverrides(defaults: flags))
        self.tenantLimits = tenantLimits
        self.overridesWatcher = try configuration.overridesFile.map { path throws(OverridesError) in
            try OverridesWatcher(
                configuration: .init(path: path, pollInterval: configuration.overridesReloadInterval),
                limiter: tenantLimits, flags: flags, logger: logger,
                onReload: { success in metrics.overridesReload(result: success ? "success" : "failure") }
            )
        }
        self.nodes = StorageNodeDirectory(health: configuration.nodeHealth)
        self.forwarder = WriteForwarder(configuration: configuration.forwarder)
        var hintConfiguration = HintStore.Configuration()
        hintConfiguration.queue.maxBytes = configuration.maxHintBytesPerNode
        self.hints = try HintStore(dataDirectory: configuration.dataDirectory, configuration: hintConfiguration, logger: logger)
        self.haElections = configuration.haTracker.map { ha -> any HAElectionStore in
            ha.etcdEndpoints.isEmpty
                ? InMemoryHAElectionStore(failoverTimeout: ha.failoverTimeout)
                : EtcdHAElectionStore(endpoints: ha.etcdEndpoints, failoverTimeout: ha.failoverTimeout, updateTimeout: ha.updateTimeout)
        }
    }

    /// Ring changes from the watcher: refresh the ring gauges and count the reload.
    func ringChanged(_ snapshot: RingSnapshot) {
        _ = nodes.membership(for: snapshot)
        metrics.ringReload(result: "success")
        updateRingGauges()
    }

    func updateRingGauges() {
        let membership = nodes.membership(for: ring.snapshot)
        metrics.ring.record(nodes: membership.nodes.count, healthy: membership.nodes.filter(\.isHealthy).count)
    }

    /// The HTTP application. `onServerRunning` receives the bound port (useful with port 0).
    public func application(onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        let router = Router()
        router.add(middleware: AuthMiddleware(configuration.auth))
        let handler = WriteHandler(
            configuration: configuration,
            membership: { [ring, nodes] in nodes.membership(for: ring.snapshot) },
            forwarder: forwarder,
            batcher: ForwardBatcher(configuration: configuration.forwardBatching, forwarder: forwarder, metrics: metrics),
            hints: DiskHints(store: hints, metrics: metrics),
            metrics: metrics,
            limiter: InflightLimiter(
                maxRequests: configuration.maxInflightRequests, maxBytes: configuration.maxInflightBytes, metrics: metrics
            ),
            routers: RouterPool(),
            tenantLimits: tenantLimits,
            tenants: TenantResolver(headerNames: configuration.tenantHeaders, defaultTenant: configuration.defaultTenant),
            haTracker: configuration.haTracker.flatMap { ha in
                haElections.map { HATracker(configuration: ha, store: $0, logger: logger) }
            },
            logger: logger
        )
        for path in Self.writePaths {
            router.post(path) { request, _ in await handler.handle(request) }
        }
        OperationalRoutes.postOnly(Self.writePaths, on: router)
        OperationalRoutes.add(to: router, registry: registry)
        updateRingGauges()
        return Application(
            router: router,
            server: ServerConnections.builder(idleTimeout: configuration.idleTimeout, tls: configuration.tls),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "sluice-insert"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
            logger: logger
        )
    }

    /// The whole tier as one service: the ring watcher, the forwarder's shutdown, the HTTP server,
    /// hint replay and the overrides watcher. `onServerRunning` receives the bound port.
    ///
    /// A `ServiceGroup` shuts services down in reverse order, one after the other, so the forwarder's
    /// shutdown comes early here: it runs last, once the HTTP server has finished the writes in flight.
    public func service(onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> ServiceGroup {
        let watcher: [any Service] = ringWatcher.map { [$0] } ?? []
        let overrides: [any Service] = overridesWatcher.map { [$0] } ?? []
        let services: [any Service] = watcher + [
            ForwarderShutdown(forwarder: forwarder, hints: hints, etcd: haElections as? EtcdHAElectionStore),
            application(onServerRunning: onServerRunning),
            HintReplayer(
                store: hints, nodes: nodes, forwarder: forwarder, metrics: metrics, logger: logger,
                refreshGauges: { [self] in updateRingGauges() }
            ),
        ] + overrides
        return ServiceGroup(services: services, logger: logger)
    }
}

/// Closes the forwarder's connections and the hint queues after the HTTP server stopped.
struct ForwarderShutdown: Service {
    let forwarder: WriteForwarder
    let hints: HintStore
    let etcd: EtcdHAElectionStore?

    func run() async throws {
        try? await gracefulShutdown()
        try await forwarder.shutdown()
        try await etcd?.shutdown()
        hints.close()
    }
}
