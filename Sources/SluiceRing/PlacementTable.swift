import CSluicePrefetch

/// The lookup side of a `HashRing`: from a series key's hash to the number of its replica set, and
/// from that number to the set's nodes, in one or two memory reads and no allocation.
///
/// The 64-bit circle is cut into buckets by the hash's top bits. Most buckets hold no token, so every
/// hash in them has the same successor token and the bucket stores that token's replica set directly.
/// A bucket that does hold tokens (a *mixed* one) leads to where they start in the sorted token
/// array, whose entries carry their set beside the token, and the successor is found by stepping over
/// the one or two tokens below the hash. Immutable once built; a reload builds a new ring, and so a
/// new table, off the request path.
///
/// The bucket read misses the cache for nearly every series (hashes are random), so the buckets are
/// as narrow as the ring allows: one byte each while the ring has fewer than 255 replica sets (every
/// ring of up to seven nodes at RF 3: at most 7 × 6 × 5 ordered sets), two below 65,535, with
/// the widest value marking a mixed bucket. One-byte buckets come eight per token, so about 12% are
/// mixed; the table for 3 nodes × 8192 tokens is 256 KiB instead of 512. Rings with more sets keep
/// four-byte buckets, four per token, that hold either a set or `tokenFlag` and the index of the
/// first token.
///
/// A mixed one- or two-byte bucket is resolved from `mixed`, a parallel array read at the same index:
/// nearly every mixed bucket holds a single token, and its entry holds the 32 bits of that token below
/// the bucket's bits and the sets on either side of it. Both reads depend on the hash alone, so
/// `prefetch(for:)` asks for both lines at once and a mixed bucket costs no extra wait; following an
/// index into `entries` would be a second, dependent miss.
public final class PlacementTable: @unchecked Sendable {
    /// A token and its replica set, side by side so that finding one reads the other.
    @usableFromInline
    struct Entry {
        @usableFromInline var token: UInt64
        @usableFromInline var set: UInt32
        @usableFromInline var unused: UInt32 = 0
    }

    /// Per bucket, `bucketWidth` bytes: a replica set number, or the mark of a mixed bucket.
    @usableFromInline let buckets: UnsafeMutableRawPointer
    /// 1, 2 or 4.
    @usableFromInline let bucketWidth: Int
    @usableFromInline let bucketCount: Int
    @usableFromInline let shift: UInt64
    /// A mixed bucket's way to its set. With one token in the bucket: `key`, the 32 bits of the token
    /// after the bucket's bits, and the sets of that token (`setAt`) and of the next (`setAfter`).
    /// With more: `setAfter` is `manyTokens` and `key` the index of the bucket's first token.
    @usableFromInline
    struct MixedBucket {
        @usableFromInline var key: UInt32 = 0
        @usableFromInline var setAt: UInt16 = 0
        @usableFromInline var setAfter: UInt16 = 0
    }

    @usableFromInline static var manyTokens: UInt16 { 0xFFFF }

    /// For one- and two-byte buckets: per bucket, read only for a mixed one.
    @usableFromInline let mixed: UnsafeMutablePointer<MixedBucket>?
    /// 64 − `shift`: shifting a hash left by it drops the bucket's bits.
    @usableFromInline let bucketBits: UInt64
    @usableFromInline let entries: UnsafeMutablePointer<Entry>
    @usableFromInline let tokenCount: Int
    /// The members of set `s`, primary first, at `s * replicationFactor ..< (s + 1) * replicationFactor`.
    @usableFromInline let members: UnsafeMutablePointer<Int32>
    @usableFromInline let memberCount: Int
    public let replicationFactor: Int
    /// Whether every token starts the same replica set (one node, say): placement is then that set,
    /// with no bucket to read.
    @usableFromInline let oneSet: Bool

    @usableFromInline static var tokenFlag: UInt32 { 0x8000_0000 }

    /// - Parameters:
    ///   - tokens: the ring's token positions, sorted, at least one.
    ///   - setOfToken: the replica set that starts at each token.
    ///   - setMembers: the sets' members, `replicationFactor` per set.
    ///   - bucketWidth: 1, 2 or 4, or nil for the narrowest that holds every set number (tests pick).
    init(tokens: [UInt64], setOfToken: [UInt32], setMembers: [Int32], replicationFactor: Int, bucketWidth: Int? = nil) {
        precondition(!tokens.isEmpty && tokens.count == setOfToken.count && tokens.count < Int(Self.tokenFlag))
        tokenCount = tokens.count
        entries = .allocate(capacity: tokens.count)
        for index in tokens.indices {
            (entries + index).initialize(to: Entry(token: tokens[index], set: setOfToken[index]))
        }
        memberCount = setMembers.count
        members = .allocate(capacity: max(1, setMembers.count))
        members.initialize(from: setMembers, count: setMembers.count)
        self.replicationFactor = replicationFactor

        let setCount = Int(setOfToken.max() ?? 0) + 1
        oneSet = setOfToken.allSatisfy { $0 == setOfToken[0] }
        let width = bucketWidth ?? (setCount < 0xFF ? 1 : setCount < 0xFFFF ? 2 : 4)
        precondition(width == 4 || setCount < (1 << (8 * width)) - 1, "bucket width \(width) cannot hold \(setCount) sets")
        self.bucketWidth = width
        // Eight one-byte buckets per token, else four (the next power of two at or above), at most 2^20.
        let perToken = width == 1 ? 8 : 4
        let bits = max(1, min(20, Int.bitWidth - (perToken * tokens.count - 1).leadingZeroBitCount))
        shift = UInt64(64 - bits)
        bucketBits = UInt64(bits)
        bucketCount = 1 << bits
        buckets = .allocate(byteCount: bucketCount * width, alignment: 4)
        let mixedBuckets: UnsafeMutablePointer<MixedBucket>? = width == 4 ? nil : .allocate(capacity: bucketCount)
        mixedBuckets?.initialize(repeating: MixedBucket(), count: bucketCount)
        mixed = mixedBuckets
        let mixedMark: UInt32 = width == 1 ? 0xFF : width == 2 ? 0xFFFF : 0
        // Walk the buckets from the last down, carrying the first token at or after each bucket's start.
        var next = tokens.count  // the first token in a later bucket; tokens.count wraps to token 0
        var index = tokens.count - 1
        for bucket in stride(from: bucketCount - 1, through: 0, by: -1) {
            var first = -1
            let last = index
            while index >= 0, Int(tokens[index] >> shift) == bucket {
                first = index
                index -= 1
            }
            let value: UInt32
            if first >= 0 {
                next = first
                if let mixedBuckets {
                    if last == first {
                        let after = first + 1 == tokens.count ? 0 : first + 1
                        mixedBuckets[bucket] = MixedBucket(
                            key: Self.key(tokens[first], bucketBits: UInt64(bits)),
                            setAt: UInt16(setOfToken[first]), setAfter: UInt16(setOfToken[after]))
                    } else {
                        mixedBuckets[bucket] = MixedBucket(key: UInt32(first), setAfter: Self.manyTokens)
                    }
                    value = mixedMark
                } else {
                    value = Self.tokenFlag | UInt32(first)
                }
            } else {
                value = setOfToken[next == tokens.count ? 0 : next]
            }
            switch width {
            case 1: buckets.storeBytes(of: UInt8(value), toByteOffset: bucket, as: UInt8.self)
            case 2: buckets.storeBytes(of: UInt16(value), toByteOffset: bucket * 2, as: UInt16.self)
            default: buckets.storeBytes(of: value, toByteOffset: bucket * 4, as: UInt32.self)
            }
        }
    }

    deinit {
        buckets.deallocate()
        mixed?.deallocate()
        entries.deallocate()
        members.deallocate()
    }

    /// The number of the replica set holding the series whose key hashes to `hash`.
    @inlinable @inline(__always)
    public func replicaSet(for hash: UInt64) -> Int {
        if oneSet { return Int(entries[0].set) }
        let bucket = Int(truncatingIfNeeded: hash &>> shift)
        var index: Int
        switch bucketWidth {
        case 1, 2:
            let value = bucketWidth == 1
                ? UInt32(buckets.load(fromByteOffset: bucket, as: UInt8.self))
                : UInt32(buckets.load(fromByteOffset: bucket &* 2, as: UInt16.self))
            if value != (bucketWidth == 1 ? 0xFF : 0xFFFF) { return Int(value) }
            let entry = mixed.unsafelyUnwrapped[bucket]
            if entry.setAfter == Self.manyTokens {
                index = Int(entry.key)
            } else {
                let key = Self.key(hash, bucketBits: bucketBits)
                if key < entry.key { return Int(entry.setAt) }
                if key > entry.key { return Int(entry.setAfter) }
                // The same 32 bits as the token (about one hash in 2^32): find it among the entries.
                index = firstEntry(atOrAbove: hash & ~(UInt64.max &>> bucketBits))
            }
        default:
            let value = buckets.load(fromByteOffset: bucket &* 4, as: UInt32.self)
            if value & Self.tokenFlag == 0 { return Int(value) }
            index = Int(value & ~Self.tokenFlag)
        }
        // Every token of a later bucket is above `hash`: at most one step past this bucket's tokens.
        while index < tokenCount && entries[index].token < hash { index += 1 }
        return Int(entries[index == tokenCount ? 0 : index].set)
    }

    /// Asks for the cache line `replicaSet(for: hash)` reads first, without waiting for it: the
    /// bucket read misses the cache for nearly every series, and a caller with other work to do
    /// first can hide that.
    @inlinable @inline(__always)
    public func prefetch(for hash: UInt64) {
        if oneSet { return }
        let bucket = Int(truncatingIfNeeded: hash &>> shift)
        sluice_prefetch_for_write(buckets + bucket &* bucketWidth)
        if let mixed { sluice_prefetch_for_write(mixed + bucket) }
    }

    /// The 32 bits of `value` after the bucket's `bucketBits`.
    @inlinable @inline(__always)
    static func key(_ value: UInt64, bucketBits: UInt64) -> UInt32 {
        UInt32(truncatingIfNeeded: (value &<< bucketBits) &>> 32)
    }

    /// The index of the first token at or above `value`, or `tokenCount`: a binary search.
    @usableFromInline
    func firstEntry(atOrAbove value: UInt64) -> Int {
        var low = 0
        var high = tokenCount
        while low < high {
            let middle = (low + high) / 2
            if entries[middle].token < value { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// The node indices of replica set `set`, primary first. Valid while the table lives.
    @inlinable @inline(__always)
    public func members(ofReplicaSet set: Int) -> UnsafeBufferPointer<Int32> {
        precondition(set >= 0 && (set + 1) * replicationFactor <= memberCount, "replica set \(set) out of range")
        return UnsafeBufferPointer(start: members + set * replicationFactor, count: replicationFactor)
    }
}
