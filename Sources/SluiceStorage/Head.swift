import SluiceCodec
import SluiceQuery
import Synchronization

/// Why a sample or native histogram was not appended. The raw values are the `reason` label of
/// `sluice_storage_samples_rejected_total`, which counts both.
enum RejectReason: String, Sendable, CaseIterable {
    /// Older than the newest sample of its series.
    case outOfOrder = "out_of_order"
    /// Older than the head accepts: already cut into a block, or too far behind the newest data.
    case tooOld = "too_old"
    /// The newest sample's timestamp again, with another value.
    case duplicateTimestamp = "duplicate_timestamp"
    /// A native histogram whose bucket counts do not match its spans: no chunk can hold it.
    case invalidHistogram = "invalid_histogram"

    var message: String {
        switch self {
        case .outOfOrder: "out of order sample"
        case .tooOld: "too old sample"
        case .duplicateTimestamp: "duplicate sample for timestamp"
        case .invalidHistogram: "histogram buckets do not match its spans"
        }
    }
}

/// What one append did.
struct AppendOutcome: Sendable {
    /// Float samples appended.
    var appended = 0
    /// Native histograms appended; counted in `sluice_storage_histograms_appended_total`.
    var appendedHistograms = 0
    /// Exact repeats of float samples (same timestamp, same value bits): accepted silently so retries
    /// are idempotent.
    var duplicates = 0
    /// Exact repeats of native histograms (same timestamp, every field bit for bit but the reset
    /// hint): accepted silently like `duplicates`.
    var duplicateHistograms = 0
    /// Exemplars written, exact repeats of stored ones included as Prometheus counts them: for
    /// `X-Prometheus-Remote-Write-Exemplars-Written`. Filled in by `Storage.append` (`ExemplarStore`).
    var appendedExemplars = 0
    var createdSeries = 0
    /// Rejected samples and histograms by reason.
    var rejected: [RejectReason: Int] = [:]
    /// The first rejection, described for the client: reason, series, timestamp.
    var firstRejection: String?
    /// The WAL ticket to wait on before acknowledging, when anything was logged.
    var ticket: WAL.Ticket?

    var rejectedCount: Int { rejected.values.reduce(0, +) }
}

/// One series' data in a time range, as queries see it: chunks sorted by time.
struct SeriesChunks: Sendable {
    var labels: [Label]
    var chunks: [StoredChunk]
}

/// The newest data, in memory: one open chunk per series (XOR, or a histogram chunk while native
/// histograms arrive) plus the chunks cut since the last block.
///
/// Every mutation happens under one lock, and the WAL record describing it is logged under the same
/// lock, so the WAL's order is the head's order and replay rebuilds exactly this state.
final class Head: Sendable {
    struct Configuration: Sendable {
        /// Chunks never straddle a multiple of this, so blocks of this length take whole chunks.
        var chunkRange: Int64 = 2 * 3_600_000
        /// Prometheus cuts a chunk at 120 samples: the best compression for the least decode work.
        var samplesPerChunk = 120
    }

    struct Stats: Sendable {
        var series: Int
        var chunks: Int
        var minTime: Int64
        var maxTime: Int64
    }

    private let state: Mutex<HeadState>
    let configuration: Configuration

    init(configuration: Configuration = Configuration(), minValidTime: Int64 = .min) {
        self.configuration = configuration
        self.state = Mutex(HeadState(minValidTime: minValidTime))
    }

    /// Appends a decoded write request, logging what changed to `wal` (nil during replay).
    func append(_ request: WriteRequest, wal: WAL?) -> AppendOutcome {
        state.withLock { state in
            var outcome = AppendOutcome()
            var newSeries: [WALSeries] = []
            var samples: [WALSample] = []
            samples.reserveCapacity(request.sampleCount)
            var histograms: [WALHistogram] = []
            let floor = state.appendableMinTime(chunkRange: configuration.chunkRange)
            func reject(_ reason: RejectReason, _ labels: [Label], at timestamp: Int64) {
                outcome.rejected[reason, default: 0] += 1
                if outcome.firstRejection == nil {
                    let name = labels.first { $0.name == "__name__" }?.value ?? ""
                    outcome.firstRejection = "\(reason.message) for series \(name){\(labels.filter { $0.name != "__name__" }.map(\.description).joined(separator: ", "))} at timestamp \(timestamp)"
                }
            }
            for series in request.timeseries {
                guard !series.samples.isEmpty || !series.histograms.isEmpty else { continue }
                let (id, created) = state.seriesID(for: series.labels)
                if created {
                    outcome.createdSeries += 1
                    newSeries.append(WALSeries(ref: UInt64(id), labels: series.labels))
                }
                for sample in series.samples {
                    switch state.series[id]!.append(sample, floor: floor, configuration: configuration) {
                    case .appended:
                        outcome.appended += 1
                        samples.append(WALSample(ref: UInt64(id), timestamp: sample.timestamp, value: sample.value))
                        state.noteTime(sample.timestamp)
                    case .duplicate:
                        outcome.duplicates += 1
                    case .rejected(let reason):
                        reject(reason, series.labels, at: sample.timestamp)
                    }
                }
                // After the series' floats, as Prometheus' remote-write handler appends them; replay
                // logs them in a later record and so keeps this order within every series.
                for histogram in series.histograms {
                    switch state.series[id]!.append(histogram, floor: floor, configuration: configuration) {
                    case .appended:
                        outcome.appendedHistograms += 1
                        histograms.append(WALHistogram(ref: UInt64(id), histogram: histogram))
                        state.noteTime(histogram.timestamp)
                    case .duplicate:
                        outcome.duplicateHistograms += 1
                    case .rejected(let reason):
                        reject(reason, series.labels, at: histogram.timestamp)
                    }
                }
            }
            if let wal {
                var records: [WALRecord] = []
                if !newSeries.isEmpty { records.append(.series(newSeries)) }
                if !samples.isEmpty { records.append(.samples(samples)) }
                if !histograms.isEmpty { records.append(.histograms(histograms)) }
                if !records.isEmpty { outcome.ticket = wal.log(records) }
            }
            return outcome
        }
    }

    /// Replays WAL records into the head. Samples the blocks already hold, or that break ordering,
    /// are skipped: the WAL may repeat what a checkpoint holds.
    func replay(_ record: WALRecord) {
        state.withLock { state in
            switch record {
            case .series(let list):
                for series in list { state.restoreSeries(id: Int(series.ref), labels: series.labels) }
            case .samples(let list):
                for sample in list {
                    let id = state.aliases[Int(sample.ref)] ?? Int(sample.ref)
                    guard state.series[id] != nil else { continue }
                    let result = state.series[id]!.append(
                        Sample(timestamp: sample.timestamp, value: sample.value), floor: state.minValidTime, configuration: configuration
                    )
                    if case .appended = result { state.noteTime(sample.timestamp) }
                }
            case .histograms(let list):
                for entry in list {
                    let id = state.aliases[Int(entry.ref)] ?? Int(entry.ref)
                    guard state.series[id] != nil else { continue }
                    let result = state.series[id]!.append(entry.histogram, floor: state.minValidTime, configuration: configuration)
                    if case .appended = result { state.noteTime(entry.histogram.timestamp) }
                }
            case .exemplars, .metadata:
                // `Storage.recover` hands these to their own stores.
                break
            }
        }
    }

    var stats: Stats {
        state.withLock { state in
            Stats(
                series: state.series.count,
                chunks: state.series.values.reduce(0) { $0 + $1.chunks.count + ($1.hasOpenChunk ? 1 : 0) },
                minTime: state.minTime,
                maxTime: state.maxTime
            )
        }
    }

    var seriesCount: Int { state.withLock { $0.series.count } }

    // MARK: Queries

    /// The series `matchers` select with data in `[minTime, maxTime]`, sorted by label set; open chunks
    /// are snapshotted as they are now.
    func select(_ matchers: [CompiledMatcher], minTime: Int64, maxTime: Int64) -> [SeriesChunks] {
        state.withLock { state in
            let rank = state.labelOrder()
            let ids = state.index.select(matchers).sorted { rank[$0, default: 0] < rank[$1, default: 0] }
            var result: [SeriesChunks] = []
            result.reserveCapacity(ids.count)
            for id in ids {
                guard let series = state.series[id] else { continue }
                let chunks = series.chunks(overlapping: minTime, maxTime)
                if !chunks.isEmpty { result.append(SeriesChunks(labels: series.labels, chunks: chunks)) }
            }
            return result
        }
    }

    /// Label names of every series in the head, or of those `matchers` select.
    func labelSets(_ matchers: [CompiledMatcher]?, minTime: Int64, maxTime: Int64) -> [[Label]] {
        state.withLock { state in
            let ids = matchers.map { state.index.select($0) } ?? state.index.allSeries()
            return ids.compactMap { id in
                guard let series = state.series[id], series.overlaps(minTime, maxTime) else { return nil }
                return series.labels
            }
        }
    }

    // MARK: Cutting blocks

    /// Whether the head spans enough time to cut a block: one and a half ranges, as Prometheus does,
    /// so that late samples for the older range still have a half range to arrive.
    func blockToCut() -> (minTime: Int64, maxTime: Int64)? {
        state.withLock { state in
            guard state.minTime <= state.maxTime else { return nil }
            let range = configuration.chunkRange
            guard state.maxTime - state.minTime >= range + range / 2 else { return nil }
            let start = alignDown(state.minTime, range)
            return (start, start + range)
        }
    }

    /// Closes the head for samples before `maxTime` and returns every series' chunks that end before it,
    /// sorted by label set, for a block. The chunks stay queryable in the head until `dropBefore`.
    func prepareBlock(maxTime: Int64) -> [(labels: [Label], chunks: [StoredChunk])] {
        state.withLock { state in
            state.minValidTime = max(state.minValidTime, maxTime)
            var out: [(labels: [Label], chunks: [StoredChunk])] = []
            for id in state.series.keys {
                state.series[id]!.closeOpenChunk(ifBefore: maxTime)
                let chunks = state.series[id]!.chunks.filter { $0.maxTime < maxTime }
                if !chunks.isEmpty { out.append((state.series[id]!.labels, chunks)) }
            }
            out.sort { compareLabelSets($0.labels, $1.labels) < 0 }
            return out
        }
    }

    /// Forgets chunks before `maxTime` (now in a block) and series left without data, then cuts the WAL
    /// so that every segment up to the returned one is covered by the returned checkpoint records.
    func dropBefore(_ maxTime: Int64, wal: WAL?) -> (segment: Int?, records: [WALRecord]) {
        let (segment, snapshot) = state.withLock { state -> (Int?, [(UInt64, [Label], [StoredChunk])]) in
            state.dropChunks(before: maxTime)
            let segment = wal?.cutSegment()
            let snapshot = state.series.map { (id, series) in
                (UInt64(id), series.labels, series.chunks + (series.openChunk.map { [$0] } ?? []))
            }
            return (segment, snapshot)
        }
        // Decoding happens outside the lock; the chunks are immutable copies.
        var records: [WALRecord] = [.series(snapshot.map { WALSeries(ref: $0.0, labels: $0.1) })]
        // Replay appends record by record, so a series' floats and histograms must come back in its
        // time order: a batch of one kind is flushed before the other kind is added.
        var batch: [WALSample] = []
        var histogramBatch: [WALHistogram] = []
        func flushSamples() {
            if !batch.isEmpty { records.append(.samples(batch)) }
            batch.removeAll(keepingCapacity: true)
        }
        func flushHistograms() {
            if !histogramBatch.isEmpty { records.append(.histograms(histogramBatch)) }
            histogramBatch.removeAll(keepingCapacity: true)
        }
        for (ref, _, chunks) in snapshot {
            for chunk in chunks {
                if chunk.isHistogram {
                    guard let histograms = try? HistogramChunkDecoder.decode(chunk.bytes, encoding: chunk.encoding) else { continue }
                    flushSamples()
                    for histogram in histograms { histogramBatch.append(WALHistogram(ref: ref, histogram: histogram)) }
                    if histogramBatch.count >= 1_000 { flushHistograms() }
                } else {
                    guard let samples = try? XORChunkDecoder.decodeAll(chunk.bytes) else { continue }
                    flushHistograms()
                    for sample in samples {
                        batch.append(WALSample(ref: ref, timestamp: sample.timestamp, value: sample.value))
                    }
                    if batch.count >= 10_000 { flushSamples() }
                }
            }
        }
        flushSamples()
        flushHistograms()
        return (segment, records)
    }
}

/// Floor of `t` to a multiple of `range`, correct for negative timestamps too.
func alignDown(_ t: Int64, _ range: Int64) -> Int64 {
    let remainder = t % range
    return remainder < 0 ? t - remainder - range : t - remainder
}

// MARK: - State under the lock

struct HeadState {
    var series: [Int: MemorySeries] = [:]
    var ids: [[Label]: Int] = [:]
    var index = HeadIndex()
    var nextID = 1
    /// Smallest and largest sample timestamps in the head; `minTime > maxTime` while empty.
    var minTime: Int64 = .max
    var maxTime: Int64 = .min
    /// Nothing older is accepted: the newest block ends here.
    var minValidTime: Int64

    init(minValidTime: Int64) { self.minValidTime = minValidTime }

    /// Prometheus' rule: older than the newest block, or more than half a chunk range behind the newest
    /// sample, is too old.
    func appendableMinTime(chunkRange: Int64) -> Int64 {
        guard maxTime != .min else { return minValidTime }
        return max(minValidTime, maxTime - chunkRange / 2)
    }

    mutating func noteTime(_ t: Int64) {
        if t < minTime { minTime = t }
        if t > maxTime { maxTime = t }
    }

    mutating func seriesID(for labels: [Label]) -> (Int, Bool) {
        if let id = ids[labels] { return (id, false) }
        let id = nextID
        nextID += 1
        insert(id: id, labels: labels)
        return (id, true)
    }

    mutating func restoreSeries(id: Int, labels: [Label]) {
        if let existing = ids[labels] {
            // A checkpoint and a later segment may both name a series; keep the first id's data but
            // let the later id find it too.
            if existing != id { aliases[id] = existing }
            return
        }
        insert(id: id, labels: labels)
        nextID = max(nextID, id + 1)
    }

    /// Ids that replay maps onto another id with the same labels.
    var aliases: [Int: Int] = [:]

    /// Each series' place in label-set order, rebuilt after series come or go: queries answer in that
    /// order, and sorting integers per query is far cheaper than comparing label sets.
    private var rank: [Int: Int]?

    mutating func labelOrder() -> [Int: Int] {
        if let rank { return rank }
        let sorted = series.keys.sorted { compareLabelSets(series[$0]!.labels, series[$1]!.labels) < 0 }
        var built: [Int: Int] = [:]
        built.reserveCapacity(sorted.count)
        for (position, id) in sorted.enumerated() { built[id] = position }
        rank = built
        return built
    }

    private mutating func insert(id: Int, labels: [Label]) {
        rank = nil
        ids[labels] = id
        series[id] = MemorySeries(labels: labels)
        index.add(id: id, labels: labels)
    }

    mutating func dropChunks(before maxTime: Int64) {
        var removed = false
        for id in Array(series.keys) {
            series[id]!.chunks.removeAll { $0.maxTime < maxTime }
            if series[id]!.chunks.isEmpty && !series[id]!.hasOpenChunk {
                ids[series[id]!.labels] = nil
                series[id] = nil
                removed = true
            }
        }
        if removed {
            rank = nil
            index = HeadIndex()
            for id in series.keys.sorted() { index.add(id: id, labels: series[id]!.labels) }
        }
        minTime = .max
        for one in series.values {
            if let first = one.chunks.first?.minTime ?? one.openRange?.minTime { minTime = min(minTime, first) }
        }
        if series.isEmpty { self.maxTime = .min }
    }
}

/// The head's postings: label name → value → ascending series ids.
struct HeadIndex: PostingsIndex {
    private var postingsByName: [String: [String: [Int]]] = [:]
    private var all: [Int] = []

    /// Ids only grow, so appending keeps every list sorted.
    mutating func add(id: Int, labels: [Label]) {
        all.append(id)
        for label in labels { postingsByName[label.name, default: [:]][label.value, default: []].append(id) }
    }

    func postings(name: String, value: String) -> [Int] { postingsByName[name]?[value] ?? [] }
    func values(of name: String) -> [String] { postingsByName[name].map { Array($0.keys) } ?? [] }
    func allSeries() -> [Int] { all }
}

/// One series in the head.
///
/// Float samples and native histograms share one timeline, as in Prometheus: ordering, duplicates and
/// the too-old floor apply across both. The open chunk is XOR while floats arrive and a histogram chunk
/// while histograms do; a change of kind cuts it.
struct MemorySeries {
    enum AppendResult { case appended, duplicate, rejected(RejectReason) }

    /// What the newest timestamp holds, so that a repeat of it is told from a conflicting one.
    enum Newest {
        case none
        case float(bits: UInt64)
        case histogram(Histogram)
    }

    let labels: [Label]
    /// Closed chunks, oldest first.
    var chunks: [StoredChunk] = []
    /// The chunk being appended to while it holds float samples. At most one of `openXOR` and
    /// `openHistogram` is set; two optionals rather than an enum so appends mutate in place, never
    /// copying a uniquely held buffer.
    var openXOR: XORChunkEncoder?
    /// The chunk being appended to while it holds native histograms.
    var openHistogram: HistogramChunkEncoder?
    /// The open chunk must close before a sample at or after this time: the next multiple of the
    /// chunk range, so no chunk straddles a block boundary.
    var openEnd: Int64 = .min
    var lastTimestamp: Int64 = .min
    var newest = Newest.none

    init(labels: [Label]) { self.labels = labels }

    /// The ordering rules both kinds share; nil when the timestamp may be appended.
    private func check(_ t: Int64, floor: Int64, isRepeat: Bool) -> AppendResult? {
        if lastTimestamp != .min {
            if t == lastTimestamp { return isRepeat ? .duplicate : .rejected(.duplicateTimestamp) }
            if t < lastTimestamp { return .rejected(.outOfOrder) }
        }
        if t < floor { return .rejected(.tooOld) }
        return nil
    }

    mutating func append(_ sample: Sample, floor: Int64, configuration: Head.Configuration) -> AppendResult {
        let t = sample.timestamp
        let isRepeat = if case .float(let bits) = newest { bits == sample.value.bitPattern } else { false }
        if let result = check(t, floor: floor, isRepeat: isRepeat) { return result }
        if openXOR == nil || openXOR!.count >= configuration.samplesPerChunk || t >= openEnd || openXOR!.isFull {
            closeOpenChunk(ifBefore: .max)
            openXOR = XORChunkEncoder()
            openEnd = alignDown(t, configuration.chunkRange) + configuration.chunkRange
        }
        openXOR!.append(timestamp: t, value: sample.value)
        lastTimestamp = t
        newest = .float(bits: sample.value.bitPattern)
        return .appended
    }

    mutating func append(_ histogram: Histogram, floor: Int64, configuration: Head.Configuration) -> AppendResult {
        let t = histogram.timestamp
        guard Self.isEncodable(histogram) else { return .rejected(.invalidHistogram) }
        let isRepeat = if case .histogram(let last) = newest { Self.repeats(histogram, last) } else { false }
        if let result = check(t, floor: floor, isRepeat: isRepeat) { return result }
        let encoding: Chunk.Encoding = histogram.isFloat ? .floatHistogram : .histogram
        if openHistogram == nil || openHistogram!.encoding != encoding
            || openHistogram!.count >= configuration.samplesPerChunk || t >= openEnd
        {
            // Cut without comparing: whether a counter reset happened here is left to readers.
            startHistogramChunk(float: histogram.isFloat, header: .unknown, at: t, configuration: configuration)
        }
        if openHistogram!.append(histogram) == .needsNewChunk {
            // A new bucket layout, a counter reset or a gauge change: the encoder wants a fresh chunk,
            // says which counter-reset header it gets, and a fresh chunk takes any valid histogram.
            let header = openHistogram!.lastCut?.nextHeader ?? .unknown
            startHistogramChunk(float: histogram.isFloat, header: header, at: t, configuration: configuration)
            _ = openHistogram!.append(histogram)
        }
        lastTimestamp = t
        newest = .histogram(histogram)
        return .appended
    }

    /// Whether a chunk can hold `histogram`: the bucket list of its kind (deltas for integer, counts for
    /// float histograms) has one entry per bucket its spans cover. The chunk encoder traps otherwise, so
    /// this is checked here whatever the write path validated; a staleness marker's buckets are never
    /// stored and are exempt.
    static func isEncodable(_ histogram: Histogram) -> Bool {
        if histogram.sum.bitPattern == StaleMarker.bitPattern { return true }
        func buckets(_ spans: [BucketSpan]) -> Int { spans.reduce(0) { $0 &+ Int($1.length) } }
        let (positive, negative) = histogram.isFloat
            ? (histogram.positiveCounts.count, histogram.negativeCounts.count)
            : (histogram.positiveDeltas.count, histogram.negativeDeltas.count)
        return positive == buckets(histogram.positiveSpans) && negative == buckets(histogram.negativeSpans)
    }

    /// Whether `histogram` repeats `last`: every field bit for bit but the reset hint, which Prometheus'
    /// duplicate check ignores too, and which a histogram rebuilt from a chunk by a checkpoint does not
    /// keep as sent; comparing it would turn a retry after a restart into a conflict.
    static func repeats(_ histogram: Histogram, _ last: Histogram) -> Bool {
        var normalized = histogram
        normalized.resetHint = last.resetHint
        return normalized == last
    }

    private mutating func startHistogramChunk(
        float: Bool, header: HistogramCounterResetHeader, at t: Int64, configuration: Head.Configuration
    ) {
        closeOpenChunk(ifBefore: .max)
        openHistogram = HistogramChunkEncoder(float: float, counterResetHeader: header)
        openEnd = alignDown(t, configuration.chunkRange) + configuration.chunkRange
    }

    var hasOpenChunk: Bool { openXOR != nil || openHistogram != nil }

    /// The open chunk's time range, nil when there is none or it is empty; no bytes are copied.
    var openRange: (minTime: Int64, maxTime: Int64)? {
        if let openXOR, openXOR.count > 0 { return (openXOR.minTime, openXOR.maxTime) }
        if let openHistogram, openHistogram.count > 0 { return (openHistogram.minTime, openHistogram.maxTime) }
        return nil
    }

    var openChunk: StoredChunk? {
        if let openXOR, openXOR.count > 0 {
            return StoredChunk(minTime: openXOR.minTime, maxTime: openXOR.maxTime, bytes: openXOR.bytes)
        }
        if let openHistogram, openHistogram.count > 0 {
            return StoredChunk(
                minTime: openHistogram.minTime, maxTime: openHistogram.maxTime, bytes: openHistogram.bytes,
                encoding: openHistogram.encoding
            )
        }
        return nil
    }

    /// Moves the open chunk to the closed list when it ends before `time`.
    mutating func closeOpenChunk(ifBefore time: Int64) {
        guard let range = openRange else {
            // An empty encoder holds nothing worth keeping.
            openXOR = nil
            openHistogram = nil
            return
        }
        // The range first: copying the bytes of every series' open chunk only to keep it open would
        // cost a block cut an allocation per series.
        guard range.maxTime < time, let chunk = openChunk else { return }
        chunks.append(chunk)
        openXOR = nil
        openHistogram = nil
    }

    func overlaps(_ minTime: Int64, _ maxTime: Int64) -> Bool {
        let open = openRange
        guard let first = chunks.first?.minTime ?? open?.minTime else { return false }
        let last = open?.maxTime ?? chunks.last!.maxTime
        return first <= maxTime && last >= minTime
    }

    func chunks(overlapping minTime: Int64, _ maxTime: Int64) -> [StoredChunk] {
        var out = chunks.filter { $0.minTime <= maxTime && $0.maxTime >= minTime }
        if let chunk = openChunk, chunk.minTime <= maxTime, chunk.maxTime >= minTime { out.append(chunk) }
        return out
    }
}
