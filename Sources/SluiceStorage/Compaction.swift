import SluiceCodec
import SluiceQuery

/// Merges adjacent blocks into larger ones, in Prometheus' steps: each range three times the one
/// before it (2 h, 6 h, 18 h, 54 h, …), the largest a tenth of the retention and at most 31 days.
/// Fewer, larger blocks mean fewer indexes to hold and search, and chunks of one series side by side.
///
/// Crash safety comes from two rules:
/// - The merged block is written whole under a temporary name and renamed (`BlockWriter`); only then
///   are its sources deleted, each by an atomic rename first (`Block.delete`).
/// - A block whose range lies inside a larger block's range can only be a source whose deletion a
///   crash interrupted: the head never cuts into a range a block covers. `sourcesLeftBehind` finds
///   them when the storage opens, and they are deleted before anything reads them.
///
/// So a kill -9 at any moment leaves either the sources, or the sources and the whole merged block
/// (resolved at the next open), or the merged block: never a half-written block or two blocks that
/// hold the same samples.
enum Compaction {
    /// Prometheus' bound on the largest range: 31 days.
    static let maxRange: Int64 = 31 * 24 * 3_600_000

    /// The ranges blocks are merged into, smallest first; the first is the head's block length.
    /// `maxBlockDuration` bounds them when positive, else a tenth of `retention` (at most 31 days).
    static func ranges(blockDuration: Int64, retention: Int64, maxBlockDuration: Int64) -> [Int64] {
        let limit = maxBlockDuration > 0 ? maxBlockDuration : retention > 0 ? min(retention / 10, maxRange) : maxRange
        var ranges = [blockDuration]
        while ranges.last! <= limit / 3 {
            ranges.append(ranges.last! * 3)
        }
        return ranges
    }

    /// The next blocks to merge, in time order, or nil: at least two blocks inside one aligned range of
    /// `ranges` (smallest range first), where the range ends at or before `sealedBefore`, the time
    /// before which the head takes no more samples, so no block will join the group later.
    static func plan(_ blocks: [Block], ranges: [Int64], sealedBefore: Int64) -> [Block]? {
        let sorted = blocks.sorted { $0.meta.minTime < $1.meta.minTime }
        for range in ranges.dropFirst() {
            var index = 0
            while index < sorted.count {
                let start = alignDown(sorted[index].meta.minTime, range)
                let end = start + range
                var group: [Block] = []
                while index < sorted.count, sorted[index].meta.minTime >= start, sorted[index].meta.maxTime <= end {
                    group.append(sorted[index])
                    index += 1
                }
                if group.isEmpty {
                    // A block larger than this range, or straddling its end: not merged at this step.
                    index += 1
                    continue
                }
                if group.count >= 2, end <= sealedBefore { return group }
            }
        }
        return nil
    }

    /// Writes one block under `parent` holding everything `blocks` hold, and returns its directory.
    /// The sources are left as they are. Only labels and chunk refs are held in memory; each chunk's
    /// bytes are read from its source block as the merged `chunks` file is written.
    ///
    /// - Precondition: the blocks' ranges do not overlap.
    static func merge(_ blocks: [Block], parent: String) throws -> String {
        var all: [SourceSeries] = []
        for block in blocks {
            for id in block.allSeries() {
                all.append(SourceSeries(labels: block.labels(of: id), chunks: block.chunks(of: id).map { SourceChunk(block: block, ref: $0) }))
            }
        }
        return try BlockWriter.write(
            parent: parent,
            minTime: blocks.map(\.meta.minTime).min()!,
            maxTime: blocks.map(\.meta.maxTime).max()!,
            chunks: joinByLabelSet(all).map { ($0.labels, $0.chunks) }
        )
    }

    /// One source block's part of a series.
    struct SourceSeries: LabeledChunks {
        var labels: [Label]
        var chunks: [SourceChunk]

        func compareLabels(to other: SourceSeries) -> Int { compareLabelSets(labels, other.labels) }
    }

    /// A chunk of a source block, read (and its CRC checked) only when the merged block is written.
    struct SourceChunk: BlockChunk {
        let block: Block
        let ref: BlockChunkRef

        var minTime: Int64 { ref.minTime }
        var maxTime: Int64 { ref.maxTime }
        var encoding: Chunk.Encoding { ref.encoding }
        var byteCount: Int { ref.length }
        func read() throws -> [UInt8] { try block.chunk(ref).bytes }
    }

    /// The blocks a crash stopped from being deleted, which another block holds everything of:
    /// - sources of a merge, whose range lies inside a larger block's;
    /// - blocks a backfill rewrote (`Backfill`), which the rewritten block names in `replaces`.
    static func leftBehind(_ blocks: [Block]) -> [Block] {
        let replaced = Set(blocks.compactMap(\.meta.replaces))
        return blocks.filter { block in
            replaced.contains(BlockFile.lastComponent(block.path))
                || blocks.contains { other in
                    other.path != block.path && other.meta.minTime <= block.meta.minTime && block.meta.maxTime <= other.meta.maxTime
                        && other.meta.maxTime - other.meta.minTime > block.meta.maxTime - block.meta.minTime
                }
        }
    }
}
