import Foundation
import Logging
import NIOPosix
import SluiceCodec
import SluiceHTTP
import SluiceQuery
import Synchronization

/// Why the storage could not take or serve data. The HTTP status is chosen at the edge.
struct StorageError: Error, Sendable, CustomStringConvertible {
    enum Code: Sendable { case notReady, walFailed, invalidQuery, blockFailed, invalidBackfill, notSealed }
    var code: Code
    var message: String
    var description: String { message }
}

/// Sluice's own time-series database: a head in memory over immutable blocks on disk, made durable by
/// a write-ahead log.
///
/// Layout of the data directory:
/// - `wal/`: segments and the newest checkpoint (`WAL`);
/// - `blocks/`: one directory per cut block (`Block`).
///
/// Life cycle: `init` opens the blocks; `recover()` replays the WAL into the head and opens it for
/// appending (until then the node is not ready); `compact()` cuts blocks and applies retention; `close()`
/// flushes the WAL.
final class Storage: Sendable {
    struct Configuration: Sendable {
        var dataDirectory: String = "./data/storage"
        /// Length of one block, and the range no chunk straddles. Prometheus' default: 2 h.
        var blockDuration: Int64 = 2 * 3_600_000
        /// Blocks ending this long before now (`now`) are deleted; 0 keeps everything.
        var retention: Int64 = 15 * 24 * 3_600_000
        /// The wall clock retention counts from, in milliseconds since the epoch; tests set it.
        var now: @Sendable () -> Int64 = { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }
        /// Longest block compaction merges into (`Compaction.ranges`); 0 means a tenth of the
        /// retention, at most 31 days; `blockDuration` turns merging off.
        var maxBlockDuration: Int64 = 0
        var wal = WAL.Configuration()
        /// Exemplars kept across all series (Prometheus' `max_exemplars`); 0 keeps none.
        var maxExemplars = 100_000
    }

    let configuration: Configuration
    let head: Head
    let exemplars: ExemplarStore
    let metadata = MetadataStore()
    let metrics: StorageMetrics
    private let logger: Logger
    private let blocks: Mutex<[Block]>
    /// Cuts, merges, retention and backfill change the block list one at a time.
    private let maintenance = BlockMaintenanceLock()
    /// Each block's digest cells, for `digest`.
    let digestCache = DigestCache()
    private let wal = Mutex<WAL?>(nil)

    var walDirectory: String { configuration.dataDirectory + "/wal" }
    var blocksDirectory: String { configuration.dataDirectory + "/blocks" }

    init(configuration: Configuration, metrics: StorageMetrics, logger: Logger) throws {
        self.configuration = configuration
        self.metrics = metrics
        self.logger = logger
        let files = FileManager.default
        try files.createDirectory(atPath: configuration.dataDirectory + "/wal", withIntermediateDirectories: true)
        try files.createDirectory(atPath: configuration.dataDirectory + "/blocks", withIntermediateDirectories: true)
        var opened = try Block.listBlocks(in: configuration.dataDirectory + "/blocks").map { try Block(path: $0) }
        // Blocks a crash kept from deleting: a merged or rewritten block holds all they hold.
        let leftBehind = Compaction.leftBehind(opened)
        for block in leftBehind {
            try Block.delete(path: block.path)
            logger.info("block deleted: a merged or rewritten block holds its data", metadata: ["block.path": "\(block.path)"])
        }
        opened.removeAll { block in leftBehind.contains { $0.path == block.path } }
        self.blocks = Mutex(opened)
        self.head = Head(
            configuration: .init(chunkRange: configuration.blockDuration),
            minValidTime: opened.map(\.meta.maxTime).max() ?? .min
        )
        self.exemplars = ExemplarStore(capacity: configuration.maxExemplars)
        updateBlockGauges()
    }

    var isReady: Bool { wal.withLock { $0 != nil } }

    /// Set by `close`: the storage is not replaying, it is gone.
    private let closed = Atomic<Bool>(false)

    /// Why the storage takes no reads or writes now, for a 503 (meaningful while `!isReady`).
    var notReadyReason: String {
        closed.load(ordering: .relaxed) ? "storage is shut down" : "storage is replaying its WAL"
    }

    /// Replays the WAL into the head, then opens it for appending. Blocking I/O: run it off the
    /// cooperative pool.
    func recover() throws {
        let clock = ContinuousClock()
        let start = clock.now
        let report = try WAL.replay(directory: walDirectory, logger: logger) { record in
            switch record {
            case .exemplars(let list): exemplars.replay(list)
            case .metadata(let list): metadata.replay(list)
            default: head.replay(record)
            }
        }
        head.finishReplay()
        metrics.exemplarsInStorage.set(Double(exemplars.count))
        if report.corruptions > 0 { metrics.walCorruptions.increment(by: Int64(report.corruptions)) }
        let opened = try WAL(
            directory: walDirectory, configuration: configuration.wal, logger: logger,
            observeFsync: { [metrics] duration in metrics.walFsyncDuration.record(duration) }
        )
        wal.withLock { $0 = opened }
        updateHeadGauges()
        logger.info("WAL replayed", metadata: [
            "wal.records": "\(report.records)", "wal.segments": "\(report.segments)",
            "wal.corruptions": "\(report.corruptions)", "head.series": "\(head.stats.series)",
            "duration": "\(clock.now - start)",
        ])
    }

    /// Appends and returns once the WAL holds the appended samples and histograms on disk.
    func append(_ request: WriteRequest) async throws(StorageError) -> AppendOutcome {
        let wal = try appendableWAL()
        var outcome = head.append(request, wal: wal)
        // Best effort, as in Prometheus: a dropped exemplar or metadata entry never fails the write.
        let exemplarOutcome = exemplars.append(request, wal: wal)
        let metadataTicket = metadata.append(request.metadata, wal: wal).ticket
        outcome.appendedExemplars = exemplarOutcome.appended + exemplarOutcome.duplicates
        if exemplarOutcome.appended > 0 {
            metrics.exemplarsAppended.increment(by: Int64(exemplarOutcome.appended))
            metrics.exemplarsInStorage.set(Double(exemplars.count))
        }
        for (reason, count) in exemplarOutcome.dropped { metrics.exemplarsDropped(reason, count: count) }
        count(outcome)
        try await wait(for: [outcome.ticket, exemplarOutcome.ticket, metadataTicket], on: wal)
        return outcome
    }

    /// Appends a scanned float-only request, the usual one, and returns once the WAL holds the
    /// appended samples (and a 2.0 body's metadata) on disk.
    func append(_ write: ScannedWrite) async throws(StorageError) -> AppendOutcome {
        let wal = try appendableWAL()
        let outcome = head.append(write, wal: wal)
        // Best effort, as in Prometheus: a dropped metadata entry never fails the write.
        let metadataTicket = write.metadata.isEmpty ? nil : metadata.append(write.metadata, wal: wal).ticket
        count(outcome)
        try await wait(for: [outcome.ticket, metadataTicket], on: wal)
        return outcome
    }

    private func appendableWAL() throws(StorageError) -> WAL {
        guard let wal = wal.withLock({ $0 }) else { throw StorageError(code: .notReady, message: notReadyReason) }
        // Not even into the head: a retry of a request whose WAL write failed would find its samples
        // there, count them as duplicates and be acknowledged before they are on disk.
        guard !wal.isFailing else {
            throw StorageError(code: .walFailed, message: "the WAL cannot write (disk full?); writes resume once it can")
        }
        return wal
    }

    private func count(_ outcome: AppendOutcome) {
        metrics.samplesAppended.increment(by: Int64(outcome.appended))
        if outcome.appendedHistograms > 0 { metrics.histogramsAppended.increment(by: Int64(outcome.appendedHistograms)) }
        for (reason, count) in outcome.rejected { metrics.rejected(reason.rawValue, count: count) }
        // The series count is O(1); the chunk count walks every series, so the life-cycle loop
        // refreshes it instead (`updateHeadGauges`).
        if outcome.createdSeries > 0 { metrics.headSeries.set(Double(head.seriesCount)) }
    }

    private func wait(for tickets: [WAL.Ticket?], on wal: WAL) async throws(StorageError) {
        for ticket in tickets.compactMap({ $0 }) {
            do {
                try await wal.wait(ticket)
            } catch {
                throw StorageError(code: .walFailed, message: "WAL write failed: \(error)")
            }
        }
    }

    // MARK: Queries

    /// Series selected by `matchers` with data in `[minTime, maxTime]`, from blocks and head, sorted by
    /// label set, each with its chunks in time order.
    func select(_ matchers: [LabelMatcher], minTime: Int64, maxTime: Int64) throws(StorageError) -> [SeriesChunks] {
        let compiled = try compile(matchers)
        var sources: [[SeriesChunks]] = []
        for block in overlappingBlocks(minTime, maxTime) {
            var list: [SeriesChunks] = []
            for id in block.select(compiled) {
                let refs = block.chunks(of: id).filter { $0.minTime <= maxTime && $0.maxTime >= minTime }
                guard !refs.isEmpty else { continue }
                var chunks: [StoredChunk] = []
                chunks.reserveCapacity(refs.count)
                for ref in refs {
                    do {
                        chunks.append(try block.chunk(ref))
                    } catch {
                        throw StorageError(code: .blockFailed, message: "block \(block.path): \(error)")
                    }
                }
                list.append(SeriesChunks(labels: block.labels(of: id), chunks: chunks))
            }
            sources.append(list)
        }
        sources.append(head.select(compiled, minTime: minTime, maxTime: maxTime))
        return mergeSources(sources)
    }

    /// Label sets of the series `matchers` select (all series when nil) with data in the range, sorted
    /// and unique.
    func labelSets(_ matchers: [[LabelMatcher]]?, minTime: Int64, maxTime: Int64) throws(StorageError) -> [[Label]] {
        var sets: [[Label]] = []
        let compiledSets: [[CompiledMatcher]]? = try matchers.map { sets throws(StorageError) in
            var out: [[CompiledMatcher]] = []
            for set in sets { out.append(try compile(set)) }
            return out
        }
        for block in overlappingBlocks(minTime, maxTime) {
            let ids = compiledSets.map { $0.flatMap { block.select($0) } } ?? block.allSeries()
            for id in ids where block.chunks(of: id).contains(where: { $0.minTime <= maxTime && $0.maxTime >= minTime }) {
                sets.append(block.labels(of: id))
            }
        }
        if let compiledSets {
            for set in compiledSets { sets += head.labelSets(set, minTime: minTime, maxTime: maxTime) }
        } else {
            sets += head.labelSets(nil, minTime: minTime, maxTime: maxTime)
        }
        sets.sort { compareLabelSets($0, $1) < 0 }
        var unique: [[Label]] = []
        for set in sets where unique.last != set { unique.append(set) }
        return unique
    }

    private func compile(_ matchers: [LabelMatcher]) throws(StorageError) -> [CompiledMatcher] {
        var compiled: [CompiledMatcher] = []
        for matcher in matchers {
            do {
                compiled.append(try CompiledMatcher(matcher))
            } catch {
                throw StorageError(code: .invalidQuery, message: "invalid matcher \(matcher): \(error)")
            }
        }
        return compiled
    }

    /// Blocks hold `[minTime, maxTime)`; queries ask for `[minTime, maxTime]`.
    private func overlappingBlocks(_ minTime: Int64, _ maxTime: Int64) -> [Block] {
        blocks.withLock { $0 }.filter { $0.meta.minTime <= maxTime && $0.meta.maxTime > minTime }
    }

    // MARK: Blocks and retention

    /// Cuts every block the head has enough data for, then deletes blocks past retention. Blocking
    /// I/O: run it off the cooperative pool.
    func compact() async throws {
        try await maintenance.run { try await cutMergeAndExpire() }
    }

    private func cutMergeAndExpire() async throws {
        while let range = head.blockToCut() {
            let series = head.prepareBlock(maxTime: range.maxTime)
            let start = ContinuousClock.now
            do {
                if !series.isEmpty {
                    let parent = blocksDirectory
                    let block = try await NIOThreadPool.singleton.runIfActive {
                        try Block(path: BlockWriter.write(parent: parent, minTime: range.minTime, maxTime: range.maxTime, series: series))
                    }
                    let path = block.path
                    blocks.withLock { $0.append(block); $0.sort { $0.meta.minTime < $1.meta.minTime } }
                    logger.info("block cut", metadata: [
                        "block.path": "\(path)", "block.series": "\(block.meta.numSeries)",
                        "block.samples": "\(block.meta.numSamples)", "duration": "\(ContinuousClock.now - start)",
                    ])
                }
                metrics.compactions(result: "success")
            } catch {
                metrics.compactions(result: "failure")
                throw error
            }
            let walNow = wal.withLock { $0 }
            let (segment, records) = head.dropBefore(range.maxTime, wal: walNow)
            if let walNow, let segment {
                // The exemplar and metadata stores outlive the head's chunks: their whole state goes
                // into every checkpoint, taken after the cut so nothing logged before it is missed.
                try await walNow.checkpoint(through: segment, records: records + exemplars.checkpointRecords() + metadata.checkpointRecords())
            }
            updateHeadGauges()
        }
        try await mergeBlocks()
        try applyRetention()
        updateBlockGauges()
    }

    /// Merges blocks while `Compaction.plan` finds a group, each merge written whole before its
    /// sources go.
    private func mergeBlocks() async throws {
        let ranges = Compaction.ranges(
            blockDuration: configuration.blockDuration, retention: configuration.retention, maxBlockDuration: configuration.maxBlockDuration
        )
        while let group = Compaction.plan(blockList, ranges: ranges, sealedBefore: head.minValidTime) {
            let start = ContinuousClock.now
            let parent = blocksDirectory
            let merged: Block
            do {
                merged = try await NIOThreadPool.singleton.runIfActive {
                    try Block(path: Compaction.merge(group, parent: parent))
                }
            } catch {
                metrics.compactions(result: "failure")
                throw error
            }
            let sources = Set(group.map(\.path))
            blocks.withLock { list in
                list.removeAll { sources.contains($0.path) }
                list.append(merged)
                list.sort { $0.meta.minTime < $1.meta.minTime }
            }
            // A query that picked the sources up before the swap still reads them: open blocks
            // outlive their names (`Block.delete`).
            for path in sources.sorted() { try Block.delete(path: path) }
            metrics.compactions(result: "success")
            logger.info("blocks merged", metadata: [
                "block.path": "\(merged.path)", "block.sources": "\(group.count)", "block.series": "\(merged.meta.numSeries)",
                "block.samples": "\(merged.meta.numSamples)", "duration": "\(ContinuousClock.now - start)",
            ])
        }
    }

    /// Deletes whole blocks that end more than `retention` before now, by the wall clock as
    /// VictoriaMetrics counts it: a node that stops receiving data still forgets it on time, and a
    /// sample with a wild future timestamp cannot delete everything else.
    func applyRetention() throws {
        guard configuration.retention > 0 else { return }
        let current = blocks.withLock { $0 }
        let cutoff = configuration.now() - configuration.retention
        let expired = current.filter { $0.meta.maxTime <= cutoff }
        guard !expired.isEmpty else { return }
        let expiredPaths = Set(expired.map(\.path))
        blocks.withLock { $0.removeAll { expiredPaths.contains($0.path) } }
        for block in expired {
            try Block.delete(path: block.path)
            metrics.blocksDeleted.increment()
            logger.info("block deleted by retention", metadata: ["block.path": "\(block.path)", "block.max_time": "\(block.meta.maxTime)"])
        }
    }

    var blockList: [Block] { blocks.withLock { $0 } }

    // MARK: Backfill

    /// Writes `request`'s float samples into blocks (`Backfill`): each block window gets a new block,
    /// or the block that covers it is rewritten with them. Returns once every block written is
    /// durable.
    ///
    /// - Throws: `.notSealed`, with nothing written, when a sample falls where the head still holds
    ///   or takes samples (`Head.backfillBoundary`); `.invalidBackfill` for native histograms or a
    ///   series that holds them; `.blockFailed` when a block cannot be written.
    func backfill(_ request: WriteRequest) async throws(StorageError) -> BackfillOutcome {
        guard isReady else { throw StorageError(code: .notReady, message: notReadyReason) }
        var outcome = BackfillOutcome()
        let range = configuration.blockDuration
        let cutoff = configuration.retention > 0 ? configuration.now() - configuration.retention : Int64.min
        var byWindow: [Int64: [Backfill.Series]] = [:]
        for var series in try Backfill.series(of: request) {
            let kept = series.samples.drop { $0.timestamp < cutoff }
            outcome.expired += series.samples.count - kept.count
            series.samples = Array(kept)
            var start = 0
            while start < series.samples.count {
                let window = alignDown(series.samples[start].timestamp, range)
                var end = start
                while end < series.samples.count, series.samples[end].timestamp < window + range { end += 1 }
                byWindow[window, default: []].append(Backfill.Series(labels: series.labels, samples: Array(series.samples[start..<end])))
                start = end
            }
        }
        guard !byWindow.isEmpty else { return outcome }
        do {
            return try await maintenance.run { () async throws -> BackfillOutcome in
                try await writeBackfill(byWindow, outcome: outcome)
            }
        } catch let error as StorageError {
            throw error
        } catch {
            throw StorageError(code: .blockFailed, message: "backfill: \(error)")
        }
    }

    /// Deletes the samples before `before` (and before the head's boundary) of the series `placed`
    /// recognises, from every block: a block holding only those is deleted, another is rewritten
    /// without them (the new block whole before the old goes, as a backfill rewrite). A block that
    /// reaches past the limit (one compaction merged) keeps their samples from the limit on: a chunk
    /// that straddles it is re-encoded from there, but a native-histogram chunk that straddles it
    /// is kept whole. The head is left alone: what it holds is deleted by a later call, once cut.
    func deletePlaced(_ placed: PlacementFilter, before: Int64) async throws(StorageError) -> PlacedSeriesDeletion.Response {
        guard isReady else { throw StorageError(code: .notReady, message: notReadyReason) }
        do {
            return try await maintenance.run { () async throws -> PlacedSeriesDeletion.Response in
                var outcome = PlacedSeriesDeletion.Response()
                let limit = min(before, head.backfillBoundary(now: configuration.now()))
                let parent = blocksDirectory
                let chunkRange = configuration.blockDuration
                for block in blockList where block.meta.minTime < limit {
                    let (written, series, samples) = try await NIOThreadPool.singleton.runIfActive { () throws -> (Block??, Int, Int) in
                        var kept: [(labels: [Label], chunks: [Backfill.BackfillChunk])] = []
                        var series = 0
                        var samples = 0
                        for id in 0..<block.seriesCount {
                            let labels = block.labels(of: id)
                            let chunks = block.chunks(of: id).map { Compaction.SourceChunk(block: block, ref: $0) }
                            guard placed.contains(labels) else {
                                kept.append((labels, chunks.map { .carried($0) }))
                                continue
                            }
                            let remaining = try Self.chunks(chunks, from: limit, chunkRange: chunkRange)
                            guard remaining.deleted > 0 else {
                                kept.append((labels, chunks.map { .carried($0) }))
                                continue
                            }
                            series += 1
                            samples += remaining.deleted
                            if !remaining.chunks.isEmpty { kept.append((labels, remaining.chunks)) }
                        }
                        // nil: nothing to delete; .some(nil): nothing left.
                        guard series > 0 else { return (nil, 0, 0) }
                        guard !kept.isEmpty else { return (.some(nil), series, samples) }
                        let path = try BlockWriter.write(
                            parent: parent, minTime: block.meta.minTime, maxTime: block.meta.maxTime, chunks: kept,
                            replacing: BlockFile.lastComponent(block.path)
                        )
                        return (.some(try Block(path: path)), series, samples)
                    }
                    guard let written else { continue }
                    blocks.withLock { list in
                        list.removeAll { $0.path == block.path }
                        if let written { list.append(written) }
                        list.sort { $0.meta.minTime < $1.meta.minTime }
                    }
                    try Block.delete(path: block.path)
                    outcome.blocksRewritten += 1
                    outcome.seriesDeleted += series
                    outcome.samplesDeleted += samples
                    logger.info("moved series deleted from a block", metadata: [
                        "block.path": "\(block.path)", "block.replacement": "\(written?.path ?? "none")",
                        "delete.series": "\(series)", "delete.samples": "\(samples)",
                    ])
                }
                updateBlockGauges()
                return outcome
            }
        } catch let error as StorageError {
            throw error
        } catch {
            throw StorageError(code: .blockFailed, message: "delete: \(error)")
        }
    }

    /// A series' chunks without its samples before `limit`, and how many samples that drops.
    static func chunks(
        _ chunks: [Compaction.SourceChunk], from limit: Int64, chunkRange: Int64
    ) throws -> (chunks: [Backfill.BackfillChunk], deleted: Int) {
        var kept: [Backfill.BackfillChunk] = []
        var deleted = 0
        for chunk in chunks {
            if chunk.minTime >= limit {
                kept.append(.carried(chunk))
            } else if chunk.maxTime < limit {
                deleted += BlockFormat.sampleCount(try chunk.read())
            } else if chunk.encoding != .xor {
                kept.append(.carried(chunk))
            } else {
                let samples = try XORChunkDecoder.decodeAll(try chunk.read()).map { Sample(timestamp: $0.timestamp, value: $0.value) }
                let later = samples.filter { $0.timestamp >= limit }
                deleted += samples.count - later.count
                kept += Backfill.xorChunks(later, chunkRange: chunkRange, samplesPerChunk: max(later.count, 1)).map { .encoded($0) }
            }
        }
        return (kept, deleted)
    }

    /// `backfill`'s writes, under the maintenance lock: every target block checked first, then
    /// written one after the other.
    private func writeBackfill(_ byWindow: [Int64: [Backfill.Series]], outcome: BackfillOutcome) async throws -> BackfillOutcome {
        var outcome = outcome
        let range = configuration.blockDuration
        // Each window goes into the block that covers it, or a new block of the window alone.
        let current = blockList
        var targets: [(minTime: Int64, maxTime: Int64, block: Block?, series: [Backfill.Series])] = []
        for window in byWindow.keys.sorted() {
            let covering = current.first { $0.meta.minTime <= window && window + range <= $0.meta.maxTime }
            if let covering, let last = targets.last, last.block?.path == covering.path {
                targets[targets.count - 1].series += byWindow[window]!
            } else {
                targets.append((covering?.meta.minTime ?? window, covering?.meta.maxTime ?? window + range, covering, byWindow[window]!))
            }
        }
        let end = targets.map(\.maxTime).max()!
        let now = configuration.now()
        guard head.sealForBackfill(through: end, now: now) else {
            let boundary = head.backfillBoundary(now: now)
            throw StorageError(
                code: .notSealed,
                message: "backfill up to \(end) reaches where the head still takes samples (backfill ends at or before \(boundary)); retry once the head has cut that block"
            )
        }
        let parent = blocksDirectory
        let chunkRange = range
        let samplesPerChunk = head.configuration.samplesPerChunk
        for target in targets {
            let series = Backfill.joined(target.series)
            let start = ContinuousClock.now
            let (written, added, present) = try await NIOThreadPool.singleton.runIfActive { () throws -> (Block?, Int, Int) in
                let merged = try Backfill.merge(series, into: target.block, chunkRange: chunkRange, samplesPerChunk: samplesPerChunk)
                guard merged.added > 0 else { return (nil, 0, merged.present) }
                let path = try BlockWriter.write(
                    parent: parent, minTime: target.minTime, maxTime: target.maxTime, chunks: merged.series,
                    replacing: target.block.map { BlockFile.lastComponent($0.path) }
                )
                return (try Block(path: path), merged.added, merged.present)
            }
            outcome.added += added
            outcome.present += present
            guard let written else { continue }
            outcome.blocksWritten += 1
            blocks.withLock { list in
                if let old = target.block { list.removeAll { $0.path == old.path } }
                list.append(written)
                list.sort { $0.meta.minTime < $1.meta.minTime }
            }
            if let old = target.block { try Block.delete(path: old.path) }
            metrics.backfilledSamples.increment(by: Int64(added))
            logger.info("backfill block written", metadata: [
                "block.path": "\(written.path)", "block.replaces": "\(target.block?.path ?? "none")",
                "backfill.added": "\(added)", "backfill.present": "\(present)", "duration": "\(ContinuousClock.now - start)",
            ])
        }
        updateBlockGauges()
        return outcome
    }

    /// Closes the WAL. From then on writes are refused as before the replay: a closed node must not
    /// take a write into its head with no WAL behind it, or a retry would find the samples there and
    /// be acknowledged as duplicates (an in-process writer can still call it after shutdown).
    func close() {
        closed.store(true, ordering: .relaxed)
        wal.withLock { wal in
            defer { wal = nil }
            return wal
        }?.close()
    }

    // MARK: Gauges

    func updateHeadGauges() {
        let stats = head.stats
        metrics.headSeries.set(Double(stats.series))
        metrics.headChunks.set(Double(stats.chunks))
    }

    func updateBlockGauges() {
        let current = blocks.withLock { $0 }
        let bytes = current.reduce(0) { $0 + $1.sizeBytes }
        let samples = current.reduce(0) { $0 + $1.meta.numSamples }
        metrics.blocks.record(blocks: current.count, bytes: bytes, samples: samples)
    }
}

/// Merges per-source lists (each sorted by label set) into one, joining the chunks of equal label sets
/// in time order. Sources never overlap in time: blocks hold disjoint ranges and the head starts where
/// the newest block ends.
func mergeSources(_ sources: [[SeriesChunks]]) -> [SeriesChunks] {
    let nonEmpty = sources.filter { !$0.isEmpty }
    if nonEmpty.count <= 1 { return nonEmpty.first ?? [] }
    return joinByLabelSet(nonEmpty.flatMap { $0 })
}

/// A series' labels and its chunks, of whichever kind: stored (queries) or still in a source block
/// (compaction).
protocol LabeledChunks {
    associatedtype ChunkType: BlockChunk
    var chunks: [ChunkType] { get set }
    /// The order of the two label sets (`compareLabelSets`), in whatever form this type holds them.
    func compareLabels(to other: Self) -> Int
}

extension SeriesChunks: LabeledChunks {
    func compareLabels(to other: SeriesChunks) -> Int { LabelSetBytes.compare(labelBytes, other.labelBytes) }
}

/// Sorts `all` by label set and joins the chunks of equal label sets, in time order. The parts never
/// overlap in time: they come from blocks of disjoint ranges and a head that starts where they end.
func joinByLabelSet<S: LabeledChunks>(_ all: [S]) -> [S] {
    var all = all
    all.sort { $0.compareLabels(to: $1) < 0 }
    var joined: [S] = []
    joined.reserveCapacity(all.count)
    for series in all {
        if let last = joined.last, last.compareLabels(to: series) == 0 {
            joined[joined.count - 1].chunks += series.chunks
        } else {
            joined.append(series)
        }
    }
    for index in joined.indices { joined[index].chunks.sort { $0.minTime < $1.minTime } }
    return joined
}
