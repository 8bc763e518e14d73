import NIOSSL
import Hummingbird
import Logging
import NIOPosix
import Prometheus
import ServiceLifecycle
import SluiceCodec
import SluiceHTTP

/// Everything `sluice storage` needs to know; the CLI maps flags onto it and tests build it directly.
public struct StorageConfiguration: ServerListening, WriteBodyLimits, Sendable {
    public enum WALFsync: String, Sendable, CaseIterable {
        /// fsync before every acknowledgement; concurrent writes share one fsync.
        case always
        /// Acknowledge once written to the page cache; fsync every `walFsyncInterval`.
        case interval
    }

    public var host = "127.0.0.1"
    public var port = 9301
    /// Connections that complete no request part for this long are closed (`ServerConnections`).
    public var idleTimeout: Duration = ServerConnections.defaultIdleTimeout
    /// Serve HTTPS only, with this certificate (`TLSFiles.server`).
    public var tls: TLSConfiguration?
    public var dataDirectory = "./data/storage"
    /// Blocks ending this long before now (the wall clock) are deleted; zero keeps everything.
    public var retention: Duration = .seconds(15 * 24 * 3600)
    /// Length of one block. Prometheus' default, 2 h; tests shorten it.
    public var blockDuration: Duration = .seconds(2 * 3600)
    /// Longest block compaction merges into; zero means a tenth of the retention, at most 31 days.
    public var maxBlockDuration: Duration = .zero
    public var walFsync: WALFsync = .always
    public var walFsyncInterval: Duration = .seconds(1)
    public var walSegmentBytes = 128 << 20
    /// How often the head is checked for a block to cut and blocks for retention.
    public var compactionInterval: Duration = .seconds(5)
    public var maxBodyBytes = 32 << 20
    public var maxDecodedBytes = 256 << 20
    /// Samples one SAMPLES remote-read response may hold; Prometheus' default.
    public var readSampleLimit = 50_000_000
    /// Largest frame of a streamed remote-read response; Prometheus' default.
    public var readMaxBytesInFrame = 1 << 20
    public var limits = WriteRequestScanner.Limits()
    /// Exemplars kept across all series, newest first (Prometheus' `max_exemplars`); 0 keeps none.
    public var maxExemplars = 100_000

    public init() {}

    var storage: Storage.Configuration {
        var configuration = Storage.Configuration()
        configuration.dataDirectory = dataDirectory
        configuration.blockDuration = blockDuration.milliseconds
        configuration.retention = retention.milliseconds
        configuration.maxBlockDuration = maxBlockDuration.milliseconds
        configuration.wal.segmentSize = walSegmentBytes
        configuration.wal.fsync = walFsync == .always ? .always : .interval(walFsyncInterval)
        configuration.maxExemplars = maxExemplars
        return configuration
    }
}

extension Duration {
    var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}

/// `sluice storage`: built from its configuration, it runs as one service (`service`): the storage's
/// life cycle and the HTTP server.
public struct StorageServer: Sendable {
    public let configuration: StorageConfiguration
    public let registry: PrometheusCollectorRegistry
    let storage: Storage
    let logger: Logger

    public static let writePaths: [RouterPath] = ["/api/v1/write"]
    public static let readPaths: [RouterPath] = ["/api/v1/read"]
    public static let repairPaths: [RouterPath] = [BackfillHeaders.path, SeriesDigest.path, PlacedSeriesDeletion.path].map { RouterPath(stringLiteral: $0) }

    public init(
        configuration: StorageConfiguration,
        registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
        logger: Logger
    ) throws {
        self.configuration = configuration
        self.registry = registry
        self.logger = logger
        self.storage = try Storage(configuration: configuration.storage, metrics: StorageMetrics(registry: registry), logger: logger)
    }

    /// The HTTP application. `onServerRunning` receives the bound port (useful with port 0).
    public func application(onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        let router = Router()
        let write = StorageWriteHandler(configuration: configuration, storage: storage, logger: logger)
        let read = RemoteReadHandler(configuration: configuration, storage: storage, logger: logger)
        let api = QueryAPIHandler(storage: storage)
        router.post("/api/v1/write") { request, _ in await write.handle(request) }
        router.post("/api/v1/read") { request, _ in await read.handle(request) }
        // Repair and rebalance (`Backfill`, `Storage.digest`).
        let repair = RepairHandlers(storage: storage)
        router.post(RouterPath(stringLiteral: BackfillHeaders.path)) { request, _ in await write.handleBackfill(request) }
        router.post(RouterPath(stringLiteral: SeriesDigest.path)) { request, _ in await repair.digest(request) }
        router.post(RouterPath(stringLiteral: PlacedSeriesDeletion.path)) { request, _ in await repair.deletePlaced(request) }
        OperationalRoutes.postOnly(Self.writePaths + Self.readPaths + Self.repairPaths, on: router)
        api.register(on: router)
        ExemplarMetadataHandlers(storage: storage).register(on: router)
        OperationalRoutes.add(to: router, registry: registry, ready: { [storage] in storage.isReady })
        return Application(
            router: router,
            server: ServerConnections.builder(idleTimeout: configuration.idleTimeout, tls: configuration.tls),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "sluice-storage"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
            logger: logger
        )
    }

    /// This node's write path for insert in the same process (`sluice up`): what `POST /api/v1/write`
    /// does, without HTTP, and without checking the label rules again, which insert has applied to
    /// every byte it forwards (the wire structure is still checked). Register it under the node's
    /// write URL, for insert's use only.
    public func inProcessWriter() -> InProcessNodes.Writer {
        let write = StorageWriteHandler(configuration: configuration, storage: storage, logger: logger)
        return { body, version in await write.answer(body, version: version) }
    }

    /// Reads for select in this process (`InProcessNodes`), as `POST /api/v1/read` answers them.
    public func inProcessReader() -> InProcessNodes.Reader {
        { [storage] queries in RemoteReadHandler.inProcess(queries, storage: storage) }
    }

    /// The whole node as one service: the storage's life cycle, then the HTTP server. A
    /// `ServiceGroup` stops services in reverse order, so the WAL closes only after the server has
    /// answered the writes in flight.
    ///
    /// `onServerRunning` receives the bound port; `onReady` runs once the WAL is replayed, when the
    /// node starts taking reads and writes.
    public func service(
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in },
        onReady: @escaping @Sendable () -> Void = {}
    ) -> ServiceGroup {
        let services: [any Service] = [
            StorageLifecycle(storage: storage, interval: configuration.compactionInterval, onReady: onReady, logger: logger),
            application(onServerRunning: onServerRunning),
        ]
        return ServiceGroup(services: services, logger: logger)
    }
}

/// Replays the WAL (the node turns ready after), cuts blocks and applies retention on a timer, and
/// closes the WAL at shutdown.
struct StorageLifecycle: Service {
    let storage: Storage
    let interval: Duration
    let onReady: @Sendable () -> Void
    let logger: Logger

    func run() async throws {
        try await NIOThreadPool.singleton.runIfActive { try storage.recover() }
        onReady()
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                storage.updateHeadGauges()
                do {
                    try await storage.compact()
                } catch {
                    logger.error("compaction failed", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: interval)
            }
        }
        storage.close()
    }
}
