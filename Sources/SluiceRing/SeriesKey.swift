import SluiceCodec

/// The placement key of a series: xxHash64 over the tenant and the label pairs in sorted order.
///
/// Each string is followed by 0xFF, a byte UTF-8 never produces, so ("ab","c") and ("a","bc") differ.
/// Labels must be given sorted by name (remote write 1.0 requires it; the 2.0 path sorts first), so
/// the order a request lists them in never changes placement.
///
/// The key is assembled in a buffer the hasher owns and keeps across keys, then hashed in one pass of
/// `XXHash64.hash`. A piece of up to 32 bytes whose source has 32 readable bytes (`readableEnd`) is
/// copied as two fixed 16-byte moves with no branch on its length, and the next piece overwrites
/// what was copied past it: for a series of a request body, that is nearly every label name and
/// value. Streaming each piece through xxHash64's lanes instead cost more per piece than the
/// hashing itself (BENCHMARKS.md, "Insert hot path"). `restart()` keeps the tenant for the next
/// series, so a request writes it once.
public struct SeriesKeyHasher: ~Copyable {
    @usableFromInline var base: UnsafeMutableRawPointer
    @usableFromInline var capacity: Int
    /// Bytes of the key so far.
    @usableFromInline var count = 0
    /// Where the tenant and its 0xFF end.
    @usableFromInline var tenantEnd = 0

    public init(capacity: Int = 1024) {
        self.capacity = max(capacity, 64)
        base = .allocate(byteCount: self.capacity, alignment: 16)
    }

    deinit { base.deallocate() }

    /// Starts a key for `tenant`.
    public mutating func start(tenant: UnsafeRawBufferPointer) {
        count = 0
        if tenant.count + 33 > capacity { grow(toHold: tenant.count + 33) }
        feedPiece(tenant, readableEnd: nil)
        tenantEnd = count
    }

    /// Starts the next key for the tenant `start(tenant:)` was given.
    @inlinable @inline(__always)
    public mutating func restart() { count = tenantEnd }

    /// Adds a label pair. With `readableEnd`, the end of the memory `name` and `value` lie in, a piece
    /// with 32 bytes before it is copied without a call or a branch on its length.
    @inlinable @inline(__always)
    public mutating func add(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, readableEnd: UnsafeRawPointer? = nil) {
        // Room for both pieces, each as a whole 32-byte copy and its 0xFF.
        let needed = count &+ name.count &+ value.count &+ 66
        if needed > capacity { grow(toHold: needed) }
        feedPiece(name, readableEnd: readableEnd)
        feedPiece(value, readableEnd: readableEnd)
    }

    /// Appends `bytes` and the 0xFF that ends every piece. The caller has made room for
    /// `bytes.count + 33` bytes.
    @inlinable @inline(__always)
    mutating func feedPiece(_ bytes: UnsafeRawBufferPointer, readableEnd: UnsafeRawPointer?) {
        let length = bytes.count
        let target = base + count
        if let source = bytes.baseAddress {
            if length <= 32, let readableEnd, UnsafeRawPointer(source) + 32 <= readableEnd {
                target.storeBytes(of: source.loadUnaligned(as: SIMD16<UInt8>.self), as: SIMD16<UInt8>.self)
                target.storeBytes(
                    of: source.loadUnaligned(fromByteOffset: 16, as: SIMD16<UInt8>.self), toByteOffset: 16, as: SIMD16<UInt8>.self)
            } else {
                target.copyMemory(from: source, byteCount: length)
            }
        }
        target.storeBytes(of: 0xFF, toByteOffset: length, as: UInt8.self)
        count &+= length &+ 1
    }

    @usableFromInline
    mutating func grow(toHold bytes: Int) {
        capacity = max(bytes, capacity * 2)
        let bigger = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        bigger.copyMemory(from: base, byteCount: count)
        base.deallocate()
        base = bigger
    }

    /// xxHash64 of the key so far.
    @inlinable
    public func finish() -> UInt64 {
        XXHash64.hash(UnsafeRawBufferPointer(start: base, count: count))
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
