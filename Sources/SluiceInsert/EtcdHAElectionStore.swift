import AsyncHTTPClient
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOCore
import Synchronization

/// Elections shared by every insert node through etcd v3, over its HTTP/JSON gateway
/// (`/v3/kv/range`, `/v3/kv/txn`), so that all of them keep the same replica of a pair whichever
/// node a replica's writes reach.
///
/// Each (tenant, cluster) is one key, `ha/<tenant>/<cluster>`, holding `{replica, receivedAt}`. Every
/// change is a transaction that compares the key's `mod_revision` with the one last read: etcd's
/// compare-and-swap decides between insert nodes, none of this code. A transaction that loses gets
/// the winner's value back and decides again on it.
///
/// As Mimir's HA tracker, each node keeps the last election it read or wrote per key and decides
/// from that while it can: the elected replica is accepted and the other rejected without a round
/// trip, and the store is written at most once per `updateTimeout` per cluster. Only the JSON of these
/// rare round trips uses Foundation; the write path never does.
public final class EtcdHAElectionStore: HAElectionStore {
    public struct Error: Swift.Error, CustomStringConvertible {
        public var description: String
    }

    private struct Known {
        var election: HAElection?
        var modRevision: Int64
    }

    private let endpoints: [String]
    private let failoverTimeout: Duration
    private let updateTimeout: Duration
    private let client: HTTPClient
    private let known = Mutex<[String: Known]>([:])

    /// - Parameter endpoints: etcd client URLs (`http://host:2379`), tried in order.
    public init(endpoints: [String], failoverTimeout: Duration, updateTimeout: Duration) {
        self.endpoints = endpoints.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        self.failoverTimeout = failoverTimeout
        self.updateTimeout = updateTimeout
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(2), read: .seconds(5))
        configuration.connectionPool.retryConnectionEstablishment = false
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public func shutdown() async throws {
        try await client.shutdown()
    }

    public func elect(tenant: String, cluster: String, replica: String, now: Int64) async throws -> HADecision {
        let key = "ha/\(tenant)/\(cluster)"
        let cached = known.withLock { $0[key] }
        if let cached {
            let (decision, store) = decide(cached.election, replica: replica, now: now)
            if store == nil { return decision }
        }
        // A write is due, or this node has not seen the key yet: swap against what it knows (an
        // absent key has mod_revision 0) and decide again on the latest value when another node got
        // there first.
        var expected = cached ?? Known(election: nil, modRevision: 0)
        for _ in 0..<8 {
            let (decision, store) = decide(expected.election, replica: replica, now: now)
            guard let store else { return decision }
            guard let latest = try await swap(key, expected: expected, put: store) else { return decision }
            expected = latest
        }
        throw Error(description: "etcd: \(key) kept changing under 8 compare-and-swap attempts")
    }

    private func decide(_ election: HAElection?, replica: String, now: Int64) -> (decision: HADecision, store: HAElection?) {
        HADecision.decide(current: election, replica: replica, now: now, failoverTimeout: failoverTimeout, updateTimeout: updateTimeout)
    }

    /// Puts `election` if the key is still at `expected.modRevision`: nil when it was (and is now
    /// known at its new revision), else what the key holds now.
    private func swap(_ key: String, expected: Known, put election: HAElection) async throws -> Known? {
        let keyBase64 = Data(key.utf8).base64EncodedString()
        let value = try JSONEncoder().encode(StoredElection(replica: election.replica, receivedAt: election.receivedAt))
        let request = TxnRequest(
            compare: [.init(key: keyBase64, target: "MOD", result: "EQUAL", mod_revision: String(expected.modRevision))],
            success: [.init(request_put: .init(key: keyBase64, value: value.base64EncodedString()))],
            failure: [.init(request_range: .init(key: keyBase64))]
        )
        let answer: TxnResponse = try await post("/v3/kv/txn", request)
        if answer.succeeded == true {
            let revision = answer.header?.revision.flatMap { Int64($0) } ?? 0
            known.withLock { $0[key] = Known(election: election, modRevision: revision) }
            return nil
        }
        let kv = answer.responses?.first?.response_range?.kvs?.first
        let latest = try Known(
            election: kv.map { kv in
                guard let bytes = kv.value.flatMap({ Data(base64Encoded: $0) }) else { return nil }
                let stored = try JSONDecoder().decode(StoredElection.self, from: bytes)
                return HAElection(replica: stored.replica, receivedAt: stored.receivedAt)
            } ?? nil,
            modRevision: kv?.mod_revision.flatMap { Int64($0) } ?? 0
        )
        known.withLock { $0[key] = latest }
        return latest
    }

    private func post<Request: Encodable, Response: Decodable>(_ path: String, _ body: Request) async throws -> Response {
        let bytes = try JSONEncoder().encode(body)
        var failures: [String] = []
        for endpoint in endpoints {
            var request = HTTPClientRequest(url: endpoint + path)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: bytes))
            do {
                let response = try await client.execute(request, timeout: .seconds(5))
                let answer = try await response.body.collect(upTo: 1 << 20)
                guard response.status == .ok else {
                    failures.append("\(endpoint): \(response.status.code) \(String(buffer: answer).prefix(200))")
                    continue
                }
                return try JSONDecoder().decode(Response.self, from: Data(answer.readableBytesView))
            } catch {
                failures.append("\(endpoint): \(error)")
            }
        }
        throw Error(description: "etcd: \(failures.joined(separator: "; "))")
    }

    // The gateway's JSON: bytes as base64, 64-bit integers as strings, fields at their default left out.

    private struct StoredElection: Codable {
        var replica: String
        var receivedAt: Int64
    }

    private struct TxnRequest: Encodable {
        struct Compare: Encodable {
            var key: String
            var target: String
            var result: String
            var mod_revision: String
        }
        struct Put: Encodable {
            var key: String
            var value: String
        }
        struct Range: Encodable {
            var key: String
        }
        struct Op: Encodable {
            var request_put: Put?
            var request_range: Range?
            init(request_put: Put) { self.request_put = request_put }
            init(request_range: Range) { self.request_range = request_range }
        }
        var compare: [Compare]
        var success: [Op]
        var failure: [Op]
    }

    private struct TxnResponse: Decodable {
        struct Header: Decodable { var revision: String? }
        struct KeyValue: Decodable {
            var mod_revision: String?
            var value: String?
        }
        struct RangeResponse: Decodable { var kvs: [KeyValue]? }
        struct Op: Decodable { var response_range: RangeResponse? }
        var header: Header?
        var succeeded: Bool?
        var responses: [Op]?
    }
}
