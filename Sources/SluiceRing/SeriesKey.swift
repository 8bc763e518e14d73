import SluiceCodec

/// The placement key of a series: xxHash64 over the tenant and the label pairs in sorted order.
///
/// Each string is followed by 0xFF, a byte UTF-8 never produces, so ("ab","c") and ("a","bc") differ.
/// Labels must be given sorted by name (remote write 1.0 requires it; the 2.0 path sorts first), so
/// the order a request lists them in never changes placement.
///
/// The hash is streamed: pieces are fed to xxHash64's four lanes 32 bytes at a time as they come, and
/// only the unfinished stripe waits, inline in a 64-byte window. No key is assembled in a buffer, so
/// a series costs one pass over its label bytes and no allocation; a piece shorter than 32 bytes
/// (nearly every label name and value) is one copy into the window. The result is bit for bit
/// `XXHash64.hash` of the concatenated key (SeriesKeyStreamingTests checks it on random pieces).
public struct SeriesKeyHasher: Sendable {
    @usableFromInline var v1: UInt64 = 0
    @usableFromInline var v2: UInt64 = 0
    @usableFromInline var v3: UInt64 = 0
    @usableFromInline var v4: UInt64 = 0
    /// Bytes fed so far.
    @usableFromInline var total: Int = 0
    /// Bytes not yet hashed: the first `windowCount` (always fewer than 32 between calls).
    @usableFromInline var window: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
    @usableFromInline var windowCount: Int = 0

    public init() {}

    /// Starts a key for `tenant`.
    @inlinable
    public mutating func start(tenant: UnsafeRawBufferPointer) {
        v1 = XXHash64.prime1 &+ XXHash64.prime2
        v2 = XXHash64.prime2
        v3 = 0
        v4 = 0 &- XXHash64.prime1
        total = 0
        windowCount = 0
        feedPiece(tenant)
    }

    @inlinable @inline(__always)
    public mutating func add(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        feedPiece(name)
        feedPiece(value)
    }

    /// Feeds `bytes` and the 0xFF that ends every piece.
    @inlinable @inline(__always)
    mutating func feedPiece(_ bytes: UnsafeRawBufferPointer) {
        let count = bytes.count
        guard count < 32 else {
            feedLong(bytes)
            return
        }
        // The window holds fewer than 32 bytes, so 31 more and the 0xFF still fit in its 64.
        let at = windowCount
        withUnsafeMutableBytes(of: &window) { window in
            if count > 0 { Self.copyShort(to: window.baseAddress! + at, from: bytes.baseAddress!, count: count) }
            window[at + count] = 0xFF
        }
        windowCount = at + count + 1
        total += count + 1
        if windowCount >= 32 { consumeStripe() }
    }

    /// Copies 1 to 31 bytes with at most four loads and four stores, which may overlap, and no call:
    /// for a label name or value, a call to memcpy cost more than the copy.
    @inlinable @inline(__always)
    static func copyShort(to target: UnsafeMutableRawPointer, from source: UnsafeRawPointer, count: Int) {
        if count >= 16 {
            let a = source.loadUnaligned(as: UInt64.self)
            let b = source.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
            let c = source.loadUnaligned(fromByteOffset: count - 16, as: UInt64.self)
            let d = source.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
            target.storeBytes(of: a, as: UInt64.self)
            target.storeBytes(of: b, toByteOffset: 8, as: UInt64.self)
            target.storeBytes(of: c, toByteOffset: count - 16, as: UInt64.self)
            target.storeBytes(of: d, toByteOffset: count - 8, as: UInt64.self)
        } else if count >= 8 {
            let a = source.loadUnaligned(as: UInt64.self)
            let b = source.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
            target.storeBytes(of: a, as: UInt64.self)
            target.storeBytes(of: b, toByteOffset: count - 8, as: UInt64.self)
        } else if count >= 4 {
            let a = source.loadUnaligned(as: UInt32.self)
            let b = source.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self)
            target.storeBytes(of: a, as: UInt32.self)
            target.storeBytes(of: b, toByteOffset: count - 4, as: UInt32.self)
        } else {
            let a = source.load(as: UInt8.self)
            let b = source.load(fromByteOffset: count / 2, as: UInt8.self)
            let c = source.load(fromByteOffset: count - 1, as: UInt8.self)
            target.storeBytes(of: a, as: UInt8.self)
            target.storeBytes(of: b, toByteOffset: count / 2, as: UInt8.self)
            target.storeBytes(of: c, toByteOffset: count - 1, as: UInt8.self)
        }
    }

    /// Hashes the window's first 32 bytes and moves the rest down.
    @inlinable @inline(__always)
    mutating func consumeStripe() {
        v1 = XXHash64.round(v1, UInt64(littleEndian: window.0))
        v2 = XXHash64.round(v2, UInt64(littleEndian: window.1))
        v3 = XXHash64.round(v3, UInt64(littleEndian: window.2))
        v4 = XXHash64.round(v4, UInt64(littleEndian: window.3))
        window.0 = window.4
        window.1 = window.5
        window.2 = window.6
        window.3 = window.7
        windowCount -= 32
    }

    /// A piece of 32 bytes or more: fill the window's stripe, hash whole stripes straight from
    /// `bytes`, keep the rest.
    @usableFromInline
    mutating func feedLong(_ bytes: UnsafeRawBufferPointer) {
        var source = bytes.baseAddress!
        var count = bytes.count
        total += count
        if windowCount > 0 {
            let take = 32 - windowCount
            let at = windowCount
            withUnsafeMutableBytes(of: &window) { ($0.baseAddress! + at).copyMemory(from: source, byteCount: take) }
            windowCount = 32
            consumeStripe()
            source += take
            count -= take
        }
        while count >= 32 {
            XXHash64.stripe(source, &v1, &v2, &v3, &v4)
            source += 32
            count -= 32
        }
        let rest = count
        withUnsafeMutableBytes(of: &window) { window in
            if rest > 0 { window.baseAddress!.copyMemory(from: source, byteCount: rest) }
            window[rest] = 0xFF
        }
        windowCount = rest + 1
        total += 1
        if windowCount == 32 { consumeStripe() }
    }

    @inlinable
    public func finish() -> UInt64 {
        var h: UInt64
        if total >= 32 {
            h = XXHash64.rotl(v1, 1) &+ XXHash64.rotl(v2, 7) &+ XXHash64.rotl(v3, 12) &+ XXHash64.rotl(v4, 18)
            h = XXHash64.merge(h, v1)
            h = XXHash64.merge(h, v2)
            h = XXHash64.merge(h, v3)
            h = XXHash64.merge(h, v4)
        } else {
            h = XXHash64.prime5
        }
        h = h &+ UInt64(total)
        var rest = window
        let count = windowCount
        return withUnsafeBytes(of: &rest) { XXHash64.finalize(h, tail: UnsafeRawBufferPointer(rebasing: $0[..<count])) }
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
