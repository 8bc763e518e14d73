import Foundation
import NIOCore
import SluiceCodec
import SluiceHTTP
import SluiceRing
import SluiceTestSupport
import Testing
@testable import SluiceInsert

@Suite struct RequestRouterTests {
    static let fixtures: [[UInt8]] = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let folder = ProcessInfo.processInfo.environment["SLUICE_FIXTURES"].map { URL(fileURLWithPath: $0) }
            ?? root.deletingLastPathComponent().appendingPathComponent("shared/fixtures/prometheus-2.42")
        let dir = folder.appendingPathComponent("remote-write")
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter { $0.hasSuffix(".bin") }.sorted()
        return names.map { [UInt8](FileManager.default.contents(atPath: dir.appendingPathComponent($0).path)!) }
    }()

    static func ring(nodes: Int, rf: Int) throws -> HashRing {
        try HashRing(nodes: (0..<nodes).map { RingNode(name: "store-\($0)") }, replicationFactor: rf)
    }

    static func decode(_ part: NodeBody) throws -> WriteRequest {
        let compressed = Array(part.snappyCompressed.readableBytesView)
        return try MessageCodec().decodeWriteRequest(try Snappy.decompress(compressed, limit: 64 << 20))
    }

    func route(_ body: [UInt8], tenant: String = "default", tenantLabel: String?, ring: HashRing) throws -> RoutedRequest {
        let router = RequestRouter(limits: .init())
        try body.withUnsafeBytes { raw in try Snappy.decompress(raw, into: router.decompressed, limit: 64 << 20) }
        return try router.route(tenant: tenant, tenantLabel: tenantLabel, ring: ring)
    }

    @Test(arguments: [1, 2, 3])
    func everySeriesLandsOnExactlyRFNodes(rf: Int) throws {
        #expect(Self.fixtures.count == 6)
        let ring = try Self.ring(nodes: 3, rf: rf)
        for body in Self.fixtures {
            let original = try MessageCodec().decodeWriteRequest(try Snappy.decompress(body, limit: 64 << 20))
            let routed = try route(body, tenantLabel: nil, ring: ring)
            var copies: [[Label]: Int] = [:]
            for part in routed.parts {
                for series in try Self.decode(part.body).timeseries { copies[series.labels, default: 0] += 1 }
            }
            #expect(copies.count == original.timeseries.count)
            #expect(copies.values.allSatisfy { $0 == rf })
            #expect(routed.summary.samples == original.sampleCount)
            #expect(routed.replicaSets.allSatisfy { $0.count == rf })
        }
    }

    @Test func forwardedSeriesAreTheOriginalBytes() throws {
        let ring = try Self.ring(nodes: 3, rf: 3)
        let body = Self.fixtures[0]
        let original = try MessageCodec().decodeWriteRequest(try Snappy.decompress(body, limit: 64 << 20))
        let routed = try route(body, tenantLabel: nil, ring: ring)
        // At RF=3 over 3 nodes every node gets everything, in order: the same message, byte for byte.
        for part in routed.parts {
            #expect(try Self.decode(part.body) == original)
        }
    }

    @Test func tenantLabelIsSplicedInSortedOrder() throws {
        let ring = try Self.ring(nodes: 3, rf: 1)
        let body = Self.fixtures[1]
        let original = try MessageCodec().decodeWriteRequest(try Snappy.decompress(body, limit: 64 << 20))
        let routed = try route(body, tenant: "team-a", tenantLabel: "tenant_id", ring: ring)
        var forwarded: [TimeSeries] = []
        for part in routed.parts { forwarded += try Self.decode(part.body).timeseries }
        #expect(forwarded.count == original.timeseries.count)
        let expected = Set(original.timeseries.map { series in
            var copy = series
            copy.labels.append(Label(name: "tenant_id", value: "team-a"))
            copy.labels.sort()
            return copy
        })
        #expect(Set(forwarded) == expected)
    }

    @Test func aSeriesCannotClaimAnotherTenant() throws {
        let ring = try Self.ring(nodes: 2, rf: 1)
        let request = WriteRequest(timeseries: [
            TimeSeries(
                labels: [Label(name: "__name__", value: "up"), Label(name: "tenant_id", value: "team-b"), Label(name: "zone", value: "z")],
                samples: [Sample(timestamp: 1, value: 1)]
            )
        ])
        let body = Snappy.compress(MessageCodec().encoded { $0.encode(request, appendingTo: $1) })
        let routed = try route(body, tenant: "team-a", tenantLabel: "tenant_id", ring: ring)
        let forwarded = try routed.parts.flatMap { try Self.decode($0.body).timeseries }
        #expect(forwarded.map(\.labels) == [[
            Label(name: "__name__", value: "up"), Label(name: "tenant_id", value: "team-a"), Label(name: "zone", value: "z"),
        ]])
    }

    /// The splice cuts the replaced tenant label and the dropped one wherever they sit, and puts the
    /// tenant label at its sorted place: first, between, or last. With no label dropped the router
    /// takes its common path, which finds that place before building the key; both must place the
    /// series by the tenant and its own labels, never the tenant label, as the reference key does.
    @Test(arguments: [
        ("tenant_id", ["__name__", "job", "tenant_id", "zone"]),
        ("__a", ["__a", "__name__", "job", "tenant_id", "zone"]),
        ("k", ["__name__", "job", "k", "tenant_id", "zone"]),
        ("zzz", ["__name__", "job", "tenant_id", "zone", "zzz"]),
        ("zone", ["__name__", "job", "tenant_id", "zone"]),
    ], [true, false])
    func spliceCutsAndInsertsAnywhere(expected: (tenantLabel: String, names: [String]), dropping: Bool) throws {
        let tenantLabel = expected.tenantLabel
        let ring = try Self.ring(nodes: 5, rf: 2)
        let labels = [("__name__", "up"), ("__replica__", "r1"), ("job", "x"), ("tenant_id", "other"), ("zone", "z")]
            .filter { dropping || $0.0 != "__replica__" }
        let request = WriteRequest(timeseries: [
            TimeSeries(labels: labels.map { Label(name: $0.0, value: $0.1) }, samples: [Sample(timestamp: 1, value: 1)])
        ])
        let body = Snappy.compress(MessageCodec().encoded { $0.encode(request, appendingTo: $1) })
        let router = RequestRouter()
        try body.withUnsafeBytes { try Snappy.decompress($0, into: router.decompressed, limit: 1 << 20) }
        let routed = try router.route(tenant: "team-a", tenantLabel: tenantLabel, ring: ring, dropLabel: dropping ? "__replica__" : nil)
        #expect(routed.parts.count == 2)
        for part in routed.parts {
            let forwarded = try Self.decode(part.body).timeseries
            let values = Dictionary(uniqueKeysWithValues: labels) .merging([(tenantLabel, "team-a")]) { $1 }
            #expect(forwarded.map(\.labels) == [expected.names.map { Label(name: $0, value: values[$0]!) }])
        }
        let own = labels.filter { $0.0 != "__replica__" && $0.0 != tenantLabel }.map { (name: $0.0, value: $0.1) }
        let hash = SeriesKeyHasher.hash(tenant: "team-a", labels: own)
        #expect(routed.replicaSets == [ReplicaSet(ring.replicas(for: hash))])
    }

    /// Series that repeat runs of the previous series' labels take those runs' key bytes from its
    /// key (`Series.adopted`): every series must still land where its own labels, less the tenant
    /// label and the dropped one, send it. Runs start anywhere, hold the series' own tenant label or
    /// the dropped label or neither, and go past the 64 labels the scanner tracks.
    @Test(arguments: [true, false])
    func seriesThatShareLabelRunsArePlacedByTheirOwnLabels(dropping: Bool) throws {
        let ring = try Self.ring(nodes: 7, rf: 1)
        var generator = SystemRandomNumberGenerator()
        var timeseries: [TimeSeries] = []
        var previous: [Label] = []
        for index in 0..<400 {
            // Start from the previous series' labels and change a few of them, or start anew.
            var labels = previous.isEmpty || index % 37 == 0 ? [Label(name: "__name__", value: "m\(index)")] + (0..<Int.random(in: 1...70, using: &generator)).map {
                // Names on both sides of the tenant label's place.
                Label(name: "\($0 % 3 == 0 ? "z" : "l")\(String(format: "%02d", $0))", value: "v\($0)")
            } : previous
            for _ in 0..<Int.random(in: 0...2, using: &generator) {
                let at = Int.random(in: 0..<labels.count, using: &generator)
                labels[at].value = "x\(Int.random(in: 0...3, using: &generator))"
            }
            if index % 5 == 0 { labels.removeAll { $0.name == "tenant_id" } } else if index % 5 == 1 && !labels.contains(where: { $0.name == "tenant_id" }) {
                labels.append(Label(name: "tenant_id", value: "other\(index % 3)"))
            }
            if dropping, index % 7 != 0, !labels.contains(where: { $0.name == "__replica__" }) {
                labels.append(Label(name: "__replica__", value: "r\(index % 2)"))
            }
            labels.sort()
            previous = labels
            timeseries.append(TimeSeries(labels: labels, samples: [Sample(timestamp: Int64(index), value: 1)]))
        }
        let body = Snappy.compress(MessageCodec().encoded { $0.encode(WriteRequest(timeseries: timeseries), appendingTo: $1) })
        var limits = WriteRequestScanner.Limits()
        limits.maxLabelNamesPerSeries = 100
        let router = RequestRouter(limits: limits)
        try body.withUnsafeBytes { try Snappy.decompress($0, into: router.decompressed, limit: 1 << 24) }
        let routed = try router.route(tenant: "team-a", tenantLabel: "tenant_id", ring: ring, dropLabel: dropping ? "__replica__" : nil)
        var placed = 0
        for part in routed.parts {
            for series in try Self.decode(part.body).timeseries {
                let own = series.labels.filter { $0.name != "tenant_id" }.map { (name: $0.name, value: $0.value) }
                #expect(ring.replicas(for: SeriesKeyHasher.hash(tenant: "team-a", labels: own)) == [part.node])
                #expect(series.labels.contains(Label(name: "tenant_id", value: "team-a")))
                #expect(series.labels == series.labels.sorted(), "the tenant label at its sorted place")
                #expect(!series.labels.contains { $0.name == "__replica__" } || !dropping)
                placed += 1
            }
        }
        #expect(placed == timeseries.count)
    }

    @Test func tenantChangesPlacementButLabelOrderDoesNot() throws {
        let ring = try Self.ring(nodes: 10, rf: 1)
        let body = Self.fixtures[2]
        let a = try route(body, tenant: "a", tenantLabel: nil, ring: ring)
        let b = try route(body, tenant: "b", tenantLabel: nil, ring: ring)
        #expect(Set(a.replicaSets) != Set(b.replicaSets) || a.parts.map(\.samples) != b.parts.map(\.samples))
    }

    @Test func metadataGoesToEveryNode() throws {
        let ring = try Self.ring(nodes: 3, rf: 1)
        let request = WriteRequest(metadata: [MetricMetadata(type: .counter, metricFamilyName: "x_total", help: "X.")])
        let body = Snappy.compress(MessageCodec().encoded { $0.encode(request, appendingTo: $1) })
        let routed = try route(body, tenantLabel: "tenant_id", ring: ring)
        #expect(routed.parts.count == 3)
        for part in routed.parts { #expect(try Self.decode(part.body).metadata == request.metadata) }
        #expect(routed.replicaSets == [ReplicaSet([0, 1, 2])])
    }

    @Test func invalidSeriesFailTheWholeRequest() throws {
        let ring = try Self.ring(nodes: 3, rf: 1)
        let request = WriteRequest(timeseries: [TimeSeries(labels: [Label(name: "job", value: "x")], samples: [Sample(timestamp: 1, value: 1)])])
        let body = Snappy.compress(MessageCodec().encoded { $0.encode(request, appendingTo: $1) })
        #expect(throws: CodecError.self) { try route(body, tenantLabel: nil, ring: ring) }
    }

    /// With RF equal to the node count every node's body is the same, so it is built and compressed
    /// once: each node still gets every series (tenant label spliced in), the metadata, and its
    /// own sample count.
    @Test(arguments: [(2, 2), (3, 3)])
    func oneSharedBodyWhenEveryNodeHoldsEverything(nodes: Int, rf: Int) throws {
        let ring = try Self.ring(nodes: nodes, rf: rf)
        let body = Self.fixtures[1]
        let original = try MessageCodec().decodeWriteRequest(try Snappy.decompress(body, limit: 64 << 20))
        for tenantLabel in [nil, "tenant_id"] as [String?] {
            let routed = try route(body, tenant: "team-a", tenantLabel: tenantLabel, ring: ring)
            #expect(routed.parts.map(\.node) == Array(0..<nodes))
            let decoded = try routed.parts.map { try Self.decode($0.body) }
            for request in decoded {
                #expect(request.timeseries.count == original.timeseries.count)
                #expect(request.metadata == original.metadata)
                #expect(request == decoded[0])
            }
            #expect(routed.parts.allSatisfy { $0.samples == original.sampleCount + original.histogramCount })
            #expect(decoded[0].timeseries.allSatisfy { $0.labels.contains(Label(name: "tenant_id", value: "team-a")) } == (tenantLabel != nil))
        }
    }
}
