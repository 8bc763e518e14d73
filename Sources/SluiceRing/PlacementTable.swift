/// The lookup side of a `HashRing`: from a series key's hash to the number of its replica set, and
/// from that number to the set's nodes, in one or two memory reads and no allocation.
///
/// The 64-bit circle is cut into about four buckets per token by the hash's top bits. Most buckets
/// (about 78%) hold no token, so every hash in them has the same successor token and the bucket
/// stores that token's replica set directly. A bucket that does hold tokens stores where they start
/// in the sorted token array, whose entries carry their set beside the token, and the successor is
/// found by stepping over the one or two tokens below the hash. Immutable once built; a reload
/// builds a new ring, and so a new table, off the request path.
public final class PlacementTable: @unchecked Sendable {
    /// A token and its replica set, side by side so that finding one reads the other.
    @usableFromInline
    struct Entry {
        @usableFromInline var token: UInt64
        @usableFromInline var set: UInt32
        @usableFromInline var unused: UInt32 = 0
    }

    /// Per bucket: a replica set number, or `tokenFlag` with the index of the bucket's first token.
    @usableFromInline let buckets: UnsafeMutablePointer<UInt32>
    @usableFromInline let bucketCount: Int
    @usableFromInline let shift: UInt64
    @usableFromInline let entries: UnsafeMutablePointer<Entry>
    @usableFromInline let tokenCount: Int
    /// The members of set `s`, primary first, at `s * replicationFactor ..< (s + 1) * replicationFactor`.
    @usableFromInline let members: UnsafeMutablePointer<Int32>
    @usableFromInline let memberCount: Int
    public let replicationFactor: Int

    @usableFromInline static var tokenFlag: UInt32 { 0x8000_0000 }

    /// - Parameters:
    ///   - tokens: the ring's token positions, sorted, at least one.
    ///   - setOfToken: the replica set that starts at each token.
    ///   - setMembers: the sets' members, `replicationFactor` per set.
    init(tokens: [UInt64], setOfToken: [UInt32], setMembers: [Int32], replicationFactor: Int) {
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

        // Four buckets per token (the next power of two at or above), at most 2^20 (4 MB).
        let bits = max(1, min(20, Int.bitWidth - (4 * tokens.count - 1).leadingZeroBitCount))
        shift = UInt64(64 - bits)
        bucketCount = 1 << bits
        buckets = .allocate(capacity: bucketCount)
        // Walk the buckets from the last down, carrying the first token at or after each bucket's start.
        var next = tokens.count  // the first token in a later bucket; tokens.count wraps to token 0
        var index = tokens.count - 1
        for bucket in stride(from: bucketCount - 1, through: 0, by: -1) {
            var first = -1
            while index >= 0, Int(tokens[index] >> shift) == bucket {
                first = index
                index -= 1
            }
            if first >= 0 {
                buckets[bucket] = Self.tokenFlag | UInt32(first)
                next = first
            } else {
                buckets[bucket] = setOfToken[next == tokens.count ? 0 : next]
            }
        }
    }

    deinit {
        buckets.deallocate()
        entries.deallocate()
        members.deallocate()
    }

    /// The number of the replica set holding the series whose key hashes to `hash`.
    @inlinable @inline(__always)
    public func replicaSet(for hash: UInt64) -> Int {
        let slot = buckets[Int(hash >> shift)]
        if slot & Self.tokenFlag == 0 { return Int(slot) }
        var index = Int(slot & ~Self.tokenFlag)
        // Every token of a later bucket is above `hash`: at most one step past this bucket's tokens.
        while index < tokenCount && entries[index].token < hash { index += 1 }
        return Int(entries[index == tokenCount ? 0 : index].set)
    }

    /// The node indices of replica set `set`, primary first. Valid while the table lives.
    @inlinable @inline(__always)
    public func members(ofReplicaSet set: Int) -> UnsafeBufferPointer<Int32> {
        precondition(set >= 0 && (set + 1) * replicationFactor <= memberCount, "replica set \(set) out of range")
        return UnsafeBufferPointer(start: members + set * replicationFactor, count: replicationFactor)
    }
}
