#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import NIOPosix
import SluiceFiles
import Synchronization

/// The storage node's write-ahead log: what the head has accepted, on disk before it is acknowledged.
///
/// The head calls `log` under its own lock, so the order of records in the log is the order the head
/// applied them, and `log` only encodes into memory. The caller then leaves the lock and awaits `wait`.
/// One flusher thread writes whatever has piled up since its last pass with one `pwrite` and one
/// `fdatasync`, and resumes every waiter of that pass: under load, hundreds of requests share a sync
/// (group commit), and no blocking system call runs on the Swift cooperative pool.
///
/// A failed write (ENOSPC, EIO) is cut back out of the segment and fails exactly the waiters of that
/// pass, whose callers answer 5xx. Its frames are kept and written, in order, ahead of the next pass;
/// the flusher retries them every half second on its own, so the log recovers when space frees up.
/// They must not be dropped: the head already holds their samples, so a client's retry would find
/// duplicates, append nothing, and be acknowledged with its data nowhere on disk. Until the kept
/// frames are written, `isFailing` is true and `Storage` refuses new writes. Replay can see a
/// series record twice, or after a checkpoint that already holds it, and must treat a repeated
/// series or sample as a no-op.
///
/// Open it only after `replay`: appends always start a new segment, but replay repairs damage by
/// dropping everything after it, so a torn segment left unrepaired would take newer ones with it.
final class WAL: Sendable {
    struct Configuration: Sendable {
        enum FsyncMode: Sendable, Equatable {
            /// `wait` returns once the records are on stable storage.
            case always
            /// `wait` returns once the records are in the page cache; they are synced at most this
            /// long after being written, so a power cut (not a process crash) loses up to that much.
            case interval(Duration)
        }

        var fsync: FsyncMode
        /// A segment that has reached this many bytes is closed and the next `log` starts a new one.
        /// One `log` call never spans segments, so a segment can pass this by one call's records.
        var segmentSize: Int

        init(fsync: FsyncMode = .always, segmentSize: Int = 128 << 20) {
            self.fsync = fsync
            self.segmentSize = segmentSize
        }
    }

    /// A place in the log, from `log`, to await with `wait`. Tickets order as their records do.
    struct Ticket: Sendable, Hashable, Comparable {
        let sequence: UInt64
        let batch: Batch

        static func == (lhs: Ticket, rhs: Ticket) -> Bool { lhs.sequence == rhs.sequence }
        static func < (lhs: Ticket, rhs: Ticket) -> Bool { lhs.sequence < rhs.sequence }
        func hash(into hasher: inout Hasher) { hasher.combine(sequence) }
    }

    /// What replay found.
    struct ReplayReport: Sendable, Equatable {
        /// Records handed to the body, checkpoint included.
        var records = 0
        /// Segment files read after the checkpoint.
        var segments = 0
        /// The checkpoint replay started from, if any.
        var checkpoint: Int?
        /// Damaged frames found; each cut off its file there and dropped every later segment.
        var corruptions = 0
        /// Bytes removed by those repairs.
        var truncatedBytes = 0
    }

    struct Statistics: Sendable, Equatable {
        /// Syncs of segment data, one per flusher pass in `.always` mode.
        var fsyncs = 0
        /// Flusher writes, one per pass and segment.
        var writes = 0
        /// Writes that failed and failed their waiters.
        var failedWrites = 0
        /// Frame bytes written to segments.
        var bytesWritten = 0
    }

    let directory: String
    let configuration: Configuration
    private let core: Core
    private let flusher: NIOThreadPool
    private let lockFD: Int32

    /// Opens `directory` for append, creating it if needed, and starts the flusher thread.
    ///
    /// The first record goes to a new segment after every existing segment and checkpoint.
    /// `observeFsync` gets the duration of every segment sync, for a latency histogram.
    init(
        directory: String,
        configuration: Configuration = .init(),
        logger: Logger,
        observeFsync: @escaping @Sendable (Duration) -> Void = { _ in }
    ) throws {
        precondition(configuration.segmentSize > 0, "WAL segment size must be positive")
        if case .interval(let interval) = configuration.fsync {
            precondition(interval > .zero, "WAL fsync interval must be positive")
        }
        try WALFiles.makeDirectories(directory)
        guard let lockFD = try WALFiles.openLocked(directory + "/" + WALNames.lock) else {
            throw WALError(.locked, "\(directory) is open in another WAL", systemError: EWOULDBLOCK)
        }
        var last = 0
        do {
            for name in try WALFiles.listDirectoryIfPresent(directory) ?? [] {
                if let id = WALNames.segmentID(name) ?? WALNames.checkpointID(name) { last = max(last, id) }
            }
        } catch {
            WALFiles.closeFile(lockFD)
            throw error
        }

        self.directory = directory
        self.configuration = configuration
        self.lockFD = lockFD
        var logger = logger
        logger[metadataKey: "wal.directory"] = "\(directory)"
        self.core = Core(directory: directory, configuration: configuration, logger: logger, observeFsync: observeFsync, firstSegment: last + 1)
        self.flusher = NIOThreadPool(numberOfThreads: 1)
        flusher.start()
        flusher.submit { [core] state in
            guard case .active = state else { return }
            core.runFlusher()
        }
    }

    deinit {
        close()
    }

    /// Queues `records`, in order, for the next write. No I/O: safe under the head's lock.
    ///
    /// After `close`, the ticket fails with `.closed`.
    func log(_ records: [WALRecord]) -> Ticket {
        let (ticket, wake) = core.state.withLock { state -> (Ticket, Bool) in
            let sequence = state.nextSequence
            state.nextSequence += 1
            if state.closing {
                return (Ticket(sequence: sequence, batch: Batch(failedWith: WALError(.closed, "WAL \(directory) is closed"))), false)
            }
            if state.segmentBytes >= configuration.segmentSize {
                state.segment += 1
                state.segmentBytes = 0
            }
            if state.pending.last?.segment != state.segment {
                state.pending.append(Chunk(segment: state.segment, bytes: state.spareBuffers.popLast() ?? [], batch: Batch()))
            }
            let index = state.pending.count - 1
            let before = state.pending[index].bytes.count
            for record in records {
                LogFrame.append(record, to: &state.pending[index].bytes)
            }
            state.segmentBytes += state.pending[index].bytes.count - before
            let batch = state.pending[index].batch
            state.lastBatch = batch
            let wake = state.flusherSleeping
            state.flusherSleeping = false
            return (Ticket(sequence: sequence, batch: batch), wake)
        }
        if wake { core.wakeup.signal() }
        return ticket
    }

    /// Whether frames of a failed write are still waiting to be written: new writes would pile up
    /// behind them in memory, so `Storage` refuses them meanwhile.
    var isFailing: Bool { core.failing.load(ordering: .acquiring) }

    /// Returns once the ticket's records are written, and synced in `.always` mode.
    ///
    /// - Throws: the `WALError` of the write or sync that failed, or `.closed`. Not cancellable: the
    ///   wait is bounded by one disk write.
    func wait(_ ticket: Ticket) async throws {
        try await ticket.batch.wait()
    }

    /// Ends the current segment at this point in the log. No I/O: safe under the head's lock.
    ///
    /// Returns N: everything logged so far is in segments ≤ N and the next record goes to a later one.
    /// Pass N to `checkpoint(through:records:)` with the head's state as of this call.
    func cutSegment() -> Int {
        core.state.withLock { state in
            // Nothing in the current segment yet: it already starts after the cut.
            guard state.segmentBytes > 0 else { return state.segment - 1 }
            let cut = state.segment
            state.segment += 1
            state.segmentBytes = 0
            return cut
        }
    }

    /// Replaces segments ≤ `segment` by `checkpoint.<segment>`, holding `records`.
    ///
    /// It first waits for everything logged before it to be written, so no segment it deletes is
    /// still being appended to; the checkpoint file is written under a temporary name, synced,
    /// renamed and the directory synced before anything is deleted, so a crash at any point leaves
    /// either the old segments or the checkpoint for replay. The file I/O runs on NIO's blocking pool.
    func checkpoint(through segment: Int, records: [WALRecord]) async throws {
        let (barrier, current, closing) = core.state.withLock { ($0.lastBatch, $0.segment, $0.closing) }
        guard !closing else { throw WALError(.closed, "WAL \(directory) is closed") }
        guard segment >= 0, segment < current else {
            throw WALError(.invalidCheckpoint, "segment \(segment) has not been cut; the current segment is \(current)")
        }
        // Whether that write worked does not matter: the checkpoint holds the head's whole state.
        try? await barrier?.wait()
        let directory = self.directory
        let logger = core.logger
        try await NIOThreadPool.singleton.runIfActive {
            try WAL.writeCheckpoint(directory: directory, through: segment, records: records, logger: logger)
        }
    }

    /// Writes what is pending, syncs, closes the segment and releases the directory. Idempotent.
    ///
    /// Blocks until the flusher thread has finished.
    func close() {
        let (first, wake) = core.state.withLock { state -> (Bool, Bool) in
            guard !state.closing else { return (false, false) }
            state.closing = true
            let wake = state.flusherSleeping
            state.flusherSleeping = false
            return (true, wake)
        }
        guard first else { return }
        if wake { core.wakeup.signal() }
        // Waits for the flusher, which exits once it has drained the pending batches. Not
        // `syncShutdownGracefully`: that waits for a callback on Dispatch's global queue, whose
        // threads are the Swift concurrency pool's, so closing from two tasks at once on a 2-core
        // machine can take every thread that callback needs.
        core.finished.wait(timeout: nil)
        flusher.shutdownGracefully { _ in }
        WALFiles.closeFile(lockFD)
    }

    var statistics: Statistics {
        Statistics(
            fsyncs: core.fsyncs.load(ordering: .relaxed),
            writes: core.writes.load(ordering: .relaxed),
            failedWrites: core.failedWrites.load(ordering: .relaxed),
            bytesWritten: core.bytesWritten.load(ordering: .relaxed)
        )
    }
}

// MARK: - Batches

extension WAL {
    /// The records of one flusher write, and the callers waiting for it.
    final class Batch: Sendable {
        private struct State {
            var result: Result<Void, WALError>?
            var waiters: [CheckedContinuation<Void, any Error>] = []
        }

        private let state: Mutex<State>

        init() {
            state = Mutex(State())
        }

        init(failedWith error: WALError) {
            state = Mutex(State(result: .failure(error)))
        }

        func wait() async throws {
            if let result = state.withLock({ $0.result }) { return try result.get() }
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let result = state.withLock { state -> Result<Void, WALError>? in
                    if let result = state.result { return result }
                    state.waiters.append(continuation)
                    return nil
                }
                if let result { continuation.resume(with: result) }
            }
        }

        func complete(_ result: Result<Void, WALError>) {
            let waiters = state.withLock { state in
                state.result = result
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter.resume(with: result) }
        }
    }

    /// Frames logged for one segment and not yet taken by the flusher.
    struct Chunk: Sendable {
        var segment: Int
        var bytes: [UInt8]
        let batch: Batch
    }
}

// MARK: - Flusher

extension WAL {
    /// What the WAL's callers and its flusher thread share. The flusher holds this, not the WAL, so
    /// dropping the last reference to the WAL closes it.
    final class Core: Sendable {
        struct State {
            /// Oldest first; at most one per segment, usually one.
            var pending: [Chunk] = []
            /// The segment the next record goes to, and the bytes logged to it so far.
            var segment: Int
            var segmentBytes = 0
            var nextSequence: UInt64 = 1
            /// The batch of the latest `log`: done means everything logged so far is done.
            var lastBatch: Batch?
            /// The flusher is waiting, or about to, for `wakeup`.
            var flusherSleeping = false
            var closing = false
            /// Emptied buffers kept for reuse, so a steady load does not regrow one every pass.
            var spareBuffers: [[UInt8]] = []
        }

        let directory: String
        let configuration: Configuration
        let logger: Logger
        let observeFsync: @Sendable (Duration) -> Void
        let state: Mutex<State>
        let wakeup = Wakeup()
        /// Signalled by the flusher thread as it exits, after its last write and sync.
        let finished = Wakeup()
        let fsyncs = Atomic<Int>(0)
        let writes = Atomic<Int>(0)
        let failedWrites = Atomic<Int>(0)
        let bytesWritten = Atomic<Int>(0)
        /// Frames of a failed write wait to be written again.
        let failing = Atomic<Bool>(false)

        init(
            directory: String,
            configuration: Configuration,
            logger: Logger,
            observeFsync: @escaping @Sendable (Duration) -> Void,
            firstSegment: Int
        ) {
            self.directory = directory
            self.configuration = configuration
            self.logger = logger
            self.observeFsync = observeFsync
            self.state = Mutex(State(segment: firstSegment))
        }

        private enum Step {
            case write([Chunk])
            case sleep
            case exit
        }

        /// The flusher thread's loop, until `close`.
        func runFlusher() {
            var writer = SegmentWriter(core: self)
            while true {
                let step = state.withLock { state -> Step in
                    state.flusherSleeping = false
                    if !state.pending.isEmpty {
                        var taken: [Chunk] = []
                        swap(&taken, &state.pending)
                        return .write(taken)
                    }
                    if state.closing { return .exit }
                    state.flusherSleeping = true
                    return .sleep
                }
                switch step {
                case .write(var chunks):
                    var emptied: [[UInt8]] = []
                    for index in chunks.indices {
                        var bytes: [UInt8] = []
                        swap(&bytes, &chunks[index].bytes)
                        let result = writer.write(bytes, segment: chunks[index].segment)
                        chunks[index].batch.complete(result)
                        // Keep ordinary buffers for reuse; let a burst's giant one go.
                        if bytes.capacity <= 16 << 20 {
                            bytes.removeAll(keepingCapacity: true)
                            emptied.append(bytes)
                        }
                    }
                    if !emptied.isEmpty {
                        state.withLock { state in
                            while state.spareBuffers.count < 2, let buffer = emptied.popLast() {
                                state.spareBuffers.append(buffer)
                            }
                        }
                    }
                    writer.syncIfDue()
                case .sleep:
                    if writer.hasCarried {
                        // Nothing new, but a failed write to try again: the disk may have room now.
                        if !wakeup.wait(timeout: .milliseconds(500)) { writer.retryCarried() }
                    } else if let remaining = writer.timeUntilSyncDue() {
                        if !wakeup.wait(timeout: remaining) { writer.syncIfDue() }
                    } else {
                        wakeup.wait(timeout: nil)
                    }
                case .exit:
                    writer.finish()
                    finished.signal()
                    return
                }
            }
        }

        func retire(segment: Int) {
            state.withLock { state in
                if state.segment <= segment {
                    state.segment = segment + 1
                    state.segmentBytes = 0
                }
            }
        }
    }

    /// The flusher's open segment. Used by the flusher thread only.
    struct SegmentWriter {
        let core: Core
        let files: LogSegments
        /// The open segment, appended at its end.
        private var file: LogAppender<WALError>?
        /// The segment opened last, open or since given up.
        private var openSegment = 0
        /// Since when the open segment holds written but unsynced bytes (`.interval` mode).
        private var unsyncedSince: ContinuousClock.Instant?
        /// Segments below this were given up after a failed sync or cut-back and get no more writes;
        /// their records go to this one instead.
        private var floor = 0
        /// Frames of failed writes, written ahead of the next frames.
        private var carried: [UInt8] = []

        var hasCarried: Bool { !carried.isEmpty }

        /// Tries the frames of failed writes again, with nothing new.
        mutating func retryCarried() {
            _ = write([], segment: lastTarget)
        }
        /// The segment the latest write was meant for.
        private var lastTarget = 0

        init(core: Core) {
            self.core = core
            self.files = LogSegments(directory: core.directory, names: WALNames.segments)
        }

        private var path: String { core.directory + "/" + WALNames.segment(openSegment) }

        /// Appends `frames` to `segment` (or a later one, after a failure) and syncs in `.always` mode.
        mutating func write(_ frames: [UInt8], segment: Int) -> Result<Void, WALError> {
            var frames = frames
            if !carried.isEmpty {
                frames = carried + frames
            }
            guard !frames.isEmpty else { return .success(()) }
            core.writes.add(1, ordering: .relaxed)
            let target = max(segment, floor)
            lastTarget = target
            do throws(WALError) {
                if file?.id != target { try open(target) }
            } catch {
                return failed(error, frames: frames)
            }
            let base = file!.size
            do throws(LogAppender<WALError>.AppendFailure) {
                try file!.append(frames)
            } catch {
                // The write was cut back out: the disk may free up, so keep appending here. If it
                // could not be, what the file holds past `base` is unknown: move on to a new one.
                if let cutBack = error.cutBack {
                    core.logger.error("Could not cut back a failed WAL write", metadata: ["wal.segment": "\(path)", "error": "\(cutBack)"])
                    retire()
                }
                return failed(error.error, frames: frames)
            }
            core.bytesWritten.add(frames.count, ordering: .relaxed)
            carried = []
            core.failing.store(false, ordering: .releasing)
            switch core.configuration.fsync {
            case .always:
                do throws(WALError) {
                    try sync()
                } catch {
                    // What a failed sync left on disk is unknown: drop this write and leave the file.
                    file?.cutBack(to: base)
                    retire()
                    return failed(error, frames: frames)
                }
            case .interval:
                if unsyncedSince == nil { unsyncedSince = .now }
            }
            return .success(())
        }

        private mutating func failed(_ error: WALError, frames: [UInt8]) -> Result<Void, WALError> {
            core.failedWrites.add(1, ordering: .relaxed)
            carried = frames
            core.failing.store(true, ordering: .releasing)
            core.logger.error(
                "WAL write failed",
                metadata: ["wal.segment": "\(core.directory)/\(WALNames.segment(max(openSegment, floor)))", "error": "\(error)"]
            )
            return .failure(error)
        }

        /// Closes the open segment and opens (creating if needed) `id` at its end.
        private mutating func open(_ id: Int) throws(WALError) {
            closeSegment()
            file = try files.append(to: id)
            openSegment = id
        }

        /// Gives up on the open segment after a failure whose effect on the file is unknown.
        private mutating func retire() {
            floor = max(floor, openSegment + 1)
            file?.close()
            file = nil
            unsyncedSince = nil
            core.retire(segment: openSegment)
            core.logger.warning("Closed a WAL segment after a failure; appending to the next", metadata: ["wal.segment": "\(path)"])
        }

        private mutating func sync() throws(WALError) {
            let start = ContinuousClock.now
            try file?.sync()
            let elapsed = ContinuousClock.now - start
            core.fsyncs.add(1, ordering: .relaxed)
            core.observeFsync(elapsed)
            unsyncedSince = nil
        }

        /// How long until unsynced bytes are due for their sync; nil when there are none.
        func timeUntilSyncDue() -> Duration? {
            guard case .interval(let interval) = core.configuration.fsync, file != nil, let since = unsyncedSince else { return nil }
            return max(.zero, since + interval - .now)
        }

        /// Syncs the open segment if its oldest unsynced bytes are `interval` old.
        mutating func syncIfDue() {
            guard let remaining = timeUntilSyncDue(), remaining == .zero else { return }
            syncInterval()
        }

        private mutating func syncInterval() {
            guard file != nil, unsyncedSince != nil else { return }
            do throws(WALError) {
                try sync()
            } catch {
                // Acknowledged writes may be lost; the sync cannot be retried on the same file (a
                // failed fsync may have dropped the dirty pages), so move on to a new segment.
                core.logger.error(
                    "WAL sync failed; acknowledged writes may not survive a power cut",
                    metadata: ["wal.segment": "\(path)", "error": "\(error)"]
                )
                retire()
            }
        }

        /// Syncs and closes the open segment, if any.
        private mutating func closeSegment() {
            guard file != nil else { return }
            syncInterval()
            file?.close()
            file = nil
        }

        /// At close: one last try for carried series frames, then sync and close.
        mutating func finish() {
            if !carried.isEmpty {
                _ = write([], segment: lastTarget)
            }
            closeSegment()
        }
    }

    /// Wakes the flusher thread. A condition variable rather than a Swift primitive, because the
    /// flusher blocks in it on its own thread.
    final class Wakeup: @unchecked Sendable {
        private let mutex: UnsafeMutablePointer<pthread_mutex_t>
        private let condition: UnsafeMutablePointer<pthread_cond_t>
        /// Guarded by `mutex`.
        private var signalled = false

        init() {
            mutex = .allocate(capacity: 1)
            mutex.initialize(to: pthread_mutex_t())
            pthread_mutex_init(mutex, nil)
            condition = .allocate(capacity: 1)
            condition.initialize(to: pthread_cond_t())
            pthread_cond_init(condition, nil)
        }

        deinit {
            pthread_cond_destroy(condition)
            pthread_mutex_destroy(mutex)
            condition.deallocate()
            mutex.deallocate()
        }

        func signal() {
            pthread_mutex_lock(mutex)
            signalled = true
            pthread_cond_signal(condition)
            pthread_mutex_unlock(mutex)
        }

        /// Waits for `signal`, or for `timeout`; false when it timed out unsignalled.
        @discardableResult
        func wait(timeout: Duration?) -> Bool {
            pthread_mutex_lock(mutex)
            defer { pthread_mutex_unlock(mutex) }
            if let timeout {
                var deadline = timespec()
                clock_gettime(CLOCK_REALTIME, &deadline)
                let (seconds, attoseconds) = timeout.components
                var nanoseconds = Int(deadline.tv_nsec) + Int(attoseconds / 1_000_000_000)
                deadline.tv_sec += Int(seconds) + nanoseconds / 1_000_000_000
                nanoseconds %= 1_000_000_000
                deadline.tv_nsec = nanoseconds
                while !signalled {
                    if pthread_cond_timedwait(condition, mutex, &deadline) == ETIMEDOUT { break }
                }
            } else {
                while !signalled { pthread_cond_wait(condition, mutex) }
            }
            defer { signalled = false }
            return signalled
        }
    }
}
