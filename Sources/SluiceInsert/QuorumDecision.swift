import SluiceRing

/// How one storage node answered its part of a request.
public enum NodeOutcome: Sendable, Equatable {
    /// 2xx: the node has the data.
    case accepted
    /// A 4xx other than 429: the node judged the data invalid. Retrying will not help.
    case rejected(status: Int, message: String)
    /// 5xx, 429, a timeout, a connection error, or the node was skipped while backing off.
    case failed(message: String)
}

/// Decides a request's answer from its replica sets and its nodes' outcomes. A value type with no
/// I/O, so every quorum rule is tested directly (QuorumDecisionTests).
///
/// A request is acknowledged only when every series reached `writeQuorum` replicas that answered 2xx.
/// Otherwise it is 400 when some series was rejected as invalid by a quorum of its replicas and none
/// merely failed to reach quorum, and 503 (retry) in every other case. Nodes that failed while their
/// series still met quorum get the data later, through hinted handoff.
public struct QuorumDecision: Sendable, Equatable {
    public enum Verdict: Sendable, Equatable {
        case acknowledged
        case invalid(message: String)
        case unavailable(failedNodes: [Int])
    }

    public var verdict: Verdict
    /// Nodes whose part should be queued as hints: they failed, but the request is acknowledged.
    public var hintNodes: [Int]

    public init(
        replicaSets: some Sequence<ReplicaSet>,
        outcomes: [Int: NodeOutcome],
        writeQuorum: Int
    ) {
        let ordered = outcomes.sorted { $0.key < $1.key }
        var accepted = ReplicaSet()
        var rejected = ReplicaSet()
        var failed: [Int] = []
        for (node, outcome) in ordered {
            switch outcome {
            case .accepted: accepted.insert(node)
            case .rejected: rejected.insert(node)
            case .failed: failed.append(node)
            }
        }
        var unavailable = false
        var invalidMessage: String?
        for set in replicaSets {
            if set.intersectionCount(accepted) >= writeQuorum { continue }
            if set.intersectionCount(rejected) >= writeQuorum {
                if invalidMessage == nil {
                    invalidMessage = ordered.lazy.compactMap { node, outcome -> String? in
                        guard set.contains(node), case .rejected(_, let message) = outcome else { return nil }
                        return message
                    }.first
                }
            } else {
                unavailable = true
            }
        }
        if unavailable {
            verdict = .unavailable(failedNodes: failed)
            hintNodes = []
        } else if let invalidMessage {
            verdict = .invalid(message: invalidMessage)
            hintNodes = []
        } else {
            verdict = .acknowledged
            hintNodes = failed
        }
    }
}
