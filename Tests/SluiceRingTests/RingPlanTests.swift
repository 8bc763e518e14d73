import Testing

@testable import SluiceRing

@Suite struct RingPlanTests {
    static func ring(_ names: [String], rf: Int, zones: [String]? = nil) -> RingConfiguration {
        RingConfiguration(
            replicationFactor: rf,
            nodes: names.enumerated().map { index, name in
                RingConfiguration.Node(name: name, url: "http://127.0.0.1:\(9301 + index)/api/v1/write", zone: zones?[index])
            }
        )
    }

    static let five = (1...5).map { "store-\($0)" }
    static let plan = RingPlan.Configuration(seriesCount: 50_000)

    @Test("the same ring moves nothing")
    func unchanged() throws {
        let plan = try RingPlan(from: Self.ring(Self.five, rf: 3), to: Self.ring(Self.five, rf: 3), configuration: Self.plan)
        #expect(plan.seriesCount == 50_000)
        #expect(plan.primaryMoved == 0)
        #expect(plan.replicaSetChanged == 0)
        #expect(plan.copiesMoved == 0)
        for node in plan.nodes {
            #expect(node.before == node.after)
            #expect(abs(node.before!.primary - 0.2) < 0.02)
            #expect(abs(node.before!.replicas - 0.6) < 0.03)
        }
        #expect(abs(plan.nodes.map { $0.before!.primary }.reduce(0, +) - 1) < 1e-9)
        #expect(abs(plan.nodes.map { $0.before!.replicas }.reduce(0, +) - 3) < 1e-9)
    }

    @Test("adding a node: it takes about 1/(N+1), and that is what moves")
    func addNode() throws {
        let six = Self.five + ["store-6"]
        let plan = try RingPlan(from: Self.ring(Self.five, rf: 3), to: Self.ring(six, rf: 3), configuration: Self.plan)
        #expect(plan.nodes.map(\.name) == six)
        let added = try #require(plan.nodes.last)
        #expect(added.before == nil)
        let after = try #require(added.after)
        // Every primary that moves, moves to the new node; every changed set gained it.
        #expect(abs(plan.primaryMoved - after.primary) < 1e-9)
        #expect(abs(plan.replicaSetChanged - after.replicas) < 1e-9)
        #expect(abs(plan.primaryMoved - 1.0 / 6) < 0.015)
        #expect(abs(plan.replicaSetChanged - 3.0 / 6) < 0.03)
        // Each changed set has one new copy of three.
        #expect(abs(plan.copiesMoved - plan.replicaSetChanged / 3) < 1e-9)
        for node in plan.nodes.dropLast() {
            #expect(node.after!.primary < node.before!.primary)
        }
    }

    @Test("removing a node moves its series and only those")
    func removeNode() throws {
        let four = Array(Self.five.dropLast())
        let plan = try RingPlan(from: Self.ring(Self.five, rf: 1), to: Self.ring(four, rf: 1), configuration: Self.plan)
        let removed = try #require(plan.nodes.last)
        #expect(removed.name == "store-5")
        #expect(removed.after == nil)
        #expect(abs(plan.primaryMoved - removed.before!.primary) < 1e-9)
        #expect(abs(plan.nodes.compactMap { $0.after?.primary }.reduce(0, +) - 1) < 1e-9)
    }

    @Test("raising RF changes every replica set but moves no primary")
    func raiseReplication() throws {
        let plan = try RingPlan(from: Self.ring(Self.five, rf: 2), to: Self.ring(Self.five, rf: 3), configuration: Self.plan)
        #expect(plan.replicationFactorBefore == 2)
        #expect(plan.replicationFactorAfter == 3)
        #expect(plan.primaryMoved == 0)
        #expect(plan.replicaSetChanged == 1)
        #expect(abs(plan.copiesMoved - 1.0 / 3) < 1e-9)
    }

    /// The plan places series the same way the ring does, so it reports what `HashRing` would do.
    @Test("shares match placing the same series directly")
    func matchesRing() throws {
        let old = Self.ring(Self.five, rf: 2)
        let plan = try RingPlan(from: old, to: old, configuration: .init(seriesCount: 5000, tenant: "acme"))
        let ring = try old.makeRing()
        var counts = [Int](repeating: 0, count: 5)
        for key in SyntheticSeries(tenant: "acme").keys(count: 5000) { counts[ring.primary(for: key)] += 1 }
        #expect(plan.nodes.map { $0.before!.primary } == counts.map { Double($0) / 5000 })
    }

    @Test("bad input is rejected")
    func rejects() {
        #expect(throws: RingError.self) {
            try RingPlan(from: Self.ring(Self.five, rf: 1), to: Self.ring(Self.five, rf: 1), configuration: .init(seriesCount: 0))
        }
        #expect(throws: RingError.self) {
            try RingPlan(from: Self.ring(Self.five, rf: 1), to: Self.ring(["a"], rf: 2), configuration: Self.plan)
        }
    }
}
