/// The cost of a membership change, measured before making it: each node's share of series under the
/// old and the new ring, and how many series would change place.
///
/// Placement is a pure function of the ring file, so the plan places the same synthetic series under
/// both rings and counts. Moving a primary means queries for fresh data go elsewhere; changing a
/// replica set means data has to be copied (or is absent on the new node until it ages in).
public struct RingPlan: Sendable {
    public struct Configuration: Sendable {
        /// How many synthetic series to place: at 100k the shares are good to about ±1% of a fair
        /// share on 20 nodes, in well under a second.
        public var seriesCount: Int
        /// The tenant the synthetic series belong to. Placement depends on it, shares do not.
        public var tenant: String

        public init(seriesCount: Int = 100_000, tenant: String = "default") {
            self.seriesCount = seriesCount
            self.tenant = tenant
        }
    }

    /// A node's fraction of series under one ring.
    public struct Share: Hashable, Sendable {
        /// Fraction of all series whose primary is this node. Sums to 1 over the nodes.
        public var primary: Double
        /// Fraction of all series with a replica on this node. Sums to RF over the nodes, so a fair
        /// share is RF/N.
        public var replicas: Double
    }

    public struct NodeShare: Hashable, Sendable {
        public var name: String
        /// Nil when the node is not in the old ring.
        public var before: Share?
        /// Nil when the node is not in the new ring.
        public var after: Share?
    }

    /// Every node of either ring: the old ring's in its order, then those only in the new one.
    public let nodes: [NodeShare]
    public let seriesCount: Int
    public let replicationFactorBefore: Int
    public let replicationFactorAfter: Int
    /// Fraction of series whose primary node changes.
    public let primaryMoved: Double
    /// Fraction of series whose set of replica nodes changes (order within the set ignored).
    public let replicaSetChanged: Double
    /// Fraction of the new ring's replica copies that are on a node that did not hold that series
    /// before: the data a rebalance would have to copy.
    public let copiesMoved: Double

    public init(from old: RingConfiguration, to new: RingConfiguration, configuration: Configuration = .init()) throws(RingError) {
        guard configuration.seriesCount > 0 else { throw RingError("the plan needs at least one series") }
        let oldRing = try old.makeRing()
        let newRing = try new.makeRing()

        var names = oldRing.nodes.map(\.name)
        var unionIndex: [String: Int] = [:]
        for (index, name) in names.enumerated() { unionIndex[name] = index }
        for node in newRing.nodes where unionIndex[node.name] == nil {
            unionIndex[node.name] = names.count
            names.append(node.name)
        }
        let fromOld = oldRing.nodes.map { unionIndex[$0.name]! }
        let fromNew = newRing.nodes.map { unionIndex[$0.name]! }

        var primaryBefore = [Int](repeating: 0, count: names.count)
        var primaryAfter = primaryBefore
        var replicasBefore = primaryBefore
        var replicasAfter = primaryBefore
        var primaryMoved = 0
        var replicaSetChanged = 0
        var copiesMoved = 0

        var oldReplicas: [Int] = []
        var newReplicas: [Int] = []
        let keys = SyntheticSeries(tenant: configuration.tenant).keys(count: configuration.seriesCount)
        for key in keys {
            oldRing.replicas(for: key, into: &oldReplicas)
            newRing.replicas(for: key, into: &newReplicas)
            for i in oldReplicas.indices { oldReplicas[i] = fromOld[oldReplicas[i]] }
            for i in newReplicas.indices { newReplicas[i] = fromNew[newReplicas[i]] }

            primaryBefore[oldReplicas[0]] += 1
            primaryAfter[newReplicas[0]] += 1
            if oldReplicas[0] != newReplicas[0] { primaryMoved += 1 }
            for node in oldReplicas { replicasBefore[node] += 1 }
            var newCopies = 0
            for node in newReplicas {
                replicasAfter[node] += 1
                if !oldReplicas.contains(node) { newCopies += 1 }
            }
            copiesMoved += newCopies
            if newCopies > 0 || oldReplicas.count != newReplicas.count { replicaSetChanged += 1 }
        }

        let total = Double(keys.count)
        let inOld = Set(fromOld)
        let inNew = Set(fromNew)
        self.nodes = names.indices.map { node in
            NodeShare(
                name: names[node],
                before: inOld.contains(node)
                    ? Share(primary: Double(primaryBefore[node]) / total, replicas: Double(replicasBefore[node]) / total) : nil,
                after: inNew.contains(node)
                    ? Share(primary: Double(primaryAfter[node]) / total, replicas: Double(replicasAfter[node]) / total) : nil
            )
        }
        self.seriesCount = keys.count
        self.replicationFactorBefore = oldRing.replicationFactor
        self.replicationFactorAfter = newRing.replicationFactor
        self.primaryMoved = Double(primaryMoved) / total
        self.replicaSetChanged = Double(replicaSetChanged) / total
        self.copiesMoved = Double(copiesMoved) / (total * Double(newRing.replicationFactor))
    }
}
