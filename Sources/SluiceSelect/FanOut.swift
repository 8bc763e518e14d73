import HTTPTypes
import Logging
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

    /// One request's view of the ring, read once (`CurrentRing`): a reload during the request must not
    /// mix two rings in one answer.
    struct Plan: Sendable {
        /// The nodes to ask, in ring order.
        var ask: [ReadNode]
        /// The failure messages of the nodes left out.
        var skipped: [String]
        var nodeCount: Int
        var replicationFactor: Int
    }

    /// The nodes to ask now, and the failure messages of those left out (`NodeHealthBoard`): a node
    /// down after a recent failure is skipped while fewer than RF nodes are, and probed beside the
    /// request once its backoff has passed.
    func plan() -> Plan {
        let configuration = ring.snapshot.configuration
        let all = configuration.nodes.map(ReadNode.init)
        var plan = Plan(ask: all, skipped: [], nodeCount: all.count, replicationFactor: configuration.replicationFactor)
        let down = all.filter { health.isDown($0.name) }
        guard !down.isEmpty, down.count < plan.replicationFactor else { return plan }
        for node in down where health.startProbe(node.name) {
            Task { [health, reader, metrics, logger] in
                let ready = if case .success = await reader.get("/-/ready", from: node) { true } else { false }
                if health.finishProbe(node.name, success: ready) {
                    metrics.nodeUp(node.name, ready)
                    logger.info("storage node answers again; select asks it", metadata: ["ring.node": "\(node.name)"])
                }
            }
        }
        plan.ask = all.filter { !health.isDown($0.name) }
        plan.skipped = down.map { "\($0.name): skipped after a recent failure" }
        return plan
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
    func check(failed: [String], of plan: Plan) throws(HTTPFailure) -> HTTPFields {
        let replicationFactor = plan.replicationFactor
        guard !failed.isEmpty, failed.count >= replicationFactor else { return [:] }
        let summary = "\(failed.count) of \(plan.nodeCount) storage nodes failed (replication factor \(replicationFactor)): \(failed.joined(separator: "; "))"
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
        let plan = plan()
        let outcomes = await withTaskGroup(of: (String, Result<[UInt8], QueryAPIFailure>).self) { group in
            for node in plan.ask {
                group.addTask { (node.name, await reader.get(pathAndQuery, from: node)) }
            }
            var all: [(String, Result<[UInt8], QueryAPIFailure>)] = []
            for await outcome in group { all.append(outcome) }
            return all
        }
        var bodies: [[UInt8]] = []
        var failed = plan.skipped
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
        return (bodies, try check(failed: failed, of: plan))
    }
}
