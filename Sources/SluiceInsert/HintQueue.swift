#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import SluiceCodec
import SluiceFiles
import Synchronization

// Hinted handoff storage: what a storage node missed while it was down, kept on the insert node's disk
// until it can be replayed.
//
// On disk, one directory per node:
//
//     <data-dir>/hints/<node, percent-encoded>/
//         00000000000000000001.seg   append-only segments, oldest first by id
//         00000000000000000002.seg
//         cursor                     20 bytes: u64 segment id, u64 offset, u32 CRC32C of those 16 bytes
//
// The segmented log is SluiceFiles' (SegmentedLog.swift, as the storage WAL's): a segment is a run
// of `LogFrame`s with no file header, appended through a `LogAppender`; the cursor is a `LogCursor`,
// and the cursor file also holds the directory's lock. The cursor means "every segment below `id`, and every frame of segment `id`
// that ends at or before `offset`, is delivered". Segment ids only grow, and always past the cursor,
// so a stale cursor can only cause redelivery, never a skip.

/// Why a hint queue could not do what was asked.
public typealias HintQueueError = CodedError<HintQueueErrorDomain>

/// The codes of `HintQueueError`.
public enum HintQueueErrorDomain: SystemErrorDomain {}

extension ErrorCode where Domain == HintQueueErrorDomain {
    /// Another open queue, in this process or another, holds the directory.
    public static var locked: Self { Self("locked") }
    /// The queue was closed.
    public static var closed: Self { Self("closed") }
    /// The node name is empty or too long to be a directory name.
    public static var invalidNodeName: Self { Self("invalidNodeName") }
}

/// A durable, bounded FIFO of opaque records for one storage node: remote-write bodies that node missed.
///
/// Appends are rare (only while a node is down) and must not be lost once acknowledged, so `append`
/// returns only after `fdatasync`, and a batch costs one sync per segment it touches. Delivery is at
/// least once: the read position is written on every commit but synced only on `sync()`/`close()`, so
/// a power cut can replay some delivered records, which storage accepts as exact duplicates.
///
/// The bound protects the disk: when an append would take the segments past `maxBytes`, whole oldest
/// segments go first, and every record lost that way is counted in `droppedRecords`/`droppedBytes`.
///
/// Calls block on file I/O under a `Mutex`, so they are synchronous; an append holds the lock across
/// its sync. Callers on the cooperative pool should expect a few milliseconds per append.
public final class HintQueue: Sendable {
    public struct Configuration: Sendable {
        /// Bound on the bytes this queue's segments take on disk, frames included.
        public var maxBytes: Int
        /// A segment is closed, and a new one begun, before it would pass this size. A single larger
        /// record gets a segment of its own.
        public var segmentBytes: Int

        public init(maxBytes: Int = 1 << 30, segmentBytes: Int = 8 << 20) {
            self.maxBytes = maxBytes
            self.segmentBytes = segmentBytes
        }
    }

    /// The oldest record, as `peek()` found it. Hand it back to `commit(_:)` once delivered.
    public struct Entry: Sendable, Equatable {
        public let payload: [UInt8]
        /// Where the record's frame starts: segment id and byte offset.
        public let segment: Int
        public let offset: Int
    }

    /// What one append did, for the caller's logs; the counters on the queue say the same in total.
    public struct AppendResult: Sendable, Equatable {
        /// Records now durably queued.
        public var appended = 0
        /// Records refused: empty, or too large to ever fit under the bound. Non-empty ones are counted
        /// as dropped.
        public var rejected = 0
        /// Older records dropped to make room, and their payload bytes.
        public var evictedRecords = 0
        public var evictedBytes = 0

        public init() {}
    }

    public struct Statistics: Sendable, Equatable {
        /// Records queued and not yet committed, and their payload bytes.
        public var count = 0
        public var bytes = 0
        /// What the segment files take on disk, frames and the delivered part of the oldest segment
        /// included. This is what `maxBytes` bounds.
        public var diskBytes = 0
        public var segments = 0
        /// Records lost to the bound, to oversize, or to corruption, and their payload bytes.
        public var droppedRecords = 0
        public var droppedBytes = 0
    }

    public let directory: String
    private let state: Mutex<State>

    /// Opens the queue in `directory`, creating it if needed, and recovers what a crash left.
    ///
    /// A torn tail of the newest segment (a frame cut short or failing its checksum, from a crash
    /// mid-append) was never acknowledged, so it is truncated with a warning and not counted. A bad
    /// frame in an older segment, which was synced before the next one began, is data loss: the rest
    /// of that segment is dropped, counted and logged as an error.
    public init(directory: String, configuration: Configuration = .init(), logger: Logger) throws(HintQueueError) {
        precondition(configuration.maxBytes > 0 && configuration.segmentBytes > 0, "hint queue sizes must be positive")
        self.directory = directory
        self.state = Mutex(try State(directory: directory, configuration: configuration, logger: logger))
    }

    deinit {
        state.withLock { $0.close() }
    }

    /// Queues one record durably.
    @discardableResult
    public func append(_ record: [UInt8]) throws(HintQueueError) -> AppendResult {
        try state.withLock { (state) throws(HintQueueError) -> AppendResult in try state.append(CollectionOfOne(record)) }
    }

    /// Queues records in order, durably, with one sync per segment touched.
    ///
    /// If it throws, a prefix of `records` may already be queued (those in segments it had filled).
    @discardableResult
    public func append(contentsOf records: some Collection<[UInt8]>) throws(HintQueueError) -> AppendResult {
        try state.withLock { (state) throws(HintQueueError) -> AppendResult in try state.append(records) }
    }

    /// The oldest record, left in place; nil when the queue is empty.
    ///
    /// A record failing its checksum here drops the rest of its segment, counted, and the next one is
    /// returned instead.
    public func peek() throws(HintQueueError) -> Entry? {
        try state.withLock { (state) throws(HintQueueError) -> Entry? in try state.peek() }
    }

    /// Removes `entry` after its delivery.
    ///
    /// Returns false, and does nothing, when `entry` is no longer the oldest record: the bound evicted
    /// it while it was being delivered, or it was committed already. Committing by identity rather than
    /// "remove the front" is what stops an eviction from turning into a silent skip of the next record.
    @discardableResult
    public func commit(_ entry: Entry) throws(HintQueueError) -> Bool {
        try state.withLock { (state) throws(HintQueueError) -> Bool in try state.commit(entry) }
    }

    /// Syncs the read position, so a power cut replays nothing already committed.
    public func sync() throws(HintQueueError) {
        try state.withLock { (state) throws(HintQueueError) in try state.sync() }
    }

    /// Syncs the read position and releases the files and the directory lock. Later calls throw `.closed`.
    public func close() {
        state.withLock { $0.close() }
    }

    public var statistics: Statistics { state.withLock { $0.statistics } }
    public var count: Int { statistics.count }
    public var bytes: Int { statistics.bytes }
    public var diskBytes: Int { statistics.diskBytes }
    public var droppedRecords: Int { statistics.droppedRecords }
    public var droppedBytes: Int { statistics.droppedBytes }
}
