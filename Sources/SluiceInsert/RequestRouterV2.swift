import NIOCore
import SluiceCodec
import SluiceQuery
import SluiceRelabel
import SluiceRing

extension RequestRouter {
    /// Routes the remote-write 2.0 body held in `decompressed`.
    ///
    /// Nodes in `v2Nodes` get a 2.0 body: the sender's symbols table (plus the tenant label's two
    /// symbols when one is added) and each series' own bytes, its `labels_refs` rewritten only when
    /// the labels change (sorted, tenant label added). Every other node gets the series translated to
    /// 1.0. Every node that gets a series also gets its metadata.
    ///
    /// The symbols table goes whole to every 2.0 node: cheaper than remapping references per node,
    /// at the cost of sending each node symbols of series that went elsewhere.
    public func routeV2(
        tenant: String,
        tenantLabel: String?,
        ring: HashRing,
        v2Nodes: Set<Int>,
        relabel: RelabelRules? = nil,
        dropLabel: String? = nil
    ) throws(CodecError) -> RoutedRequest {
        if let relabel, !relabel.isEmpty {
            return try routeV2Relabeled(
                tenant: tenant, tenantLabel: tenantLabel, ring: ring, v2Nodes: v2Nodes, rules: relabel, dropLabel: dropLabel)
        }
        let nodeCount = ring.nodes.count
        beginRequest(ring: ring)

        let body = decompressed.bytes
        let scanner = scannerV2
        let tenantBytes = Array(tenant.utf8)
        let tenantLabelBytes = tenantLabel.map { Array($0.utf8) }
        let dropLabelBytes = dropLabel.map { Array($0.utf8) }
        let extra: [[UInt8]] = tenantLabelBytes.map { [$0, tenantBytes] } ?? []
        let scratch = ByteScratch(capacity: 4096)
        var started = Array(repeating: false, count: nodeCount)
        var labels: [WriteRequestV2Scanner.LabelRef] = []
        var hasher = SeriesKeyHasher()
        tenantBytes.withUnsafeBytes { hasher.start(tenant: $0) }

        let summary = try scanner.scan(body) { (series) throws(CodecError) in
            // Placement: tenant plus the series' own labels, never the injected one (as for 1.0).
            hasher.restart()
            labels.removeAll(keepingCapacity: true)
            let symbolCount = UInt32(scanner.symbols.count)
            var inserted = tenantLabelBytes == nil
            for label in series.labels {
                let name = scanner.symbol(label.name, in: body)
                if let dropLabelBytes, Self.compare(name, dropLabelBytes) == 0 { continue }
                if let tenantLabelBytes {
                    let order = Self.compare(name, tenantLabelBytes)
                    if order == 0 { continue }
                    if order > 0 && !inserted {
                        labels.append(.init(name: symbolCount, value: symbolCount + 1))
                        inserted = true
                    }
                }
                labels.append(label)
                hasher.add(name: name, value: scanner.symbol(label.value, in: body))
            }
            if !inserted { labels.append(.init(name: symbolCount, value: symbolCount + 1)) }
            place(hasher.finish(), ring: ring, samples: series.samples + series.histograms)
            try appendV2(
                series, labels: labels[...], to: replicas, v2Nodes: v2Nodes, extra: extra, body: body, scratch: scratch,
                started: &started
            )
        }
        return finishV2(summary, ring: ring, v2Nodes: v2Nodes)
    }

    /// Appends one scanned series, with `labels`, to the bodies of `replicas`: as 2.0 for `v2Nodes`
    /// (each body starting with the symbols table and `extra`), translated to 1.0 for the rest.
    func appendV2(
        _ series: borrowing WriteRequestV2Scanner.Series, labels: ArraySlice<WriteRequestV2Scanner.LabelRef>, to replicas: [Int],
        v2Nodes: Set<Int>, extra: [[UInt8]], body: UnsafeRawBufferPointer, scratch: ByteScratch, started: inout [Bool]
    ) throws(CodecError) {
        let scanner = scannerV2
        for node in replicas {
            let out = nodeBodies[node]
            if v2Nodes.contains(node) {
                if !started[node] {
                    scanner.appendSymbols(body, extra: extra, to: out)
                    started[node] = true
                }
                scanner.appendV2Series(series, labels: labels, body: body, to: out)
            } else {
                try scanner.appendV1Series(series, labels: labels, extra: extra, body: body, scratch: scratch, to: out)
                try scanner.appendV1Metadata(series, body: body, scratch: scratch, to: out)
            }
        }
    }

    /// The routed request: compressed parts, replica sets, and which parts are 2.0.
    func finishV2(_ summary: WriteRequestV2Scanner.Summary, ring: HashRing, v2Nodes: Set<Int>) -> RoutedRequest {
        let parts = compressedParts(ring.nodes.count, samples: placed.samplesPerNode(ring))
        var routed = RoutedRequest(
            parts: parts, replicaSets: placed.replicaSets(ring),
            summary: .init(series: summary.series, samples: summary.samples, exemplars: summary.exemplars, histograms: summary.histograms)
        )
        routed.v2Nodes = v2Nodes.intersection(routed.parts.map(\.node))
        return routed
    }
}
