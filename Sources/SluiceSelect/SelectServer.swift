import AsyncHTTPClient
import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle
import SluiceHTTP
import SluiceRing

/// `sluice select`: remote read and the query API across the ring. Built from its configuration and
/// ring file, it runs as one service (`service`): the ring watcher, the HTTP server and the node
/// client's shutdown.
public struct SelectServer: Sendable {
    public let configuration: SelectConfiguration
    public let ring: CurrentRing
    /// The watcher of the ring file this server owns and runs; nil when built on a given ring.
    let ringWatcher: RingFileWatcher?
    public let registry: PrometheusCollectorRegistry
    let client: HTTPClient
    let metrics: SelectMetrics
    let logger: Logger

    public static let readPaths: [RouterPath] = ["/api/v1/read"]

    /// Reads the ring file and follows it; the server runs the watcher.
    public init(
        configuration: SelectConfiguration,
        ringFile: RingFileWatcher.Configuration,
        registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
        logger: Logger
    ) throws {
        let watcher = try RingFileWatcher(configuration: ringFile, logger: logger)
        self.init(configuration: configuration, ring: watcher.current, ringWatcher: watcher, registry: registry, logger: logger)
    }

    /// Reads across `ring` as it is given; whoever changes it owns its watcher (in `sluice up`,
    /// insert's, since only one watcher can own SIGHUP).
    public init(
        configuration: SelectConfiguration,
        ring: CurrentRing,
        registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
        logger: Logger
    ) {
        self.init(configuration: configuration, ring: ring, ringWatcher: nil, registry: registry, logger: logger)
    }

    private init(
        configuration: SelectConfiguration,
        ring: CurrentRing,
        ringWatcher: RingFileWatcher?,
        registry: PrometheusCollectorRegistry,
        logger: Logger
    ) {
        self.configuration = configuration
        self.ring = ring
        self.ringWatcher = ringWatcher
        self.registry = registry
        self.logger = logger
        self.metrics = SelectMetrics(registry: registry)
        var client = HTTPClient.Configuration()
        client.decompression = .disabled
        if let tls = configuration.clientTLS { client.tlsConfiguration = tls }
        client.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 32)
        client.timeout = .init(connect: .seconds(2))
        // A node that refuses connections has failed this request: retrying until the connect
        // timeout would add two seconds to every read while a node is down.
        client.connectionPool.retryConnectionEstablishment = false
        self.client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: client)
    }

    /// The HTTP application. `onServerRunning` receives the bound port (useful with port 0).
    public func application(onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        let router = Router()
        router.add(middleware: AuthMiddleware(configuration.auth))
        let reader = NodeReader(
            client: client, timeout: configuration.nodeTimeout, maxResponseBytes: configuration.maxNodeResponseBytes,
            inProcess: configuration.inProcess)
        let fanOut = FanOut(
            configuration: configuration, ring: ring, metrics: metrics, health: NodeHealthBoard(configuration: configuration.nodeHealth),
            reader: reader, logger: logger
        )
        let tenants = TenantResolver(headerNames: configuration.tenantHeaders, defaultTenant: configuration.defaultTenant)
        let read = SelectReadHandler(configuration: configuration, fanOut: fanOut, reader: reader, tenants: tenants, metrics: metrics, logger: logger)
        router.post("/api/v1/read") { request, _ in await read.handle(request) }
        OperationalRoutes.postOnly(Self.readPaths, on: router)
        SelectQueryAPI(configuration: configuration, fanOut: fanOut, tenants: tenants, metrics: metrics, logger: logger)
            .register(on: router)
        SelectExemplarMetadataAPI(configuration: configuration, fanOut: fanOut, tenants: tenants, metrics: metrics, logger: logger)
            .register(on: router)
        OperationalRoutes.add(to: router, registry: registry)
        return Application(
            router: router,
            server: ServerConnections.builder(idleTimeout: configuration.idleTimeout, tls: configuration.tls),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "sluice-select"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
            logger: logger
        )
    }

    /// The whole tier as one service: the ring watcher, the HTTP server, and the node client's
    /// shutdown once the server has stopped. `onServerRunning` receives the bound port.
    public func service(onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> ServiceGroup {
        let watcher: [any Service] = ringWatcher.map { [$0] } ?? []
        let services: [any Service] = watcher + [ClientShutdown(client: client), application(onServerRunning: onServerRunning)]
        return ServiceGroup(services: services, logger: logger)
    }
}

/// Closes the node client after the HTTP server stopped (services stop in reverse order).
struct ClientShutdown: Service {
    let client: HTTPClient

    func run() async throws {
        try? await gracefulShutdown()
        try await client.shutdown()
    }
}
