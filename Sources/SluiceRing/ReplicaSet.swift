/// A set of ring node indices, up to 256 nodes, as a bitset: the replica set of a series.
public struct ReplicaSet: Hashable, Sendable {
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

    public func intersectionCount(_ other: ReplicaSet) -> Int {
        (words.0 & other.words.0).nonzeroBitCount + (words.1 & other.words.1).nonzeroBitCount
            + (words.2 & other.words.2).nonzeroBitCount + (words.3 & other.words.3).nonzeroBitCount
    }

    public var count: Int {
        words.0.nonzeroBitCount + words.1.nonzeroBitCount + words.2.nonzeroBitCount + words.3.nonzeroBitCount
    }

    /// The node indices in the set, ascending.
    public var members: [Int] { (0..<Self.capacity).filter(contains) }

    public static func == (lhs: ReplicaSet, rhs: ReplicaSet) -> Bool {
        lhs.words.0 == rhs.words.0 && lhs.words.1 == rhs.words.1 && lhs.words.2 == rhs.words.2 && lhs.words.3 == rhs.words.3
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
        hasher.combine(words.3)
    }
}
