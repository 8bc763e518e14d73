#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import SluiceCodec
import SluiceFiles
import SluiceQuery

/// Where one chunk of a block lies in its `chunks` file, with the chunk's time range so a query can
/// skip it without reading it.
struct BlockChunkRef: Sendable, Hashable {
    var minTime: Int64
    var maxTime: Int64
    /// Offset of the chunk's first byte in `chunks`.
    var offset: Int
    /// Bytes of the chunk, without the CRC that follows it.
    var length: Int
    /// Always `.xor` in a version-1 block.
    var encoding: Chunk.Encoding = .xor
}

/// An immutable on-disk block (format in `BlockIndex.swift`): every series' chunks for a time range.
///
/// Opening reads the whole index into memory, where selection needs it, and keeps the `chunks` file
/// open: chunk bytes are read with `pread` only when a query asks for them, so a block costs memory
/// for its labels and chunk metas, not its samples. Nothing changes after `init`, so a `Block` is
/// shared freely between queries.
final class Block: Sendable, PostingsIndex {
    /// The block's directory.
    let path: String
    let meta: BlockMeta
    /// Bytes of all the block's files, for retention by size and the storage gauges.
    let sizeBytes: Int
    private let index: BlockIndex
    private let chunksFD: Int32
    private let chunksSize: Int

    /// Opens the block at `path`, checking `meta.json`, the index CRC and every ref the index holds.
    ///
    /// - Throws: `BlockError` when a file cannot be read; `CodecError` when one is corrupt, or the files
    ///   disagree with each other.
    init(path: String) throws {
        let path = BlockFile.trimmingSlashes(path)
        let meta = try BlockMeta(json: BlockFile.readWholeFile(path + "/" + BlockFormat.metaFile, limit: BlockMeta.maxFileSize))
        let chunksPath = path + "/" + BlockFormat.chunksFile
        let fd = try BlockFile.openFile(chunksPath, O_RDONLY | O_CLOEXEC)
        do {
            let chunksSize = try BlockFile.size(of: fd, path: chunksPath)
            guard let header = try BlockFile.readExactly(fd, count: BlockFormat.chunksHeaderSize, at: 0, path: chunksPath) else {
                throw CodecError(.truncated, "block chunks file shorter than its header")
            }
            guard header[0..<4].elementsEqual(BlockFormat.chunksMagic), BlockFormat.readableVersions.contains(header[4]),
                header[5..<8].allSatisfy({ $0 == 0 })
            else { throw CodecError(.chunkCorrupt, "block chunks file: bad magic or version") }

            let indexPath = path + "/" + BlockFormat.indexFile
            let index = try BlockIndex(decoding: BlockFile.readWholeFile(indexPath), chunksSize: chunksSize)
            guard index.version == header[4], index.version == meta.version else {
                throw CodecError(.chunkCorrupt, "block files disagree on the format version")
            }
            guard index.minTime == meta.minTime, index.maxTime == meta.maxTime,
                index.seriesCount == meta.numSeries, index.chunkRefs.count == meta.numChunks
            else { throw CodecError(.chunkCorrupt, "block meta.json disagrees with its index") }

            let indexSize = try BlockFile.fileSize(indexPath)
            let metaSize = try BlockFile.fileSize(path + "/" + BlockFormat.metaFile)
            self.path = path
            self.meta = meta
            self.sizeBytes = chunksSize + indexSize + metaSize
            self.index = index
            self.chunksFD = fd
            self.chunksSize = chunksSize
        } catch {
            BlockFile.closeFile(fd)
            throw error
        }
    }

    deinit {
        BlockFile.closeFile(chunksFD)
    }

    var seriesCount: Int { index.seriesCount }

    /// The labels of series `id`, sorted by name.
    ///
    /// - Precondition: `0 <= id < seriesCount`.
    func labels(of id: Int) -> [Label] {
        let refs = index.labelRefs[index.labelStarts[id]..<index.labelStarts[id + 1]]
        var labels: [Label] = []
        labels.reserveCapacity(refs.count / 2)
        var position = refs.startIndex
        while position < refs.endIndex {
            labels.append(Label(name: index.symbols[Int(refs[position])], value: index.symbols[Int(refs[position + 1])]))
            position += 2
        }
        return labels
    }

    /// Where series `id`'s chunks lie, sorted by minTime.
    ///
    /// - Precondition: `0 <= id < seriesCount`.
    func chunks(of id: Int) -> [BlockChunkRef] {
        Array(index.chunkRefs[index.chunkStarts[id]..<index.chunkStarts[id + 1]])
    }

    /// Reads one chunk and checks its CRC.
    ///
    /// - Throws: `CodecError` `.checksumMismatch` when the bytes are damaged, `.chunkCorrupt` for a ref
    ///   that does not lie inside the `chunks` file, `.truncated` when the file shrank since opening;
    ///   `BlockError` when the read fails.
    func chunk(_ ref: BlockChunkRef) throws -> StoredChunk {
        let trailer = BlockFormat.chunkTrailerSize
        guard ref.offset >= BlockFormat.chunksHeaderSize, ref.length >= 0, ref.offset <= chunksSize - trailer,
            ref.length <= chunksSize - trailer - ref.offset
        else { throw CodecError(.chunkCorrupt, "block chunk ref outside the chunks file") }
        let chunksPath = path + "/" + BlockFormat.chunksFile
        guard var bytes = try BlockFile.readExactly(chunksFD, count: ref.length + trailer, at: ref.offset, path: chunksPath) else {
            throw CodecError(.truncated, "block chunks file ends inside a chunk")
        }
        let stored = bytes.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: ref.length, as: UInt32.self)) }
        guard CRC32C.checksum(bytes[..<ref.length]) == stored else {
            throw CodecError(.checksumMismatch, "block chunk CRC32C mismatch")
        }
        bytes.removeLast(trailer)
        return StoredChunk(minTime: ref.minTime, maxTime: ref.maxTime, bytes: bytes, encoding: ref.encoding)
    }

    /// Every label name in the block, sorted by UTF-8 bytes.
    func labelNames() -> [String] {
        index.nameRefs.map { index.symbols[Int($0)] }
    }

    // MARK: PostingsIndex

    func postings(name: String, value: String) -> [Int] {
        guard let nameRef = index.symbolRef(name), let valueRef = index.symbolRef(value) else { return [] }
        let key = UInt64(nameRef) << 32 | UInt64(valueRef)
        let pair = index.pairLowerBound(key)
        guard pair < index.pairKeys.count, index.pairKeys[pair] == key else { return [] }
        return index.postingIDs[index.postingStarts[pair]..<index.postingStarts[pair + 1]].map { Int($0) }
    }

    /// The values of `name`, sorted by UTF-8 bytes.
    func values(of name: String) -> [String] {
        guard let nameRef = index.symbolRef(name) else { return [] }
        let first = index.pairLowerBound(UInt64(nameRef) << 32)
        let end = index.pairLowerBound(UInt64(nameRef + 1) << 32)
        return index.pairKeys[first..<end].map { index.symbols[Int($0 & 0xFFFF_FFFF)] }
    }

    func allSeries() -> [Int] {
        Array(0..<index.seriesCount)
    }

    // MARK: The blocks directory

    /// The blocks in `directory`, ordered by minTime (then maxTime, then name).
    ///
    /// Also removes what crashed writers and deletions left behind (`*.tmp`, `*.deleted`), so call it
    /// when opening the directory, before any writer starts. Entries whose names are not a block's are
    /// left alone. A missing directory holds no blocks.
    static func listBlocks(in directory: String) throws -> [String] {
        let directory = BlockFile.trimmingSlashes(directory)
        guard BlockFile.isDirectory(directory) else { return [] }
        var blocks: [(minTime: Int64, maxTime: Int64, name: String)] = []
        var removed = false
        for name in try BlockFile.listDirectory(directory) {
            if name.hasSuffix(BlockFormat.temporarySuffix) || name.hasSuffix(BlockFormat.deletedSuffix) {
                try BlockFile.removeTree(directory + "/" + name)
                removed = true
            } else if let range = BlockFormat.parseDirectoryName(name), BlockFile.isDirectory(directory + "/" + name) {
                blocks.append((range.minTime, range.maxTime, name))
            }
        }
        if removed { try BlockFile.syncDirectory(directory) }
        blocks.sort { ($0.minTime, $0.maxTime, $0.name) < ($1.minTime, $1.maxTime, $1.name) }
        return blocks.map { directory + "/" + $0.name }
    }

    /// Deletes the block at `path`.
    ///
    /// The directory is first renamed to `<name>.deleted` (and the rename synced), so a crash part-way
    /// through leaves a name `listBlocks` discards, never a block with files missing. A `Block` still
    /// open on it keeps reading its chunks until it is released: the open file outlives its name.
    static func delete(path: String) throws {
        let path = BlockFile.trimmingSlashes(path)
        let parent = BlockFile.parentDirectory(path)
        let doomed = path + BlockFormat.deletedSuffix
        try BlockFile.removeTree(doomed)
        try BlockFile.renameItem(path, doomed)
        try BlockFile.syncDirectory(parent)
        try BlockFile.removeTree(doomed)
        try BlockFile.syncDirectory(parent)
    }
}
