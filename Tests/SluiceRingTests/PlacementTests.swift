import Testing

@testable import SluiceRing

/// "Placement is the same in every process": the keys and replica sets below were computed by an
/// independent Python implementation (the `xxhash` package, the same token and zone walk), so any
/// change to the key encoding, the hash, the token positions, the default token count or the walk
/// fails here. Such a change moves data in a running cluster: if it is intended, it needs a
/// migration, not just new golden values.
@Suite struct PlacementTests {
    static let zonedNodes = [
        RingNode(name: "store-a", zone: "a"), RingNode(name: "store-b", zone: "b"),
        RingNode(name: "store-c", zone: "c"), RingNode(name: "store-d", zone: "a"),
        RingNode(name: "store-e", zone: "b"), RingNode(name: "store-f", zone: "c"),
    ]

    struct Golden: Sendable, CustomTestStringConvertible {
        var tenant: String
        var labels: [(name: String, value: String)]
        var key: UInt64
        var zonedRF3: [String]
        var plainRF2: [String]
        var testDescription: String { "\(tenant)/\(labels[0].value)" }
    }

    static let goldens: [Golden] = [
        Golden(
            tenant: "default",
            labels: [("__name__", "up"), ("instance", "10.0.0.1:9100"), ("job", "node")],
            key: 0x35DC_4D03_984D_36DB,
            zonedRF3: ["store-a", "store-b", "store-f"],
            plainRF2: ["store-4", "store-5"]
        ),
        Golden(
            tenant: "acme",
            labels: [("__name__", "node_cpu_seconds_total"), ("cpu", "0"), ("instance", "10.0.0.1:9100"), ("job", "node"), ("mode", "idle")],
            key: 0xE684_96AF_FC2C_746F,
            zonedRF3: ["store-f", "store-b", "store-a"],
            plainRF2: ["store-5", "store-3"]
        ),
        Golden(
            tenant: "",
            labels: [("__name__", "http_requests_total"), ("code", "200"), ("handler", "/api/v1/write")],
            key: 0x0057_95ED_610A_22A4,
            zonedRF3: ["store-c", "store-d", "store-b"],
            plainRF2: ["store-2", "store-1"]
        ),
        Golden(
            tenant: "default",
            labels: [
                ("__name__", "node_filesystem_avail_bytes"), ("device", "/dev/sda1"), ("fstype", "ext4"),
                ("instance", "10.1.2.3:9100"), ("job", "node"), ("mountpoint", "/"),
            ],
            key: 0x9820_A549_3E28_1BAA,
            zonedRF3: ["store-e", "store-f", "store-d"],
            plainRF2: ["store-3", "store-5"]
        ),
    ]

    @Test("golden keys and replica sets", arguments: goldens)
    func golden(_ golden: Golden) throws {
        let key = SeriesKeyHasher.hash(tenant: golden.tenant, labels: golden.labels)
        #expect(key == golden.key)

        let zoned = try HashRing(nodes: Self.zonedNodes, replicationFactor: 3)
        #expect(zoned.replicaNames(for: key) == golden.zonedRF3)

        let plain = try HashRing(nodes: storeNodes(5), replicationFactor: 2)
        #expect(plain.replicaNames(for: key) == golden.plainRF2)
        #expect(plain.nodes[plain.primary(for: key)].name == golden.plainRF2[0])
    }

    @Test("golden token count")
    func tokenCount() throws {
        #expect(HashRing.defaultTokensPerNode == 8192)
        let ring = try HashRing(nodes: Self.zonedNodes, replicationFactor: 3)
        #expect(ring.tokenCount == 6 * 8192)
    }

    /// The fast path feeds label bytes to the hasher directly; it must agree with the sorting
    /// convenience the goldens use.
    @Test("synthetic series hash like the insert path")
    func syntheticKeysMatch() {
        let series = SyntheticSeries()
        let keys = series.keys(count: 2000)
        for index in stride(from: 0, to: 2000, by: 37) {
            #expect(keys[index] == SeriesKeyHasher.hash(tenant: "default", labels: series.labels(at: index)))
        }
        #expect(Set(keys).count == keys.count)
    }

    @Test("the order nodes are listed in does not change placement")
    func nodeOrder() throws {
        let ring = try HashRing(nodes: Self.zonedNodes, replicationFactor: 3)
        let reversed = try HashRing(nodes: Self.zonedNodes.reversed(), replicationFactor: 3)
        let shuffled = try HashRing(nodes: [3, 0, 5, 1, 4, 2].map { Self.zonedNodes[$0] }, replicationFactor: 3)
        for key in millionKeys.prefix(20_000) {
            let names = ring.replicaNames(for: key)
            #expect(reversed.replicaNames(for: key) == names)
            #expect(shuffled.replicaNames(for: key) == names)
        }
    }

    @Test("the order labels are given in does not change the key")
    func labelOrder() {
        let labels: [(name: String, value: String)] = [
            ("__name__", "node_cpu_seconds_total"), ("cpu", "0"), ("instance", "10.0.0.1:9100"), ("job", "node"), ("mode", "idle"),
        ]
        let key = SeriesKeyHasher.hash(tenant: "acme", labels: labels)
        #expect(SeriesKeyHasher.hash(tenant: "acme", labels: labels.reversed()) == key)
        #expect(SeriesKeyHasher.hash(tenant: "acme", labels: [2, 4, 0, 3, 1].map { labels[$0] }) == key)
    }

    @Test("the tenant is part of the key")
    func tenant() throws {
        let labels: [(name: String, value: String)] = [("__name__", "up"), ("instance", "10.0.0.1:9100"), ("job", "node")]
        let keys = ["", "default", "acme", "acme2"].map { SeriesKeyHasher.hash(tenant: $0, labels: labels) }
        #expect(Set(keys).count == 4)
        // The separator keeps tenant and first label apart: tenant "a" + name "b" is not tenant "ab".
        #expect(SeriesKeyHasher.hash(tenant: "a", labels: [("b", "c")]) != SeriesKeyHasher.hash(tenant: "ab", labels: [("", "c")]))
        #expect(SeriesKeyHasher.hash(tenant: "t", labels: [("ab", "c")]) != SeriesKeyHasher.hash(tenant: "t", labels: [("a", "bc")]))

        // And it changes placement: over 1000 series, two tenants' primaries differ about 4 times in 5.
        let ring = try HashRing(nodes: storeNodes(5), replicationFactor: 1)
        let series = SyntheticSeries(tenant: "acme").keys(count: 1000)
        let other = SyntheticSeries(tenant: "umbrella").keys(count: 1000)
        let differing = zip(series, other).filter { ring.primary(for: $0) != ring.primary(for: $1) }.count
        #expect(differing > 700 && differing < 900)
    }

    @Test("with zones a, b, c and RF 3 every replica set spans the three zones")
    func threeZones() throws {
        let ring = try HashRing(nodes: Self.zonedNodes, replicationFactor: 3)
        for key in millionKeys.prefix(50_000) {
            let replicas = ring.replicas(for: key)
            #expect(replicas.count == 3)
            #expect(Set(replicas.map { ring.nodes[$0].zone }).count == 3)
        }
    }

    @Test("with two zones and RF 3 every replica set spans both zones on three nodes")
    func twoZones() throws {
        let nodes = [
            RingNode(name: "store-a1", zone: "a"), RingNode(name: "store-a2", zone: "a"), RingNode(name: "store-a3", zone: "a"),
            RingNode(name: "store-b1", zone: "b"), RingNode(name: "store-b2", zone: "b"),
        ]
        let ring = try HashRing(nodes: nodes, replicationFactor: 3)
        for key in millionKeys.prefix(50_000) {
            let replicas = ring.replicas(for: key)
            #expect(Set(replicas).count == 3)
            #expect(Set(replicas.map { ring.nodes[$0].zone }) == ["a", "b"])
        }
    }

    /// More zones than RF: each set still takes RF distinct zones.
    @Test("with five zones and RF 3 every replica set spans three zones")
    func moreZonesThanReplicas() throws {
        let nodes = (0..<10).map { RingNode(name: "store-\($0)", zone: "zone-\($0 % 5)") }
        let ring = try HashRing(nodes: nodes, replicationFactor: 3)
        for key in millionKeys.prefix(20_000) {
            #expect(Set(ring.replicas(for: key).map { ring.nodes[$0].zone }).count == 3)
        }
    }

    @Test("a single-node ring places everything on it")
    func singleNode() throws {
        let ring = try HashRing(nodes: [RingNode(name: "only")], replicationFactor: 1)
        for key in [0, 1, UInt64.max, 0x8000_0000_0000_0000] {
            #expect(ring.replicas(for: key) == [0])
        }
    }

    @Test("keys beyond the last token wrap to the first")
    func wrap() throws {
        let ring = try HashRing(nodes: storeNodes(3), replicationFactor: 3, tokensPerNode: 4)
        // With 12 tokens, UInt64.max is past all of them and 0 is before all: same owner.
        #expect(ring.replicas(for: .max) == ring.replicas(for: 0))
    }

    @Test("ring construction rejects bad input")
    func rejects() {
        #expect(throws: RingError.self) { try HashRing(nodes: [], replicationFactor: 1) }
        #expect(throws: RingError.self) { try HashRing(nodes: storeNodes(2), replicationFactor: 3) }
        #expect(throws: RingError.self) { try HashRing(nodes: storeNodes(2), replicationFactor: 0) }
        #expect(throws: RingError.self) { try HashRing(nodes: [RingNode(name: "a"), RingNode(name: "a")], replicationFactor: 1) }
        #expect(throws: RingError.self) { try HashRing(nodes: [RingNode(name: "")], replicationFactor: 1) }
        #expect(throws: RingError.self) { try HashRing(nodes: [RingNode(name: "a", weight: 0)], replicationFactor: 1) }
        #expect(throws: RingError.self) { try HashRing(nodes: [RingNode(name: "a", weight: .nan)], replicationFactor: 1) }
        #expect(throws: RingError.self) {
            try HashRing(nodes: [RingNode(name: "a", zone: "z"), RingNode(name: "b")], replicationFactor: 1)
        }
    }

    /// Placement reads a table of replica sets built with the ring. Each set is the walk from its
    /// tokens, so a series' set number, its members and its bitset always agree, and a ring of N
    /// nodes at RF r has at most N!/(N−r)! ordered sets.
    @Test("replica set table", arguments: [(3, 1, false), (3, 3, false), (6, 2, false), (6, 3, true)])
    func replicaSetTable(nodes: Int, rf: Int, zoned: Bool) throws {
        let ringNodes = zoned ? Self.zonedNodes : (0..<nodes).map { RingNode(name: "store-\($0)") }
        let ring = try HashRing(nodes: ringNodes, replicationFactor: rf)
        let bound = (0..<rf).reduce(1) { $0 * (nodes - $1) }
        #expect(ring.replicaSetCount >= 1 && ring.replicaSetCount <= bound)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let hash = UInt64.random(in: .min ... .max, using: &generator)
            let set = ring.placement.replicaSet(for: hash)
            let members = ring.placement.members(ofReplicaSet: set).map { Int($0) }
            #expect(members == ring.replicas(for: hash))
            #expect(Set(members).count == rf)
            #expect(ring.replicaSetNodes[set] == ReplicaSet(members))
            #expect(members.first == ring.primary(for: hash))
        }
    }

    /// Every bucket width finds the replica set of the first token at or after the hash (wrapping
    /// to the first token), as a plain search over the sorted tokens does: for random hashes, and for
    /// every token, its neighbours and the bucket edges, on rings with spread, crowded and extreme tokens.
    @Test("bucket widths agree with a search over the tokens", arguments: [1, 2, 4])
    func bucketWidthsAgreeWithSearch(width: Int) {
        var generator = SystemRandomNumberGenerator()
        let rings: [[UInt64]] = [
            (0..<3000).map { _ in UInt64.random(in: .min ... .max, using: &generator) },
            (0..<50).map { _ in UInt64.random(in: 0...1_000_000, using: &generator) },   // all in the first bucket
            [0, 1, UInt64.max - 1, UInt64.max],
            [42],
        ]
        for raw in rings {
            let tokens = Array(Set(raw)).sorted()
            let setCount = width == 1 ? 200 : width == 2 ? 60_000 : 100_000
            let sets = tokens.map { _ in UInt32.random(in: 0..<UInt32(setCount), using: &generator) }
            let members = (0..<Int(sets.max()! + 1)).map { Int32($0) }
            let table = PlacementTable(tokens: tokens, setOfToken: sets, setMembers: members, replicationFactor: 1, bucketWidth: width)
            func expected(_ hash: UInt64) -> Int {
                let index = tokens.firstIndex { $0 >= hash } ?? 0
                return Int(sets[index])
            }
            var hashes = (0..<3000).map { _ in UInt64.random(in: .min ... .max, using: &generator) }
            // Each token's neighbours, and the hashes that share its 32 bits after a bucket's and
            // differ below them, on either side.
            for token in tokens { hashes += [token, token &- 1, token &+ 1, token & ~0xFFF, token | 0xFFF] }
            for bucket in stride(from: 0, to: table.bucketCount, by: max(1, table.bucketCount / 512)) {
                let start = UInt64(bucket) << table.shift
                hashes += [start, start &- 1]
            }
            for hash in hashes {
                #expect(table.replicaSet(for: hash) == expected(hash), "width \(width), hash \(hash)")
            }
        }
    }
}
