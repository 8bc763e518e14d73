#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import CSluicePrefetch
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
    /// The labels as `LabelSetBytes`: remote read writes them into its answers as they are.
    var labelBytes: [UInt8]
    var chunks: [StoredChunk]

    init(labelBytes: [UInt8], chunks: [StoredChunk]) {
        self.labelBytes = labelBytes
        self.chunks = chunks
    }

    init(labels: [Label], chunks: [StoredChunk]) {
        self.init(labelBytes: LabelSetBytes.bytes(labels), chunks: chunks)
    }

    /// The labels as strings, decoded each time: for tests and messages, not for a read's walk.
    var labels: [Label] { LabelSetBytes.labels(labelBytes) }
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
        /// Removed series' label ids are rebuilt away (`LabelSymbols.compacted`) once they are more
        /// than half of all ids and more than this many bytes; tests lower it.
        var labelGarbageFloor = 1 << 20
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
    ///
    /// The way for requests the scanner leaves whole (native histograms, exemplars, 1.0 metadata);
    /// float-only bodies, 1.0 and 2.0, take `append(_: ScannedWrite, wal:)`.
    func append(_ request: WriteRequest, wal: WAL?) -> AppendOutcome {
        state.withLock { state in
            var batch = AppendBatch(floor: state.appendableMinTime(chunkRange: configuration.chunkRange), configuration: configuration)
            batch.samples.reserveCapacity(request.sampleCount)
            for series in request.timeseries {
                guard !series.samples.isEmpty || !series.histograms.isEmpty else { continue }
                let key = LabelSetBytes.bytes(series.labels)
                let slot = key.withUnsafeBytes { key in
                    state.slot(for: key, hash: XXHash64.hash(key), created: &batch)
                }
                for sample in series.samples { batch.append(sample, slot: slot, state: &state) }
                // After the series' floats, as Prometheus' remote-write handler appends them; replay
                // logs them in a later record and so keeps this order within every series.
                for histogram in series.histograms { batch.append(histogram, slot: slot, state: &state) }
            }
            return batch.finish(wal: wal)
        }
    }

    /// Appends a scanned float-only request, logging what changed to `wal`: one hash lookup per
    /// series, and labels decoded only for a series the head has never seen.
    func append(_ write: ScannedWrite, wal: WAL?) -> AppendOutcome {
        state.withLock { state in
            var batch = AppendBatch(floor: state.appendableMinTime(chunkRange: configuration.chunkRange), configuration: configuration)
            batch.samples.reserveCapacity(write.sampleCount)
            // One walk with three look-aheads: at each step it asks for the table entry of a
            // series `distance` ahead of the one whose record it asks for, which is `distance`
            // ahead of the one it finds (asking for its open chunk's lines), which is `distance`
            // ahead of the one it appends. Each miss then overlaps the work of the steps between,
            // and the lines asked for are still in cache when they are used.
            let distance = 8
            var slots = [Int](repeating: -1, count: write.parts.reduce(0) { max($0, $1.count) })
            for part in write.parts {
                let count = part.count
                part.series.samples.withUnsafeBufferPointer { samples in
                    for step in 0..<(count + 3 * distance) {
                        if step < count { state.table.prefetch(part[step].hash) }
                        let record = step - distance
                        if record >= 0, record < count { state.prefetchSeries(part[record].hash) }
                        let found = record - distance
                        if found >= 0, found < count {
                            let entry = part[found]
                            // A series without samples (insert hands those over too) creates nothing.
                            if !entry.samples.isEmpty {
                                let slot = state.slot(for: part.series.key(entry), hash: entry.hash, created: &batch)
                                state.prefetchForAppend(slot)
                                slots[found] = slot
                            }
                        }
                        let appended = found - distance
                        if appended >= 0 {
                            for sample in samples[part[appended].samples] { batch.append(sample, slot: slots[appended], state: &state) }
                        }
                    }
                }
            }
            return batch.finish(wal: wal)
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
                    guard let slot = state.slot(ofRef: sample.ref) else { continue }
                    let result = state.series[slot].append(
                        Sample(timestamp: sample.timestamp, value: sample.value), floor: state.minValidTime, configuration: configuration
                    )
                    if case .appended = result { state.noteTime(sample.timestamp) }
                }
            case .histograms(let list):
                for entry in list {
                    guard let slot = state.slot(ofRef: entry.ref) else { continue }
                    let result = state.series[slot].append(entry.histogram, floor: state.minValidTime, configuration: configuration)
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
                chunks: state.series.reduce(0) { $0 + $1.chunks.count + ($1.hasOpenChunk ? 1 : 0) },
                minTime: state.minTime,
                maxTime: state.maxTime
            )
        }
    }

    var seriesCount: Int { state.withLock { $0.series.count } }

    /// Ends WAL replay: series are no longer looked up by id, so the map for it goes.
    func finishReplay() {
        state.withLock { state in
            state.slotOfID = nil
            state.aliases = [:]
        }
    }

    /// The head takes no sample older than this: the newest block ends here.
    var minValidTime: Int64 { state.withLock { $0.minValidTime } }

    // MARK: Queries

    /// The series `matchers` select with data in `[minTime, maxTime]`, sorted by label set; open chunks
    /// are snapshotted as they are now.
    func select(_ matchers: [CompiledMatcher], minTime: Int64, maxTime: Int64) -> [SeriesChunks] {
        state.withLock { state in
            let rank = state.labelOrder()
            let slots = state.index.select(matchers).sorted { rank[$0] < rank[$1] }
            // Through a buffer pointer: the array's subscript copied each series (a retain and
            // release of every buffer it holds) to ask it for its chunks. The closure captures
            // nothing it changes, so no access is checked at run time per series. Labels leave as
            // their bytes, rebuilt from the symbols: no `String` per label.
            let symbols = state.symbols
            return state.series.withUnsafeBufferPointer { series in
                var result: [SeriesChunks] = []
                result.reserveCapacity(slots.count)
                for slot in slots {
                    let chunks = series[slot].chunks(overlapping: minTime, maxTime)
                    if !chunks.isEmpty { result.append(SeriesChunks(labelBytes: symbols.key(series[slot].key), chunks: chunks)) }
                }
                return result
            }
        }
    }

    /// Label names of every series in the head, or of those `matchers` select.
    func labelSets(_ matchers: [CompiledMatcher]?, minTime: Int64, maxTime: Int64) -> [[Label]] {
        state.withLock { state in
            let slots = matchers.map { state.index.select($0) } ?? state.index.allSeries()
            return slots.compactMap { slot in
                state.series[slot].overlaps(minTime, maxTime) ? state.labels(of: slot) : nil
            }
        }
    }

    // MARK: Backfill

    /// Where backfill may write now: every block window that ends at or before this time holds no
    /// head data and never will. Below the newest block's end (`minValidTime`), or below the window
    /// of the oldest sample the head holds or could still take. An empty head takes any sample from
    /// `minValidTime` on, so it counts from `now` minus one and a half ranges: the most a head spans
    /// before it cuts a block.
    func backfillBoundary(now: Int64) -> Int64 {
        state.withLock { state in Self.backfillBoundary(state, range: configuration.chunkRange, now: now) }
    }

    private static func backfillBoundary(_ state: HeadState, range: Int64, now: Int64) -> Int64 {
        let lowest = state.minTime <= state.maxTime
            ? min(state.minTime, state.appendableMinTime(chunkRange: range))
            : now - range - range / 2
        return max(state.minValidTime, alignDown(lowest, range))
    }

    /// Seals the head below `end` for a block backfill writes, if `end` is within the boundary:
    /// from then on the head takes nothing older (`minValidTime`), as after a block cut. False, and
    /// nothing changes, when the head holds or could still take samples before `end`.
    func sealForBackfill(through end: Int64, now: Int64) -> Bool {
        state.withLock { state in
            guard end <= Self.backfillBoundary(state, range: configuration.chunkRange, now: now) else { return false }
            state.minValidTime = max(state.minValidTime, end)
            return true
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
            for slot in state.series.indices {
                state.series[slot].closeOpenChunk(ifBefore: maxTime)
                let chunks = state.series[slot].chunks.filter { $0.maxTime < maxTime }
                if !chunks.isEmpty { out.append((state.labels(of: slot), chunks)) }
            }
            out.sort { compareLabelSets($0.labels, $1.labels) < 0 }
            return out
        }
    }

    /// Forgets chunks before `maxTime` (now in a block) and series left without data, then cuts the WAL
    /// so that every segment up to the returned one is covered by the returned checkpoint records.
    func dropBefore(_ maxTime: Int64, wal: WAL?) -> (segment: Int?, records: [WALRecord]) {
        let (segment, snapshot) = state.withLock { state -> (Int?, [(UInt64, [Label], [StoredChunk])]) in
            state.dropChunks(before: maxTime, labelGarbageFloor: configuration.labelGarbageFloor)
            let segment = wal?.cutSegment()
            let snapshot = state.series.indices.map { slot in
                let series = state.series[slot]
                return (UInt64(series.id), state.labels(of: slot), series.chunks + (series.openChunk.map { [$0] } ?? []))
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
    /// Every series, densely and in no order: removing one moves the last into its place.
    var series: [MemorySeries] = []
    /// Where each series id is in `series`, while the WAL is replayed (its records name series by
    /// id); nil after `Head.finishReplay`, since nothing else looks series up by id.
    var slotOfID: [Int: Int]? = [:]
    /// Label bytes' hash → place in `series`.
    var table = SeriesTable()
    /// Every series' label set, interned.
    var symbols = LabelSymbols()
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

    /// The place of the series with label bytes `key`, or nil.
    @inline(__always)
    func slot(of key: UnsafeRawBufferPointer, hash: UInt64) -> Int? {
        table.find(hash) { slot in symbols.matches(series[slot].key, key) }
    }

    /// Asks for the record of the series that `hash`'s first table entry names, when that entry's
    /// hash bits match: the lookup that follows then finds the record's label reference, and the
    /// open chunk's place, in cache.
    @inline(__always)
    func prefetchSeries(_ hash: UInt64) {
        guard let slot = table.firstCandidate(hash) else { return }
        series.withUnsafeBufferPointer { series in
            guard slot < series.count, let base = series.baseAddress else { return }
            let record = UnsafeRawPointer(base + slot)
            sluice_prefetch_for_write(record)
            sluice_prefetch_for_write(record + MemoryLayout<MemorySeries>.stride - 1)
        }
    }

    /// Asks for the cache lines the next append to the series at `slot` writes in its open XOR chunk
    /// (`XORChunkEncoder.prefetchForAppend`). Mutating only so that the encoder is reached in place:
    /// a copy would retain the chunk's buffer, and the retain waits for the line it asks for.
    @inline(__always)
    mutating func prefetchForAppend(_ slot: Int) {
        series[slot].openXOR?.prefetchForAppend()
    }

    /// The labels of the series at `slot`: for queries, blocks and messages, never per sample.
    func labels(of slot: Int) -> [Label] { symbols.labels(series[slot].key) }

    /// The place of the series with label bytes `key`, created (and noted in `batch`) if new.
    @inline(__always)
    mutating func slot(for key: UnsafeRawBufferPointer, hash: UInt64, created batch: inout AppendBatch) -> Int {
        if let slot = slot(of: key, hash: hash) { return slot }
        let id = nextID
        nextID += 1
        let created = insert(id: id, key: key, hash: hash)
        batch.created(WALSeries(ref: UInt64(id), labels: created.labels))
        return created.slot
    }

    /// The place of the series a WAL record's ref names, following `aliases`.
    func slot(ofRef ref: UInt64) -> Int? {
        let id = aliases[Int(ref)] ?? Int(ref)
        return slotOfID?[id]
    }

    mutating func restoreSeries(id: Int, labels: [Label]) {
        let key = LabelSetBytes.bytes(labels)
        let hash = XXHash64.hash(key)
        if let existing = key.withUnsafeBytes({ slot(of: $0, hash: hash) }) {
            // A checkpoint and a later segment may both name a series; keep the first id's data but
            // let the later id find it too.
            if series[existing].id != id { aliases[id] = series[existing].id }
            return
        }
        _ = key.withUnsafeBytes { insert(id: id, key: $0, hash: hash) }
        nextID = max(nextID, id + 1)
    }

    /// Ids that replay maps onto another id with the same labels.
    var aliases: [Int: Int] = [:]

    /// Each series' place in label-set order, by slot, rebuilt after series come or go: queries
    /// answer in that order, and sorting integers per query is far cheaper than comparing label sets.
    private var rank: [Int32]?

    mutating func labelOrder() -> [Int32] {
        if let rank { return rank }
        let sorted = series.indices.map { ($0, labels(of: $0)) }.sorted { compareLabelSets($0.1, $1.1) < 0 }
        var built = [Int32](repeating: 0, count: series.count)
        for (position, entry) in sorted.enumerated() { built[entry.0] = Int32(position) }
        rank = built
        return built
    }

    private mutating func insert(id: Int, key: UnsafeRawBufferPointer, hash: UInt64) -> (slot: Int, labels: [Label]) {
        rank = nil
        let slot = series.count
        series.append(MemorySeries(id: id, key: symbols.add(key)))
        slotOfID?[id] = slot
        table.insert(hash, slot: slot)
        let labels = LabelSetBytes.labels(key)
        index.add(slot: slot, labels: labels)
        return (slot, labels)
    }

    mutating func dropChunks(before maxTime: Int64, labelGarbageFloor: Int) {
        var removed = false
        var slot = series.count - 1
        while slot >= 0 {
            series[slot].chunks.removeAll { $0.maxTime < maxTime }
            if series[slot].chunks.isEmpty && !series[slot].hasOpenChunk {
                remove(slot: slot)
                removed = true
            }
            slot -= 1
        }
        if removed {
            rank = nil
            index = HeadIndex()
            if symbols.wantsCompaction(floor: labelGarbageFloor) {
                let (compacted, refs) = symbols.compacted(keeping: series.map(\.key))
                symbols = compacted
                for slot in series.indices { series[slot].key = refs[slot] }
            }
            for slot in series.indices { index.add(slot: slot, labels: labels(of: slot)) }
        }
        minTime = .max
        for one in series {
            if let first = one.chunks.first?.minTime ?? one.openRange?.minTime { minTime = min(minTime, first) }
        }
        if series.isEmpty { self.maxTime = .min }
    }

    /// The hash the series at `slot` is found by in `table`.
    private func keyHash(_ slot: Int) -> UInt64 { XXHash64.hash(symbols.key(series[slot].key)) }

    /// Forgets the series at `slot`; the last series takes its place.
    private mutating func remove(slot: Int) {
        table.remove(keyHash(slot), slot: slot)
        symbols.release(series[slot].key)
        slotOfID?[series[slot].id] = nil
        let last = series.count - 1
        if slot != last {
            table.move(keyHash(last), from: last, to: slot)
            slotOfID?[series[last].id] = slot
            series.swapAt(slot, last)
        }
        series.removeLast()
    }
}

/// One append's bookkeeping under the head's lock: the outcome so far and the WAL records to log.
struct AppendBatch {
    var outcome = AppendOutcome()
    var newSeries: [WALSeries] = []
    var samples: [WALSample] = []
    var histograms: [WALHistogram] = []
    let floor: Int64
    let configuration: Head.Configuration

    init(floor: Int64, configuration: Head.Configuration) {
        self.floor = floor
        self.configuration = configuration
    }

    mutating func created(_ series: WALSeries) {
        outcome.createdSeries += 1
        newSeries.append(series)
    }

    @inline(__always)
    mutating func append(_ sample: Sample, slot: Int, state: inout HeadState) {
        switch state.series[slot].append(sample, floor: floor, configuration: configuration) {
        case .appended:
            outcome.appended += 1
            samples.append(WALSample(ref: UInt64(state.series[slot].id), timestamp: sample.timestamp, value: sample.value))
            state.noteTime(sample.timestamp)
        case .duplicate:
            outcome.duplicates += 1
        case .rejected(let reason):
            reject(reason, state.labels(of: slot), at: sample.timestamp)
        }
    }

    mutating func append(_ histogram: Histogram, slot: Int, state: inout HeadState) {
        switch state.series[slot].append(histogram, floor: floor, configuration: configuration) {
        case .appended:
            outcome.appendedHistograms += 1
            histograms.append(WALHistogram(ref: UInt64(state.series[slot].id), histogram: histogram))
            state.noteTime(histogram.timestamp)
        case .duplicate:
            outcome.duplicateHistograms += 1
        case .rejected(let reason):
            reject(reason, state.labels(of: slot), at: histogram.timestamp)
        }
    }

    private mutating func reject(_ reason: RejectReason, _ labels: @autoclosure () -> [Label], at timestamp: Int64) {
        outcome.rejected[reason, default: 0] += 1
        guard outcome.firstRejection == nil else { return }
        let labels = labels()
        let name = labels.first { $0.name == "__name__" }?.value ?? ""
        outcome.firstRejection = "\(reason.message) for series \(name){\(labels.filter { $0.name != "__name__" }.map(\.description).joined(separator: ", "))} at timestamp \(timestamp)"
    }

    /// Logs what changed to `wal` (nil during replay) and returns the outcome with its ticket.
    consuming func finish(wal: WAL?) -> AppendOutcome {
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

/// The head's series by the xxHash64 of their label bytes: open addressing with linear probing over
/// one flat array of 8-byte entries, so a lookup allocates nothing, runs no `Hasher`, and finds hash
/// and place in one cache line. An entry keeps the hash's low 32 bits, which also give its home
/// (the table never reaches 2³² entries); equal ones are told apart by the caller's comparison of the
/// label sets.
struct SeriesTable {
    /// `(low 32 bits of the hash) << 32 | (place + 1)`; 0 marks an empty entry.
    private var entries: [UInt64] = []
    private(set) var count = 0

    @inline(__always)
    private static func entry(_ hash: UInt64, slot: Int) -> UInt64 { hash << 32 | UInt64(slot + 1) }

    @inline(__always)
    private static func slot(_ entry: UInt64) -> Int { Int(entry & 0xFFFF_FFFF) - 1 }

    /// The first place to probe for an entry: where its hash's low bits point.
    @inline(__always)
    private func home(ofEntry entry: UInt64) -> Int { Int(truncatingIfNeeded: entry >> 32) & (entries.count - 1) }

    /// The place of the series with `hash` for which `matches` is true, or nil.
    @inline(__always)
    func find(_ hash: UInt64, where matches: (Int) -> Bool) -> Int? {
        guard count > 0 else { return nil }
        let tag = hash << 32
        return entries.withUnsafeBufferPointer { entries in
            let mask = entries.count - 1
            var position = Int(truncatingIfNeeded: hash) & mask
            while entries[position] != 0 {
                let entry = entries[position]
                if entry & 0xFFFF_FFFF_0000_0000 == tag, matches(Self.slot(entry)) { return Self.slot(entry) }
                position = (position + 1) & mask
            }
            return nil
        }
    }

    /// The place named by the entry where a lookup of `hash` starts, if that entry's hash bits are
    /// `hash`'s: almost always the series `find` will confirm. Reads one entry, asks for nothing.
    @inline(__always)
    func firstCandidate(_ hash: UInt64) -> Int? {
        guard count > 0 else { return nil }
        return entries.withUnsafeBufferPointer { entries in
            let entry = entries[Int(truncatingIfNeeded: hash) & (entries.count - 1)]
            return entry != 0 && entry & 0xFFFF_FFFF_0000_0000 == hash << 32 ? Self.slot(entry) : nil
        }
    }

    /// Asks for the cache line where a lookup of `hash` starts, without waiting for it.
    @inline(__always)
    func prefetch(_ hash: UInt64) {
        guard count > 0 else { return }
        entries.withUnsafeBufferPointer { entries in
            sluice_prefetch_for_write(entries.baseAddress! + (Int(truncatingIfNeeded: hash) & (entries.count - 1)))
        }
    }

    mutating func insert(_ hash: UInt64, slot: Int) {
        precondition(slot < Int(UInt32.max), "series table holds fewer than 2³² series")
        // At most three quarters full.
        if (count + 1) * 4 > entries.count * 3 { grow() }
        let mask = entries.count - 1
        var position = Int(truncatingIfNeeded: hash) & mask
        while entries[position] != 0 { position = (position + 1) & mask }
        entries[position] = Self.entry(hash, slot: slot)
        count += 1
    }

    /// Points the entry of the series at `old` to `new`.
    mutating func move(_ hash: UInt64, from old: Int, to new: Int) {
        entries[position(hash, slot: old)] = Self.entry(hash, slot: new)
    }

    /// Removes the entry of the series at `slot`, shifting later entries of the same run back so that
    /// no probe stops early (no tombstones).
    mutating func remove(_ hash: UInt64, slot: Int) {
        let mask = entries.count - 1
        var hole = position(hash, slot: slot)
        var next = (hole + 1) & mask
        while entries[next] != 0 {
            let wanted = home(ofEntry: entries[next])
            // The entry at `next` may fill the hole when the hole lies on its probe path: between its
            // home and itself, cyclically.
            if (next - wanted) & mask >= (next - hole) & mask {
                entries[hole] = entries[next]
                hole = next
            }
            next = (next + 1) & mask
        }
        entries[hole] = 0
        count -= 1
    }

    private func position(_ hash: UInt64, slot: Int) -> Int {
        let mask = entries.count - 1
        let wanted = Self.entry(hash, slot: slot)
        var position = Int(truncatingIfNeeded: hash) & mask
        while entries[position] != wanted {
            precondition(entries[position] != 0, "series table lost an entry")
            position = (position + 1) & mask
        }
        return position
    }

    private mutating func grow() {
        let old = entries
        entries = Array(repeating: 0, count: max(1024, entries.count * 2))
        let mask = entries.count - 1
        for entry in old where entry != 0 {
            var position = home(ofEntry: entry)
            while entries[position] != 0 { position = (position + 1) & mask }
            entries[position] = entry
        }
    }
}

/// The head's postings: label name → value → ascending series slots.
///
/// It indexes places in `HeadState.series` (slots), which are dense, so every series is `0..<count`,
/// and below `Int32.max` (`SeriesTable`), so a posting takes four bytes. Slots move only when series
/// are removed, and then the index is rebuilt.
struct HeadIndex: PostingsIndex {
    private var postingsByName: [String: [String: [UInt32]]] = [:]
    private var count = 0

    /// Slots are added in increasing order, so appending keeps every list sorted.
    mutating func add(slot: Int, labels: [Label]) {
        precondition(slot == count, "head index slots are added in order")
        count += 1
        for label in labels { postingsByName[label.name, default: [:]][label.value, default: []].append(UInt32(slot)) }
    }

    func postings(name: String, value: String) -> [Int] { postingsByName[name]?[value]?.map { Int($0) } ?? [] }
    func values(of name: String) -> [String] { postingsByName[name].map { Array($0.keys) } ?? [] }
    func allSeries() -> [Int] { Array(0..<count) }
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
        /// The histogram is `histograms.newest`.
        case histogram
    }

    /// What only a series that has received native histograms needs, boxed: nearly every series
    /// holds floats only, and for them this is one nil pointer rather than some 360 bytes inline in
    /// the head's array. Copied on write (`histogramState()`), so `MemorySeries` stays a value.
    /// Unchecked `Sendable`: like every series, it lives in `HeadState` and is reached only under
    /// the head's lock.
    final class HistogramState: @unchecked Sendable {
        /// The chunk being appended to while it holds native histograms.
        var open: HistogramChunkEncoder?
        /// The newest histogram, when `newest` is `.histogram`.
        var newest: Histogram?

        init(open: HistogramChunkEncoder? = nil, newest: Histogram? = nil) {
            self.open = open
            self.newest = newest
        }
    }

    let id: Int
    /// The label set, in `HeadState.symbols`.
    var key: LabelSymbols.Ref
    /// Closed chunks, oldest first.
    var chunks: [StoredChunk] = []
    /// The chunk being appended to while it holds float samples. At most one of `openXOR` and
    /// `histograms?.open` is set; not one enum, so appends mutate in place, never copying a uniquely
    /// held buffer.
    var openXOR: XORChunkEncoder?
    /// Nil until the series receives a native histogram.
    private(set) var histograms: HistogramState?
    /// The open chunk must close before a sample at or after this time: the next multiple of the
    /// chunk range, so no chunk straddles a block boundary.
    var openEnd: Int64 = .min
    var lastTimestamp: Int64 = .min
    var newest = Newest.none

    /// Bytes an open XOR chunk starts with: with the writer's 16 bytes of slack and the array's
    /// header, one 80-byte malloc chunk, and room for a new series' first two samples.
    static let openChunkCapacity = 24

    init(id: Int, key: LabelSymbols.Ref) {
        self.id = id
        self.key = key
    }

    /// `histograms`, created or copied so that this series alone holds it.
    private mutating func histogramState() -> HistogramState {
        if !isKnownUniquelyReferenced(&histograms) {
            histograms = HistogramState(open: histograms?.open, newest: histograms?.newest)
        }
        return histograms!
    }

    private var openHistogram: HistogramChunkEncoder? { histograms?.open }

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
            // Room for a sample or two, not Prometheus' 128 bytes: every active series holds an
            // open chunk, and a just-created one may get no more. From its third sample on, the
            // chunk grows to the size its rate projects for a whole chunk (`growIfNearlyFull`).
            // Starting a chunk at its predecessor's size was measured too: no faster, and every
            // series then holds a full-size buffer from its cut on: 9% more peak RSS in 20 s runs.
            closeOpenChunk(ifBefore: .max)
            openXOR = XORChunkEncoder(capacity: Self.openChunkCapacity)
            openEnd = alignDown(t, configuration.chunkRange) + configuration.chunkRange
        }
        openXOR!.growIfNearlyFull(toHold: configuration.samplesPerChunk)
        openXOR!.append(timestamp: t, value: sample.value)
        lastTimestamp = t
        newest = .float(bits: sample.value.bitPattern)
        return .appended
    }

    mutating func append(_ histogram: Histogram, floor: Int64, configuration: Head.Configuration) -> AppendResult {
        let t = histogram.timestamp
        guard Self.isEncodable(histogram) else { return .rejected(.invalidHistogram) }
        let isRepeat = if case .histogram = newest, let last = histograms?.newest { Self.repeats(histogram, last) } else { false }
        if let result = check(t, floor: floor, isRepeat: isRepeat) { return result }
        let encoding: Chunk.Encoding = histogram.isFloat ? .floatHistogram : .histogram
        if openHistogram == nil || openHistogram!.encoding != encoding
            || openHistogram!.count >= configuration.samplesPerChunk || t >= openEnd
        {
            // Cut without comparing: whether a counter reset happened here is left to readers.
            startHistogramChunk(float: histogram.isFloat, header: .unknown, at: t, configuration: configuration)
        }
        // No reference to the state is held across calls that may copy it (`histogramState()`).
        if histogramState().open!.append(histogram) == .needsNewChunk {
            // A new bucket layout, a counter reset or a gauge change: the encoder wants a fresh chunk,
            // says which counter-reset header it gets, and a fresh chunk takes any valid histogram.
            let header = openHistogram!.lastCut?.nextHeader ?? .unknown
            startHistogramChunk(float: histogram.isFloat, header: header, at: t, configuration: configuration)
            _ = histogramState().open!.append(histogram)
        }
        lastTimestamp = t
        newest = .histogram
        histogramState().newest = histogram
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
        histogramState().open = HistogramChunkEncoder(float: float, counterResetHeader: header)
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
            dropOpenChunk()
            return
        }
        // The range first: copying the bytes of every series' open chunk only to keep it open would
        // cost a block cut an allocation per series.
        guard range.maxTime < time, let chunk = openChunk else { return }
        chunks.append(chunk)
        dropOpenChunk()
    }

    private mutating func dropOpenChunk() {
        openXOR = nil
        if openHistogram != nil { histogramState().open = nil }
    }

    func overlaps(_ minTime: Int64, _ maxTime: Int64) -> Bool {
        let open = openRange
        guard let first = chunks.first?.minTime ?? open?.minTime else { return false }
        let last = open?.maxTime ?? chunks.last!.maxTime
        return first <= maxTime && last >= minTime
    }

    func chunks(overlapping minTime: Int64, _ maxTime: Int64) -> [StoredChunk] {
        // One allocation, with room for the open chunk: `filter` sized it exactly, and appending
        // the open chunk then moved the whole array.
        var out: [StoredChunk] = []
        out.reserveCapacity(chunks.count + 1)
        for chunk in chunks where chunk.minTime <= maxTime && chunk.maxTime >= minTime { out.append(chunk) }
        if let range = openRange, range.minTime <= maxTime, range.maxTime >= minTime, let chunk = openChunk { out.append(chunk) }
        return out
    }
}
