import CSnappy

/// Snappy block format (not the framed format), as remote write and remote read use it.
///
/// Decompression reads the uncompressed length that the block declares and checks it against the
/// caller's limit before it allocates anything, so a small body that claims gigabytes costs nothing.
/// This is what VictoriaMetrics' `lib/encoding/snappy` and Thanos' receive handler do.
public enum Snappy {
    /// The uncompressed length a block declares in its varint header. Not trusted: `decompress` checks
    /// it against its limit, and libsnappy checks the block against it.
    public static func declaredLength(_ block: UnsafeRawBufferPointer) throws(CodecError) -> Int {
        guard let base = block.baseAddress, block.count > 0 else {
            throw CodecError(.snappyCorrupt, "empty snappy block")
        }
        var length = 0
        let status = snappy_uncompressed_length(base.assumingMemoryBound(to: CChar.self), block.count, &length)
        guard status == SNAPPY_OK else {
            throw CodecError(.snappyCorrupt, "snappy block has no valid length header")
        }
        return length
    }

    /// The declared length, checked against `limit` before anything is allocated for it.
    ///
    /// - Throws: `.sizeLimitExceeded` above `limit`, `.snappyCorrupt` without a valid header.
    public static func declaredLength(_ block: UnsafeRawBufferPointer, limit: Int) throws(CodecError) -> Int {
        let length = try declaredLength(block)
        guard length <= limit else {
            throw CodecError(.sizeLimitExceeded, "decoded body of \(length) bytes exceeds the limit of \(limit) bytes")
        }
        return length
    }

    /// Decompresses `block` into `output`, replacing its contents.
    ///
    /// - Throws: `.sizeLimitExceeded` when the declared length passes `limit` (checked before
    ///   allocating), `.snappyCorrupt` when the block is malformed.
    public static func decompress(
        _ block: UnsafeRawBufferPointer,
        into output: ByteScratch,
        limit: Int
    ) throws(CodecError) {
        let length = try declaredLength(block, limit: limit)
        output.reset(minimumCapacity: length)
        guard length > 0 else { return }
        var written = length
        let status = snappy_uncompress(
            block.baseAddress!.assumingMemoryBound(to: CChar.self), block.count,
            output.unsafeTail.baseAddress!.assumingMemoryBound(to: CChar.self), &written
        )
        guard status == SNAPPY_OK, written == length else {
            throw CodecError(.snappyCorrupt, "snappy block is corrupt")
        }
        output.unsafeAdvance(written)
    }

    /// A block's declared length and its elements: the bytes after its length header.
    ///
    /// Blocks join into one without recompressing: the sum of their declared lengths as the header,
    /// then each block's elements in turn. A copy element reaches back only into output its own
    /// block produced, which the joined output holds at the same distance, so the joined block
    /// decompresses to the blocks' contents one after another. Insert's group commit joins the
    /// compressed parts bound for one node this way.
    public static func elements(of block: UnsafeRawBufferPointer) throws(CodecError) -> (declaredLength: Int, elements: UnsafeRawBufferPointer) {
        var offset = 0
        guard let length = try Varint.read(block, at: &offset), length <= UInt64(UInt32.max) else {
            throw CodecError(.snappyCorrupt, "snappy block has no valid length header")
        }
        return (Int(length), UnsafeRawBufferPointer(rebasing: block[offset...]))
    }

    /// The largest block `compress` can produce for `length` input bytes.
    public static func maxCompressedLength(_ length: Int) -> Int {
        snappy_max_compressed_length(length)
    }

    /// Compresses `input` and appends the block to `output`.
    public static func compress(_ input: UnsafeRawBufferPointer, appendingTo output: ByteScratch) {
        output.reserve(extra: snappy_max_compressed_length(input.count))
        // An empty input still yields a valid one-byte block (its length header).
        output.appendUnsafe { tail in compress(input, into: tail) }
    }

    /// Compresses `input` into `output`, which must hold at least `maxCompressedLength(input.count)`
    /// bytes, and returns the bytes written. Lets callers compress straight into a network buffer.
    public static func compress(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Int {
        precondition(output.count >= snappy_max_compressed_length(input.count), "snappy output buffer too small")
        var written = output.count
        let empty: CChar = 0
        let status = withUnsafePointer(to: empty) { emptyPointer in
            snappy_compress(
                input.baseAddress?.assumingMemoryBound(to: CChar.self) ?? emptyPointer, input.count,
                output.baseAddress!.assumingMemoryBound(to: CChar.self), &written
            )
        }
        precondition(status == SNAPPY_OK, "snappy_compress failed with an adequate buffer")
        return written
    }

    /// libsnappy compresses its input one 64 KiB fragment at a time, each fragment on its own.
    public static let fragmentBytes = 1 << 16

    /// The most bytes `compressPiece` writes for a piece of `length` bytes.
    public static func maxPieceLength(_ length: Int) -> Int {
        snappy_max_compressed_length(length) + 10
    }

    /// Compresses one piece of a larger input, which is compressed piece by piece in order, into
    /// `output` (at least `maxPieceLength(piece.count)` bytes), and returns the range of `output`
    /// that holds the piece's share of the whole block: the first piece (`totalLength` given) its
    /// block header and elements, every later piece its elements only.
    ///
    /// The pieces' shares, one after another, are one block of `totalLength` bytes (as blocks join
    /// in `elements(of:)`). Where every piece but the last is a whole number of `fragmentBytes`,
    /// that block is byte for byte what `compress` makes of the whole input. A large answer is so
    /// sent as it is compressed, without a buffer the size of the compressed whole.
    public static func compressPiece(_ piece: UnsafeRawBufferPointer, totalLength: Int?, into output: UnsafeMutableRawBufferPointer) -> Range<Int> {
        let header = totalLength.map { Varint.size(UInt64($0)) } ?? 0
        precondition(output.count >= maxPieceLength(piece.count), "snappy output buffer too small")
        // The piece compresses as a block of its own after `header` bytes left free; its own length
        // header is then dropped, the whole block's written over its end in its place.
        let written = compress(piece, into: UnsafeMutableRawBufferPointer(rebasing: output[header...]))
        let ownHeader = Varint.size(UInt64(piece.count))
        let elementsStart = header + ownHeader
        if let totalLength {
            var value = UInt64(totalLength)
            var at = elementsStart - header
            while value >= 0x80 {
                output[at] = UInt8(truncatingIfNeeded: value) | 0x80
                value >>= 7
                at += 1
            }
            output[at] = UInt8(value)
        }
        return elementsStart - header..<header + written
    }

    /// Convenience for tests and cold paths.
    public static func compress(_ input: [UInt8]) -> [UInt8] {
        let scratch = ByteScratch(capacity: maxCompressedLength(input.count))
        input.withUnsafeBytes { compress($0, appendingTo: scratch) }
        return scratch.toArray()
    }

    /// Convenience for tests and cold paths.
    public static func decompress(_ block: [UInt8], limit: Int) throws(CodecError) -> [UInt8] {
        let scratch = ByteScratch(capacity: 0)
        try block.withBytes { (raw) throws(CodecError) in try decompress(raw, into: scratch, limit: limit) }
        return scratch.toArray()
    }
}
