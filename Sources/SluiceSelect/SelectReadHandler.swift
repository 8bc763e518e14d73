import HTTPTypes
import Hummingbird
import Logging
import SluiceCodec
import SluiceHTTP
import SluiceRing

/// The nodes of the ring to ask, and whether enough of them answered: shared by remote read and the
/// query API.
struct FanOut: Sendable {
    let configuration: SelectConfiguration
    let ring: CurrentRing
    let metrics: SelectMetrics
    let health: NodeHealthBoard
    let reader: NodeReader
    let logger: Logger

    var nodes: [ReadNode] { ring.snapshot.configuration.nodes.map(ReadNode.init) }

    /// The nodes to ask now, and the failure messages of those left out (`NodeHealthBoard`): a node
    /// down after a recent failure is skipped while fewer than RF nodes are, and probed beside the
    /// request once its backoff has passed.
    func plan() -> (ask: [ReadNode], skipped: [String]) {
        let all = nodes
        let down = all.filter { health.isDown($0.name) }
        guard !down.isEmpty, down.count < ring.snapshot.configuration.replicationFactor else { return (all, []) }
        for node in down where health.startProbe(node.name) {
            Task { [health, reader, metrics, logger] in
                let ready = if case .success = await reader.get("/-/ready", from: node) { true } else { false }
                if health.finishProbe(node.name, success: ready) {
                    metrics.nodeUp(node.name, ready)
                    logger.info("storage node answers again; select asks it", metadata: ["ring.node": "\(node.name)"])
                }
            }
        }
        return (all.filter { !health.isDown($0.name) }, down.map { "\($0.name): skipped after a recent failure" })
    }

    /// Notes how `node` did: alive if it answered at all (a 4xx included), down if it failed.
    func record(_ node: String, answered: Bool) {
        guard health.record(node, success: answered) else { return }
        metrics.nodeUp(node, answered)
        if !answered {
            logger.warning("storage node failed; select skips it while the replicas left suffice", metadata: ["ring.node": "\(node)"])
        }
    }

    /// Every series has `replicationFactor` replicas, so fewer failed nodes than that still leave one
    /// of each. Returns the headers a partial answer carries; throws 503 naming the failed nodes.
    func check(failed: [String]) throws(HTTPFailure) -> HTTPFields {
        let replicationFactor = ring.snapshot.configuration.replicationFactor
        guard !failed.isEmpty, failed.count >= replicationFactor else { return [:] }
        let summary = "\(failed.count) of \(nodes.count) storage nodes failed (replication factor \(replicationFactor)): \(failed.joined(separator: "; "))"
        guard configuration.partialResponse else {
            throw HTTPFailure(.serviceUnavailable, "answer would be incomplete: " + summary)
        }
        metrics.partialResponse()
        var headers = HTTPFields()
        headers[HTTPField.Name("X-Sluice-Partial-Response")!] = "true"
        headers[HTTPField.Name("Warning")!] = "299 sluice \"partial response: \(summary.replacing("\"", with: "'"))\""
        return headers
    }

    /// Every node's 200 body for a query-API `pathAndQuery`. A node's 4xx is the client's error
    /// (`APIError`); failed nodes count towards completeness (`check`).
    func gather(_ pathAndQuery: String) async throws -> ([[UInt8]], HTTPFields) {
        let (ask, skipped) = plan()
        let outcomes = await withTaskGroup(of: (String, Result<[UInt8], QueryAPIFailure>).self) { group in
            for node in ask {
                group.addTask { (node.name, await reader.get(pathAndQuery, from: node)) }
            }
            var all: [(String, Result<[UInt8], QueryAPIFailure>)] = []
            for await outcome in group { all.append(outcome) }
            return all
        }
        var bodies: [[UInt8]] = []
        var failed = skipped
        for (name, outcome) in outcomes {
            switch outcome {
            case .success(let body):
                metrics.node(name, result: "ok")
                record(name, answered: true)
                bodies.append(body)
            case .failure(.rejected(_, let body)):
                metrics.node(name, result: "rejected")
                record(name, answered: true)
                throw APIError("storage node \(name) rejected the query: \(NodeReader.errorText(body))")
            case .failure(.failed(let message)):
                metrics.node(name, result: "failed")
                record(name, answered: false)
                failed.append(message)
            }
        }
        return (bodies, try check(failed: failed))
    }
}

/// `POST /api/v1/read` across the ring: the same queries to every node, answers merged by label set,
/// replica duplicates removed, the tenant's series only.
struct SelectReadHandler: Sendable {
    let configuration: SelectConfiguration
    let fanOut: FanOut
    let reader: NodeReader
    let tenants: TenantResolver
    let metrics: SelectMetrics
    let logger: Logger

    func handle(_ request: Request) async -> Response {
        let response: Response
        do {
            response = try await read(request)
        } catch {
            if error.status.code >= 500 { logger.warning("read failed", metadata: ["error": "\(error.message)"]) }
            response = error.response
        }
        metrics.request(handler: "read", code: Int(response.status.code))
        return response
    }

    private func read(_ request: Request) async throws(HTTPFailure) -> Response {
        let tenant = try tenants.tenant(of: request)
        let body = try await BoundedBody.collect(request, limit: configuration.maxBodyBytes)
        let readRequest = try RemoteReadHTTP.decodeRequest(body, maxDecodedBytes: configuration.maxBodyBytes * 8)
        let type = try RemoteReadHTTP.negotiate(readRequest)

        // The tenant matcher is ANDed with the client's: no matcher of theirs can reach past it.
        var queries = readRequest.queries
        if let label = configuration.tenantLabel {
            for index in queries.indices { queries[index].matchers.append(LabelMatcher(.equal, name: label, value: tenant)) }
        }
        let forwarded = ReadRequest(queries: queries, acceptedResponseTypes: [.streamedXORChunks, .samples])
        let encoded = Snappy.compress(MessageCodec().encoded { codec, out in codec.encode(forwarded, appendingTo: out) })

        let queryCount = queries.count
        let clock = ContinuousClock()
        let start = clock.now
        let (ask, skipped) = fanOut.plan()
        let outcomes = await withTaskGroup(of: (ReadNode, NodeOutcome).self) { group in
            for node in ask {
                group.addTask { (node, await reader.read(encoded, queries: queryCount, from: node)) }
            }
            var all: [(ReadNode, NodeOutcome)] = []
            for await outcome in group { all.append(outcome) }
            return all
        }
        metrics.fanOutDuration.record(clock.now - start)

        // Node order, not arrival order: which replica's value wins a conflict must not be random.
        let order = Dictionary(uniqueKeysWithValues: fanOut.nodes.enumerated().map { ($1.name, $0) })
        var answers: [[[NodeSeries]]] = []
        var failed = skipped
        for (node, outcome) in outcomes.sorted(by: { order[$0.0.name, default: 0] < order[$1.0.name, default: 0] }) {
            switch outcome {
            case .answered(let perQuery):
                metrics.node(node.name, result: "ok")
                fanOut.record(node.name, answered: true)
                answers.append(perQuery)
            case .rejected(let status, let message):
                metrics.node(node.name, result: "rejected")
                fanOut.record(node.name, answered: true)
                throw HTTPFailure(HTTPResponse.Status(code: status), "storage node \(node.name) rejected the query: \(message)")
            case .failed(let message):
                metrics.node(node.name, result: "failed")
                fanOut.record(node.name, answered: false)
                logger.warning("storage node failed a read", metadata: ["ring.node": "\(node.name)", "error": "\(message)"])
                failed.append(message)
            }
        }
        let headers = try fanOut.check(failed: failed)
        let groupsPerQuery = queries.indices.map { index in
            SeriesMerger.group(answers.map { $0[index] }, strippedLabel: configuration.tenantLabel)
        }

        if type == .samples {
            var results: [QueryResult] = []
            var total = 0
            for (query, groups) in zip(queries, groupsPerQuery) {
                var timeseries: [TimeSeries] = []
                for group in groups {
                    let merged: (samples: [Sample], histograms: [Histogram])
                    do {
                        merged = try SeriesMerger.series(group.parts, minTime: query.startMs, maxTime: query.endMs)
                    } catch {
                        throw HTTPFailure(.internalServerError, "a storage node sent a corrupt chunk: \(error)")
                    }
                    guard !merged.samples.isEmpty || !merged.histograms.isEmpty else { continue }
                    // A histogram counts as one sample against the limit, as in Prometheus.
                    total += merged.samples.count + merged.histograms.count
                    if configuration.readSampleLimit > 0, total > configuration.readSampleLimit {
                        throw HTTPFailure(.badRequest, "exceeded sample limit (\(configuration.readSampleLimit))")
                    }
                    timeseries.append(TimeSeries(labels: group.labels, samples: merged.samples, histograms: merged.histograms))
                }
                results.append(QueryResult(timeseries: timeseries))
            }
            return RemoteReadHTTP.samplesResponse(results, headers: headers)
        }
        let groups = groupsPerQuery
        return RemoteReadHTTP.streamedResponse(queries: queries.count, maxFrameBytes: configuration.readMaxBytesInFrame, headers: headers) { index in
            try groups[index].compactMap { group in
                let chunks = try SeriesMerger.chunks(group.parts)
                return chunks.isEmpty ? nil : RemoteReadHTTP.StreamedSeries(labels: group.labels, chunks: chunks)
            }
        }
    }
}
