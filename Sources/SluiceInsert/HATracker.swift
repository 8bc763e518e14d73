#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import SluiceCodec
import SluiceHTTP
import Synchronization

// HA-pair deduplication at ingest, as Mimir's HA tracker: two Prometheus replicas scrape the same
// targets and both remote-write; per (tenant, cluster) one replica is elected and only its writes are
// kept, with the replica label removed so both replicas' series are the same series. When the elected
// replica has been silent for longer than the failover timeout, the next replica that writes takes
// over.

/// `--ha-tracker`: which labels name the HA pair and its members, and how fast a silent replica is
/// replaced.
public struct HATrackerConfiguration: Sendable {
    /// Names the HA pair (Prometheus `external_labels`); kept on forwarded series.
    public var clusterLabel = "cluster"
    /// Names the member of the pair; removed from every accepted series.
    public var replicaLabel = "__replica__"
    /// How long the elected replica may send nothing before another one is elected (Mimir's
    /// `ha_tracker_failover_timeout`).
    public var failoverTimeout: Duration = .seconds(30)
    /// How often a shared store records that the elected replica is still writing (Mimir's
    /// `ha_tracker_update_timeout`). Must be below the failover timeout, or a writing replica would
    /// look silent to the other insert nodes.
    public var updateTimeout: Duration = .seconds(15)
    /// etcd client URLs (`http://host:2379`) that every insert node shares elections through; empty
    /// keeps elections in this process.
    public var etcdEndpoints: [String] = []
    /// The wall clock, in Unix milliseconds; tests replace it to fail over without waiting.
    public var clock: @Sendable () -> Int64 = unixMilliseconds

    public init() {}
}

/// The elected replica of one (tenant, cluster), as a store holds it.
public struct HAElection: Sendable, Hashable {
    public var replica: String
    /// When the elected replica was last recorded as writing, in Unix milliseconds: a wall clock,
    /// since insert nodes sharing a store compare each other's times.
    public var receivedAt: Int64

    public init(replica: String, receivedAt: Int64) {
        self.replica = replica
        self.receivedAt = receivedAt
    }
}

/// What to do with one request from a replica.
public struct HADecision: Sendable, Hashable {
    /// The request comes from the elected replica: forward it without the replica label. Otherwise
    /// answer 202 and forward nothing.
    public var accepted: Bool
    public var elected: String
    /// This request elected its replica in place of another that had gone silent.
    public var changed: Bool

    public init(accepted: Bool, elected: String, changed: Bool) {
        self.accepted = accepted
        self.elected = elected
        self.changed = changed
    }

    /// The decision for a write from `replica` at `now` given the `current` election, and the election
    /// to store, nil when the store need not change. The whole protocol, free of I/O: every store
    /// applies it to what it holds.
    ///
    /// - Parameters:
    ///   - updateTimeout: the elected replica's `receivedAt` is rewritten only once it is this old, so
    ///     a shared store is written at most once per interval per cluster.
    public static func decide(
        current: HAElection?, replica: String, now: Int64, failoverTimeout: Duration, updateTimeout: Duration
    ) -> (decision: HADecision, store: HAElection?) {
        guard let current else {
            return (HADecision(accepted: true, elected: replica, changed: false), HAElection(replica: replica, receivedAt: now))
        }
        let age = now - current.receivedAt
        if current.replica == replica {
            let refresh = age >= updateTimeout.milliseconds ? HAElection(replica: replica, receivedAt: now) : nil
            return (HADecision(accepted: true, elected: replica, changed: false), refresh)
        }
        if age > failoverTimeout.milliseconds {
            return (HADecision(accepted: true, elected: replica, changed: true), HAElection(replica: replica, receivedAt: now))
        }
        return (HADecision(accepted: false, elected: current.replica, changed: false), nil)
    }
}

/// Where elections live: in this process (`InMemoryHAElectionStore`), or shared by every insert node
/// in a KV store with compare-and-swap, so that all of them keep the same replica.
public protocol HAElectionStore: Sendable {
    /// Decides a write from `replica` of `cluster` in `tenant` at `now` (Unix milliseconds), electing
    /// or refreshing as `HADecision.decide` says.
    func elect(tenant: String, cluster: String, replica: String, now: Int64) async throws -> HADecision
}

/// Elections of one insert process: right for a single insert node, or for a pair's writes that
/// always reach the same node.
public final class InMemoryHAElectionStore: HAElectionStore {
    private struct Key: Hashable {
        var tenant: String
        var cluster: String
    }

    private let elections = Mutex<[Key: HAElection]>([:])
    private let failoverTimeout: Duration

    public init(failoverTimeout: Duration) {
        self.failoverTimeout = failoverTimeout
    }

    public func elect(tenant: String, cluster: String, replica: String, now: Int64) -> HADecision {
        elections.withLock { elections in
            let key = Key(tenant: tenant, cluster: cluster)
            // Recording costs nothing here: refresh on every accepted write (update timeout zero).
            let (decision, store) = HADecision.decide(
                current: elections[key], replica: replica, now: now, failoverTimeout: failoverTimeout, updateTimeout: .zero
            )
            if let store { elections[key] = store }
            return decision
        }
    }
}

extension Duration {
    /// Whole milliseconds, rounded down.
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}

/// The wall clock in Unix milliseconds, for election times.
public func unixMilliseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
}

/// The HA tracker as the write handler uses it: the labels, the store and the clock.
struct HATracker: Sendable {
    let configuration: HATrackerConfiguration
    let store: any HAElectionStore
    let logger: Logger

    /// Whether a request from `replica` is forwarded. A store that cannot decide fails the request
    /// with 503: Prometheus retries it, where dropping it could lose both replicas' data.
    func accepts(tenant: String, cluster: String, replica: String, metrics: InsertMetrics) async throws(HTTPFailure) -> Bool {
        let decision: HADecision
        do {
            decision = try await store.elect(tenant: tenant, cluster: cluster, replica: replica, now: configuration.clock())
        } catch {
            logger.warning("HA election failed", metadata: ["tenant": "\(tenant)", "ha.cluster": "\(cluster)", "error": "\(error)"])
            throw HTTPFailure(.serviceUnavailable, "HA tracker: could not elect a replica of cluster \(cluster): \(error)")
        }
        if decision.changed {
            metrics.haElectedReplicaChange(tenant: tenant, cluster: cluster)
            logger.notice(
                "HA replica elected", metadata: ["tenant": "\(tenant)", "ha.cluster": "\(cluster)", "ha.replica": "\(replica)"])
        }
        return decision.accepted
    }
}

extension RequestRouter {
    /// Stops a scan at the first series that names its HA pair.
    private static let found = CodecError(.invalidSeries, "HA labels found")

    /// The values of `clusterLabel` and `replicaLabel` on the first series in `decompressed` that has
    /// both, or nil when none has. Every series of a request comes from one Prometheus, so the first
    /// decides for all; the scan stops there.
    public func haLabels(clusterLabel: String, replicaLabel: String, v2: Bool) throws(CodecError) -> (cluster: String, replica: String)? {
        let body = decompressed.bytes
        let clusterBytes = Array(clusterLabel.utf8)
        let replicaBytes = Array(replicaLabel.utf8)
        var values: (cluster: String, replica: String)?
        func visit(_ name: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, cluster: inout String?, replica: inout String?) {
            if Self.compare(name, clusterBytes) == 0 { cluster = String(decoding: value, as: UTF8.self) }
            if Self.compare(name, replicaBytes) == 0 { replica = String(decoding: value, as: UTF8.self) }
        }
        do {
            if v2 {
                let scanner = scannerV2
                _ = try scanner.scan(body) { (series) throws(CodecError) in
                    var cluster: String?
                    var replica: String?
                    for label in series.labels {
                        visit(scanner.symbol(label.name, in: body), scanner.symbol(label.value, in: body), cluster: &cluster, replica: &replica)
                    }
                    if let cluster, let replica {
                        values = (cluster, replica)
                        throw Self.found
                    }
                }
            } else {
                _ = try scanner.scan(body) { (series) throws(CodecError) in
                    var cluster: String?
                    var replica: String?
                    for label in series.labels {
                        visit(
                            UnsafeRawBufferPointer(rebasing: body[label.name]), UnsafeRawBufferPointer(rebasing: body[label.value]),
                            cluster: &cluster, replica: &replica)
                    }
                    if let cluster, let replica {
                        values = (cluster, replica)
                        throw Self.found
                    }
                }
            }
        } catch where error == Self.found {
            return values
        }
        return nil
    }

    /// What the body in `decompressed` holds, validating all of it: what a deduplicated request
    /// would have written.
    public func counts(v2: Bool) throws(CodecError) -> WriteForwarder.Written {
        let body = decompressed.bytes
        if v2 {
            let summary = try scannerV2.scan(body) { _ in }
            return .init(samples: summary.samples, histograms: summary.histograms, exemplars: summary.exemplars)
        }
        let summary = try scanner.scan(body) { _ in }
        return .init(samples: summary.samples, histograms: summary.histograms, exemplars: summary.exemplars)
    }
}
