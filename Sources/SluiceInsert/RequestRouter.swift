import NIOCore
import SluiceCodec
import SluiceHTTP
import SluiceQuery
import SluiceRelabel
import SluiceRing

/// One request's parts, ready to send: a body per storage node (compressed, or as a node in this
/// process takes it), and the distinct replica sets its series landed on (what the quorum is judged
/// over).
public struct RoutedRequest: Sendable {
    public var parts: [(node: Int, body: NodeBody, samples: Int)]
    public var replicaSets: [ReplicaSet]
    public var summary: WriteRequestScanner.Summary
    /// Nodes whose part is a remote-write 2.0 body; every other part is 1.0.
    public var v2Nodes: Set<Int> = []
}

/// The replica sets one request's series landed on, by the ring's set numbers: a count per set and
/// the list of those seen, so recording a series' set is a memory read and add rather than a hash.
///
/// The counts live in memory the router owns (`deallocate()` in its deinit), not in an array: the
/// per-series update is then a plain store, with no uniqueness check.
struct PlacedSets {
    /// Per set: 0 if no series landed on it, else 1 + its samples and histograms (every member node
    /// gets them). A series with neither still places its set.
    private var counts: UnsafeMutablePointer<Int>? = nil
    private var setCount = 0
    private var list: [Int] = []
    /// Metadata went to every node: the whole ring is one more set to judge the quorum over.
    var allNodes = false

    func deallocate() { counts?.deallocate() }

    mutating func begin(setCount: Int) {
        if let counts, self.setCount == setCount {
            for set in list { counts[set] = 0 }
        } else {
            counts?.deallocate()
            let fresh = UnsafeMutablePointer<Int>.allocate(capacity: max(1, setCount))
            fresh.initialize(repeating: 0, count: max(1, setCount))
            counts = fresh
            self.setCount = setCount
        }
        list.removeAll(keepingCapacity: true)
        allNodes = false
    }

    /// After `begin`, with `set` below its set count (`PlacementTable.replicaSet(for:)` answers so).
    @inline(__always)
    mutating func insert(_ set: Int, samples count: Int) {
        let slot = counts! + set
        if slot.pointee == 0 {
            slot.pointee = 1
            list.append(set)
        }
        slot.pointee &+= count
    }

    private func samples(_ set: Int) -> Int { counts![set] - 1 }

    /// Samples and histograms per node: what each node's part carries.
    func samplesPerNode(_ ring: HashRing) -> [Int] {
        var perNode = Array(repeating: 0, count: ring.nodes.count)
        for set in list {
            for node in ring.placement.members(ofReplicaSet: set) { perNode[Int(node)] += samples(set) }
        }
        return perNode
    }

    func replicaSets(_ ring: HashRing) -> [ReplicaSet] {
        var sets = list.map { ring.replicaSetNodes[$0] }
        if allNodes { sets.append(ReplicaSet(0..<ring.nodes.count)) }
        return sets
    }
}

/// Turns a remote-write body into per-node bodies without building messages.
///
/// Each series' original `TimeSeries` bytes are copied into the bodies of its replicas, with the
/// tenant label spliced in at its sorted place when configured. A node in this process
/// (`inProcessNodes`) gets a 1.0 request's float series as insert scanned them instead
/// (`ScannedSeries`): each series is parsed and hashed once for all its replicas there, and none
/// scans it again. One router per worker: it reuses its buffers across requests and is not
/// `Sendable`; `RouterPool` hands them out.
public final class RequestRouter {
    /// The decompressed body to route; fill it with `Snappy.decompress(_:into:limit:)`.
    public let decompressed = ByteScratch(capacity: 256 * 1024)
    /// By node index of the ring being routed to: whether the node is in this process
    /// (`WriteForwarder.isInProcess`), so its part is scanned series or left uncompressed. Set
    /// before `route`.
    public var inProcessNodes: [Bool] = []
    let scanner: WriteRequestScanner
    let scannerV2: WriteRequestV2Scanner
    var hasher = SeriesKeyHasher()
    var replicas: [Int] = []
    var nodeBodies: [ByteScratch] = []
    var placed = PlacedSets()
    private var tenantField: [UInt8] = []

    public init(limits: WriteRequestScanner.Limits = .init()) {
        scanner = WriteRequestScanner(limits: limits)
        scannerV2 = WriteRequestV2Scanner(limits: limits)
        replicas.reserveCapacity(8)
    }

    deinit { placed.deallocate() }

    /// Routes the decompressed body held in `decompressed`.
    ///
    /// - Parameters:
    ///   - tenantLabel: the label name to add with the tenant as its value, or nil to add none. A
    ///     series that already carries it has it replaced: a client cannot write into another tenant.
    ///   - relabel: rules applied to each series before placement; nil keeps the zero-copy path.
    ///   - dropLabel: a label removed from every series before placement and relabeling: the HA
    ///     tracker's replica label, so both replicas' series are one series on the same nodes.
    public func route(
        tenant: String,
        tenantLabel: String?,
        ring: HashRing,
        relabel: RelabelRules? = nil,
        dropLabel: String? = nil
    ) throws(CodecError) -> RoutedRequest {
        if let relabel, !relabel.isEmpty {
            return try routeRelabeled(
                tenant: tenant, tenantLabel: tenantLabel, ring: ring, rules: relabel, dropLabel: dropLabel, scanner: scanner)
        }
        let nodeCount = ring.nodes.count
        beginRequest(ring: ring)
        prepareTenantField(tenant: tenant, label: tenantLabel)

        let body = decompressed.bytes
        // Pieces of the body may be read up to its end in whole words (keys, splices).
        let readableEnd = body.baseAddress.map { UnsafeRawPointer($0) + body.count }
        let tenantBytes = Array(tenant.utf8)
        // Compared with every label name: held as raw bytes for `WriteRequestScanner.compare`.
        let tenantLabelBytes = Self.rawCopy(tenantLabel ?? "")
        let dropLabelBytes = dropLabel.map { Self.rawCopy($0) }
        let tenantLabelFirst = tenantLabelBytes.first ?? 0
        // 32 readable bytes past the field, so that `copyShort(to:readableEnd:)` copies it in two moves.
        let tenantFieldBytes = Self.rawCopy(tenantField, slack: 32)
        let tenantFieldEnd = UnsafeRawPointer(tenantFieldBytes.baseAddress!) + tenantFieldBytes.count + 32
        defer {
            tenantLabelBytes.deallocate()
            dropLabelBytes?.deallocate()
            tenantFieldBytes.deallocate()
        }
        // The per-series loop works on locals: each access to a class's stored property is a dynamic
        // exclusivity check, and the loop touches these several times per series.
        var placed = PlacedSets()
        swap(&placed, &self.placed)
        defer { swap(&placed, &self.placed) }
        let nodeBodies = self.nodeBodies
        // The bodies outlive the loop (this router holds them), so the copy reaches them unretained:
        // a retain and release per series otherwise.
        let unretainedBodies = nodeBodies.map { Unmanaged.passUnretained($0) }
        let tenantField = self.tenantField
        let placement = ring.placement
        // When every series goes to every node (RF equal to the node count), all node bodies are the
        // same: build one, compress it once, and send that buffer to each node.
        let shared = ring.replicationFactor == nodeCount && nodeCount > 1
        // Nodes in this process take the series scanned while every series is floats only, with
        // the tenant label spliced into its key as into the bytes. With `shared`, only if every
        // node is in this process: they then all take every entry.
        let inProcess = (0..<nodeCount).map { $0 < inProcessNodes.count && inProcessNodes[$0] }
        var scanning = shared ? inProcess.allSatisfy { $0 } : inProcess.contains(true)
        var scanned = ScannedSeriesBuilder(expectedBytes: scanning ? body.count : 0)
        // Per node: the entries it takes, and whether any series went to it at all.
        var selections = Array(repeating: [Int32](), count: shared ? 0 : nodeCount)
        var touched = Array(repeating: false, count: nodeCount)
        if scanning && !shared {
            // About one series per 100 bytes, spread over the nodes unevenly.
            let perNode = body.count / 100 * ring.replicationFactor * 3 / (nodeCount * 2)
            for node in 0..<nodeCount where inProcess[node] { selections[node].reserveCapacity(perNode) }
        }
        // A series the scan cannot carry (exemplars, histograms) or metadata ends scanning: what
        // the nodes in this process took so far becomes bytes in their bodies, and the rest follows.
        // The local functions take what they change as `inout` rather than capturing it: a captured
        // variable they changed was checked for exclusive access at run time, on every series.
        func stopScanning(_ series: ScannedSeries, _ scanning: inout Bool, _ selections: inout [[Int32]]) {
            scanning = false
            if shared {
                for entry in series.entries { series.appendTimeSeries(entry, to: nodeBodies[0]) }
                return
            }
            for node in 0..<nodeCount where inProcess[node] {
                for index in selections[node] { series.appendTimeSeries(series.entries[Int(index)], to: nodeBodies[node]) }
                selections[node] = []
            }
        }
        // A series is placed one step behind its scan: its replica set's bucket is asked for as
        // soon as its key is hashed, and read while the next series is scanned, instead of each
        // series waiting for that cache miss. Everything `place` needs is here, as body offsets.
        struct Pending {
            var hash: UInt64
            var message: Range<Int>
            var at: Int
            var replaced: Range<Int>?
            var dropped: Range<Int>?
            var samples: Int
            /// Its entry in `scanned`, or -1.
            var entry: Int32
        }
        var pending: Pending? = nil
        /// Places `series` and adds it to its replicas' parts: an entry for a node here while
        /// scanning, bytes (spliced when labels change) for the others.
        @inline(__always) func place(
            _ series: Pending, scanning: Bool, placed: inout PlacedSets, selections: inout [[Int32]], touched: inout [Bool]
        ) {
            let set = placement.replicaSet(for: series.hash)
            placed.insert(set, samples: series.samples)
            let replicas = placement.members(ofReplicaSet: set)
            if shared {
                if scanning { return }
            } else if scanning {
                for node in replicas where inProcess[Int(node)] {
                    touched[Int(node)] = true
                    if series.entry >= 0 { selections[Int(node)].append(series.entry) }
                }
            }
            // The nodes that take bytes: the first body only with `shared`.
            @inline(__always) func byteNodes(_ body: (Int) -> Void) {
                if shared { return body(0) }
                for node in replicas where !(scanning && inProcess[Int(node)]) { body(Int(node)) }
            }
            let message = series.message
            guard tenantLabel != nil || series.dropped != nil else {
                let bytes = body.uncheckedSlice(message)
                byteNodes { node in
                    unretainedBodies[node]._withUnsafeGuaranteedRef { $0.appendLengthDelimited(field: 1, bytes) }
                }
                return
            }
            // Splice: bytes before the insertion point, the tenant label, the rest, minus any
            // tenant label the series already had and the dropped label.
            let (at, replaced, dropped) = (series.at, series.replaced, series.dropped)
            let removed = (replaced?.count ?? 0) + (dropped?.count ?? 0)
            let length = message.count - removed + tenantField.count
            // Each node's body gets the field key (0x0A), the length, and the `length` bytes `pieces` writes.
            @inline(__always) func splice(_ pieces: (inout UnsafeMutableRawPointer) -> Void) {
                byteNodes { node in
                    unretainedBodies[node]._withUnsafeGuaranteedRef { out in
                        // One capacity check for the key, the length and the spliced message, and 32
                        // bytes more for the whole-word copies of short pieces (`copyShort(to:readableEnd:)`).
                        out.reserve(extra: 11 + length + 32)
                        out.appendUnsafe { tail in
                            var cursor = tail.baseAddress!
                            cursor.storeBytes(of: 0x0A, as: UInt8.self)
                            cursor += 1
                            Varint.store(UInt64(length), at: &cursor)
                            pieces(&cursor)
                            return cursor - tail.baseAddress!
                        }
                    }
                }
            }
            let tenantPiece = UnsafeRawBufferPointer(tenantFieldBytes)
            guard replaced != nil || dropped != nil else {
                // The common case, nothing cut: three pieces, with no range to step around.
                let before = body.uncheckedSlice(message.lowerBound..<at)
                let after = body.uncheckedSlice(at..<message.upperBound)
                return splice { cursor in
                    cursor = before.copyShort(to: cursor, readableEnd: readableEnd)
                    cursor = tenantPiece.copyShort(to: cursor, readableEnd: tenantFieldEnd)
                    cursor = after.copyShort(to: cursor, readableEnd: readableEnd)
                }
            }
            splice { cursor in
                Self.copy(body, message.lowerBound..<at, skipping: replaced, dropped, to: &cursor, readableEnd: readableEnd)
                cursor = tenantPiece.copyShort(to: cursor, readableEnd: tenantFieldEnd)
                Self.copy(body, at..<message.upperBound, skipping: replaced, dropped, to: &cursor, readableEnd: readableEnd)
            }
        }
        // Every key starts with the tenant: written once per request. Label bytes lie in `body`, so
        // the key may copy up to its end in fixed-size moves.
        var hasher = SeriesKeyHasher()
        tenantBytes.withUnsafeBytes { hasher.start(tenant: $0) }
        // Where the pieces of each of the first 65 labels start in the key (an excluded label's are
        // empty; at the label count, where the key ends), for this series and the one before it: a
        // run of labels the scanner took over from the previous series (`Series.adopted`, the same
        // bytes at the same places) takes its pieces from that series' key (`Key.add(previous:)`).
        let keyOffsets = UnsafeMutablePointer<Int32>.allocate(capacity: 2 * 65)
        defer { keyOffsets.deallocate() }
        var offsets = keyOffsets
        var previousOffsets = keyOffsets + 65
        let summary = try scanner.scan(body) { (series) throws(CodecError) in
                // Placement: tenant plus the series' own labels, never the injected one. Each label's
                // name and value with their 0xFFs are shorter than its field, so the message bounds
                // the key.
                var key = hasher.startKey(labelBytes: series.message.count)
                var replaced: Range<Int>? = nil
                var dropped: Range<Int>? = nil
                var insertAt: Int? = nil
                let labels = series.labels
                // Names and values lie inside the message (a body that holds a series has a base
                // address): all but the last series' have 32 readable bytes.
                let base = body.baseAddress!
                let whole = series.message.upperBound &+ 32 <= body.count
                // Left out of the key: the dropped label (the HA replica label), and the series' own
                // tenant label, which the splice replaces.
                var dropIndex = -1
                if let dropLabelBytes {
                    for index in labels.indices
                    where WriteRequestScanner.compare(body.uncheckedSlice(labels[index].name), UnsafeRawBufferPointer(dropLabelBytes)) == 0 {
                        dropIndex = index
                        dropped = labels[index].field
                        break
                    }
                }
                var ownIndex = -1
                if tenantLabel != nil {
                    // Names are sorted: the tenant label goes before the first name past it.
                    for index in labels.indices where index != dropIndex {
                        let name = labels[index].name
                        // Most names differ from it in their first byte, which then decides. The
                        // scanner hands over only series whose names it checked are not empty.
                        let first = base.load(fromByteOffset: name.lowerBound, as: UInt8.self)
                        let order = first != tenantLabelFirst
                            ? Int(first) - Int(tenantLabelFirst)
                            : WriteRequestScanner.compare(body.uncheckedSlice(name), UnsafeRawBufferPointer(tenantLabelBytes))
                        if order < 0 { continue }
                        if order == 0 {
                            ownIndex = index
                            replaced = labels[index].field
                            continue
                        }
                        insertAt = labels[index].field.lowerBound
                        break
                    }
                }
                // The other labels, in order. A run of labels the previous series had too, at the
                // same places, is copied from its key, where their pieces lie back to back; the rest
                // go piece by piece.
                swap(&offsets, &previousOffsets)
                var index = 0
                while index < labels.count {
                    if index <= 64 { offsets[index] = Int32(truncatingIfNeeded: key.length) }
                    if index == dropIndex || index == ownIndex {
                        index += 1
                        continue
                    }
                    // Adopted labels have the previous series' names, so it dropped or replaced the
                    // same ones: its pieces for the run are exactly this series'.
                    let run = index < 64 ? (~(series.adopted &>> UInt64(index))).trailingZeroBitCount : 0
                    if run > 0 {
                        let end = index + run
                        let from = Int(previousOffsets[index])
                        let shift = Int32(truncatingIfNeeded: key.length - from)
                        for next in (index + 1)..<end { offsets[next] = previousOffsets[next] &+ shift }
                        key.add(previous: from..<Int(previousOffsets[end]))
                        index = end
                        continue
                    }
                    key.add(labels: labels[index...index], base: base, whole: whole)
                    index += 1
                }
                if labels.count <= 64 { offsets[labels.count] = Int32(truncatingIfNeeded: key.length) }
                let hash = key.hash()
                placement.prefetch(for: hash)
                // The previous series first: `stopScanning` below must see every series before
                // this one in its nodes' parts.
                if let previous = pending {
                    place(previous, scanning: scanning, placed: &placed, selections: &selections, touched: &touched)
                }

                let message = series.message
                let at = insertAt ?? (series.labels.last.map { $0.field.upperBound } ?? message.lowerBound)
                var entry: Int32 = -1
                if scanning {
                    if series.exemplars == 0 && series.histograms == 0 {
                        // A series without samples is an entry too, which the head skips: its nodes
                        // must get a part, and bytes if scanning stops.
                        entry = Int32(try scanned.add(
                            series.labels, message: message, in: body, inserting: UnsafeRawBufferPointer(tenantFieldBytes), at: at,
                            removing: replaced, dropped))
                    } else {
                        stopScanning(scanned.snapshot(), &scanning, &selections)
                    }
                }
                pending = Pending(
                    hash: hash, message: message, at: at, replaced: replaced, dropped: dropped,
                    samples: series.samples + series.histograms, entry: entry)
        }
        if let last = pending { place(last, scanning: scanning, placed: &placed, selections: &selections, touched: &touched) }

        if !summary.metadata.isEmpty {
            // Metadata is per metric family, not per series: every node gets it, as bytes.
            if scanning { stopScanning(scanned.snapshot(), &scanning, &selections) }
            for node in 0..<(shared ? 1 : nodeCount) {
                for range in summary.metadata { Self.appendField(3, body[range], to: nodeBodies[node]) }
            }
            placed.allNodes = true
        }

        // `placed` is still the local here: the defer swaps it back after the return value is built.
        let samples = placed.samplesPerNode(ring)
        guard scanning else {
            return RoutedRequest(parts: compressedParts(nodeCount, samples: samples, shared: shared), replicaSets: placed.replicaSets(ring), summary: summary)
        }
        let series = scanned.finish()
        var parts = compressedParts(nodeCount, samples: samples, skipping: inProcess)
        for node in 0..<nodeCount where inProcess[node] && (shared ? summary.series > 0 : touched[node]) {
            parts.append((node, .scanned([ScannedSeries.Part(series, selection: shared ? nil : selections[node])]), samples[node]))
        }
        return RoutedRequest(parts: parts, replicaSets: placed.replicaSets(ring), summary: summary)
    }

    /// Empties the per-node bodies, counts and replica sets for a request over `ring`.
    func beginRequest(ring: HashRing) {
        let nodeCount = ring.nodes.count
        while nodeBodies.count < nodeCount { nodeBodies.append(ByteScratch(capacity: 64 * 1024)) }
        for i in 0..<nodeCount { nodeBodies[i].removeAll() }
        placed.begin(setCount: ring.replicaSetCount)
    }

    /// Places one series whose key hashes to `hash`: its replicas into `replicas`, its replica set
    /// recorded for the quorum. For the paths that are not the zero-copy loop.
    func place(_ hash: UInt64, ring: HashRing, samples: Int) {
        let set = ring.placement.replicaSet(for: hash)
        placed.insert(set, samples: samples)
        replicas.removeAll(keepingCapacity: true)
        for node in ring.placement.members(ofReplicaSet: set) { replicas.append(Int(node)) }
    }

    /// Every non-empty node body, snappy-compressed, but left as protobuf for a node in this
    /// process (`inProcessNodes`). With `shared`, the first body stands for every node's: it is
    /// built once and the one buffer goes to each, raw only if every node is in this process.
    /// Nodes `skipping` marks get no part here.
    func compressedParts(
        _ nodeCount: Int, samples nodeSamples: [Int], shared: Bool = false, skipping: [Bool] = []
    ) -> [(node: Int, body: NodeBody, samples: Int)] {
        func isRaw(_ node: Int) -> Bool { node < inProcessNodes.count && inProcessNodes[node] }
        var parts: [(node: Int, body: NodeBody, samples: Int)] = []
        for node in 0..<(shared ? 1 : nodeCount) where nodeBodies[node].count > 0 && !(node < skipping.count && skipping[node]) {
            let input = nodeBodies[node].bytes
            let keepRaw = shared ? (0..<nodeCount).allSatisfy(isRaw) : isRaw(node)
            let body: NodeBody = keepRaw ? .protobuf(ByteBuffer(bytes: input)) : .snappy(NodeBody.compress(input))
            if shared { return (0..<nodeCount).map { ($0, body, nodeSamples[$0]) } }
            parts.append((node, body, nodeSamples[node]))
        }
        return parts
    }

    /// The encoded `labels` field for `label="tenant"`.
    private func prepareTenantField(tenant: String, label: String?) {
        tenantField.removeAll(keepingCapacity: true)
        guard let label else { return }
        let name = Array(label.utf8)
        let value = Array(tenant.utf8)
        let inner = 1 + Varint.size(UInt64(name.count)) + name.count + 1 + Varint.size(UInt64(value.count)) + value.count
        tenantField.append(0x0A)
        Varint.append(UInt64(inner), to: &tenantField)
        tenantField.append(0x0A)
        Varint.append(UInt64(name.count), to: &tenantField)
        tenantField.append(contentsOf: name)
        tenantField.append(0x12)
        Varint.append(UInt64(value.count), to: &tenantField)
        tenantField.append(contentsOf: value)
    }

    @inline(__always)
    private static func appendField(_ field: UInt8, _ bytes: Slice<UnsafeRawBufferPointer>, to out: ByteScratch) {
        out.appendLengthDelimited(field: field, UnsafeRawBufferPointer(rebasing: bytes))
    }

    /// Copies `body[range]` to `cursor`, advancing it, leaving out `skip` and `other` (whole label
    /// fields, so each lies wholly inside or wholly outside `range`).
    @inline(__always)
    static func copy(
        _ body: UnsafeRawBufferPointer, _ range: Range<Int>, skipping skip: Range<Int>?, _ other: Range<Int>?,
        to cursor: inout UnsafeMutableRawPointer, readableEnd: UnsafeRawPointer?
    ) {
        guard let base = body.baseAddress else { return }
        var first = skip.flatMap { range.contains($0.lowerBound) ? $0 : nil }
        var second = other.flatMap { range.contains($0.lowerBound) ? $0 : nil }
        if let a = first, let b = second, b.lowerBound < a.lowerBound { swap(&first, &second) }
        var from = range.lowerBound
        @inline(__always) func take(_ end: Int) {
            cursor = UnsafeRawBufferPointer(start: base + from, count: end - from).copyShort(to: cursor, readableEnd: readableEnd)
        }
        if let first {
            take(first.lowerBound)
            from = first.upperBound
        }
        if let second {
            take(second.lowerBound)
            from = second.upperBound
        }
        take(range.upperBound)
    }

    /// `text`'s bytes in memory the caller frees.
    static func rawCopy(_ text: String) -> UnsafeMutableRawBufferPointer {
        rawCopy(Array(text.utf8))
    }

    /// A copy of `bytes` in memory the caller frees, followed by `slack` zero bytes.
    static func rawCopy(_ bytes: [UInt8], slack: Int = 0) -> UnsafeMutableRawBufferPointer {
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, bytes.count + slack), alignment: 8)
        copy.initializeMemory(as: UInt8.self, repeating: 0)
        bytes.withUnsafeBytes { copy.baseAddress!.copyMemory(from: $0.baseAddress ?? UnsafeRawPointer(copy.baseAddress!), byteCount: bytes.count) }
        return UnsafeMutableRawBufferPointer(rebasing: copy[..<bytes.count])
    }

    @inline(__always)
    static func compare(_ a: UnsafeRawBufferPointer, _ b: [UInt8]) -> Int {
        b.withUnsafeBytes { WriteRequestScanner.compare(a, $0) }
    }
}
