import SluiceCodec
import SluiceQuery
import Synchronization

/// Backfill: float samples older than what the head takes, written straight into blocks. It is how
/// `sluice repair` and `sluice ring rebalance` copy history a replica lacks, and ordinary remote
/// write never takes this path: its ordering rules and status codes stay as they are.
///
/// Design. Prometheus' answer to late samples is an out-of-order head (`out_of_order_time_window`):
/// a second kind of head chunk, merged at query time and compacted into overlapping blocks. Sluice
/// keeps one rule instead, that blocks never overlap and a series' chunks are in time order, so
/// every reader (SAMPLES, STREAMED, compaction) stays as it is:
/// - Backfill writes only block windows the head is done with (`Head.backfillBoundary`): the head
///   holds nothing there and will take nothing there. Writing seals them (`Head.sealForBackfill`),
///   as a block cut does. Newer windows wait until the head cuts them (at most one and a half block
///   ranges); hinted handoff covers those minutes.
/// - A window with no block gets a new block of exactly that window. A window inside a block
///   (perhaps a merged, larger one) gets that block rewritten whole, its series merged with the
///   backfilled ones: the new block names the old in `meta.replaces` and is written whole before the
///   old is deleted, so a crash leaves one of them or both, and the next open deletes the replaced
///   one (`Compaction.leftBehind`).
/// - A sample at a timestamp the block already holds keeps the stored value: repeats are free, and
///   a conflicting value does not overwrite history.
/// - A 2xx comes after the block files and their directory are fsynced and renamed into place.
///
/// Native histograms are not backfilled: a request with any is refused whole.
enum Backfill {
    /// One series to backfill: labels sorted by name, samples sorted by time with no time twice.
    struct Series: Sendable {
        var labels: [Label]
        var samples: [Sample]
    }

    /// A chunk of the written block: carried over from the block being rewritten, or encoded anew.
    enum BackfillChunk: BlockChunk {
        case carried(Compaction.SourceChunk)
        case encoded(StoredChunk)

        var minTime: Int64 {
            switch self {
            case .carried(let chunk): chunk.minTime
            case .encoded(let chunk): chunk.minTime
            }
        }

        var maxTime: Int64 {
            switch self {
            case .carried(let chunk): chunk.maxTime
            case .encoded(let chunk): chunk.maxTime
            }
        }

        var encoding: Chunk.Encoding {
            switch self {
            case .carried(let chunk): chunk.encoding
            case .encoded(let chunk): chunk.encoding
            }
        }

        var byteCount: Int {
            switch self {
            case .carried(let chunk): chunk.byteCount
            case .encoded(let chunk): chunk.byteCount
            }
        }

        func read() throws -> [UInt8] {
            switch self {
            case .carried(let chunk): try chunk.read()
            case .encoded(let chunk): chunk.bytes
            }
        }
    }

    /// What a rewrite would hold, before anything is written.
    struct Merged {
        var series: [(labels: [Label], chunks: [BackfillChunk])] = []
        /// Samples the block did not hold before.
        var added = 0
        /// Samples it already held at their timestamps.
        var present = 0
    }

    /// `block`'s series (none when nil) merged with `incoming`, which is sorted by label set, every
    /// sample inside the block's range. A series both hold is decoded and encoded again only when
    /// something is added to it.
    ///
    /// - Throws: `StorageError.invalidBackfill` for a series that holds native histograms in the block.
    static func merge(
        _ incoming: [Series], into block: Block?, chunkRange: Int64, samplesPerChunk: Int
    ) throws -> Merged {
        var merged = Merged()
        let ids = block.map { Array(0..<$0.seriesCount) } ?? []
        var next = 0
        func carry(_ id: Int, of block: Block) {
            let chunks = block.chunks(of: id).map { BackfillChunk.carried(Compaction.SourceChunk(block: block, ref: $0)) }
            merged.series.append((block.labels(of: id), chunks))
        }
        for series in incoming {
            // Block series before this one are carried as they are.
            var existing: [Sample]? = nil
            if let block {
                while next < ids.count {
                    let order = compareLabelSets(block.labels(of: ids[next]), series.labels)
                    if order > 0 { break }
                    if order < 0 {
                        carry(ids[next], of: block)
                        next += 1
                        continue
                    }
                    let refs = block.chunks(of: ids[next])
                    if refs.contains(where: { $0.encoding != .xor }) {
                        throw StorageError(
                            code: .invalidBackfill, message: "series \(series.labels) holds native histograms in block \(block.path): backfill takes floats only"
                        )
                    }
                    var samples: [Sample] = []
                    for ref in refs {
                        for sample in try XORChunkDecoder.decodeAll(block.chunk(ref).bytes) {
                            samples.append(Sample(timestamp: sample.timestamp, value: sample.value))
                        }
                    }
                    existing = samples
                    next += 1
                    break
                }
            }
            let (union, added) = union(existing ?? [], series.samples)
            merged.added += added
            merged.present += series.samples.count - added
            if added == 0, let block, existing != nil {
                carry(ids[next - 1], of: block)
            } else if !union.isEmpty {
                merged.series.append((series.labels, xorChunks(union, chunkRange: chunkRange, samplesPerChunk: samplesPerChunk).map { .encoded($0) }))
            }
        }
        if let block {
            while next < ids.count {
                carry(ids[next], of: block)
                next += 1
            }
        }
        return merged
    }

    /// `stored` and `incoming`, both sorted with no time twice, as one sorted list; at a time both
    /// hold, the stored value stays. Also returns how many of `incoming` were new.
    static func union(_ stored: [Sample], _ incoming: [Sample]) -> ([Sample], Int) {
        var out: [Sample] = []
        out.reserveCapacity(stored.count + incoming.count)
        var added = 0
        var i = 0
        var j = 0
        while i < stored.count || j < incoming.count {
            if j == incoming.count || (i < stored.count && stored[i].timestamp < incoming[j].timestamp) {
                out.append(stored[i])
                i += 1
            } else if i == stored.count || incoming[j].timestamp < stored[i].timestamp {
                out.append(incoming[j])
                added += 1
                j += 1
            } else {
                out.append(stored[i])
                i += 1
                j += 1
            }
        }
        return (out, added)
    }

    /// `samples` (sorted, no time twice) as XOR chunks the way the head cuts them: at most
    /// `samplesPerChunk` each, none straddling a multiple of `chunkRange`.
    static func xorChunks(_ samples: [Sample], chunkRange: Int64, samplesPerChunk: Int) -> [StoredChunk] {
        var chunks: [StoredChunk] = []
        var encoder = XORChunkEncoder()
        var end = Int64.min
        func cut() {
            if encoder.count > 0 { chunks.append(StoredChunk(minTime: encoder.minTime, maxTime: encoder.maxTime, bytes: encoder.bytes)) }
        }
        for sample in samples {
            if encoder.count >= samplesPerChunk || sample.timestamp >= end {
                cut()
                encoder = XORChunkEncoder()
                end = alignDown(sample.timestamp, chunkRange) + chunkRange
            }
            encoder.append(timestamp: sample.timestamp, value: sample.value)
        }
        cut()
        return chunks
    }

    /// `parts` (one series may come in several, each of one window) sorted by label set, the parts
    /// of a series joined in time order.
    static func joined(_ parts: [Series]) -> [Series] {
        let sorted = parts.sorted {
            let order = compareLabelSets($0.labels, $1.labels)
            return order != 0 ? order < 0 : ($0.samples.first?.timestamp ?? 0) < ($1.samples.first?.timestamp ?? 0)
        }
        var out: [Series] = []
        for part in sorted {
            if let last = out.last, last.labels == part.labels {
                out[out.count - 1].samples += part.samples
            } else {
                out.append(part)
            }
        }
        return out
    }

    /// A request's series ready for `merge`: float samples only, each series once (a series listed
    /// twice has its samples joined), samples sorted with the first value of a repeated time kept.
    ///
    /// - Throws: `.invalidBackfill` for a series with native histograms.
    static func series(of request: WriteRequest) throws(StorageError) -> [Series] {
        var byLabels: [[Label]: [Sample]] = [:]
        for series in request.timeseries {
            guard series.histograms.isEmpty else {
                throw StorageError(code: .invalidBackfill, message: "backfill takes float samples only; series \(series.labels) has native histograms")
            }
            byLabels[series.labels, default: []] += series.samples
        }
        var out: [Series] = []
        out.reserveCapacity(byLabels.count)
        for (labels, samples) in byLabels {
            var sorted: [Sample] = []
            sorted.reserveCapacity(samples.count)
            for sample in samples.enumerated().sorted(by: { ($0.element.timestamp, $0.offset) < ($1.element.timestamp, $1.offset) }).map(\.element)
            where sorted.last?.timestamp != sample.timestamp {
                sorted.append(sample)
            }
            if !sorted.isEmpty { out.append(Series(labels: labels, samples: sorted)) }
        }
        out.sort { compareLabelSets($0.labels, $1.labels) < 0 }
        return out
    }
}

/// What a backfill stored.
struct BackfillOutcome: Sendable, Equatable {
    /// Samples written that the node did not hold.
    var added = 0
    /// Samples the node already held at their timestamps (the stored value stays).
    var present = 0
    /// Samples past retention, dropped as retention would drop them.
    var expired = 0
    /// Blocks written: new windows and rewritten blocks.
    var blocksWritten = 0
}

/// Runs the jobs that change the block list (cuts, merges, retention, backfill) one at a time, in
/// the order they arrive, so no job builds on a block another is replacing.
final class BlockMaintenanceLock: Sendable {
    private struct State {
        var busy = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    func run<T>(_ body: () async throws -> T) async rethrows -> T {
        await acquire()
        defer { release() }
        return try await body()
    }

    private func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state -> Bool in
                if !state.busy {
                    state.busy = true
                    return true
                }
                state.waiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    private func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.waiters.isEmpty {
                state.busy = false
                return nil
            }
            return state.waiters.removeFirst()
        }
        next?.resume()
    }
}
