import HTTPTypes
import Hummingbird
import Logging
import SluiceCodec
import SluiceHTTP
import SluiceRing

/// `POST /api/v1/read` across the ring: the same queries to every node, answers merged by label set,
/// replica duplicates removed, the tenant's series only.
struct SelectReadHandler: Sendable {
    let configuration: SelectConfiguration
    let fanOut: FanOut
    let reader: NodeReader
    let tenants: TenantResolver
    let metrics: SelectMetrics
    let logger: Logger
    /// SAMPLES answers are built in buffers kept from one read to the next.
    let answerBuffers = ByteScratchPool()

    func handle(_ request: Request) async -> Response {
        let response = await HTTPFailure.answer(logger: logger, event: "read failed") { () async throws(HTTPFailure) in
            try await read(request)
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

        let clock = ContinuousClock()
        let start = clock.now
        let plan = fanOut.plan()
        let outcomes = await withTaskGroup(of: (ReadNode, ReadOutcome).self) { group in
            for node in plan.ask {
                group.addTask { (node, await reader.read(encoded, queries: forwarded.queries, from: node)) }
            }
            var all: [(ReadNode, ReadOutcome)] = []
            for await outcome in group { all.append(outcome) }
            return all
        }
        metrics.fanOutDuration.record(clock.now - start)

        // Node order, not arrival order: which replica's value wins a conflict must not be random.
        let order = Dictionary(uniqueKeysWithValues: plan.ask.enumerated().map { ($1.name, $0) })
        var answers: [[[NodeSeries]]] = []
        var failed = plan.skipped
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
        let headers = try fanOut.check(failed: failed, of: plan)
        let groupsPerQuery = queries.indices.map { index in
            SeriesMerger.group(answers.map { $0[index] }, strippedLabel: configuration.tenantLabel)
        }

        if type == .samples {
            // Series go into the answer one at a time, each decoded into the same two arrays.
            var answer = RemoteReadHTTP.SamplesAnswer(pool: answerBuffers, sampleLimit: configuration.readSampleLimit)
            var samples: [Sample] = []
            var histograms: [Histogram] = []
            for (query, groups) in zip(queries, groupsPerQuery) {
                answer.beginResult()
                for group in groups {
                    do {
                        try SeriesMerger.series(group.parts, minTime: query.startMs, maxTime: query.endMs, samples: &samples, histograms: &histograms)
                    } catch {
                        throw HTTPFailure(.internalServerError, "a storage node sent a corrupt chunk: \(error)")
                    }
                    try answer.append(labelBytes: group.labelBytes, samples: samples, histograms: histograms)
                }
                answer.endResult()
            }
            return answer.response(headers: headers)
        }
        let groups = groupsPerQuery
        return RemoteReadHTTP.streamedResponse(queries: queries.count, maxFrameBytes: configuration.readMaxBytesInFrame, headers: headers) { index in
            try groups[index].compactMap { group in
                let chunks = try SeriesMerger.chunks(group.parts)
                return chunks.isEmpty ? nil : RemoteReadHTTP.StreamedSeries(labelBytes: group.labelBytes, chunks: chunks)
            }
        }
    }
}
