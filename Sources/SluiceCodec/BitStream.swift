import CSluicePrefetch

/// Appends bits, most significant bit first within each byte, like the writer half of Prometheus'
/// `tsdb/chunkenc/bstream.go`, which Gorilla-style chunks are built on.
///
/// The written bytes are followed in `storage` by at least `slack` zero bytes, so every write is one
/// unaligned 64-bit load, OR and store (plus one byte when a 64-bit value straddles nine bytes), with no
/// per-byte appends and a single capacity check. `bytes` returns an exact-length copy: a chunk kept
/// long-term should not pin spare capacity, and sharing the buffer instead would only move the copy to
/// the next write (copy-on-write).
///
/// The byte length is always `ceil(bitCount / 8)`, with unused low bits of the last byte zero. That
/// matches Prometheus 3.x (prometheus/prometheus#14854); older Prometheus sometimes left one extra
/// all-zero byte after a byte-aligned `writeByte`. Readers ignore trailing padding either way.
struct BitWriter: Sendable {
    /// Written bytes, then at least `slack` zero bytes.
    private var storage: [UInt8]

    /// Bits written, counting any prefix the writer was created with. 32 bits, so that a writer
    /// is 12 bytes and the fields after it in an encoder pack behind it: the head keeps one open
    /// encoder per series. `grow` keeps streams below 512 MiB.
    private var storedBitCount: UInt32

    /// Bits written, counting any prefix the writer was created with.
    var bitCount: Int { Int(storedBitCount) }

    /// Zero bytes kept after the last written byte: a write touches at most 9 bytes from its first.
    private static let slack = 16

    /// Starts an empty stream with room for `capacity` bytes before it must grow.
    init(capacity: Int = 0) {
        storage = [UInt8](repeating: 0, count: Swift.max(capacity, 0) + Self.slack)
        storedBitCount = 0
    }

    /// Starts a stream after `headerBytes` zero bytes, taken as written: a header the caller fills in
    /// in the copy `bytes` returns.
    init(headerBytes: Int, capacity: Int = 0) {
        precondition(headerBytes >= 0, "negative header size")
        storage = [UInt8](repeating: 0, count: Swift.max(capacity, headerBytes) + Self.slack)
        storedBitCount = UInt32(headerBytes * 8)
    }

    /// Asks for the cache lines the next write touches, without waiting for them: the array's count,
    /// 16 bytes before its elements in Swift's array layout, and the byte at the write position. A
    /// storage head appends to 100k+ streams in turn, each append a cache miss; prefetching the next
    /// ones while it finds them overlaps the misses. Nothing is retained, loaded or stored: a
    /// prefetch of any address is harmless, so a layout assumption that is wrong only wastes it.
    @inline(__always)
    func prefetchForWrite() {
        storage.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return }
            sluice_prefetch_for_write(base - 16)
            sluice_prefetch_for_write(base + (bitCount &>> 3))
        }
    }

    /// Bytes written: `ceil(bitCount / 8)`.
    var byteCount: Int { (bitCount &+ 7) &>> 3 }

    /// Bytes the stream holds before it must grow.
    var reservedBytes: Int { storage.count &- Self.slack }

    /// `bytes` rounded up so that the buffer holding them, with its slack and the array's 32-byte
    /// header, is a whole number of 64-byte lines. Streams of about the same size then take the
    /// same malloc size, and a buffer one frees is reused by the next instead of leaving a gap that
    /// no other fits.
    private static func lineRounded(_ bytes: Int) -> Int { ((32 &+ bytes &+ slack &+ 63) & ~63) &- 32 &- slack }

    /// Grows the storage to hold at least `bytes` bytes (`lineRounded`) before it must grow again,
    /// in one new buffer, not by doubling; nothing when it already does.
    mutating func reserve(bytes: Int) {
        guard bytes > reservedBytes else { return }
        precondition(bytes < 1 << 29, "bit stream beyond 512 MiB")
        var grown = [UInt8](repeating: 0, count: Self.lineRounded(bytes) + Self.slack)
        grown.withUnsafeMutableBytes { target in
            storage.withUnsafeBytes { target.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        }
        storage = grown
    }

    /// A copy of the stream, exactly `byteCount` bytes long.
    var bytes: [UInt8] { Array(storage[..<byteCount]) }

    /// Appends one bit.
    @inline(__always)
    mutating func writeBit(_ bit: Bool) {
        writeBits(bit ? 1 : 0, count: 1)
    }

    /// Appends eight bits, which need not be byte-aligned in the stream.
    @inline(__always)
    mutating func writeByte(_ byte: UInt8) {
        writeBits(UInt64(byte), count: 8)
    }

    /// Appends the `count` low bits of `value`, most significant first. Higher bits of `value` are
    /// ignored, so callers may pass a sign-extended two's complement number unmasked.
    ///
    /// - Precondition: `0 <= count <= 64`.
    @inline(__always)
    mutating func writeBits(_ value: UInt64, count: Int) {
        precondition(count >= 0 && count <= 64, "bit count out of range")
        guard count > 0 else { return }
        let index = bitCount &>> 3
        let used = bitCount & 7
        if storage.count &- index < Self.slack {
            grow()
        }
        // Left-align so the next bit to write is bit 63; this also drops bits above `count`.
        let top = value &<< UInt64(64 &- count)
        storedBitCount &+= UInt32(truncatingIfNeeded: count)
        storage.withUnsafeMutableBytes { raw in
            // In bounds: at least `slack` (16) bytes exist from `index` on.
            let first = raw.baseAddress.unsafelyUnwrapped + index
            // The 8 bytes from `index` hold the `used` bits already written, then room for 64 - used.
            let word = UInt64(bigEndian: first.loadUnaligned(as: UInt64.self)) | top &>> UInt64(used)
            first.storeBytes(of: word.bigEndian, as: UInt64.self)
            if count > 64 &- used {
                // The last `used` bits spill into the top of the ninth byte, which is still zero.
                let spill = UInt8(truncatingIfNeeded: (top &<< UInt64(64 &- used)) &>> 56)
                (first + 8).storeBytes(of: spill, as: UInt8.self)
            }
        }
    }


    /// Doubles the storage, keeping the zero slack; amortised O(1) per byte written.
    @inline(never)
    private mutating func grow() {
        precondition(storage.count < 1 << 28, "bit stream beyond 512 MiB")
        storage.append(contentsOf: repeatElement(0, count: Swift.max(storage.count, Self.slack)))
    }
}

/// Reads bits, most significant first, from a byte slice without ever reading past its end.
///
/// Like Prometheus' `bstreamReader` it keeps up to 64 bits in a register and refills it with one
/// unaligned 8-byte load while at least eight bytes remain, falling back to byte-at-a-time loads only
/// near the end. Every read that would need bits past the end throws `.truncated`, so a decoder built on
/// it can take untrusted input and never trap.
///
/// The reader owns (a copy-on-write reference to) its bytes rather than borrowing a raw pointer, so it
/// is an ordinary `Sendable` value that a decoder can store and resume between calls.
struct BitReader: Sendable {
    private let bytes: ArraySlice<UInt8>
    /// Absolute index in `bytes` of the next byte not yet loaded into `buffer`.
    private var offset: Int
    /// Unread bits, left-aligned: the next bit to read is bit 63. Bits below the `valid` window are
    /// either zero or the true next bits of the stream, so OR-ing a refill into them is harmless.
    private var buffer: UInt64 = 0
    /// Number of unread bits at the top of `buffer`. Kept at most 63 so shifts stay in range.
    private var valid: Int = 0

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        self.offset = bytes.startIndex
    }

    init(_ bytes: [UInt8]) {
        self.init(bytes[...])
    }

    /// Bits not yet read.
    var bitsRemaining: Int {
        valid &+ (bytes.endIndex &- offset) &* 8
    }

    /// Reads one bit.
    @inline(__always)
    mutating func readBit() throws(CodecError) -> Bool {
        if valid == 0 {
            refill()
            guard valid > 0 else { throw Self.endOfStream }
        }
        let bit = buffer &>> 63
        buffer = buffer &<< 1
        valid &-= 1
        return bit != 0
    }

    /// Reads eight bits, which need not be byte-aligned in the stream.
    @inline(__always)
    mutating func readByte() throws(CodecError) -> UInt8 {
        UInt8(truncatingIfNeeded: try readBits(8))
    }

    /// Reads `count` bits into the low bits of the result, the first bit read being the most significant.
    ///
    /// - Precondition: `1 <= count <= 64`.
    @inline(__always)
    mutating func readBits(_ count: Int) throws(CodecError) -> UInt64 {
        assert(count >= 1 && count <= 64, "bit count out of range")
        if count <= valid {
            return take(count)
        }
        return try readBitsSlow(count)
    }

    /// Reads up to `limit` (1...8) one bits, stopping after the first zero bit, which it also consumes;
    /// returns the number of one bits. This reads the unary prefixes of Gorilla encodings in one step.
    @inline(__always)
    mutating func readUnary(limit: Int) throws(CodecError) -> Int {
        if valid >= limit {
            // Leading ones of the buffer, capped at `limit`; a zero bit after fewer ones is consumed too.
            let ones = Swift.min((~buffer).leadingZeroBitCount, limit)
            let consumed = ones < limit ? ones &+ 1 : ones
            buffer = buffer &<< UInt64(consumed)
            valid &-= consumed
            return ones
        }
        var ones = 0
        while ones < limit, try readBit() {
            ones &+= 1
        }
        return ones
    }

    private static var endOfStream: CodecError { CodecError(.truncated, "bit stream ends early") }

    /// Removes `count` (1...63, at most `valid`) bits from the top of the buffer.
    @inline(__always)
    private mutating func take(_ count: Int) -> UInt64 {
        let result = buffer &>> UInt64(64 &- count)
        buffer = buffer &<< UInt64(count)
        valid &-= count
        return result
    }

    /// `readBits` when the buffer holds fewer than `count` bits: drain it, refill, repeat. A refill
    /// adds at least 56 bits unless the stream is nearly over, so this loops at most three times.
    @inline(never)
    private mutating func readBitsSlow(_ count: Int) throws(CodecError) -> UInt64 {
        precondition(count >= 1 && count <= 64, "bit count out of range")
        var result: UInt64 = 0
        var needed = count
        repeat {
            if valid > 0 {
                // `valid < needed`, so `result` stays within 64 bits.
                let drained = valid
                result = result &<< UInt64(drained) | take(drained)
                needed &-= drained
            }
            refill()
            guard valid > 0 else { throw Self.endOfStream }
        } while needed > valid
        // `needed <= valid <= 63` now, and `result` holds the other `count - needed` bits.
        return result &<< UInt64(needed) | take(needed)
    }

    /// Tops the buffer up to at least 56 valid bits, or with everything left if fewer remain.
    ///
    /// Kept out of line: it runs about once per 56 bits, and inlining it into every bit read makes the
    /// callers too big for the optimizer to inline the fast paths.
    @inline(never)
    private mutating func refill() {
        let end = bytes.endIndex
        if end &- offset >= 8 {
            let start = bytes.startIndex
            let position = offset
            let word = bytes.withUnsafeBytes { raw in
                raw.loadUnaligned(fromByteOffset: position &- start, as: UInt64.self)
            }
            // Callers refill only with `valid <= 55` (in fact 0), so the shift is in range and at least
            // 7 whole bytes fit; bits of a partly taken 8th byte are harmless (see `buffer`).
            buffer |= UInt64(bigEndian: word) &>> UInt64(valid)
            let whole = (63 &- valid) &>> 3
            offset &+= whole
            valid &+= whole &* 8
        } else {
            while valid <= 55 && offset < end {
                buffer |= UInt64(bytes[offset]) &<< UInt64(56 &- valid)
                offset &+= 1
                valid &+= 8
            }
        }
    }
}
