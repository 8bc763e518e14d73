import Hummingbird
import Logging
import NIOCore
import SluiceCodec
import SluiceHTTP
import SluiceRing
import Synchronization

/// Hands out request routers, one per request at a time, so their buffers are reused rather than
/// allocated per request.
final class RouterPool: Sendable {
    private let routers = Mutex<[UncheckedRouter]>([])
    private let limits: WriteRequestScanner.Limits

    /// A router is used by one request at a time: the pool is what makes sharing it safe.
    struct UncheckedRouter: @unchecked Sendable { let router: RequestRouter }

    init(limits: WriteRequestScanner.Limits) { self.limits = limits }

    func take() -> RequestRouter {
        routers.withLock { $0.popLast()?.router } ?? RequestRouter(limits: limits)
    }

    func give(_ router: RequestRouter) {
        routers.withLock { pool in
            if pool.count < 64 { pool.append(UncheckedRouter(router: router)) }
        }
    }
}

/// Where acknowledged data for a failed replica goes: the hinted-handoff queues.
public protocol HintSink: Sendable {
    func enqueue(node: String, body: ByteBuffer) async throws
    /// Whether hints wait for `node`. New data for it then queues behind them rather than going
    /// live: a storage that rejects out-of-order samples (Prometheus, Sluice) would otherwise take
    /// the newer live write first and reject the older replayed hints, losing the outage's data.
    func hasPending(node: String) -> Bool
}

/// `POST /api/v1/write`: validate, route, forward, decide, answer.
struct WriteHandler: Sendable {
    let configuration: InsertConfiguration
    let membership: @Sendable () -> RingMembership
    let forwarder: WriteForwarder
    let hints: any HintSink
    let metrics: InsertMetrics
    let limiter: InflightLimiter
    let routers: RouterPool
    let tenants: TenantResolver
    let logger: Logger

    func handle(_ request: Request) async -> Response {
        let tenant: String
        do {
            tenant = try tenants.tenant(of: request)
        } catch {
            metrics.received(code: 400, tenant: "invalid", series: 0, samples: 0)
            return error.response
        }
        var series = 0
        var samples = 0
        let response: Response
        do {
            let stats = try await write(request, tenant: tenant)
            series = stats.series
            samples = stats.samples
            response = Response(status: .noContent)
        } catch {
            if error.status.code >= 500 {
                logger.warning("write failed", metadata: ["tenant": "\(tenant)", "error": "\(error.message)"])
            } else {
                logger.debug("write rejected", metadata: ["tenant": "\(tenant)", "error": "\(error.message)"])
            }
            response = error.response
        }
        metrics.received(code: Int(response.status.code), tenant: tenant, series: series, samples: samples)
        return response
    }

    private func write(_ request: Request, tenant: String) async throws(HTTPFailure) -> (series: Int, samples: Int) {
        try RemoteWriteHeaders.check(request)
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > configuration.maxBodyBytes {
            throw HTTPFailure(.contentTooLarge, "body of \(length) bytes exceeds the limit of \(configuration.maxBodyBytes) bytes")
        }
        guard limiter.acquireRequest() else { throw tooManyRequests("too many requests in flight") }
        defer { limiter.releaseRequest() }

        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: configuration.maxBodyBytes)
        } catch is NIOTooManyBytesError {
            throw HTTPFailure(.contentTooLarge, "body exceeds the limit of \(configuration.maxBodyBytes) bytes")
        } catch {
            throw HTTPFailure(.badRequest, "could not read the body: \(error)")
        }

        let membership = membership()
        let router = routers.take()
        defer { routers.give(router) }
        let routed: RoutedRequest
        let decodedBytes: Int
        do {
            decodedBytes = try body.withUnsafeReadableBytes { (raw) throws(CodecError) in try Snappy.declaredLength(raw) }
        } catch {
            throw HTTPFailure(error)
        }
        guard decodedBytes <= configuration.maxDecodedBytes else {
            throw HTTPFailure(.contentTooLarge, "decoded body of \(decodedBytes) bytes exceeds the limit of \(configuration.maxDecodedBytes) bytes")
        }
        guard limiter.acquireBytes(decodedBytes) else { throw tooManyRequests("too many bytes in flight") }
        defer { limiter.releaseBytes(decodedBytes) }
        do {
            try body.withUnsafeReadableBytes { (raw) throws(CodecError) in
                try Snappy.decompress(raw, into: router.decompressed, limit: configuration.maxDecodedBytes)
            }
            routed = try router.route(tenant: tenant, tenantLabel: configuration.tenantLabel, ring: membership.ring)
        } catch {
            throw HTTPFailure(error)
        }

        let outcomes = await forward(routed, membership: membership, tenant: tenant)
        let decision = QuorumDecision(
            replicaSets: routed.replicaSets, outcomes: outcomes, writeQuorum: membership.configuration.writeQuorum
        )
        switch decision.verdict {
        case .acknowledged:
            for node in decision.hintNodes {
                guard let part = routed.parts.first(where: { $0.node == node }) else { continue }
                let name = membership.nodes[node].name
                do {
                    try await hints.enqueue(node: name, body: part.body)
                    metrics.hints(node: name, event: "queued")
                } catch {
                    // Quorum was met, so the data is safe; only the extra replica is late.
                    logger.error("could not queue hint", metadata: ["ring.node": "\(name)", "error": "\(error)"])
                    metrics.hints(node: name, event: "lost")
                }
            }
            return (routed.summary.series, routed.summary.samples + routed.summary.histograms)
        case .invalid(let message):
            metrics.quorumFailure(kind: "invalid")
            throw HTTPFailure(.badRequest, "storage rejected the data: \(message)")
        case .unavailable(let failed):
            metrics.quorumFailure(kind: "unavailable")
            let names = failed.map { membership.nodes[$0].name }.joined(separator: ", ")
            throw HTTPFailure(.serviceUnavailable, "write quorum \(membership.configuration.writeQuorum) not met; failing nodes: \(names)")
        }
    }

    private func tooManyRequests(_ why: String) -> HTTPFailure {
        HTTPFailure(.tooManyRequests, "\(why); retry later", headers: [.retryAfter: String(configuration.retryAfterSeconds)])
    }

    private func forward(_ routed: RoutedRequest, membership: RingMembership, tenant: String) async -> [Int: NodeOutcome] {
        let clock = ContinuousClock()
        return await withTaskGroup(of: (Int, NodeOutcome).self) { group in
            var outcomes: [Int: NodeOutcome] = [:]
            for part in routed.parts {
                let node = membership.nodes[part.node]
                guard node.shouldSend(at: clock.now) else {
                    outcomes[part.node] = .failed(message: "\(node.name) is backing off")
                    metrics.forwarded(node: node.name, result: "skipped", samples: part.samples)
                    continue
                }
                guard !hints.hasPending(node: node.name) else {
                    outcomes[part.node] = .failed(message: "\(node.name) is catching up through hinted handoff")
                    metrics.forwarded(node: node.name, result: "queued", samples: part.samples)
                    continue
                }
                group.addTask {
                    let start = clock.now
                    let outcome = await forwarder.send(part.body, to: node.url, tenant: tenant)
                    let end = clock.now
                    metrics.forwardDuration.record(end - start)
                    switch outcome {
                    case .accepted:
                        node.record(success: true, at: end)
                        metrics.forwarded(node: node.name, result: "accepted", samples: part.samples)
                    case .rejected:
                        node.record(success: true, at: end)
                        metrics.forwarded(node: node.name, result: "rejected", samples: part.samples)
                    case .failed(let message):
                        node.record(success: false, at: end)
                        metrics.forwarded(node: node.name, result: "failed", samples: part.samples)
                        logger.debug("forward failed", metadata: ["ring.node": "\(node.name)", "error": "\(message)"])
                    }
                    return (part.node, outcome)
                }
            }
            for await (node, outcome) in group { outcomes[node] = outcome }
            return outcomes
        }
    }
}
