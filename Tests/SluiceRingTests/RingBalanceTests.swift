import Testing

@testable import SluiceRing

/// "For 1M synthetic series over 3–20 nodes, each node's share is within ±5% of its fair share",
/// relative to the fair share. The series are node_exporter-shaped (`SyntheticSeries`) and keyed by
/// `SeriesKeyHasher`, as the insert path keys them.
@Suite struct RingBalanceTests {
    @Test("every node within ±5% of its fair share, 3 to 20 nodes")
    func fairShares() throws {
        var report: [String] = []
        var worstOverall = 0.0
        for count in 3...20 {
            let ring = try HashRing(nodes: storeNodes(count), replicationFactor: 1)
            let counts = primaryCounts(ring, millionKeys)
            let fair = [Double](repeating: Double(millionKeys.count) / Double(count), count: count)
            let worst = worstDeviation(counts, fair: fair)
            worstOverall = max(worstOverall, worst)
            report.append("N=\(count): \(percent(worst))")
            #expect(worst <= 0.05, "N=\(count): a node is \(percent(worst)) off its fair share; counts \(counts)")
        }
        print("primary share, worst node off fair share (\(HashRing.defaultTokensPerNode) tokens/node): "
            + report.joined(separator: ", ") + "; worst \(percent(worstOverall))")
    }

    @Test("a node of weight 2 gets twice the share of a node of weight 1")
    func weighted() throws {
        for (count, heavy) in [(4, [0]), (7, [2, 5]), (12, [0, 11])] {
            var nodes = storeNodes(count)
            for index in heavy { nodes[index].weight = 2 }
            let ring = try HashRing(nodes: nodes, replicationFactor: 1)
            let counts = primaryCounts(ring, millionKeys)
            let totalWeight = nodes.map(\.weight).reduce(0, +)
            let fair = nodes.map { Double(millionKeys.count) * $0.weight / totalWeight }
            let worst = worstDeviation(counts, fair: fair)
            print("weighted N=\(count) heavy=\(heavy): worst node \(percent(worst)) off its weighted share")
            #expect(worst <= 0.05, "counts \(counts), fair \(fair)")
        }
    }

    /// At RF>1 a node holds a replica of RF/N of the series. The replica walk is slower than the
    /// primary lookup, so this places a fifth of the keys.
    @Test("at RF 2 and 3 each node holds a replica of about RF/N of the series")
    func replicaShares() throws {
        let keys = millionKeys.prefix(200_000)
        for (count, rf) in [(3, 2), (5, 3), (12, 3), (20, 2)] {
            let ring = try HashRing(nodes: storeNodes(count), replicationFactor: rf)
            var counts = [Int](repeating: 0, count: count)
            var replicas: [Int] = []
            for key in keys {
                ring.replicas(for: key, into: &replicas)
                for node in replicas { counts[node] += 1 }
            }
            let fair = [Double](repeating: Double(keys.count * rf) / Double(count), count: count)
            let worst = worstDeviation(counts, fair: fair)
            print("replica share N=\(count) RF=\(rf): worst node \(percent(worst)) off RF/N")
            #expect(worst <= 0.05, "counts \(counts)")
        }
    }

    /// Re-measures the worst deviation for several token counts: the figures behind
    /// `defaultTokensPerNode`. Slow in a debug build, so it runs only when asked:
    /// `SLUICE_RING_MEASURE_TOKENS=1 swift test --filter tokenCounts`.
    @Test(
        "worst deviation per token count",
        .enabled(if: Environment.isSet("SLUICE_RING_MEASURE_TOKENS"))
    )
    func tokenCounts() throws {
        for tokens in [128, 256, 512, 1024, 2048, 4096, 8192, 16384] {
            var perCount: [String] = []
            var worstOverall = 0.0
            for count in 3...20 {
                let ring = try HashRing(nodes: storeNodes(count), replicationFactor: 1, tokensPerNode: tokens)
                let counts = primaryCounts(ring, millionKeys)
                let fair = [Double](repeating: Double(millionKeys.count) / Double(count), count: count)
                let worst = worstDeviation(counts, fair: fair)
                worstOverall = max(worstOverall, worst)
                perCount.append(percent(worst))
            }
            print("tokens \(tokens): worst \(percent(worstOverall)); N=3…20: \(perCount.joined(separator: " "))")
        }
    }
}
