import Hummingbird
import Logging
import NIOCore
import SluiceCodec
import SluiceHTTP
import SluiceRing
import Synchronization

/// Hands out request routers, one per request at a time, so their buffers are reused rather than
/// allocated per request.
///
/// A router's scanners hold the limits of the tenant it validates for, so routers are pooled by
/// limits: tenants with the same limits (all tenants, without an overrides file) share routers.
final class RouterPool: Sendable {
    private let routers = Mutex<(byLimits: [WriteRequestScanner.Limits: [UncheckedRouter]], count: Int)>(([:], 0))

    /// A router is used by one request at a time: the pool is what makes sharing it safe.
    struct UncheckedRouter: @unchecked Sendable {
        let router: RequestRouter
        let limits: WriteRequestScanner.Limits
    }

    init() {}

    func take(limits: WriteRequestScanner.Limits) -> UncheckedRouter {
        let pooled = routers.withLock { pool -> UncheckedRouter? in
            guard let router = pool.byLimits[limits]?.popLast() else { return nil }
            if pool.byLimits[limits]?.isEmpty == true { pool.byLimits[limits] = nil }
            pool.count -= 1
            return router
        }
        return pooled ?? UncheckedRouter(router: RequestRouter(limits: limits), limits: limits)
    }

    func give(_ router: UncheckedRouter) {
        routers.withLock { pool in
            guard pool.count < 64 else { return }
            pool.byLimits[router.limits, default: []].append(router)
            pool.count += 1
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
///
/// A class: every closure of a request (its forwards' child tasks among them) captures it, and a
/// struct of this many references was copied, each retained and released, into every one.
final class WriteHandler: Sendable {
    let configuration: InsertConfiguration
    let membership: @Sendable () -> RingMembership
    let forwarder: WriteForwarder
    /// Group commit of the parts concurrent requests send to one node.
    let batcher: ForwardBatcher
    let hints: any HintSink
    let metrics: InsertMetrics
    let limiter: InflightLimiter
    let routers: RouterPool
    let tenantLimits: TenantLimiter
    let tenants: TenantResolver
    /// Set with `--ha-tracker`.
    let haTracker: HATracker?
    let logger: Logger

    init(
        configuration: InsertConfiguration, membership: @escaping @Sendable () -> RingMembership, forwarder: WriteForwarder,
        batcher: ForwardBatcher, hints: any HintSink, metrics: InsertMetrics, limiter: InflightLimiter, routers: RouterPool,
        tenantLimits: TenantLimiter, tenants: TenantResolver, haTracker: HATracker?, logger: Logger
    ) {
        self.configuration = configuration
        self.membership = membership
        self.forwarder = forwarder
        self.batcher = batcher
        self.hints = hints
        self.metrics = metrics
        self.limiter = limiter
        self.routers = routers
        self.tenantLimits = tenantLimits
        self.tenants = tenants
        self.haTracker = haTracker
        self.logger = logger
    }

    func handle(_ request: Request) async -> Response {
        let tenant: String
        do {
            tenant = try tenants.tenant(of: request)
        } catch {
            metrics.received(code: 400, tenant: "invalid", series: 0, samples: 0)
            return error.response
        }
        var result = WriteResult()
        var response: Response
        do {
            result.version = try RemoteWriteHeaders.negotiate(request)
            response = Response(status: try await write(request, tenant: tenant, result: &result))
        } catch {
            if error.status.code >= 500 {
                logger.warning("write failed", metadata: ["tenant": "\(tenant)", "error": "\(error.message)"])
            } else {
                logger.debug("write rejected", metadata: ["tenant": "\(tenant)", "error": "\(error.message)"])
            }
            response = error.response
        }
        if result.version == .v2 {
            let written = result.written
            for field in RemoteWriteHeaders.written(samples: written.samples, histograms: written.histograms, exemplars: written.exemplars) {
                response.headers.append(field)
            }
        }
        metrics.received(code: Int(response.status.code), tenant: tenant, series: result.series, samples: result.samples)
        return response
    }

    /// What one request did, filled in as it goes so that a failure still reports it.
    struct WriteResult {
        var version = RemoteWriteVersion.v1
        var series = 0
        var samples = 0
        /// For 2.0 answers: everything on success. On a rejection by the nodes, what they reported
        /// writing, summed and divided by the replication factor: exact when the replicas of a series
        /// agree, which deterministic validation makes the rule. Zero when a node could not answer.
        var written = WriteForwarder.Written(samples: 0, histograms: 0, exemplars: 0)
    }

    /// 204 once stored; 202 for a request from an HA replica that is not the elected one, which is
    /// dropped.
    private func write(_ request: Request, tenant: String, result: inout WriteResult) async throws(HTTPFailure) -> HTTPResponse.Status {
        try BoundedBody.checkContentLength(request, limit: configuration.maxBodyBytes)
        guard limiter.acquireRequest() else { throw tooManyRequests("too many requests in flight") }
        defer { limiter.releaseRequest() }
        let body = try await BoundedBody.collect(request, limit: configuration.maxBodyBytes)

        let membership = membership()
        let limits = tenantLimits.limits(for: tenant)
        let decodedBytes: Int
        do {
            decodedBytes = try body.withUnsafeReadableBytes { (raw) throws(CodecError) in
                try Snappy.declaredLength(raw, limit: configuration.maxDecodedBytes)
            }
        } catch {
            throw HTTPFailure(error)
        }
        guard limiter.acquireBytes(decodedBytes) else { throw tooManyRequests("too many bytes in flight") }
        defer { limiter.releaseBytes(decodedBytes) }
        let version = result.version
        let failure = { [self] (error: CodecError) -> HTTPFailure in
            if let rejection = LimitRejection(error, tenant: tenant) {
                metrics.limited(tenant: tenant, reason: rejection.reason)
                return rejection.failure
            }
            return HTTPFailure(error)
        }
        // A router from the pool holds the decoded body only until the request is routed. Given back
        // before the forwards, it is the next request's while its buffers are still in cache, rather
        // than one of as many routers as there are requests in flight. Routing again (a 2.0 node
        // that falls back to 1.0, hints for a 2.0 request) takes a router and decodes the body anew.
        let inProcessNodes = membership.nodes.map { forwarder.isInProcess($0.url) }
        let decoded = { [self] () throws(HTTPFailure) -> RouterPool.UncheckedRouter in
            let pooled = routers.take(limits: limits.scannerLimits(configuration.limits))
            // Parts for nodes in this process go as scanned series or uncompressed (`InProcessNodes`).
            pooled.router.inProcessNodes = inProcessNodes
            do throws(CodecError) {
                try body.withUnsafeReadableBytes { (raw) throws(CodecError) in
                    try Snappy.decompress(raw, into: pooled.router.decompressed, limit: configuration.maxDecodedBytes)
                }
            } catch {
                routers.give(pooled)
                throw HTTPFailure(error)
            }
            return pooled
        }
        let route = { [self] (router: RequestRouter, v2Nodes: Set<Int>, dropLabel: String?) throws(HTTPFailure) -> RoutedRequest in
            do throws(CodecError) {
                switch version {
                case .v1:
                    return try router.route(
                        tenant: tenant, tenantLabel: configuration.tenantLabel, ring: membership.ring,
                        relabel: configuration.relabelRules, dropLabel: dropLabel)
                case .v2:
                    return try router.routeV2(
                        tenant: tenant, tenantLabel: configuration.tenantLabel, ring: membership.ring, v2Nodes: v2Nodes,
                        relabel: configuration.relabelRules, dropLabel: dropLabel
                    )
                }
            } catch {
                throw failure(error)
            }
        }
        let v2Nodes = Set(membership.nodes.indices.filter { membership.nodes[$0].takesV2 })
        var routed: RoutedRequest
        // The HA replica label, dropped from every series of an elected replica's request.
        let dropLabel: String?
        do {
            let pooled = try decoded()
            defer { routers.give(pooled) }
            let router = pooled.router
            // HA pairs: decided before routing, so a request from the replica that is not elected
            // forwards nothing.
            var labels: (cluster: String, replica: String)? = nil
            if let haTracker {
                do throws(CodecError) {
                    labels = try router.haLabels(
                        clusterLabel: haTracker.configuration.clusterLabel, replicaLabel: haTracker.configuration.replicaLabel,
                        v2: version == .v2)
                } catch {
                    throw failure(error)
                }
            }
            if let haTracker, let labels {
                guard try await haTracker.accepts(tenant: tenant, cluster: labels.cluster, replica: labels.replica, metrics: metrics) else {
                    // Counted as received, and for 2.0 reported written: the elected replica writes the same.
                    do throws(CodecError) {
                        result.written = try router.counts(v2: version == .v2)
                    } catch {
                        throw failure(error)
                    }
                    result.samples = result.written.samples + result.written.histograms
                    metrics.haDeduplicated(tenant: tenant, cluster: labels.cluster, samples: result.samples)
                    return .accepted
                }
                dropLabel = haTracker.configuration.replicaLabel
            } else {
                dropLabel = nil
            }
            routed = try route(router, v2Nodes, dropLabel)
        }
        let reroute = { [self] (v2Nodes: Set<Int>) throws(HTTPFailure) -> RoutedRequest in
            let pooled = try decoded()
            defer { routers.give(pooled) }
            return try route(pooled.router, v2Nodes, dropLabel)
        }
        result.series = routed.summary.series
        result.samples = routed.summary.samples + routed.summary.histograms
        // Tokens only for valid requests, taken before anything is forwarded: a refused request
        // writes nothing.
        let admission = tenantLimits.admit(tenant: tenant, samples: result.samples)
        if let rejection = LimitRejection(admission, tenant: tenant, samples: result.samples, limits: limits) {
            metrics.limited(tenant: tenant, reason: rejection.reason)
            throw rejection.failure
        }

        var answers = await forward(routed, membership: membership, tenant: tenant)
        // A node that is not a 2.0 receiver takes 1.0 from now on: translate its part and resend.
        // It shows either by a 415, or by a 2xx without the written counts every 2.0 receiver must
        // send: Prometheus 2.x and VictoriaMetrics ignore Content-Type and read a 2.0 body as an
        // empty 1.0 request, so that 2xx stored nothing. Resending is safe: a node that did store
        // the samples takes the exact repeat as a duplicate.
        let refused = routed.v2Nodes.filter { node in
            guard membership.nodes[node].mayFallBack, let answer = answers[node] else { return false }
            switch answer.outcome {
            case .rejected(415, _): return true
            case .accepted: return answer.written == nil
            default: return false
            }
        }
        if !refused.isEmpty {
            for node in refused {
                membership.nodes[node].fallBackToV1()
                logger.notice("node does not take remote write 2.0; translating to 1.0 from now on", metadata: ["ring.node": "\(membership.nodes[node].name)"])
            }
            let translated = try reroute(routed.v2Nodes.subtracting(refused))
            let resend = RoutedRequest(
                parts: translated.parts.filter { refused.contains($0.node) }, replicaSets: translated.replicaSets,
                summary: translated.summary, v2Nodes: []
            )
            for (node, answer) in await forward(resend, membership: membership, tenant: tenant) { answers[node] = answer }
            routed = translated
        }

        let decision = QuorumDecision(
            replicaSets: routed.replicaSets, outcomes: answers.mapValues { $0.outcome }, writeQuorum: membership.configuration.writeQuorum
        )
        switch decision.verdict {
        case .acknowledged:
            result.written = .init(samples: routed.summary.samples, histograms: routed.summary.histograms, exemplars: routed.summary.exemplars)
            // Hints replay as 1.0 (the queue keeps bare bodies), which carries everything the storage
            // keeps; only 2.0's created timestamps are left out.
            let hintRouted = decision.hintNodes.isEmpty || routed.v2Nodes.isDisjoint(with: decision.hintNodes)
                ? routed : try reroute([])
            for node in decision.hintNodes {
                guard let part = hintRouted.parts.first(where: { $0.node == node }) else { continue }
                let name = membership.nodes[node].name
                do {
                    // The queue keeps compressed bodies, whichever way the node is reached.
                    try await hints.enqueue(node: name, body: part.body.snappyCompressed)
                    metrics.hints(node: name, event: "queued")
                } catch {
                    // Quorum was met, so the data is safe; only the extra replica is late.
                    logger.error("could not queue hint", metadata: ["ring.node": "\(name)", "error": "\(error)"])
                    metrics.hints(node: name, event: "lost")
                }
            }
            return .noContent
        case .invalid(let message):
            metrics.quorumFailure(kind: "invalid")
            result.written = Self.reportedWritten(answers, parts: routed.parts.count, replicationFactor: membership.configuration.replicationFactor)
            throw HTTPFailure(.badRequest, "storage rejected the data: \(message)")
        case .unavailable(let failed):
            metrics.quorumFailure(kind: "unavailable")
            let names = failed.map { membership.nodes[$0].name }.joined(separator: ", ")
            throw HTTPFailure(.serviceUnavailable, "write quorum \(membership.configuration.writeQuorum) not met; failing nodes: \(names)")
        }
    }

    /// The nodes' own counts, summed over replicas and divided by the replication factor; zero unless
    /// every part was answered with counts.
    static func reportedWritten(_ answers: [Int: NodeAnswer], parts: Int, replicationFactor: Int) -> WriteForwarder.Written {
        let counts = answers.values.compactMap { $0.written }
        guard counts.count == parts, parts > 0 else { return .init(samples: 0, histograms: 0, exemplars: 0) }
        let rf = max(1, min(replicationFactor, parts))
        return .init(
            samples: counts.reduce(0) { $0 + $1.samples } / rf,
            histograms: counts.reduce(0) { $0 + $1.histograms } / rf,
            exemplars: counts.reduce(0) { $0 + $1.exemplars } / rf
        )
    }

    /// One node's answer to its part.
    struct NodeAnswer: Sendable {
        var outcome: NodeOutcome
        var written: WriteForwarder.Written?
    }

    private func tooManyRequests(_ why: String) -> HTTPFailure {
        HTTPFailure(.tooManyRequests, "\(why); retry later", headers: [.retryAfter: String(configuration.retryAfterSeconds)])
    }

    private func forward(_ routed: RoutedRequest, membership: RingMembership, tenant: String) async -> [Int: NodeAnswer] {
        let clock = ContinuousClock()
        return await withTaskGroup(of: (Int, NodeAnswer).self) { group in
            var answers: [Int: NodeAnswer] = [:]
            for part in routed.parts {
                let node = membership.nodes[part.node]
                guard node.shouldSend(at: clock.now) else {
                    answers[part.node] = NodeAnswer(outcome: .failed(message: "\(node.name) is backing off"))
                    metrics.forwarded(node: node.name, result: "skipped", samples: part.samples)
                    continue
                }
                guard !hints.hasPending(node: node.name) else {
                    answers[part.node] = NodeAnswer(outcome: .failed(message: "\(node.name) is catching up through hinted handoff"))
                    metrics.forwarded(node: node.name, result: "queued", samples: part.samples)
                    continue
                }
                let version: RemoteWriteVersion = routed.v2Nodes.contains(part.node) ? .v2 : .v1
                group.addTask { [self] in
                    let start = clock.now
                    let (outcome, written) = await batcher.send(
                        part.body, version: version, to: node.url,
                        node: node.name, tenant: tenant)
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
                    return (part.node, NodeAnswer(outcome: outcome, written: written))
                }
            }
            for await (node, answer) in group { answers[node] = answer }
            return answers
        }
    }
}
