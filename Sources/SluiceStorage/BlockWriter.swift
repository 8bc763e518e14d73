#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import SluiceCodec
import SluiceFiles

/// A chunk on its way into a block: its time range, encoding and size up front, its bytes read only
/// when the `chunks` file is written, so a compaction never holds more than one chunk's bytes.
protocol BlockChunk {
    var minTime: Int64 { get }
    var maxTime: Int64 { get }
    var encoding: Chunk.Encoding { get }
    /// Bytes of the chunk, without a CRC.
    var byteCount: Int { get }
    /// The chunk's bytes, `byteCount` of them.
    func read() throws -> [UInt8]
}

extension StoredChunk: BlockChunk {
    var byteCount: Int { bytes.count }
    func read() -> [UInt8] { bytes }
}

/// Writes immutable blocks (format in `BlockIndex.swift`).
///
/// A block appears whole or not at all: everything is written under `<name>.tmp`, every file and the
/// directory are fsynced, and only then is it renamed to its final name and the parent fsynced. A
/// crash before the rename leaves a `.tmp` directory that `Block.listBlocks` removes.
enum BlockWriter {
    /// Chunk bytes are gathered into writes of about this size.
    static let writeBufferSize = 1 << 20

    /// Writes a block of [minTime, maxTime) under `parent` (created if missing).
    ///
    /// - Parameter series: sorted by label set in Prometheus order, label sets unique, labels sorted by
    ///   name with no name twice; each series' chunks sorted by minTime, each inside [minTime, maxTime)
    ///   with `minTime <= maxTime`, each at least a chunk's 2-byte sample-count header, in an encoding
    ///   blocks know (XOR, histogram, float histogram). Checked before anything is written. Blocks of
    ///   XOR chunks alone are written in format version 1, others in version 2.
    /// - Returns: the new block's directory.
    /// - Throws: `.invalidInput` when `series` breaks the rules above or the range is empty; `.io` when
    ///   the disk fails, after removing the partial `.tmp` directory.
    static func write(
        parent: String,
        minTime: Int64,
        maxTime: Int64,
        series: [(labels: [Label], chunks: [StoredChunk])]
    ) throws(BlockError) -> String {
        try write(parent: parent, minTime: minTime, maxTime: maxTime, chunks: series)
    }

    /// `write(parent:minTime:maxTime:series:)` for chunks read as they are written (`BlockChunk`).
    ///
    /// - Throws: also `.io` when a chunk cannot be read, after removing the partial directory.
    static func write<C: BlockChunk>(
        parent: String,
        minTime: Int64,
        maxTime: Int64,
        chunks series: [(labels: [Label], chunks: [C])],
        replacing replaced: String? = nil
    ) throws(BlockError) -> String {
        guard minTime < maxTime else {
            throw BlockError(.invalidInput, "empty block range [\(minTime), \(maxTime))")
        }
        var numChunks = 0
        for (id, entry) in series.enumerated() {
            var previousMin = Int64.min
            for chunk in entry.chunks {
                guard chunk.minTime >= minTime, chunk.maxTime < maxTime, chunk.minTime <= chunk.maxTime else {
                    throw BlockError(.invalidInput, "series \(id): chunk [\(chunk.minTime), \(chunk.maxTime)] outside [\(minTime), \(maxTime))")
                }
                guard chunk.minTime >= previousMin else {
                    throw BlockError(.invalidInput, "series \(id): chunks not sorted by minTime")
                }
                guard chunk.byteCount >= 2 else {
                    throw BlockError(.invalidInput, "series \(id): chunk shorter than an XOR chunk header")
                }
                guard BlockFormat.isKnown(chunk.encoding) else {
                    throw BlockError(.invalidInput, "series \(id): unknown chunk encoding \(chunk.encoding.rawValue)")
                }
                previousMin = chunk.minTime
                numChunks += 1
            }
        }
        let plan = try BlockIndexPlan(series: series)
        let version = BlockFormat.version(for: series)

        let parent = BlockFile.trimmingSlashes(parent)
        try BlockFile.makeDirectories(parent)
        let final = parent + "/" + BlockFormat.directoryName(minTime: minTime, maxTime: maxTime)
        let temporary = final + BlockFormat.temporarySuffix
        guard mkdir(temporary, 0o755) == 0 else { throw BlockFile.error("mkdir", temporary, errno) }
        do throws(BlockError) {
            let (chunkOffsets, numSamples) = try writeChunks(series, version: version, to: temporary + "/" + BlockFormat.chunksFile)
            var meta = BlockMeta(
                minTime: minTime, maxTime: maxTime, numSeries: series.count, numChunks: numChunks, numSamples: numSamples,
                version: version
            )
            meta.replaces = replaced
            let index = plan.encode(minTime: minTime, maxTime: maxTime, version: version, series: series, chunkOffsets: chunkOffsets)
            try BlockFile.writeNewFile(temporary + "/" + BlockFormat.indexFile, index)
            try BlockFile.writeNewFile(temporary + "/" + BlockFormat.metaFile, Array(meta.json().utf8))
            try BlockFile.syncDirectory(temporary)
            try BlockFile.renameItem(temporary, final)
        } catch {
            try? BlockFile.removeTree(temporary)
            throw error
        }
        // The block is whole under its final name; a crash before this sync loses it, never half of it.
        try BlockFile.syncDirectory(parent)
        return final
    }

    /// Writes the `chunks` file and returns each chunk's offset in it, series by series, and the
    /// samples the chunks hold.
    private static func writeChunks<C: BlockChunk>(
        _ series: [(labels: [Label], chunks: [C])],
        version: UInt8,
        to path: String
    ) throws(BlockError) -> (offsets: [Int], samples: Int) {
        let fd = try BlockFile.openFile(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC)
        defer { BlockFile.closeFile(fd) }
        let buffer = ByteScratch(capacity: writeBufferSize + 64 * 1024)
        BlockFormat.chunksMagic.withUnsafeBytes { buffer.append($0) }
        buffer.append(version)
        for _ in 0..<3 { buffer.append(0) }
        var flushed = 0
        var offsets: [Int] = []
        offsets.reserveCapacity(series.reduce(0) { $0 + $1.chunks.count })
        var samples = 0
        for entry in series {
            for chunk in entry.chunks {
                let bytes: [UInt8]
                do {
                    bytes = try chunk.read()
                } catch {
                    throw BlockError(.io, "reading a chunk for \(path): \(error)")
                }
                guard bytes.count == chunk.byteCount else {
                    throw BlockError(.invalidInput, "a chunk for \(path) has \(bytes.count) bytes, not the \(chunk.byteCount) announced")
                }
                samples += BlockFormat.sampleCount(bytes)
                offsets.append(flushed + buffer.count)
                bytes.withUnsafeBytes { buffer.append($0) }
                withUnsafeBytes(of: CRC32C.checksum(bytes).littleEndian) { buffer.append($0) }
                if buffer.count >= writeBufferSize {
                    try BlockFile.writeFully(fd, buffer.bytes, path: path)
                    flushed += buffer.count
                    buffer.removeAll()
                }
            }
        }
        try BlockFile.writeFully(fd, buffer.bytes, path: path)
        try BlockFile.sync(fd, path: path)
        return (offsets, samples)
    }
}
