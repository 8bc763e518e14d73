import SluiceCodec

// On-disk format of a block, versions 1 and 2.
//
// A block is a directory `<blocks>/<minTime>_<maxTime>_<16 hex digits>`: the half-open time range
// [minTime, maxTime) in decimal milliseconds (either may be negative, hence `_` and not `-`), then a
// random suffix so that two blocks of the same range (a head cut again after a crash, a compaction's
// output beside its inputs) never collide. `Block.listBlocks` orders blocks by parsing the name:
// minTime, then maxTime, then the name. It holds three files:
//
//   chunks     "SLCK", version byte, 3 zero bytes; then each chunk's Prometheus bytes (XOR, histogram
//              or float histogram) followed by the CRC32C of those bytes (u32 little-endian), back to
//              back, series by series.
//
//   index      header    "SLIX", version byte, block minTime i64, block maxTime i64
//              symbols   uv count, then per symbol: uv byte length, UTF-8 bytes. Every label name and
//                        value once, sorted by UTF-8 bytes, so symbol refs sort as their strings do.
//              series    uv count, then per series, in Prometheus label-set order (series id = position):
//                          uv label count, then per label: uv name ref, uv value ref (names ascending);
//                          uv chunk count, then per chunk, sorted by minTime:
//                            zig-zag varint minTime - previous chunk's maxTime (block minTime for the
//                            first), uv maxTime - minTime, uv offset in `chunks`, uv length in bytes,
//                            and in version 2 only: uv encoding (Prometheus' numbers: 1 XOR,
//                            2 histogram, 3 float histogram)
//              postings  uv count, then per label pair ascending by (name ref, value ref):
//                          uv name ref, uv value ref, uv id count, ids ascending as uv deltas
//                          (the first one absolute)
//              footer    u64 offsets of symbols, series and postings; "XILS"; u32 CRC32C of every
//                        byte before it. Fixed-width integers are little-endian; uv is a uvarint.
//
//   meta.json  {"version":1 or 2,"minTime":..,"maxTime":..,"stats":{"numSeries":..,"numChunks":..,"numSamples":..}}
//
// The three files carry the same version. Version 1 holds XOR chunks only and has no encoding field;
// a block with any histogram chunk is written as version 2, one of XOR chunks only still as version 1,
// so that its bytes stay what older Sluice releases read. Both versions are read. Like Prometheus'
// index, the encoding lives beside the chunk's ref, so a query knows a chunk's kind without reading it.
//
// A directory ending in `.tmp` is a block still being written and `.deleted` one being deleted; both
// are garbage once no writer runs, and `Block.listBlocks` removes them.

/// Names and constants of the format above.
enum BlockFormat {
    /// XOR chunks only; no encoding per chunk.
    static let xorVersion: UInt8 = 1
    /// An encoding per chunk in the index.
    static let encodingVersion: UInt8 = 2
    static let readableVersions: ClosedRange<UInt8> = 1...2
    static let chunksMagic: [UInt8] = Array("SLCK".utf8)
    static let indexMagic: [UInt8] = Array("SLIX".utf8)
    static let indexFooterMagic: [UInt8] = Array("XILS".utf8)
    /// Magic, version, 3 zero bytes.
    static let chunksHeaderSize = 8
    /// Magic, version, minTime, maxTime.
    static let indexHeaderSize = 4 + 1 + 8 + 8
    /// Three section offsets, magic, CRC.
    static let indexFooterSize = 3 * 8 + 4 + 4
    /// Bytes after each chunk in `chunks`: its CRC32C.
    static let chunkTrailerSize = 4

    static let chunksFile = "chunks"
    static let indexFile = "index"
    static let metaFile = "meta.json"
    static let temporarySuffix = ".tmp"
    static let deletedSuffix = ".deleted"

    /// A fresh directory name for a block of [minTime, maxTime).
    static func directoryName(minTime: Int64, maxTime: Int64) -> String {
        let random = String(UInt64.random(in: .min ... .max), radix: 16)
        return "\(minTime)_\(maxTime)_" + String(repeating: "0", count: 16 - random.count) + random
    }

    /// The time range a block directory's name declares, or nil for a name that is not a block's.
    static func parseDirectoryName(_ name: String) -> (minTime: Int64, maxTime: Int64)? {
        let parts = name.split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 3, let minTime = Int64(parts[0]), let maxTime = Int64(parts[1]), minTime < maxTime,
            parts[2].utf8.count == 16, UInt64(parts[2], radix: 16) != nil
        else { return nil }
        return (minTime, maxTime)
    }

    /// The oldest version that can hold `series`, so blocks of floats alone stay version 1.
    static func version<C: BlockChunk>(for series: [(labels: [Label], chunks: [C])]) -> UInt8 {
        series.contains { $0.chunks.contains { $0.encoding != .xor } } ? encodingVersion : xorVersion
    }

    /// The encodings a block may hold.
    static func isKnown(_ encoding: Chunk.Encoding) -> Bool {
        encoding == .xor || encoding == .histogram || encoding == .floatHistogram
    }

    /// Samples (or histograms) in a chunk, from its 2-byte big-endian header: Prometheus' XOR,
    /// histogram and float-histogram chunks all start with it.
    static func sampleCount(_ chunk: [UInt8]) -> Int {
        chunk.count < 2 ? 0 : Int(chunk[0]) << 8 | Int(chunk[1])
    }
}

/// Three-way comparison of strings by their UTF-8 bytes, the order Prometheus sorts labels in.
///
/// `String`'s own `<` and `==` follow Unicode canonical equivalence, under which two different byte
/// sequences (a precomposed and a decomposed "é") are equal; Prometheus treats them as distinct labels,
/// and so do blocks.
func blockCompareUTF8(_ a: String, _ b: String) -> Int {
    let fast = a.utf8.withContiguousStorageIfAvailable { left in
        b.utf8.withContiguousStorageIfAvailable { right -> Int in
            let shared = min(left.count, right.count)
            for index in 0..<shared where left[index] != right[index] {
                return left[index] < right[index] ? -1 : 1
            }
            return left.count == right.count ? 0 : (left.count < right.count ? -1 : 1)
        }
    }
    if let result = fast ?? nil { return result }
    var left = a.utf8.makeIterator()
    var right = b.utf8.makeIterator()
    while true {
        switch (left.next(), right.next()) {
        case (nil, nil): return 0
        case (nil, _): return -1
        case (_, nil): return 1
        case let (x?, y?) where x != y: return x < y ? -1 : 1
        default: continue
        }
    }
}

/// A string hashed and compared by its UTF-8 bytes (see `blockCompareUTF8`), to collect symbols.
private struct UTF8Key: Hashable {
    let string: String

    static func == (lhs: UTF8Key, rhs: UTF8Key) -> Bool { lhs.string.utf8.elementsEqual(rhs.string.utf8) }

    func hash(into hasher: inout Hasher) {
        let done: Void? = string.utf8.withContiguousStorageIfAvailable { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        if done == nil {
            for byte in string.utf8 { hasher.combine(byte) }
        }
        hasher.combine(string.utf8.count)
    }
}

/// Prometheus' label-set order on symbol refs: label pairs compared name then value, then the shorter
/// set first. Symbols are sorted by UTF-8 bytes, so this is the order of the strings themselves.
///
/// This is SluiceQuery's `compareLabelSets` order; blocks compare refs rather than strings because it
/// is cheaper and needs no symbol lookups. BlockTests sort their input with `compareLabelSets`, so the
/// two cannot drift apart unnoticed.
private func compareLabelRefs(_ a: ArraySlice<UInt32>, _ b: ArraySlice<UInt32>) -> Int {
    for (x, y) in zip(a, b) where x != y {
        return x < y ? -1 : 1
    }
    return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1)
}

// MARK: - Writing

/// The symbol table and label refs of the series going into one block, checked against the writer's
/// preconditions before anything touches the disk.
struct BlockIndexPlan {
    /// Sorted by UTF-8 bytes, each once.
    let symbols: [String]
    /// Per series, its labels as (name ref, value ref) pairs, flattened; series `i` starts at
    /// `labelStarts[i]`.
    let labelRefs: [UInt32]
    let labelStarts: [Int]

    /// - Throws: `.invalidInput` when a series' label names are not strictly ascending, or the series
    ///   are not strictly ascending in label-set order.
    init<C: BlockChunk>(series: [(labels: [Label], chunks: [C])]) throws(BlockError) {
        guard series.count < Int(UInt32.max) else {
            throw BlockError(.invalidInput, "too many series for one block: \(series.count)")
        }
        var unique = Set<UTF8Key>()
        for entry in series {
            for label in entry.labels {
                unique.insert(UTF8Key(string: label.name))
                unique.insert(UTF8Key(string: label.value))
            }
        }
        let symbols = unique.map(\.string).sorted { blockCompareUTF8($0, $1) < 0 }
        var refs = [UTF8Key: UInt32](minimumCapacity: symbols.count)
        for (ref, symbol) in symbols.enumerated() { refs[UTF8Key(string: symbol)] = UInt32(ref) }

        var labelRefs: [UInt32] = []
        labelRefs.reserveCapacity(series.reduce(0) { $0 + 2 * $1.labels.count })
        var labelStarts: [Int] = [0]
        labelStarts.reserveCapacity(series.count + 1)
        for (id, entry) in series.enumerated() {
            let start = labelRefs.count
            for label in entry.labels {
                // Both were inserted above.
                let name = refs[UTF8Key(string: label.name)]!
                if labelRefs.count > start, labelRefs[labelRefs.count - 2] >= name {
                    throw BlockError(.invalidInput, "series \(id): label names not strictly ascending")
                }
                labelRefs.append(name)
                labelRefs.append(refs[UTF8Key(string: label.value)]!)
            }
            if id > 0 {
                let previous = labelRefs[labelStarts[id - 1]..<start]
                if compareLabelRefs(previous, labelRefs[start...]) >= 0 {
                    throw BlockError(.invalidInput, "series \(id): label sets not strictly ascending")
                }
            }
            labelStarts.append(labelRefs.count)
        }
        self.symbols = symbols
        self.labelRefs = labelRefs
        self.labelStarts = labelStarts
    }

    /// The `index` file. `chunkOffsets` holds each chunk's offset in `chunks`, series by series.
    func encode<C: BlockChunk>(
        minTime: Int64,
        maxTime: Int64,
        version: UInt8,
        series: [(labels: [Label], chunks: [C])],
        chunkOffsets: [Int]
    ) -> [UInt8] {
        let out = ByteScratch(capacity: 64 * 1024)
        appendBytes(BlockFormat.indexMagic, to: out)
        out.append(version)
        appendLE(UInt64(bitPattern: minTime), to: out)
        appendLE(UInt64(bitPattern: maxTime), to: out)

        let symbolsOffset = out.count
        Varint.append(UInt64(symbols.count), to: out)
        for symbol in symbols {
            Varint.append(UInt64(symbol.utf8.count), to: out)
            var copy = symbol
            copy.withUTF8 { out.append(UnsafeRawBufferPointer($0)) }
        }

        let seriesOffset = out.count
        var postings: [UInt64: [UInt32]] = [:]
        Varint.append(UInt64(series.count), to: out)
        var chunkIndex = 0
        for (id, entry) in series.enumerated() {
            let refs = labelRefs[labelStarts[id]..<labelStarts[id + 1]]
            Varint.append(UInt64(refs.count / 2), to: out)
            var pair = refs.startIndex
            while pair < refs.endIndex {
                Varint.append(UInt64(refs[pair]), to: out)
                Varint.append(UInt64(refs[pair + 1]), to: out)
                postings[UInt64(refs[pair]) << 32 | UInt64(refs[pair + 1]), default: []].append(UInt32(id))
                pair += 2
            }
            Varint.append(UInt64(entry.chunks.count), to: out)
            var previousMax = minTime
            for chunk in entry.chunks {
                Varint.append(zigzag(chunk.minTime &- previousMax), to: out)
                Varint.append(UInt64(bitPattern: chunk.maxTime &- chunk.minTime), to: out)
                Varint.append(UInt64(chunkOffsets[chunkIndex]), to: out)
                Varint.append(UInt64(chunk.byteCount), to: out)
                if version >= BlockFormat.encodingVersion { Varint.append(UInt64(chunk.encoding.rawValue), to: out) }
                previousMax = chunk.maxTime
                chunkIndex += 1
            }
        }

        let postingsOffset = out.count
        Varint.append(UInt64(postings.count), to: out)
        for key in postings.keys.sorted() {
            let ids = postings[key]!
            Varint.append(key >> 32, to: out)
            Varint.append(key & 0xFFFF_FFFF, to: out)
            Varint.append(UInt64(ids.count), to: out)
            var previous: UInt32 = 0
            for id in ids {
                Varint.append(UInt64(id - previous), to: out)
                previous = id
            }
        }

        appendLE(UInt64(symbolsOffset), to: out)
        appendLE(UInt64(seriesOffset), to: out)
        appendLE(UInt64(postingsOffset), to: out)
        appendBytes(BlockFormat.indexFooterMagic, to: out)
        appendLE(CRC32C.checksum(out.bytes), to: out)
        return out.toArray()
    }
}

private func zigzag(_ value: Int64) -> UInt64 {
    UInt64(bitPattern: (value &<< 1) ^ (value &>> 63))
}

private func unzigzag(_ value: UInt64) -> Int64 {
    Int64(bitPattern: (value &>> 1) ^ (0 &- (value & 1)))
}

private func appendBytes(_ bytes: [UInt8], to out: ByteScratch) {
    bytes.withUnsafeBytes { out.append($0) }
}

private func appendLE<T: FixedWidthInteger>(_ value: T, to out: ByteScratch) {
    withUnsafeBytes(of: value.littleEndian) { out.append($0) }
}

// MARK: - Reading

/// A block's `index`, decoded into flat arrays: a few allocations however many series, and lookups
/// by binary search.
struct BlockIndex: Sendable {
    let version: UInt8
    let minTime: Int64
    let maxTime: Int64
    /// Sorted by UTF-8 bytes; a ref is a position here.
    let symbols: [String]
    /// Series `i`'s labels are `labelRefs[labelStarts[i] ..< labelStarts[i + 1]]`, name and value refs
    /// interleaved.
    let labelStarts: [Int]
    let labelRefs: [UInt32]
    /// Series `i`'s chunks are `chunkRefs[chunkStarts[i] ..< chunkStarts[i + 1]]`.
    let chunkStarts: [Int]
    let chunkRefs: [BlockChunkRef]
    /// `name ref << 32 | value ref` of every label pair, ascending; pair `k`'s series are
    /// `postingIDs[postingStarts[k] ..< postingStarts[k + 1]]`.
    let pairKeys: [UInt64]
    let postingStarts: [Int]
    let postingIDs: [UInt32]
    /// Every label name's ref, ascending.
    let nameRefs: [UInt32]

    var seriesCount: Int { labelStarts.count - 1 }
}

// Decoding lives in an extension so that the struct keeps its memberwise initializer, which
// `decode` calls once every array is checked.
extension BlockIndex {
    /// Decodes and validates an index. Every count is checked against the bytes left before anything
    /// is allocated, and every ref, id, time and chunk extent against what it points into, so a
    /// corrupt file throws rather than traps or allocates without bound.
    ///
    /// - Parameter chunksSize: size of the block's `chunks` file, which every chunk must lie inside.
    /// - Throws: `.truncated` for a file too short for header and footer, `.checksumMismatch` when the
    ///   CRC does not match, `.chunkCorrupt` (the format has no better code) for anything else malformed.
    init(decoding file: [UInt8], chunksSize: Int) throws(CodecError) {
        let fixed = BlockFormat.indexHeaderSize + BlockFormat.indexFooterSize
        guard file.count >= fixed else {
            throw CodecError(.truncated, "block index: \(file.count) bytes, shorter than header and footer")
        }
        let result: Result<BlockIndex, CodecError> = file.withUnsafeBytes { whole in
            do throws(CodecError) {
                return .success(try Self.decode(whole, chunksSize: chunksSize))
            } catch {
                return .failure(error)
            }
        }
        self = try result.get()
    }

    private static func decode(_ whole: UnsafeRawBufferPointer, chunksSize: Int) throws(CodecError) -> BlockIndex {
        let size = whole.count
        let crcOffset = size - 4
        let stored = UInt32(littleEndian: whole.loadUnaligned(fromByteOffset: crcOffset, as: UInt32.self))
        try CRC32C.verify(UnsafeRawBufferPointer(rebasing: whole[..<crcOffset]), expected: stored)

        guard whole[0..<4].elementsEqual(BlockFormat.indexMagic) else { throw corrupt("bad magic") }
        let version = whole[4]
        guard BlockFormat.readableVersions.contains(version) else { throw corrupt("unsupported version \(version)") }
        let minTime = Int64(bitPattern: UInt64(littleEndian: whole.loadUnaligned(fromByteOffset: 5, as: UInt64.self)))
        let maxTime = Int64(bitPattern: UInt64(littleEndian: whole.loadUnaligned(fromByteOffset: 13, as: UInt64.self)))
        guard minTime < maxTime else { throw corrupt("empty time range") }

        let footer = size - BlockFormat.indexFooterSize
        guard whole[(footer + 24)..<(footer + 28)].elementsEqual(BlockFormat.indexFooterMagic) else {
            throw corrupt("bad footer magic")
        }
        func offset(_ at: Int) -> UInt64 { UInt64(littleEndian: whole.loadUnaligned(fromByteOffset: footer + at, as: UInt64.self)) }
        let (symbolsOffset, seriesOffset, postingsOffset) = (offset(0), offset(8), offset(16))
        guard symbolsOffset == UInt64(BlockFormat.indexHeaderSize), symbolsOffset <= seriesOffset,
            seriesOffset <= postingsOffset, postingsOffset <= UInt64(footer)
        else { throw corrupt("section offsets out of order") }

        // Symbols.
        var cursor = Cursor(whole, from: Int(symbolsOffset), to: Int(seriesOffset))
        let symbolCount = try cursor.count(minimumBytesEach: 1)
        var symbols: [String] = []
        symbols.reserveCapacity(symbolCount)
        for _ in 0..<symbolCount {
            let length = try cursor.count(minimumBytesEach: 1)
            let bytes = cursor.take(length)
            guard let symbol = String(validating: bytes, as: UTF8.self) else { throw corrupt("symbol is not UTF-8") }
            if let last = symbols.last, blockCompareUTF8(last, symbol) >= 0 {
                throw corrupt("symbols not strictly ascending")
            }
            symbols.append(symbol)
        }
        try cursor.expectEnd("symbols")

        // Series.
        cursor = Cursor(whole, from: Int(seriesOffset), to: Int(postingsOffset))
        let seriesCount = try cursor.count(minimumBytesEach: 2)
        var labelStarts: [Int] = [0]
        labelStarts.reserveCapacity(seriesCount + 1)
        var labelRefs: [UInt32] = []
        var chunkStarts: [Int] = [0]
        chunkStarts.reserveCapacity(seriesCount + 1)
        var chunkRefs: [BlockChunkRef] = []
        for _ in 0..<seriesCount {
            let start = labelRefs.count
            let labelCount = try cursor.count(minimumBytesEach: 2)
            for _ in 0..<labelCount {
                let name = try cursor.ref(below: symbols.count)
                if labelRefs.count > start, labelRefs[labelRefs.count - 2] >= name {
                    throw corrupt("label names not strictly ascending")
                }
                labelRefs.append(name)
                labelRefs.append(try cursor.ref(below: symbols.count))
            }
            if labelStarts.count > 1 {
                let previous = labelRefs[labelStarts[labelStarts.count - 2]..<start]
                if compareLabelRefs(previous, labelRefs[start...]) >= 0 {
                    throw corrupt("series not strictly ascending by label set")
                }
            }
            labelStarts.append(labelRefs.count)

            let chunkCount = try cursor.count(minimumBytesEach: 4)
            var previousMin = Int64.min
            var previousMax = minTime
            for _ in 0..<chunkCount {
                let chunkMin = previousMax &+ unzigzag(try cursor.uvarint())
                let span = try cursor.uvarint()
                guard span <= UInt64(Int64.max) else { throw corrupt("chunk time span overflows") }
                let (chunkMax, overflow) = chunkMin.addingReportingOverflow(Int64(span))
                guard !overflow, chunkMin >= minTime, chunkMax < maxTime, chunkMin >= previousMin else {
                    throw corrupt("chunk time range outside the block or out of order")
                }
                let offset = try cursor.uvarint()
                let length = try cursor.uvarint()
                let trailer = UInt64(BlockFormat.chunkTrailerSize)
                guard offset >= UInt64(BlockFormat.chunksHeaderSize), length >= 2,
                    offset <= UInt64(chunksSize), UInt64(chunksSize) - offset >= trailer,
                    length <= UInt64(chunksSize) - offset - trailer
                else { throw corrupt("chunk outside the chunks file") }
                var encoding = Chunk.Encoding.xor
                if version >= BlockFormat.encodingVersion {
                    let raw = try cursor.uvarint()
                    encoding = Chunk.Encoding(rawValue: Int32(truncatingIfNeeded: raw))
                    guard raw <= UInt64(Int32.max), BlockFormat.isKnown(encoding) else { throw corrupt("unknown chunk encoding \(raw)") }
                }
                chunkRefs.append(BlockChunkRef(minTime: chunkMin, maxTime: chunkMax, offset: Int(offset), length: Int(length), encoding: encoding))
                previousMin = chunkMin
                previousMax = chunkMax
            }
            chunkStarts.append(chunkRefs.count)
        }
        try cursor.expectEnd("series")

        // Postings.
        cursor = Cursor(whole, from: Int(postingsOffset), to: footer)
        let pairCount = try cursor.count(minimumBytesEach: 4)
        var pairKeys: [UInt64] = []
        pairKeys.reserveCapacity(pairCount)
        var postingStarts: [Int] = [0]
        postingStarts.reserveCapacity(pairCount + 1)
        var postingIDs: [UInt32] = []
        var nameRefs: [UInt32] = []
        for _ in 0..<pairCount {
            let name = try cursor.ref(below: symbols.count)
            let value = try cursor.ref(below: symbols.count)
            let key = UInt64(name) << 32 | UInt64(value)
            if let last = pairKeys.last, last >= key { throw corrupt("postings not strictly ascending") }
            if nameRefs.last != name { nameRefs.append(name) }
            pairKeys.append(key)
            let idCount = try cursor.count(minimumBytesEach: 1)
            guard idCount > 0, idCount <= seriesCount else { throw corrupt("postings list length out of range") }
            var id: UInt64 = 0
            for position in 0..<idCount {
                let delta = try cursor.uvarint()
                guard position == 0 || delta > 0, delta < UInt64(seriesCount) - id else {
                    throw corrupt("posting ids out of order or range")
                }
                id += delta
                postingIDs.append(UInt32(id))
            }
            postingStarts.append(postingIDs.count)
        }
        try cursor.expectEnd("postings")
        guard postingIDs.count == labelRefs.count / 2 else { throw corrupt("postings disagree with series labels") }

        return BlockIndex(
            version: version, minTime: minTime, maxTime: maxTime, symbols: symbols, labelStarts: labelStarts, labelRefs: labelRefs,
            chunkStarts: chunkStarts, chunkRefs: chunkRefs, pairKeys: pairKeys, postingStarts: postingStarts,
            postingIDs: postingIDs, nameRefs: nameRefs
        )
    }

    fileprivate static func corrupt(_ message: String) -> CodecError {
        CodecError(.chunkCorrupt, "block index: \(message)")
    }
}

extension BlockIndex {
    // MARK: Lookups

    /// The ref of `symbol`, by binary search over the sorted symbols.
    func symbolRef(_ symbol: String) -> UInt32? {
        var low = 0
        var high = symbols.count
        while low < high {
            let middle = (low + high) / 2
            let order = blockCompareUTF8(symbols[middle], symbol)
            if order == 0 { return UInt32(middle) }
            if order < 0 { low = middle + 1 } else { high = middle }
        }
        return nil
    }

    /// The first position in `pairKeys` not below `key`.
    func pairLowerBound(_ key: UInt64) -> Int {
        var low = 0
        var high = pairKeys.count
        while low < high {
            let middle = (low + high) / 2
            if pairKeys[middle] < key { low = middle + 1 } else { high = middle }
        }
        return low
    }
}

/// Reads one section of the index, never past its end.
private struct Cursor {
    let bytes: UnsafeRawBufferPointer
    var offset: Int

    init(_ whole: UnsafeRawBufferPointer, from start: Int, to end: Int) {
        bytes = UnsafeRawBufferPointer(rebasing: whole[..<end])
        offset = start
    }

    var remaining: Int { bytes.count - offset }

    mutating func uvarint() throws(CodecError) -> UInt64 {
        guard let value = try Varint.read(bytes, at: &offset) else {
            throw CodecError(.truncated, "block index: section ends inside a varint")
        }
        return value
    }

    /// A count of items taking at least `minimumBytesEach` bytes each, checked against what is left.
    mutating func count(minimumBytesEach: Int) throws(CodecError) -> Int {
        let value = try uvarint()
        guard value <= UInt64(remaining / minimumBytesEach) else {
            throw BlockIndex.corrupt("count \(value) exceeds the bytes left")
        }
        return Int(value)
    }

    mutating func ref(below limit: Int) throws(CodecError) -> UInt32 {
        let value = try uvarint()
        guard value < UInt64(limit) else { throw BlockIndex.corrupt("symbol ref out of range") }
        return UInt32(value)
    }

    /// `length` bytes; the caller has checked them against `remaining`.
    mutating func take(_ length: Int) -> UnsafeRawBufferPointer {
        defer { offset += length }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + length)])
    }

    func expectEnd(_ section: String) throws(CodecError) {
        guard remaining == 0 else { throw BlockIndex.corrupt("\(section) section does not end at the next") }
    }
}
