/// A set of ring node indices, up to 256 nodes, as a bitset: the replica set of a series.
public struct NodeSet: Hashable, Sendable {
    public static let capacity = 256
    private var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    public init() {}

    public init(_ nodes: some Sequence<Int>) {
        for node in nodes { insert(node) }
    }

    public mutating func insert(_ node: Int) {
        precondition(node >= 0 && node < Self.capacity, "ring node index out of range")
        let bit = UInt64(1) << UInt64(node & 63)
        switch node >> 6 {
        case 0: words.0 |= bit
        case 1: words.1 |= bit
        case 2: words.2 |= bit
        default: words.3 |= bit
        }
    }

    public func contains(_ node: Int) -> Bool {
        guard node >= 0 && node < Self.capacity else { return false }
        let bit = UInt64(1) << UInt64(node & 63)
        switch node >> 6 {
        case 0: return words.0 & bit != 0
        case 1: return words.1 & bit != 0
        case 2: return words.2 & bit != 0
        default: return words.3 & bit != 0
        }
    }

    public func intersectionCount(_ other: NodeSet) -> Int {
        (words.0 & other.words.0).nonzeroBitCount + (words.1 & other.words.1).nonzeroBitCount
            + (words.2 & other.words.2).nonzeroBitCount + (words.3 & other.words.3).nonzeroBitCount
    }

    public var count: Int {
        words.0.nonzeroBitCount + words.1.nonzeroBitCount + words.2.nonzeroBitCount + words.3.nonzeroBitCount
    }

    public static func == (lhs: NodeSet, rhs: NodeSet) -> Bool {
        lhs.words.0 == rhs.words.0 && lhs.words.1 == rhs.words.1 && lhs.words.2 == rhs.words.2 && lhs.words.3 == rhs.words.3
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
        hasher.combine(words.3)
    }
}

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
        replicaSets: some Sequence<NodeSet>,
        outcomes: [Int: NodeOutcome],
        writeQuorum: Int
    ) {
        let ordered = outcomes.sorted { $0.key < $1.key }
        var accepted = NodeSet()
        var rejected = NodeSet()
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
