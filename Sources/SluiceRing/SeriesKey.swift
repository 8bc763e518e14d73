import SluiceCodec

/// The placement key of a series: xxHash64 over the tenant and the label pairs in sorted order.
///
/// Each string is followed by 0xFF, a byte UTF-8 never produces, so ("ab","c") and ("a","bc") differ.
/// Labels must be given sorted by name (remote write 1.0 requires it; the 2.0 path sorts first), so
/// the order a request lists them in never changes placement.
///
/// The key is assembled in a buffer the hasher owns and keeps across keys, then hashed in one pass of
/// `XXHash64.hash`. A piece of up to 32 bytes whose source has 32 readable bytes (`readableEnd`) is
/// copied as two fixed 16-byte moves (`copyShort(to:readableEnd:)`), and the next piece overwrites
/// what was copied past it: for a series of a request body, that is nearly every label name and
/// value. Streaming each piece through xxHash64's lanes instead cost more per piece than the
/// hashing itself (BENCHMARKS.md, "Insert hot path").
///
/// Two ways in, one format: `add(name:value:)` on the hasher grows its buffer as needed, for cold
/// paths; a hot loop takes a `Key` from `startKey(labelBytes:)`, a cursor it keeps in registers with
/// room made once per series, where the hasher's own count would be a load and a store per piece.
/// Keys from `startKey` alternate between two buffers, so that each can copy the pieces it shares
/// with the key before it from that key's bytes (`Key.add(previous:)`).
public struct SeriesKeyHasher: ~Copyable {
    @usableFromInline var base: UnsafeMutableRawPointer
    @usableFromInline var capacity: Int
    /// The other buffer: the last key `startKey` made, until the next `startKey`.
    @usableFromInline var spare: UnsafeMutableRawPointer
    @usableFromInline var spareCapacity: Int
    /// Bytes of the key so far.
    @usableFromInline var count = 0
    /// Where the tenant and its 0xFF end.
    @usableFromInline var tenantEnd = 0

    public init(capacity: Int = 1024) {
        self.capacity = max(capacity, 64)
        spareCapacity = self.capacity
        base = .allocate(byteCount: self.capacity, alignment: 16)
        spare = .allocate(byteCount: self.capacity, alignment: 16)
    }

    deinit {
        base.deallocate()
        spare.deallocate()
    }

    /// Starts a key for `tenant`, in both buffers.
    public mutating func start(tenant: UnsafeRawBufferPointer) {
        for _ in 0..<2 {
            count = 0
            reserve(tenant.count + 1)
            count = Self.append(tenant, to: base, readableEnd: nil) - base
            swapBuffers()
        }
        tenantEnd = count
    }

    @inlinable @inline(__always)
    mutating func swapBuffers() {
        swap(&base, &spare)
        swap(&capacity, &spareCapacity)
    }

    /// Starts the next key for the tenant `start(tenant:)` was given.
    public mutating func restart() { count = tenantEnd }

    /// Adds a label pair, growing the buffer as needed.
    public mutating func add(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        reserve(name.count + value.count + 2)
        var cursor = base + count
        cursor = Self.append(name, to: cursor, readableEnd: nil)
        cursor = Self.append(value, to: cursor, readableEnd: nil)
        count = cursor - base
    }

    /// xxHash64 of the key so far.
    public func finish() -> UInt64 {
        XXHash64.hash(UnsafeRawBufferPointer(start: base, count: count))
    }

    /// Starts the next key for the tenant `start(tenant:)` was given, with room for label pieces of
    /// `labelBytes` bytes in all, counting each piece's 0xFF. The key is valid until the next call on
    /// this hasher.
    @inlinable @inline(__always)
    public mutating func startKey(labelBytes: Int) -> Key {
        swapBuffers()
        count = tenantEnd
        reserve(labelBytes)
        return Key(
            base: base, cursor: base + tenantEnd, limit: base + tenantEnd + labelBytes,
            previous: UnsafeRawBufferPointer(start: spare, count: spareCapacity))
    }

    /// One key being written into the hasher's buffer.
    public struct Key {
        @usableFromInline let base: UnsafeMutableRawPointer
        @usableFromInline var cursor: UnsafeMutableRawPointer
        /// Where the pieces must end; the buffer holds 32 bytes more for the whole-word copies.
        @usableFromInline let limit: UnsafeMutableRawPointer

        /// The buffer of the key `startKey` made before this one: its bytes up to where that key
        /// ended are its key.
        @usableFromInline let previous: UnsafeRawBufferPointer

        @usableFromInline
        init(base: UnsafeMutableRawPointer, cursor: UnsafeMutableRawPointer, limit: UnsafeMutableRawPointer, previous: UnsafeRawBufferPointer) {
            self.base = base
            self.cursor = cursor
            self.limit = limit
            self.previous = previous
        }

        /// Bytes of the key so far, the tenant's included: where the next piece starts.
        @inlinable
        public var length: Int { cursor - base }

        /// Adds bytes `range` of the previous key: pieces this key shares with it, copied at once.
        /// The caller knows where the previous key's pieces lie (its `length` as it added them).
        /// Traps if `range` is not in the previous key's buffer or does not fit here.
        @inlinable @inline(__always)
        public mutating func add(previous range: Range<Int>) {
            precondition(range.lowerBound >= 0 && range.upperBound <= previous.count, "range outside the previous key")
            precondition(limit - cursor >= range.count, "series key longer than the room made for it")
            cursor.copyMemory(from: previous.baseAddress! + range.lowerBound, byteCount: range.count)
            cursor += range.count
        }

        /// Adds every pair in `labels`, in order, whose ranges are offsets from `base`. With `whole`,
        /// 32 bytes are readable from the start of every name and value, and those of up to 32 bytes
        /// go in two 16-byte moves, with no call and no other branch. Traps if the pairs do not fit in
        /// the `labelBytes` the key was started with.
        @inlinable @inline(__always)
        public mutating func add(labels: Slice<UnsafeBufferPointer<WriteRequestScanner.LabelRange>>, base: UnsafeRawPointer, whole: Bool) {
            var cursor = self.cursor
            for label in labels {
                let nameCount = label.name.upperBound &- label.name.lowerBound
                let valueCount = label.value.upperBound &- label.value.lowerBound
                precondition(limit - cursor >= nameCount &+ valueCount &+ 2, "series key longer than the room made for it")
                cursor = Self.piece(base + label.name.lowerBound, count: nameCount, to: cursor, whole: whole)
                cursor = Self.piece(base + label.value.lowerBound, count: valueCount, to: cursor, whole: whole)
            }
            self.cursor = cursor
        }

        /// `count` bytes from `source` and their 0xFF at `target`; returns the end of the 0xFF. With
        /// `whole`, 32 bytes from `source` are readable.
        @inlinable @inline(__always)
        static func piece(_ source: UnsafeRawPointer, count: Int, to target: UnsafeMutableRawPointer, whole: Bool) -> UnsafeMutableRawPointer {
            if count <= 32 && whole {
                target.storeBytes(of: source.loadUnaligned(as: SIMD16<UInt8>.self), as: SIMD16<UInt8>.self)
                target.storeBytes(of: source.loadUnaligned(fromByteOffset: 16, as: SIMD16<UInt8>.self), toByteOffset: 16, as: SIMD16<UInt8>.self)
            } else {
                target.copyMemory(from: source, byteCount: count)
            }
            (target + count).storeBytes(of: 0xFF, as: UInt8.self)
            return target + count + 1
        }

        /// xxHash64 of the key.
        @inlinable
        public func hash() -> UInt64 {
            XXHash64.hash(UnsafeRawBufferPointer(start: base, count: cursor - base))
        }
    }

    /// Makes room for `bytes` more after the key so far, and 32 for the whole-word copies past them.
    @inlinable @inline(__always)
    mutating func reserve(_ bytes: Int) {
        let needed = count + bytes + 32
        if needed > capacity { grow(to: needed) }
    }

    @usableFromInline
    mutating func grow(to needed: Int) {
        capacity = max(needed, capacity * 2)
        let bigger = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        bigger.copyMemory(from: base, byteCount: count)
        base.deallocate()
        base = bigger
    }

    /// Writes `bytes` and the 0xFF that ends every piece at `target`, where 32 bytes past the piece
    /// may be written; returns the end of the 0xFF.
    @inlinable @inline(__always)
    static func append(
        _ bytes: UnsafeRawBufferPointer, to target: UnsafeMutableRawPointer, readableEnd: UnsafeRawPointer?
    ) -> UnsafeMutableRawPointer {
        let end = bytes.copyShort(to: target, readableEnd: readableEnd)
        end.storeBytes(of: 0xFF, as: UInt8.self)
        return end + 1
    }

    /// Hashes a whole label set, sorting it first. For cold paths and tests.
    ///
    /// Sorts by name, then by value: a valid series never repeats a name, but if one does the key
    /// must still not depend on the order the pairs came in.
    public static func hash(tenant: String, labels: [(name: String, value: String)]) -> UInt64 {
        var hasher = SeriesKeyHasher()
        var tenant = tenant
        tenant.withUTF8 { hasher.start(tenant: UnsafeRawBufferPointer($0)) }
        let sorted = labels.sorted {
            $0.name == $1.name
                ? $0.value.utf8.lexicographicallyPrecedes($1.value.utf8)
                : $0.name.utf8.lexicographicallyPrecedes($1.name.utf8)
        }
        for label in sorted {
            var name = label.name
            var value = label.value
            name.withUTF8 { n in value.withUTF8 { v in hasher.add(name: UnsafeRawBufferPointer(n), value: UnsafeRawBufferPointer(v)) } }
        }
        return hasher.finish()
    }
}
