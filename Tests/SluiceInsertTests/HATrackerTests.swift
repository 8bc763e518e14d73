import Foundation
import NIOCore
import SluiceCodec
import SluiceHTTP
import SluiceQuery
import SluiceRelabel
import SluiceRing
import SluiceTestSupport
import Synchronization
import Testing
@testable import SluiceInsert

/// HA-pair deduplication: the election protocol with an injected clock, the replica label removed
/// for 1.0 and 2.0 without moving a series, and the write path answering 202 for the other replica.
@Suite struct HATrackerTests {
    static let failover: Duration = .seconds(30)

    /// The clock the tests move by hand, in Unix milliseconds.
    final class ManualClock: Sendable {
        private let millis = Mutex<Int64>(1_700_000_000_000)
        var now: Int64 { millis.withLock { $0 } }
        func advance(by duration: Duration) { millis.withLock { $0 += duration.milliseconds } }
    }

    // MARK: The election

    @Test func theFirstReplicaIsElectedAndTheOtherRejectedUntilTheFailoverTimeout() {
        let clock = ManualClock()
        let store = InMemoryHAElectionStore(failoverTimeout: Self.failover)
        #expect(store.elect(tenant: "t", cluster: "ha", replica: "a", now: clock.now) == HADecision(accepted: true, elected: "a", changed: false))
        #expect(store.elect(tenant: "t", cluster: "ha", replica: "b", now: clock.now) == HADecision(accepted: false, elected: "a", changed: false))
        // a keeps writing: b stays out however long that goes on.
        for _ in 0..<5 {
            clock.advance(by: .seconds(20))
            #expect(store.elect(tenant: "t", cluster: "ha", replica: "a", now: clock.now).accepted)
            #expect(!store.elect(tenant: "t", cluster: "ha", replica: "b", now: clock.now).accepted)
        }
        // Exactly the timeout is not yet longer than it.
        clock.advance(by: Self.failover)
        #expect(!store.elect(tenant: "t", cluster: "ha", replica: "b", now: clock.now).accepted)
        clock.advance(by: .milliseconds(1))
        #expect(store.elect(tenant: "t", cluster: "ha", replica: "b", now: clock.now) == HADecision(accepted: true, elected: "b", changed: true))
        #expect(store.elect(tenant: "t", cluster: "ha", replica: "a", now: clock.now) == HADecision(accepted: false, elected: "b", changed: false))
    }

    @Test func clustersAndTenantsElectApart() {
        let store = InMemoryHAElectionStore(failoverTimeout: Self.failover)
        #expect(store.elect(tenant: "t", cluster: "one", replica: "a", now: 0).accepted)
        #expect(store.elect(tenant: "t", cluster: "two", replica: "b", now: 0).accepted)
        #expect(store.elect(tenant: "u", cluster: "one", replica: "b", now: 0).accepted)
        #expect(!store.elect(tenant: "t", cluster: "one", replica: "b", now: 0).accepted)
    }

    @Test func theElectedReplicaIsRecordedOncePerUpdateTimeout() {
        let current = HAElection(replica: "a", receivedAt: 0)
        let decide = { (replica: String, now: Int64) in
            HADecision.decide(current: current, replica: replica, now: now, failoverTimeout: .seconds(30), updateTimeout: .seconds(15))
        }
        #expect(decide("a", 14_999).store == nil)
        #expect(decide("a", 15_000).store == HAElection(replica: "a", receivedAt: 15_000))
        #expect(decide("b", 30_000).store == nil)
        #expect(decide("b", 30_001).store == HAElection(replica: "b", receivedAt: 30_001))
        let first = HADecision.decide(current: nil, replica: "b", now: 5, failoverTimeout: .seconds(30), updateTimeout: .seconds(15))
        #expect(first.decision == HADecision(accepted: true, elected: "b", changed: false) && first.store == HAElection(replica: "b", receivedAt: 5))
    }

    // MARK: Routing without the replica label

    static func request(replica: String?, count: Int = 40) -> WriteRequest {
        let series = (0..<count).map { i in
            var labels = [
                Label(name: "__name__", value: "m\(i % 5)"), Label(name: "cluster", value: "ha"), Label(name: "instance", value: "host-\(i)"),
                Label(name: "job", value: "node"),
            ]
            if let replica { labels.insert(Label(name: "__replica__", value: replica), at: 1) }
            return TimeSeries(labels: labels, samples: [Sample(timestamp: 1_000 + Int64(i), value: Double(i))])
        }
        return WriteRequest(timeseries: series)
    }

    static let ring = try! HashRing(nodes: (0..<3).map { RingNode(name: "store-\($0)") }, replicationFactor: 2)

    static func router(_ body: [UInt8]) throws -> RequestRouter {
        let router = RequestRouter()
        try Snappy.compress(body).withUnsafeBytes { raw in try Snappy.decompress(raw, into: router.decompressed, limit: 64 << 20) }
        return router
    }

    /// Each node's series, decoded.
    static func placement(_ routed: RoutedRequest) throws -> [Int: Set<TimeSeries>] {
        var out: [Int: Set<TimeSeries>] = [:]
        for part in routed.parts {
            let raw = try Snappy.decompress(Array(part.body.snappyCompressed.readableBytesView), limit: 64 << 20)
            let decoded = routed.v2Nodes.contains(part.node)
                ? try MessageCodec().decodeWriteRequestV2(raw) : try MessageCodec().decodeWriteRequest(raw)
            out[part.node] = Set(decoded.timeseries)
        }
        return out
    }

    static func v1(_ request: WriteRequest) -> [UInt8] { MessageCodec().encoded { $0.encode(request, appendingTo: $1) } }

    @Test(arguments: [nil, "tenant_id", "a_tenant"])
    func remoteWrite1WithoutTheReplicaLabelLandsWhereTheUnreplicatedSeriesDoes(tenantLabel: String?) throws {
        let expected = try Self.placement(
            Self.router(Self.v1(Self.request(replica: nil))).route(tenant: "t", tenantLabel: tenantLabel, ring: Self.ring))
        for replica in ["a", "b"] {
            let router = try Self.router(Self.v1(Self.request(replica: replica)))
            #expect(try router.haLabels(clusterLabel: "cluster", replicaLabel: "__replica__", v2: false).map { [$0.cluster, $0.replica] } == ["ha", replica])
            let routed = try router.route(tenant: "t", tenantLabel: tenantLabel, ring: Self.ring, dropLabel: "__replica__")
            #expect(try Self.placement(routed) == expected)
            #expect(routed.summary.samples == 40)
        }
        #expect(expected.values.reduce(0) { $0 + $1.count } == 80)
    }

    @Test(arguments: [Set<Int>(), [0, 1, 2], [1]])
    func remoteWrite2WithoutTheReplicaLabelLandsWhereTheUnreplicatedSeriesDoes(v2Nodes: Set<Int>) throws {
        let expected = try Self.placement(
            Self.router(RemoteWriteV2Encoder.encode(Self.request(replica: nil)))
                .routeV2(tenant: "t", tenantLabel: "tenant_id", ring: Self.ring, v2Nodes: v2Nodes))
        for replica in ["a", "b"] {
            let router = try Self.router(RemoteWriteV2Encoder.encode(Self.request(replica: replica)))
            #expect(try router.haLabels(clusterLabel: "cluster", replicaLabel: "__replica__", v2: true).map { [$0.cluster, $0.replica] } == ["ha", replica])
            let routed = try router.routeV2(tenant: "t", tenantLabel: "tenant_id", ring: Self.ring, v2Nodes: v2Nodes, dropLabel: "__replica__")
            #expect(try Self.placement(routed) == expected)
        }
    }

    @Test func relabelRulesSeeNoReplicaLabel() throws {
        // A rule keyed on the replica label would match if the label were still there.
        let rules = try RelabelRules.parse(yaml: """
            - {source_labels: [__replica__], regex: ".+", action: drop}
            """)
        let expected = try Self.placement(
            Self.router(Self.v1(Self.request(replica: nil))).route(tenant: "t", tenantLabel: nil, ring: Self.ring))
        let v1 = try Self.router(Self.v1(Self.request(replica: "a")))
            .route(tenant: "t", tenantLabel: nil, ring: Self.ring, relabel: rules, dropLabel: "__replica__")
        #expect(try Self.placement(v1) == expected)
        let v2 = try Self.router(RemoteWriteV2Encoder.encode(Self.request(replica: "a")))
            .routeV2(tenant: "t", tenantLabel: nil, ring: Self.ring, v2Nodes: [0], relabel: rules, dropLabel: "__replica__")
        #expect(try Self.placement(v2) == expected)
    }

    @Test func theFirstSeriesWithBothLabelsDecides() throws {
        var request = Self.request(replica: "b", count: 3)
        request.timeseries.insert(TimeSeries(labels: [Label(name: "__name__", value: "x"), Label(name: "cluster", value: "other")], samples: [Sample(timestamp: 1, value: 1)]), at: 0)
        #expect(try Self.router(Self.v1(request)).haLabels(clusterLabel: "cluster", replicaLabel: "__replica__", v2: false).map { [$0.cluster, $0.replica] } == ["ha", "b"])
        #expect(try Self.router(Self.v1(Self.request(replica: nil))).haLabels(clusterLabel: "cluster", replicaLabel: "__replica__", v2: false) == nil)
        #expect(try Self.router(RemoteWriteV2Encoder.encode(Self.request(replica: nil))).haLabels(clusterLabel: "cluster", replicaLabel: "__replica__", v2: true) == nil)
    }

    // MARK: The write path

    @Test(.timeLimit(.minutes(1)))
    func theOtherReplicaGets202AndNothingIsForwardedUntilFailover() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let clock = ManualClock()
        let nodes = [FakeNode(name: "store-a")]
        try await withFakeNodes(nodes) { ports in
            let ring = RingConfiguration(replicationFactor: 1, nodes: [.init(name: "store-a", url: "http://127.0.0.1:\(ports[0])/api/v1/write")])
            try await withInsert(ring: ring, dataDirectory: directory.path + "/insert", configure: { configuration in
                var ha = HATrackerConfiguration()
                ha.failoverTimeout = Self.failover
                ha.clock = { clock.now }
                configuration.haTracker = ha
                configuration.tenantLabel = nil
            }) { insert in
                let write = { (replica: String?) in try await insert.write(Snappy.compress(Self.v1(Self.request(replica: replica, count: 4)))) }
                #expect(try await write("a").status == 204)
                #expect(try await write("b").status == 202)
                #expect(nodes[0].received.count == 1)
                let stored = Set(nodes[0].received[0].request.timeseries)
                #expect(stored == Set(Self.request(replica: nil, count: 4).timeseries))

                // Requests without the labels are not the tracker's business.
                #expect(try await write(nil).status == 204)
                #expect(nodes[0].received.count == 2)

                clock.advance(by: Self.failover + .seconds(1))
                #expect(try await write("b").status == 204)
                #expect(try await write("a").status == 202)
                #expect(nodes[0].received.count == 3)
                let metrics = try await insert.metrics()
                #expect(metrics.value("sluice_insert_ha_deduplicated_samples_total", ["tenant": "default", "cluster": "ha"]) == 8)
                #expect(metrics.value("sluice_insert_ha_elected_replica_changes_total", ["tenant": "default", "cluster": "ha"]) == 1)
                #expect(metrics.value("sluice_insert_requests_total", ["code": "202"]) == 2)
            }
        }
    }
}

/// Two insert nodes' election stores sharing one real etcd (Debian's etcd-server, 3.4): they elect
/// the same replica, and a failover one of them makes holds for the other.
@Suite(
    "HA elections shared through etcd", .serialized,
    .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/etcd"), "needs /usr/bin/etcd (etcd-server)")
)
struct EtcdHAElectionTests {
    @Test(.timeLimit(.minutes(1)))
    func twoNodesElectTheSameReplicaAndSeeEachOthersFailover() async throws {
        let directory = try TemporaryDirectory("sluice-etcd")
        defer { directory.remove() }
        let ports = try freePorts(2)
        let endpoint = "http://127.0.0.1:\(ports[0])"
        let etcd = Process()
        etcd.executableURL = URL(fileURLWithPath: "/usr/bin/etcd")
        etcd.arguments = [
            "--data-dir", directory.path + "/etcd", "--listen-client-urls", endpoint, "--advertise-client-urls", endpoint,
            "--listen-peer-urls", "http://127.0.0.1:\(ports[1])", "--initial-advertise-peer-urls", "http://127.0.0.1:\(ports[1])",
            "--initial-cluster", "default=http://127.0.0.1:\(ports[1])",
        ]
        let log = directory.path + "/etcd.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let logHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        defer { try? logHandle.close() }
        etcd.standardOutput = logHandle
        etcd.standardError = logHandle
        try etcd.run()
        defer {
            etcd.terminate()
            etcd.waitUntilExit()
        }
        let healthy = try await eventually(timeout: .seconds(20), every: .milliseconds(100)) {
            (try? await TestHTTP.get(endpoint + "/health", timeout: .seconds(2)))?.status == 200
        }
        let etcdLog = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(healthy, "etcd did not become healthy: \(etcdLog.suffix(1500))")
        guard healthy else { return }

        let stores = (0..<2).map { _ in
            EtcdHAElectionStore(endpoints: [endpoint], failoverTimeout: .seconds(30), updateTimeout: .seconds(15))
        }
        let t0: Int64 = 1_700_000_000_000
        do {
            // Node 0 sees a first; node 1, which has never seen the key, sees b, then a.
            #expect(try await stores[0].elect(tenant: "t", cluster: "ha", replica: "a", now: t0) == HADecision(accepted: true, elected: "a", changed: false))
            #expect(try await stores[1].elect(tenant: "t", cluster: "ha", replica: "b", now: t0 + 10) == HADecision(accepted: false, elected: "a", changed: false))
            #expect(try await stores[1].elect(tenant: "t", cluster: "ha", replica: "a", now: t0 + 20).accepted)
            // Node 0 records a at the update timeout; node 1's cached time is older, but the store
            // has the newer one, so b stays out past node 1's own failover point.
            #expect(try await stores[0].elect(tenant: "t", cluster: "ha", replica: "a", now: t0 + 16_000).accepted)
            #expect(!(try await stores[1].elect(tenant: "t", cluster: "ha", replica: "b", now: t0 + 31_000).accepted))
            // a goes silent: node 1 fails over to b, and node 0, whose cache still says a, learns it
            // from its compare-and-swap losing.
            #expect(try await stores[1].elect(tenant: "t", cluster: "ha", replica: "b", now: t0 + 47_000) == HADecision(accepted: true, elected: "b", changed: true))
            #expect(try await stores[0].elect(tenant: "t", cluster: "ha", replica: "a", now: t0 + 48_000) == HADecision(accepted: false, elected: "b", changed: false))
            #expect(try await stores[0].elect(tenant: "t", cluster: "ha", replica: "b", now: t0 + 48_000).accepted)
            // Another cluster is another key.
            #expect(try await stores[0].elect(tenant: "t", cluster: "other", replica: "b", now: t0).accepted)
        } catch {
            Issue.record("\(error); etcd: \(((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").suffix(1500))")
        }
        for store in stores { try await store.shutdown() }
    }
}
