import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import SluiceCodec
import SluiceRing
import Synchronization
import Testing
import SluiceTestSupport
@testable import SluiceInsert

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// Support for InsertEndToEndTests: real servers on loopback, each started and stopped by the test
// that uses it, every wait bounded.
// MARK: - The insert server

/// An `InsertServer` running in this process on a loopback port.
struct RunningInsert: Sendable {
    let port: Int
    let server: InsertServer
    let group: ServiceGroup
    let ringConfiguration: RingConfiguration

    var url: String { "http://127.0.0.1:\(port)" }

    func write(
        _ body: [UInt8],
        path: String = "/api/v1/write",
        headers: [(String, String)] = TestHTTP.remoteWriteHeaders
    ) async throws -> HTTPResult {
        try await TestHTTP.send(.POST, url + path, headers: headers, body: .bytes(body))
    }

    func metrics() async throws -> MetricsText {
        let result = try await TestHTTP.get(url + "/metrics")
        guard result.status == 200 else { throw EndToEndError("/metrics answered \(result.status)") }
        return MetricsText(text: result.body)
    }

    /// Starts a graceful shutdown without waiting for it, as SIGTERM would.
    func beginShutdown() async {
        await group.triggerGracefulShutdown()
    }
}

/// Runs an insert server, with its ring-file watcher, over `ring` for the duration of `body`.
///
/// Defaults differ from production only where a test would otherwise wait: node backoff is short so
/// a restarted node is probed again within a second.
func withInsert<T: Sendable>(
    ring: RingConfiguration,
    dataDirectory: String,
    configure: (inout InsertConfiguration) -> Void = { _ in },
    _ body: (RunningInsert) async throws -> T
) async throws -> T {
    try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
    let ringPath = dataDirectory + "/ring.yaml"
    try ring.yaml().write(toFile: ringPath, atomically: true, encoding: .utf8)
    let logger = TestLog.logger("e2e.insert")
    var configuration = InsertConfiguration()
    configuration.port = 0
    configuration.dataDirectory = dataDirectory
    configuration.forwarder.timeout = .seconds(5)
    configuration.nodeHealth.initialBackoff = .milliseconds(50)
    configuration.nodeHealth.maximumBackoff = .milliseconds(500)
    configure(&configuration)
    let server = try InsertServer(
        configuration: configuration, ringFile: .init(path: ringPath, pollInterval: .milliseconds(500), reloadOnSIGHUP: false), logger: logger
    )
    let port = PortPromise()
    return try await withServices([server.service(onServerRunning: { port.fulfil($0) })]) { group in
        let insert = RunningInsert(port: try await port.wait(), server: server, group: group, ringConfiguration: ring)
        return try await body(insert)
    }
}

// MARK: - Fake storage nodes

/// A remote-write receiver in this process that records what it is sent: the insert tier's
/// forwarding checked byte for byte, and a node that is slow on demand.
final class FakeNode: Sendable {
    struct Received: Sendable {
        var headers: HTTPFields
        var request: WriteRequest
    }

    let name: String
    let delay: Duration
    let port = PortPromise()
    private let arrivalCount = Atomic<Int>(0)
    private let log = Mutex<[Received]>([])

    init(name: String, delay: Duration = .zero) {
        self.name = name
        self.delay = delay
    }

    /// Requests that reached the node, answered or not.
    var arrivals: Int { arrivalCount.load(ordering: .acquiring) }
    var received: [Received] { log.withLock { $0 } }

    func application() -> some ApplicationProtocol {
        let router = Router()
        router.post("/api/v1/write") { [self] request, _ -> Response in
            let body = try await request.body.collect(upTo: 64 << 20)
            arrivalCount.add(1, ordering: .releasing)
            if delay > .zero { try await Task.sleep(for: delay) }
            let decoded = try MessageCodec().decodeWriteRequest(try Snappy.decompress(Array(body.readableBytesView), limit: 64 << 20))
            log.withLock { $0.append(Received(headers: request.headers, request: decoded)) }
            return Response(status: .noContent)
        }
        return Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: name),
            onServerRunning: { [port] channel in port.fulfil(channel.localAddress?.port ?? 0) },
            logger: TestLog.logger("e2e.fake-node")
        )
    }
}

/// Runs `nodes` for the duration of `body`, which gets their bound ports in order.
func withFakeNodes<T: Sendable>(_ nodes: [FakeNode], _ body: ([Int]) async throws -> T) async throws -> T {
    try await withServices(nodes.map { $0.application() }) { _ in
        var ports: [Int] = []
        for node in nodes { ports.append(try await node.port.wait()) }
        return try await body(ports)
    }
}

// MARK: - What the fixtures hold

/// The six Prometheus 2.42 remote-write bodies and what they decode to.
struct Fixtures: Sendable {
    let bodies: [[UInt8]]
    let requests: [WriteRequest]

    init() throws {
        bodies = RequestRouterTests.fixtures
        guard bodies.count == 6 else {
            throw EndToEndError("expected 6 fixtures in shared/fixtures/prometheus-2.42/remote-write (or $SLUICE_FIXTURES), found \(bodies.count)")
        }
        requests = try bodies.map { try MessageCodec().decodeWriteRequest(try Snappy.decompress($0, limit: 64 << 20)) }
    }

    /// The series of `requests[indices]` by their labels as sent (no tenant label), with their samples.
    func series(in indices: Range<Int> = 0..<6) -> [LabelSet: [Int64: Double]] {
        var out: [LabelSet: [Int64: Double]] = [:]
        for request in requests[indices] {
            for series in request.timeseries {
                let labels = LabelSet(uniqueKeysWithValues: series.labels.map { ($0.name, $0.value) })
                var samples = out[labels] ?? [:]
                for sample in series.samples { samples[sample.timestamp] = sample.value }
                out[labels] = samples
            }
        }
        return out
    }

    /// The first and last sample timestamps.
    var timeRange: ClosedRange<Int64> {
        let all = requests.flatMap { $0.timeseries.flatMap { $0.samples.map(\.timestamp) } }
        return all.min()!...all.max()!
    }
}

/// The labels a series is stored under: as sent plus the tenant label.
func stored(_ labels: LabelSet, tenant: String = "default") -> LabelSet {
    var labels = labels
    labels["tenant_id"] = tenant
    return labels
}

/// The nodes the ring places a series on, by name; the placement key is the tenant and the labels as
/// sent, never the tenant label.
func owners(of labels: LabelSet, tenant: String = "default", ring: HashRing) -> Set<String> {
    Set(ring.replicaNames(for: SeriesKeyHasher.hash(tenant: tenant, labels: labels.map { ($0.key, $0.value) })))
}

