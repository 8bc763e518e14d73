import SluiceCodec

/// A storage node as the ring sees it: a stable name, an optional failure zone, and a weight that
/// scales its share.
public struct RingNode: Hashable, Sendable {
    public var name: String
    public var zone: String?
    public var weight: Double

    public init(name: String, zone: String? = nil, weight: Double = 1) {
        self.name = name
        self.zone = zone
        self.weight = weight
    }
}

/// Why a ring or its file was rejected. The message is short and names the offending field, because
/// it ends up in a log line an operator reads after a reload was refused.
public typealias RingError = CodedError<RingErrorDomain>

/// The codes of `RingError`.
public enum RingErrorDomain {}

extension CodedError where Domain == RingErrorDomain {
    /// A ring or configuration that breaks a rule (`.invalidConfiguration`).
    public init(_ message: String) {
        self.init(.invalidConfiguration, message)
    }
}

extension ErrorCode where Domain == RingErrorDomain {
    /// The ring or its configuration breaks a rule (RF above the node count, duplicate names, ...).
    public static var invalidConfiguration: Self { Self("invalidConfiguration") }
    /// The text is not YAML, or not the shape of a ring file.
    public static var invalidYAML: Self { Self("invalidYAML") }
    /// The file could not be opened or read, or is larger than allowed.
    public static var unreadableFile: Self { Self("unreadableFile") }
}

/// A consistent-hash ring with virtual nodes.
///
/// Each node owns `tokensPerNode × weight` points on a 64-bit circle, at `xxh64(name, seed: i)`, so
/// a node's tokens depend only on its own name: adding or removing one node moves only the series
/// whose arc it gains or loses, about 1/(N+1) of them, and every process that reads the same node
/// names builds the same ring. A series lives on the first `replicationFactor` distinct nodes
/// clockwise from its key, taking distinct zones first.
///
/// Immutable and `Sendable`: a reload builds a new ring and swaps it in.
public struct HashRing: Sendable {
    /// Random tokens give a node's share a relative spread of about 1/√tokens, and the worst of the
    /// 207 nodes in rings of 3 to 20 nodes lies about three spreads out. Measured over 1M synthetic
    /// series (`RingBalanceTests.tokenCounts`), the worst node is off its fair share by 24% at 128
    /// tokens, 13% at 512, 8.4% at 1024, 5.6% at 4096 and 3.1% at 8192: 8192 is the smallest power
    /// of two that keeps every node within the ±5% the insert tier promises. A 20-node ring is then
    /// 164k tokens, about 3 MB with its bucket index, which keeps a lookup to one or two probes.
    public static let defaultTokensPerNode = 8192

    public let nodes: [RingNode]
    public let replicationFactor: Int
    /// Placement itself: the replica set of every token, numbered (the clockwise walk from that
    /// token, done once when the ring is built), and a bucket index over the tokens, so that placing
    /// a series is one or two table reads. Rings have few distinct sets: at most N × (N−1) × … (RF
    /// factors), and never more than tokens.
    public let placement: PlacementTable
    /// The members of each replica set as a bitset: what a request's quorum is judged over.
    public let replicaSetNodes: [ReplicaSet]

    public init(
        nodes: [RingNode],
        replicationFactor: Int,
        tokensPerNode: Int = HashRing.defaultTokensPerNode
    ) throws(RingError) {
        guard !nodes.isEmpty else { throw RingError("the ring has no nodes") }
        guard nodes.count <= ReplicaSet.capacity else { throw RingError("the ring has \(nodes.count) nodes; at most \(ReplicaSet.capacity) are allowed") }
        guard replicationFactor >= 1 else { throw RingError("replication_factor must be at least 1") }
        guard replicationFactor <= nodes.count else {
            throw RingError("replication_factor \(replicationFactor) exceeds the \(nodes.count) nodes in the ring")
        }
        guard tokensPerNode >= 1, tokensPerNode <= 1 << 16 else {
            throw RingError("tokens per node must be between 1 and 65536, not \(tokensPerNode)")
        }
        var names = Set<String>()
        for node in nodes {
            guard !node.name.isEmpty else { throw RingError("a node has an empty name") }
            guard names.insert(node.name).inserted else { throw RingError("node name \(node.name) appears twice") }
            guard node.weight > 0, node.weight.isFinite, node.weight <= 100 else {
                throw RingError("node \(node.name) has weight \(node.weight); it must be in (0, 100]")
            }
        }

        // Zone index per node; all zero when no node names a zone.
        var zones: [String: Int32] = [:]
        let zoneOfNode = nodes.map { node -> Int32 in
            guard let zone = node.zone else { return 0 }
            if let index = zones[zone] { return index }
            let index = Int32(zones.count)
            zones[zone] = index
            return index
        }
        guard zones.isEmpty || nodes.allSatisfy({ $0.zone != nil }) else {
            throw RingError("either every node names a zone or none does")
        }

        let tokenCounts = nodes.map { max(1, Int((Double(tokensPerNode) * $0.weight).rounded())) }
        let totalTokens = tokenCounts.reduce(0, +)
        guard totalTokens <= 1 << 24 else {
            throw RingError("the ring would have \(totalTokens) tokens; lower tokens_per_node or the weights")
        }
        var points: [(token: UInt64, node: Int32)] = []
        points.reserveCapacity(totalTokens)
        for (index, node) in nodes.enumerated() {
            Array(node.name.utf8).withUnsafeBytes { name in
                for i in 0..<tokenCounts[index] {
                    points.append((XXHash64.hash(name, seed: UInt64(i)), Int32(index)))
                }
            }
        }
        // Sort by bucketing on the top bits, which also yields the lookup index. Tokens are hash
        // values, so buckets hold one or two each: counting them, placing them and ordering each
        // bucket is linear, where a comparison sort of 164k tokens dominated reloads (and tests).
        // About one token per bucket (2^bits is the power of two at or above the token count),
        // capped at 2^20 buckets; beyond that a bucket holds a few tokens.
        let bucketBits = max(1, min(20, Int.bitWidth - (totalTokens - 1).leadingZeroBitCount))
        let bucketShift = UInt64(64 - bucketBits)
        let bucketCount = 1 << bucketBits
        var bucketStart = [Int32](repeating: 0, count: bucketCount + 1)
        for point in points { bucketStart[Int(point.token >> bucketShift) + 1] += 1 }
        for bucket in 0..<bucketCount { bucketStart[bucket + 1] += bucketStart[bucket] }

        var sorted = points
        var next = bucketStart
        for point in points {
            let bucket = Int(point.token >> bucketShift)
            sorted[Int(next[bucket])] = point
            next[bucket] += 1
        }
        // Ties between nodes are vanishingly rare; breaking them by name keeps placement identical
        // whatever order the configuration lists the nodes in.
        let precedes = { (a: (token: UInt64, node: Int32), b: (token: UInt64, node: Int32)) -> Bool in
            a.token != b.token ? a.token < b.token : nodes[Int(a.node)].name < nodes[Int(b.node)].name
        }
        for bucket in 0..<bucketCount where bucketStart[bucket + 1] - bucketStart[bucket] > 1 {
            sorted[Int(bucketStart[bucket])..<Int(bucketStart[bucket + 1])].sort(by: precedes)
        }

        let tokens = sorted.map(\.token)
        let owners = sorted.map(\.node)
        let zoneCount = max(zones.count, 1)

        // Number every token's replica set. RF ≤ 8 over at most 256 nodes packs a set into one word.
        var setOfToken = [UInt32](repeating: 0, count: tokens.count)
        var setMembers: [Int32] = []
        var replicaSetNodes: [ReplicaSet] = []
        var packedIDs: [UInt64: UInt32] = [:]
        var listIDs: [[Int32]: UInt32] = [:]
        var walk: [Int32] = []
        walk.reserveCapacity(replicationFactor)
        for index in tokens.indices {
            Self.walk(from: index, owners: owners, zoneOfNode: zoneOfNode, zonesWanted: min(replicationFactor, zoneCount),
                      replicationFactor: replicationFactor, into: &walk)
            let fresh = UInt32(replicaSetNodes.count)
            let id: UInt32
            if replicationFactor <= 8 {
                let packed = walk.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                id = packedIDs[packed, default: fresh]
                if id == fresh { packedIDs[packed] = fresh }
            } else {
                id = listIDs[walk, default: fresh]
                if id == fresh { listIDs[walk] = fresh }
            }
            if id == fresh {
                setMembers += walk
                replicaSetNodes.append(ReplicaSet(walk.lazy.map { Int($0) }))
            }
            setOfToken[index] = id
        }

        self.nodes = nodes
        self.replicationFactor = replicationFactor
        self.placement = PlacementTable(
            tokens: tokens, setOfToken: setOfToken, setMembers: setMembers, replicationFactor: replicationFactor)
        self.replicaSetNodes = replicaSetNodes
    }

    /// The replica set that starts at token `start`: walks clockwise taking only nodes in zones not
    /// yet used until `zonesWanted` zones are covered, then any node not yet taken.
    private static func walk(
        from start: Int, owners: [Int32], zoneOfNode: [Int32], zonesWanted: Int, replicationFactor: Int, into replicas: inout [Int32]
    ) {
        replicas.removeAll(keepingCapacity: true)
        var index = start
        // Two laps always suffice: after one, every node and so every zone has been seen.
        for _ in 0..<(2 * owners.count) {
            let node = owners[index]
            // RF is small, so scanning the replicas taken beats keeping sets of nodes and zones.
            var taken = false
            var zoneTaken = false
            for replica in replicas {
                if replica == node { taken = true }
                if zoneOfNode[Int(replica)] == zoneOfNode[Int(node)] { zoneTaken = true }
            }
            if !taken && (!zoneTaken || replicas.count >= zonesWanted) {
                replicas.append(node)
                if replicas.count == replicationFactor { return }
            }
            index += 1
            if index == owners.count { index = 0 }
        }
    }

    public var tokenCount: Int { placement.tokenCount }

    /// The index of the node owning the first replica: all a caller needs at RF 1, and what
    /// balance is measured on.
    public func primary(for hash: UInt64) -> Int {
        Int(placement.members(ofReplicaSet: placement.replicaSet(for: hash))[0])
    }

    /// How many distinct replica sets the ring has; `placement.replicaSet(for:)` answers below it.
    public var replicaSetCount: Int { replicaSetNodes.count }

    /// The node indices holding the series whose key hashes to `hash`, primary first: the walk
    /// clockwise from its token, taking nodes in distinct zones first. Writes into `replicas`
    /// (cleared first) so a caller can reuse one array.
    public func replicas(for hash: UInt64, into replicas: inout [Int]) {
        replicas.removeAll(keepingCapacity: true)
        for node in placement.members(ofReplicaSet: placement.replicaSet(for: hash)) { replicas.append(Int(node)) }
    }

    /// Convenience for cold paths and tests.
    public func replicas(for hash: UInt64) -> [Int] {
        var result: [Int] = []
        replicas(for: hash, into: &result)
        return result
    }

    /// The replica node names, primary first. For cold paths and tests.
    public func replicaNames(for hash: UInt64) -> [String] {
        replicas(for: hash).map { nodes[$0].name }
    }
}
