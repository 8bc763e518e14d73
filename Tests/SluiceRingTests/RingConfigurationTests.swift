import Testing

@testable import SluiceRing

@Suite struct RingConfigurationTests {
    static let example = """
        replication_factor: 3
        write_quorum: 2
        nodes:
          - {name: store-a, url: http://127.0.0.1:9301/api/v1/write, zone: a}
          - {name: store-b, url: http://127.0.0.1:9302/api/v1/write, zone: b}
          - {name: store-c, url: http://127.0.0.1:9303/api/v1/write, zone: c, weight: 2, read_url: http://127.0.0.1:9303/api/v1/read}
        """

    @Test("parses the example")
    func example() throws {
        let configuration = try RingConfiguration.parse(yaml: Self.example)
        #expect(configuration.replicationFactor == 3)
        #expect(configuration.writeQuorum == 2)
        #expect(configuration.tokensPerNode == HashRing.defaultTokensPerNode)
        #expect(configuration.nodes.map(\.name) == ["store-a", "store-b", "store-c"])
        #expect(configuration.nodes[0] == RingConfiguration.Node(name: "store-a", url: "http://127.0.0.1:9301/api/v1/write", zone: "a"))
        #expect(configuration.nodes[2].weight == 2)
        #expect(configuration.nodes[2].readURL == "http://127.0.0.1:9303/api/v1/read")

        let ring = try configuration.makeRing()
        #expect(ring.replicationFactor == 3)
        #expect(ring.nodes.map(\.zone) == ["a", "b", "c"])
        #expect(ring.nodes[2].weight == 2)
    }

    @Test("block style parses too")
    func blockStyle() throws {
        let configuration = try RingConfiguration.parse(yaml: """
            # the ring
            replication_factor: 2
            nodes:
              - name: store-a
                url: https://store-a.example:9301/api/v1/write
              - name: store-b
                url: https://store-b.example:9301/api/v1/write
            """)
        #expect(configuration.nodes.count == 2)
        #expect(configuration.writeQuorum == 2)
    }

    @Test("write quorum defaults to floor(RF/2)+1", arguments: [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3)])
    func defaultQuorum(replicationFactor: Int, quorum: Int) throws {
        let nodes = (1...5).map { "  - {name: n\($0), url: http://127.0.0.1:93\($0)0/api/v1/write}" }.joined(separator: "\n")
        let configuration = try RingConfiguration.parse(yaml: "replication_factor: \(replicationFactor)\nnodes:\n\(nodes)\n")
        #expect(configuration.writeQuorum == quorum)
        #expect(RingConfiguration(replicationFactor: replicationFactor, nodes: []).writeQuorum == quorum)
    }

    /// A file that must be refused, named by why.
    struct Bad: Sendable, CustomTestStringConvertible {
        var reason: String
        var yaml: String
        var testDescription: String { reason }
    }

    static let bad: [Bad] = [
        Bad(reason: "RF above the node count", yaml: """
            replication_factor: 3
            nodes:
              - {name: a, url: http://127.0.0.1:1/w}
              - {name: b, url: http://127.0.0.1:2/w}
            """),
        Bad(reason: "quorum above RF", yaml: """
            replication_factor: 2
            write_quorum: 3
            nodes: [{name: a, url: http://127.0.0.1:1/w}, {name: b, url: http://127.0.0.1:2/w}, {name: c, url: http://127.0.0.1:3/w}]
            """),
        Bad(reason: "quorum zero", yaml: """
            replication_factor: 1
            write_quorum: 0
            nodes: [{name: a, url: http://127.0.0.1:1/w}]
            """),
        Bad(reason: "RF zero", yaml: "replication_factor: 0\nnodes: [{name: a, url: http://127.0.0.1:1/w}]\n"),
        Bad(reason: "duplicate names", yaml: "nodes: [{name: a, url: http://127.0.0.1:1/w}, {name: a, url: http://127.0.0.1:2/w}]\n"),
        Bad(reason: "url scheme", yaml: "nodes: [{name: a, url: ftp://127.0.0.1:1/w}]\n"),
        Bad(reason: "url without scheme", yaml: "nodes: [{name: a, url: 127.0.0.1:9301}]\n"),
        Bad(reason: "url without host", yaml: "nodes: [{name: a, url: 'http:///api/v1/write'}]\n"),
        Bad(reason: "read_url scheme", yaml: "nodes: [{name: a, url: http://127.0.0.1:1/w, read_url: tcp://127.0.0.1:1}]\n"),
        Bad(reason: "empty node list", yaml: "replication_factor: 1\nnodes: []\n"),
        Bad(reason: "no nodes key", yaml: "replication_factor: 1\n"),
        Bad(reason: "empty file", yaml: ""),
        Bad(reason: "malformed YAML", yaml: "replication_factor: 3\nnodes:\n  - {name: a, url: http://x\n"),
        Bad(reason: "not a mapping", yaml: "- just\n- a list\n"),
        Bad(reason: "wrong type", yaml: "replication_factor: three\nnodes: [{name: a, url: http://127.0.0.1:1/w}]\n"),
        Bad(reason: "node without url", yaml: "nodes: [{name: a}]\n"),
        Bad(reason: "mixed zone and no zone", yaml: "nodes: [{name: a, url: http://127.0.0.1:1/w, zone: z}, {name: b, url: http://127.0.0.1:2/w}]\n"),
        Bad(reason: "empty zone", yaml: "nodes: [{name: a, url: http://127.0.0.1:1/w, zone: ''}]\n"),
        Bad(reason: "misspelt key", yaml: "replication_facter: 3\nnodes: [{name: a, url: http://127.0.0.1:1/w}]\n"),
        Bad(reason: "misspelt node key", yaml: "nodes: [{name: a, url: http://127.0.0.1:1/w, zome: a}]\n"),
        Bad(reason: "repeated key", yaml: "replication_factor: 1\nreplication_factor: 1\nnodes: [{name: a, url: http://127.0.0.1:1/w}]\n"),
        Bad(reason: "zero weight", yaml: "nodes: [{name: a, url: http://127.0.0.1:1/w, weight: 0}]\n"),
        Bad(reason: "too few tokens", yaml: "tokens_per_node: 16\nnodes: [{name: a, url: http://127.0.0.1:1/w}]\n"),
        Bad(reason: "empty name", yaml: "nodes: [{name: '', url: http://127.0.0.1:1/w}]\n"),
    ]

    @Test("rejects", arguments: bad)
    func rejects(_ bad: Bad) {
        let (reason, yaml) = (bad.reason, bad.yaml)
        let error = #expect(throws: RingError.self, "\(reason)") { try RingConfiguration.parse(yaml: yaml) }
        // Messages end up in an operator's log: one line, short.
        if let error {
            #expect(!error.message.contains("\n"), "\(reason): \(error.message)")
            #expect(error.message.count < 300, "\(reason): \(error.message)")
        }
    }

    @Test("errors carry a code and say where")
    func errorDetails() {
        let misspelt = #expect(throws: RingError.self) {
            try RingConfiguration.parse(yaml: "nodes: [{name: a, url: http://127.0.0.1:1/w, zome: a}]\n")
        }
        #expect(misspelt?.code == .invalidYAML)
        #expect(misspelt?.message.contains("nodes[0].zome") == true)

        let missing = #expect(throws: RingError.self) { try RingConfiguration.parse(yaml: "nodes: [{name: a}]\n") }
        #expect(missing?.code == .invalidYAML)
        #expect(missing?.message.contains("nodes[0].url") == true, "\(missing?.message ?? "")")

        let invalid = #expect(throws: RingError.self) {
            try RingConfiguration.parse(yaml: "replication_factor: 2\nnodes: [{name: a, url: http://127.0.0.1:1/w}]\n")
        }
        #expect(invalid?.code == .invalidConfiguration)
    }

    @Test("yaml() round-trips")
    func roundTrip() throws {
        let parsed = try RingConfiguration.parse(yaml: Self.example)
        #expect(try RingConfiguration.parse(yaml: parsed.yaml()) == parsed)

        // Values YAML would otherwise read as something else, or that break a flow mapping.
        let awkward = RingConfiguration(
            replicationFactor: 2,
            writeQuorum: 1,
            tokensPerNode: 256,
            nodes: [
                RingNode(name: "null", zone: "true"),
                RingNode(name: "3", zone: "no"),
                RingNode(name: "store, \"b\" #1", zone: "{z}"),
            ].enumerated().map { index, node in
                RingConfiguration.Node(
                    name: node.name,
                    url: "http://10.0.0.\(index):9301/api/v1/write?tenant=a,b",
                    readURL: index == 0 ? "https://10.0.0.1/read" : nil,
                    zone: node.zone,
                    weight: index == 1 ? 0.5 : nil
                )
            }
        )
        let text = awkward.yaml()
        #expect(try RingConfiguration.parse(yaml: text) == awkward, "\(text)")
    }
}
