import SluiceCodec
import SluiceQuery
import SluiceRelabel
import SluiceRing

// Routing with relabel rules (`--relabel-config-file`). Each series' labels are decoded, rewritten by
// the rules and encoded again, so this path allocates per series; without rules `route` and
// `routeV2` keep their zero-copy paths. Placement hashes the relabeled labels, so a series lands
// where the same series written already relabeled would.

extension RequestRouter {
    /// `route` with relabeling: dropped series go nowhere; every other series is re-encoded with its
    /// new labels (and the tenant label, when configured) followed by its other fields as sent.
    func routeRelabeled(
        tenant: String,
        tenantLabel: String?,
        ring: HashRing,
        rules: RelabelRules,
        dropLabel: String?,
        scanner: WriteRequestScanner
    ) throws(CodecError) -> RoutedRequest {
        let nodeCount = ring.nodes.count
        beginRequest(ring: ring)

        let body = decompressed.bytes
        var message: [UInt8] = []
        let summary = try scanner.scan(body) { (series) throws(CodecError) in
            var input: [Label] = []
            input.reserveCapacity(series.labels.count)
            for label in series.labels {
                let name = Self.string(body[label.name])
                if name == dropLabel { continue }
                input.append(Label(name: name, value: Self.string(body[label.value])))
            }
            guard let placed = Self.relabel(input, rules: rules, tenantLabel: tenantLabel) else { return }
            hashPlacement(tenant: tenant, labels: placed, ring: ring, samples: series.samples + series.histograms)

            // The new labels, then every other field of the series as sent.
            message.removeAll(keepingCapacity: true)
            Self.appendLabels(Self.withTenant(placed, tenant: tenant, label: tenantLabel), field: 1, to: &message)
            var start = series.message.lowerBound
            for label in series.labels {
                message.append(contentsOf: body[start..<label.field.lowerBound])
                start = label.field.upperBound
            }
            message.append(contentsOf: body[start..<series.message.upperBound])
            for node in replicas {
                let out = nodeBodies[node]
                out.append(0x0A)
                Varint.append(UInt64(message.count), to: out)
                message.withUnsafeBytes { out.append($0) }
            }
        }

        if !summary.metadata.isEmpty {
            for node in 0..<nodeCount {
                for range in summary.metadata {
                    let bytes = body[range]
                    nodeBodies[node].append(0x1A)
                    Varint.append(UInt64(bytes.count), to: nodeBodies[node])
                    nodeBodies[node].append(UnsafeRawBufferPointer(rebasing: bytes))
                }
            }
            placed.allNodes = true
        }
        let parts = compressedParts(nodeCount, samples: self.placed.samplesPerNode(ring))
        return RoutedRequest(parts: parts, replicaSets: self.placed.replicaSets(ring), summary: summary)
    }

    /// `routeV2` with relabeling, in two passes: the first relabels every series and collects the label
    /// strings the rules made, which every 2.0 node body must carry as extra symbols before any
    /// series refers to them; the second routes.
    func routeV2Relabeled(
        tenant: String,
        tenantLabel: String?,
        ring: HashRing,
        v2Nodes: Set<Int>,
        rules: RelabelRules,
        dropLabel: String?
    ) throws(CodecError) -> RoutedRequest {
        let nodeCount = ring.nodes.count
        beginRequest(ring: ring)

        let body = decompressed.bytes
        let scanner = scannerV2
        // Extra symbols: the tenant label's two first (as `routeV2` has them), then every relabeled
        // name and value, each once.
        var extra: [[UInt8]] = []
        var extraIndex: [[UInt8]: UInt32] = [:]
        func intern(_ text: String) -> UInt32 {
            let bytes = Array(text.utf8)
            if let index = extraIndex[bytes] { return index }
            let index = UInt32(extra.count)
            extra.append(bytes)
            extraIndex[bytes] = index
            return index
        }
        if let tenantLabel {
            extra = [Array(tenantLabel.utf8), Array(tenant.utf8)]
        }

        var relabeled: [[Label]?] = []
        _ = try scanner.scan(body) { (series) throws(CodecError) in
            var input: [Label] = []
            input.reserveCapacity(series.labels.count)
            for label in series.labels {
                let name = Self.string(scanner.symbol(label.name, in: body))
                if name == dropLabel { continue }
                input.append(Label(name: name, value: Self.string(scanner.symbol(label.value, in: body))))
            }
            let placed = Self.relabel(input, rules: rules, tenantLabel: tenantLabel)
            for label in placed ?? [] {
                _ = intern(label.name)
                _ = intern(label.value)
            }
            relabeled.append(placed)
        }

        let scratch = ByteScratch(capacity: 4096)
        var started = Array(repeating: false, count: nodeCount)
        var ordinal = 0
        var refs: [WriteRequestV2Scanner.LabelRef] = []
        let summary = try scanner.scan(body) { (series) throws(CodecError) in
            defer { ordinal += 1 }
            guard ordinal < relabeled.count, let placed = relabeled[ordinal] else { return }
            hashPlacement(tenant: tenant, labels: placed, ring: ring, samples: series.samples + series.histograms)
            let symbolCount = UInt32(scanner.symbols.count)
            refs.removeAll(keepingCapacity: true)
            for label in Self.withTenant(placed, tenant: tenant, label: tenantLabel) {
                refs.append(.init(name: symbolCount + intern(label.name), value: symbolCount + intern(label.value)))
            }
            try appendV2(
                series, labels: refs[...], to: replicas, v2Nodes: v2Nodes, extra: extra, body: body, scratch: scratch,
                started: &started
            )
        }
        return finishV2(summary, ring: ring, v2Nodes: v2Nodes)
    }

    /// Placement for one series: its tenant and relabeled labels, never the injected tenant label.
    private func hashPlacement(tenant: String, labels: [Label], ring: HashRing, samples: Int) {
        Array(tenant.utf8).withUnsafeBytes { hasher.start(tenant: $0) }
        for label in labels {
            Array(label.name.utf8).withUnsafeBytes { name in
                Array(label.value.utf8).withUnsafeBytes { value in hasher.add(name: name, value: value) }
            }
        }
        place(hasher.finish(), ring: ring, samples: samples)
    }

    /// The rules' result without the tenant label (which the router sets itself, so a rule cannot
    /// move a series into another tenant), or nil when the series is dropped or left with no labels.
    static func relabel(_ labels: [Label], rules: RelabelRules, tenantLabel: String?) -> [Label]? {
        guard var out = rules.apply(labels) else { return nil }
        if let tenantLabel { out.removeAll { $0.name == tenantLabel } }
        return out.isEmpty ? nil : out
    }

    /// `labels` (sorted by name, without the tenant label) with the tenant label at its sorted place.
    static func withTenant(_ labels: [Label], tenant: String, label: String?) -> [Label] {
        guard let label else { return labels }
        var out = labels
        let at = out.firstIndex { !$0.name.utf8.lexicographicallyPrecedes(label.utf8) } ?? out.endIndex
        out.insert(Label(name: label, value: tenant), at: at)
        return out
    }

    /// Each label as a length-delimited `Label` message in field `field`.
    static func appendLabels(_ labels: [Label], field: UInt8, to out: inout [UInt8]) {
        for label in labels {
            let name = label.name.utf8
            let value = label.value.utf8
            let inner = 1 + Varint.size(UInt64(name.count)) + name.count + 1 + Varint.size(UInt64(value.count)) + value.count
            out.append(field << 3 | 2)
            Varint.append(UInt64(inner), to: &out)
            out.append(0x0A)
            Varint.append(UInt64(name.count), to: &out)
            out.append(contentsOf: name)
            out.append(0x12)
            Varint.append(UInt64(value.count), to: &out)
            out.append(contentsOf: value)
        }
    }

    private static func string(_ bytes: Slice<UnsafeRawBufferPointer>) -> String {
        String(decoding: bytes, as: UTF8.self)
    }

    private static func string(_ bytes: UnsafeRawBufferPointer) -> String {
        String(decoding: bytes, as: UTF8.self)
    }
}
