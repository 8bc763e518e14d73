import NIOCore
import SluiceCodec
import SluiceHTTP
import SluiceRing
import Testing
@testable import SluiceInsert

/// A node in this process takes a 1.0 request's float series as insert scanned them
/// (`NodeBody.scanned`): every node must get exactly what the bytes would have carried, with the
/// tenant label spliced in and the HA replica label cut, and whatever the scan cannot carry must
/// still arrive as bytes.
@Suite struct ScannedRoutingTests {
    static func route(
        _ request: WriteRequest, inProcess: [Bool], rf: Int, tenantLabel: String? = "tenant_id", dropLabel: String? = nil
    ) throws -> RoutedRequest {
        let ring = try RequestRouterTests.ring(nodes: inProcess.count, rf: rf)
        let body = Snappy.compress(MessageCodec().encoded { $0.encode(request, appendingTo: $1) })
        let router = RequestRouter()
        router.inProcessNodes = inProcess
        try body.withUnsafeBytes { try Snappy.decompress($0, into: router.decompressed, limit: 1 << 24) }
        return try router.route(tenant: "team-a", tenantLabel: tenantLabel, ring: ring, dropLabel: dropLabel)
    }

    /// Each node's part, decoded, with its sample count.
    static func perNode(_ routed: RoutedRequest) throws -> [Int: (request: WriteRequest, samples: Int)] {
        var out: [Int: (WriteRequest, Int)] = [:]
        for part in routed.parts { out[part.node] = (try RequestRouterTests.decode(part.body), part.samples) }
        return out
    }

    static func isScanned(_ body: NodeBody) -> Bool {
        if case .scanned = body { return true }
        return false
    }

    static func series(_ count: Int, from start: Int = 0) -> [TimeSeries] {
        (start..<start + count).map { index in
            TimeSeries(
                labels: [
                    Label(name: "__name__", value: "node_cpu_seconds_total"), Label(name: "__replica__", value: "r1"),
                    Label(name: "instance", value: "host-\(index):9100"), Label(name: "tenant_id", value: "sneaky"),
                    Label(name: "zone", value: String(repeating: "z", count: index % 200 + 1)),
                ],
                samples: (0..<(index % 3 + 1)).map { (n: Int) -> Sample in
                    Sample(timestamp: 1_700_000_000_000 + Int64(n) * 15_000, value: Double(index) * 0.5)
                }
            )
        }
    }

    @Test(arguments: [
        ([true, true, true], 2), ([true, false, true], 2), ([false, true, false], 1), ([true, true, true], 3), ([true, true], 2),
    ])
    func nodesInThisProcessGetWhatTheBytesCarry(inProcess: [Bool], rf: Int) throws {
        let request = WriteRequest(timeseries: Self.series(300))
        for (tenantLabel, dropLabel) in [("tenant_id", "__replica__"), (nil, nil), ("a", nil), (nil, "__replica__")] as [(String?, String?)] {
            let reference = try Self.route(
                request, inProcess: inProcess.map { _ in false }, rf: rf, tenantLabel: tenantLabel, dropLabel: dropLabel)
            let routed = try Self.route(request, inProcess: inProcess, rf: rf, tenantLabel: tenantLabel, dropLabel: dropLabel)
            let expected = try Self.perNode(reference)
            let got = try Self.perNode(routed)
            try #require(Set(expected.keys) == Set(got.keys))
            for (node, part) in got {
                #expect(part.request == expected[node]!.request, "node \(node), tenant label \(tenantLabel ?? "none")")
                #expect(part.samples == expected[node]!.samples)
            }
            for part in routed.parts {
                // Every node here takes it scanned with `shared` (RF = nodes), else each one here.
                let scanned = rf == inProcess.count ? inProcess.allSatisfy { $0 } : inProcess[part.node]
                #expect(Self.isScanned(part.body) == scanned, "node \(part.node)")
            }
            #expect(Set(routed.replicaSets) == Set(reference.replicaSets))
        }
    }

    /// A series with an exemplar, a histogram or metadata needs the whole message: from there on the
    /// nodes here take bytes, the series scanned before it included.
    @Test(arguments: ["exemplar", "histogram", "metadata"])
    func whatTheScanCannotCarryGoesAsBytes(kind: String) throws {
        var odd = Self.series(1, from: 1000)[0]
        var request = WriteRequest(timeseries: Self.series(50) + [odd] + Self.series(50, from: 50))
        switch kind {
        case "exemplar":
            odd.exemplars = [Exemplar(labels: [Label(name: "trace_id", value: "abc")], value: 1, timestamp: 1_700_000_000_000)]
            request.timeseries[50] = odd
        case "histogram":
            odd.samples = []
            odd.histograms = [Histogram(count: .int(1), sum: 1, zeroCount: .int(1), timestamp: 1_700_000_000_000)]
            request.timeseries[50] = odd
        default:
            request.metadata = [MetricMetadata(type: .counter, metricFamilyName: "node_cpu_seconds_total", help: "CPU.", unit: "")]
        }
        let inProcess = [true, false, true]
        let expected = try Self.perNode(try Self.route(request, inProcess: [false, false, false], rf: 2, dropLabel: "__replica__"))
        let routed = try Self.route(request, inProcess: inProcess, rf: 2, dropLabel: "__replica__")
        #expect(routed.parts.allSatisfy { !Self.isScanned($0.body) })
        let got = try Self.perNode(routed)
        try #require(Set(expected.keys) == Set(got.keys))
        for (node, part) in got { #expect(part.request == expected[node]!.request, "node \(node)") }
    }

    /// A series with no samples stores nothing, but its nodes still get a part: the quorum is judged
    /// over its replica set. So they do when a later series ends scanning.
    @Test(arguments: [false, true])
    func aSeriesWithoutSamplesStillReachesItsNodes(thenAnExemplar: Bool) throws {
        var empty = Self.series(1)[0]
        empty.samples = []
        var request = WriteRequest(timeseries: [empty])
        if thenAnExemplar {
            // A series on another node, at RF 1: the empty series' node then gets nothing else.
            func node(_ series: TimeSeries) throws -> Int {
                try Self.route(WriteRequest(timeseries: [series]), inProcess: [false, false, false], rf: 1).parts[0].node
            }
            let emptyNode = try node(empty)
            var other = try #require(try (1..<200).lazy.map { Self.series(1, from: $0)[0] }.first { try node($0) != emptyNode })
            other.exemplars = [Exemplar(labels: [Label(name: "trace_id", value: "abc")], value: 1, timestamp: 1_700_000_000_000)]
            request.timeseries.append(other)
        }
        let rf = thenAnExemplar ? 1 : 2
        let expected = try Self.perNode(try Self.route(request, inProcess: [false, false, false], rf: rf))
        let routed = try Self.route(request, inProcess: [true, true, true], rf: rf)
        #expect(routed.parts.allSatisfy { Self.isScanned($0.body) != thenAnExemplar })
        let got = try Self.perNode(routed)
        #expect(Set(got.keys) == Set(expected.keys))
        for (node, part) in got { #expect(part.request == expected[node]!.request && part.samples == expected[node]!.samples) }
        let decision = QuorumDecision(
            replicaSets: routed.replicaSets, outcomes: Dictionary(uniqueKeysWithValues: routed.parts.map { ($0.node, NodeOutcome.accepted) }),
            writeQuorum: 1)
        #expect(decision.verdict == .acknowledged)
    }

    /// Scanned parts for one node join by listing them, and never with bytes.
    @Test func scannedPartsJoinByListing() throws {
        let a = try Self.route(WriteRequest(timeseries: Self.series(10)), inProcess: [true], rf: 1)
        let b = try Self.route(WriteRequest(timeseries: Self.series(10, from: 10)), inProcess: [true], rf: 1)
        let joined = try #require(ForwardBatcher.join([a.parts[0].body, b.parts[0].body]))
        guard case .scanned(let parts) = joined else {
            Issue.record("scanned parts did not join as scanned")
            return
        }
        #expect(parts.count == 2)
        #expect(try RequestRouterTests.decode(joined).timeseries.count == 20)
        #expect(ForwardBatcher.join([a.parts[0].body, .protobuf(ByteBuffer(bytes: [0x0A, 0x00]))]) == nil)
    }
}
