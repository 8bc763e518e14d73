import Testing

@testable import SluiceRing

/// "Adding one node to N moves about 1/(N+1) of the series (measure it)."
@Suite struct RingMovementTests {
    /// Primaries: only the new node gains series, and the fraction it gains is its fair share of
    /// the bigger ring, 1/(N+1), give or take the same few percent as any node's share.
    @Test("adding a node moves about 1/(N+1) of the primaries, all to the new node")
    func primaries() throws {
        // Half the keys: at 500k the count moved is good to ±1% of 1/(N+1), and the debug build
        // spends its time in these lookups.
        let keys = millionKeys.prefix(500_000)
        for count in [3, 5, 10, 15, 19] {
            let before = try HashRing(nodes: storeNodes(count), replicationFactor: 1)
            let after = try HashRing(nodes: storeNodes(count + 1), replicationFactor: 1)
            let newNode = count  // store-(N+1) is last in the list
            var moved = 0
            var churn = 0
            for key in keys {
                let old = before.primary(for: key)
                let new = after.primary(for: key)
                if old != new {
                    moved += 1
                    // Old nodes keep their indices in the bigger ring, so a changed index that is
                    // not the new node is a series moving between old nodes.
                    if new != newNode { churn += 1 }
                }
            }
            let fraction = Double(moved) / Double(keys.count)
            let expected = 1 / Double(count + 1)
            print("add 1 to N=\(count): primaries moved \(percent(fraction)), 1/(N+1) = \(percent(expected)), ratio \(percent(fraction / expected))")
            #expect(churn == 0, "N=\(count): \(churn) series moved between old nodes")
            #expect(abs(fraction / expected - 1) <= 0.08, "N=\(count): moved \(percent(fraction)), expected \(percent(expected))")
        }
    }

    /// Replica sets at RF 3: a set changes exactly when the new node joins it, which it does for
    /// about RF/(N+1) of the series. It then replaces one old node; the others stay.
    @Test("at RF 3 adding a node changes about 3/(N+1) of the replica sets, each by one node")
    func replicaSets() throws {
        let keys = millionKeys.prefix(200_000)
        for count in [3, 5, 10, 19] {
            let before = try HashRing(nodes: storeNodes(count), replicationFactor: 3)
            let after = try HashRing(nodes: storeNodes(count + 1), replicationFactor: 3)
            let newNode = count
            var changed = 0
            var primariesMoved = 0
            var badChanges = 0
            var old: [Int] = []
            var new: [Int] = []
            for key in keys {
                before.replicas(for: key, into: &old)
                after.replicas(for: key, into: &new)
                if old[0] != new[0] { primariesMoved += 1 }
                // Both hold three distinct nodes, so they are the same set if one contains the other.
                guard !new.allSatisfy(old.contains) else { continue }
                changed += 1
                // The only acceptable change: the new node in, one old node out, the rest kept.
                let kept = new.filter { $0 != newNode }
                if !new.contains(newNode) || kept.count != 2 || !kept.allSatisfy(old.contains) { badChanges += 1 }
            }
            let fraction = Double(changed) / Double(keys.count)
            let expected = 3 / Double(count + 1)
            print(
                "add 1 to N=\(count) at RF 3: replica sets changed \(percent(fraction)), 3/(N+1) = \(percent(expected)); "
                    + "primaries moved \(percent(Double(primariesMoved) / Double(keys.count)))"
            )
            #expect(badChanges == 0, "N=\(count): \(badChanges) replica sets changed by more than the new node")
            #expect(abs(fraction / expected - 1) <= 0.08, "N=\(count): changed \(percent(fraction)), expected \(percent(expected))")
        }
    }

    /// Removing a node is the reverse: only its series move, spread over the rest.
    @Test("removing a node moves only its own primaries")
    func removal() throws {
        let before = try HashRing(nodes: storeNodes(10), replicationFactor: 1)
        let shrunk = try HashRing(nodes: storeNodes(10).filter { $0.name != "store-5" }, replicationFactor: 1)
        var moved = 0
        for key in millionKeys.prefix(200_000) {
            let old = before.nodes[before.primary(for: key)].name
            let new = shrunk.nodes[shrunk.primary(for: key)].name
            if old != new {
                moved += 1
                #expect(old == "store-5")
            }
        }
        let fraction = Double(moved) / 200_000
        print("remove 1 of N=10: primaries moved \(percent(fraction)), 1/N = 10.00%")
        #expect(abs(fraction / 0.1 - 1) <= 0.08)
    }
}
