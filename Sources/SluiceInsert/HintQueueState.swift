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

// The queue's state under its lock: segments, cursor, recovery, append, delivery and the bound,
// each decision with the file operations it makes. The format is described in HintQueue.swift.

extension HintQueue {
    /// One segment file. `records` and `payloadBytes` count only what is not yet delivered.
    struct Segment {
        let id: Int
        var size: Int
        var records: Int
        var payloadBytes: Int
    }

    struct State {
        let directory: String
        /// `00000000000000000001.seg` and on.
        let files: LogSegments
        let configuration: Configuration
        let logger: Logger
        /// Oldest first. Only the first may have delivered records, all before `readOffset`.
        var segments: [Segment] = []
        var readOffset = 0
        /// Open on `segments.first`, or -1.
        var readFD: Int32 = -1
        /// Open on `segments.last`, or nil.
        var appender: LogAppender<HintQueueError>?
        /// Holds the directory's lock too.
        var cursorFD: Int32 = -1
        var nextID = 1
        /// `peek()`'s answer until a commit or eviction.
        var front: Entry?
        var statistics = Statistics()
        var closed = false

        init(directory: String, configuration: Configuration, logger: Logger) throws(HintQueueError) {
            self.directory = directory
            self.configuration = configuration
            self.logger = logger
            self.files = LogSegments(directory: directory, names: LogSegmentNames(digits: 20, suffix: ".seg"))
            try Posix.makeDirectories(directory)
            guard let fd = try Posix.openLocked(directory + "/cursor") else {
                throw HintQueueError(.locked, "\(directory) is in use by another hint queue", systemError: EWOULDBLOCK)
            }
            cursorFD = fd
            do throws(HintQueueError) {
                try recover()
            } catch {
                // What recovery had not reached yet must not be marked delivered.
                close(recordingPosition: false)
                throw error
            }
        }

        // MARK: Recovery

        mutating func recover() throws(HintQueueError) {
            let cursor = readCursor()
            let ids = try files.ids(HintQueueError.self)
            nextID = max(ids.last ?? 0, cursor.segment) + 1

            for (index, id) in ids.enumerated() {
                let path = files.path(id)
                if id < cursor.segment {
                    // Delivered; the crash came between the commit and the unlink.
                    Posix.removeFile(path, logger: logger)
                    continue
                }
                let isNewest = index == ids.count - 1
                let fd = try Posix.openFile(path, O_RDWR | O_CLOEXEC)
                defer { Posix.closeFile(fd) }
                let contents = try Posix.readWholeFile(fd, path: path)
                let delivered = id == cursor.segment ? cursor.offset : 0
                let scan = contents.withUnsafeBytes { Self.scan($0, deliveredUpTo: delivered) }

                if scan.validEnd < contents.count {
                    let discarded = contents.count - scan.validEnd
                    if isNewest {
                        logger.warning(
                            "Truncating torn tail of hint segment",
                            metadata: [
                                "hint.segment": "\(path)", "hint.offset": "\(scan.validEnd)",
                                "hint.discarded_bytes": "\(discarded)", "hint.reason": "\(scan.damage.map(\.description) ?? "")",
                            ]
                        )
                    } else {
                        let lost = contents.withUnsafeBytes { Self.countFrames($0, from: scan.validEnd) }
                        statistics.droppedRecords += lost.records
                        statistics.droppedBytes += lost.bytes
                        logger.error(
                            "Dropping the rest of a corrupt hint segment",
                            metadata: [
                                "hint.segment": "\(path)", "hint.offset": "\(scan.validEnd)",
                                "hint.dropped_records": "\(lost.records)", "hint.reason": "\(scan.damage.map(\.description) ?? "")",
                            ]
                        )
                    }
                    try Posix.truncateFile(fd, to: scan.validEnd, path: path)
                    try Posix.dataSync(fd, path: path)
                }

                guard scan.pendingRecords > 0 else {
                    // Empty or fully delivered: nothing to keep.
                    Posix.removeFile(path, logger: logger)
                    continue
                }
                if segments.isEmpty { readOffset = scan.deliveredEnd }
                segments.append(Segment(id: id, size: scan.validEnd, records: scan.pendingRecords, payloadBytes: scan.pendingBytes))
                statistics.count += scan.pendingRecords
                statistics.bytes += scan.pendingBytes
                statistics.diskBytes += scan.validEnd
            }
            statistics.segments = segments.count
            writeCursor()
            // The bound may have shrunk since the queue was written.
            _ = evict(toFit: 0)
            if statistics.count > 0 {
                logger.info(
                    "Recovered hint queue",
                    metadata: [
                        "hint.directory": "\(directory)", "hint.records": "\(statistics.count)",
                        "hint.bytes": "\(statistics.bytes)", "hint.segments": "\(segments.count)",
                    ]
                )
            }
        }

        struct ScanResult {
            var validEnd = 0
            var deliveredEnd = 0
            var pendingRecords = 0
            var pendingBytes = 0
            /// Why the frames stop before the end of the segment, if they do.
            var damage: LogFrame.Damage?
        }

        /// Walks the frames of one segment up to the first bad one.
        static func scan(_ bytes: UnsafeRawBufferPointer, deliveredUpTo delivered: Int) -> ScanResult {
            var result = ScanResult()
            (result.validEnd, result.damage) = LogFrame.walk(bytes) { payload in
                if payload.upperBound <= delivered {
                    result.deliveredEnd = payload.upperBound
                } else {
                    result.pendingRecords += 1
                    result.pendingBytes += payload.count
                }
            }
            return result
        }

        /// An estimate of what a corrupt stretch held: frames whose headers still chain, checksums
        /// aside, and any bytes past them. At least one record, since something was there.
        static func countFrames(_ bytes: UnsafeRawBufferPointer, from start: Int) -> (records: Int, bytes: Int) {
            var records = 0
            var payload = 0
            let chained = LogFrame.walk(bytes, from: start, checksum: false) { frame in
                records += 1
                payload += frame.count
            }
            if chained.validEnd < bytes.count {
                records += 1
                payload += bytes.count - chained.validEnd
            }
            return (max(records, 1), payload)
        }

        func readCursor() -> LogCursor {
            var buffer = [UInt8](repeating: 0, count: LogCursor.encodedBytes + 1)
            let count = buffer.withUnsafeMutableBytes { Posix.readUpTo(cursorFD, $0, at: 0) }
            guard count > 0 else { return LogCursor(segment: 0, offset: 0) }
            guard let cursor = buffer.withUnsafeBytes({ LogCursor(decoding: UnsafeRawBufferPointer(rebasing: $0[..<count])) }) else {
                logger.warning("Ignoring a corrupt hint cursor; undelivered hints will be replayed from the start", metadata: ["hint.directory": "\(directory)"])
                return LogCursor(segment: 0, offset: 0)
            }
            return cursor
        }

        /// Records the read position. Not synced: losing it replays delivered records, which is harmless,
        /// and a write that fails is only logged for the same reason.
        func writeCursor() {
            let cursor = segments.first.map { LogCursor(segment: $0.id, offset: readOffset) } ?? LogCursor(segment: nextID, offset: 0)
            do throws(HintQueueError) {
                try Posix.writeFully(cursorFD, cursor.encoded, at: 0, path: path("cursor"))
            } catch {
                logger.warning("Could not record hint read position", metadata: ["hint.directory": "\(directory)", "error": "\(error)"])
            }
        }

        // MARK: Appending

        mutating func append(_ records: some Collection<[UInt8]>) throws(HintQueueError) -> AppendResult {
            guard !closed else { throw HintQueueError(.closed, "hint queue \(directory) is closed") }
            var result = AppendResult()
            let maxRecord = min(configuration.maxBytes - LogFrame.headerBytes, Int(UInt32.max))
            var accepted: [[UInt8]] = []
            accepted.reserveCapacity(records.count)
            for record in records {
                if record.isEmpty {
                    result.rejected += 1
                } else if record.count > maxRecord {
                    result.rejected += 1
                    statistics.droppedRecords += 1
                    statistics.droppedBytes += record.count
                    logger.warning(
                        "Dropping a hint larger than its queue's bound",
                        metadata: ["hint.directory": "\(directory)", "hint.bytes": "\(record.count)", "hint.max_bytes": "\(configuration.maxBytes)"]
                    )
                } else {
                    accepted.append(record)
                }
            }

            // Of the batch itself keep the newest part that fits; the rest is already the oldest data.
            var incoming = 0
            var first = accepted.count
            while first > 0, incoming + LogFrame.headerBytes + accepted[first - 1].count <= configuration.maxBytes {
                first -= 1
                incoming += LogFrame.headerBytes + accepted[first].count
            }
            for record in accepted[..<first] {
                result.evictedRecords += 1
                result.evictedBytes += record.count
            }
            statistics.droppedRecords += result.evictedRecords
            statistics.droppedBytes += result.evictedBytes

            let evicted = evict(toFit: incoming)
            result.evictedRecords += evicted.records
            result.evictedBytes += evicted.bytes

            var pending: [UInt8] = []
            var pendingRecords = 0
            var pendingPayload = 0
            for record in accepted[first...] {
                let frame = LogFrame.headerBytes + record.count
                let used = (segments.last?.size ?? 0) + pending.count
                if segments.isEmpty || (used > 0 && used + frame > configuration.segmentBytes) {
                    if !pending.isEmpty {
                        try flush(&pending, records: pendingRecords, payloadBytes: pendingPayload)
                        result.appended += pendingRecords
                        pendingRecords = 0
                        pendingPayload = 0
                    }
                    try startSegment()
                }
                if pending.isEmpty { pending.reserveCapacity(min(incoming, configuration.segmentBytes) + frame) }
                LogFrame.append(record, to: &pending)
                pendingRecords += 1
                pendingPayload += record.count
            }
            if !pending.isEmpty {
                try flush(&pending, records: pendingRecords, payloadBytes: pendingPayload)
                result.appended += pendingRecords
            }
            return result
        }

        /// Writes and syncs `frames` at the end of the newest segment. Only then do the counters move;
        /// on failure the file is cut back so a half-written batch cannot be read later.
        mutating func flush(_ frames: inout [UInt8], records: Int, payloadBytes: Int) throws(HintQueueError) {
            let index = segments.count - 1
            if appender == nil { appender = try files.append(to: segments[index].id) }
            let start = appender!.size
            do throws(LogAppender<HintQueueError>.AppendFailure) {
                try appender!.append(frames)
            } catch {
                if let cutBack = error.cutBack {
                    logger.error("Could not cut back a failed hint append", metadata: ["hint.segment": "\(appender!.path)", "error": "\(cutBack)"])
                }
                throw error.error
            }
            do throws(HintQueueError) {
                try appender!.sync()
            } catch {
                if let cutBack = appender!.cutBack(to: start) {
                    logger.error("Could not cut back a failed hint append", metadata: ["hint.segment": "\(appender!.path)", "error": "\(cutBack)"])
                }
                throw error
            }
            segments[index].size += frames.count
            segments[index].records += records
            segments[index].payloadBytes += payloadBytes
            statistics.count += records
            statistics.bytes += payloadBytes
            statistics.diskBytes += frames.count
            frames.removeAll(keepingCapacity: true)
        }

        mutating func startSegment() throws(HintQueueError) {
            let id = nextID
            let new: LogAppender<HintQueueError>
            do throws(HintQueueError) {
                new = try files.append(to: id, truncate: true)
            } catch {
                if Posix.exists(files.path(id)) { Posix.removeFile(files.path(id), logger: logger) }
                throw error
            }
            nextID += 1
            appender?.close()
            appender = new
            if segments.isEmpty { readOffset = 0 }
            segments.append(Segment(id: id, size: 0, records: 0, payloadBytes: 0))
            statistics.segments = segments.count
        }

        /// Drops oldest segments until `incoming` more bytes fit under the bound.
        mutating func evict(toFit incoming: Int) -> (records: Int, bytes: Int) {
            var records = 0
            var bytes = 0
            while !segments.isEmpty, statistics.diskBytes + incoming > configuration.maxBytes {
                let head = segments[0]
                records += head.records
                bytes += head.payloadBytes
                statistics.droppedRecords += head.records
                statistics.droppedBytes += head.payloadBytes
                logger.warning(
                    "Hint queue full: dropping its oldest segment",
                    metadata: [
                        "hint.segment": "\(files.path(head.id))", "hint.dropped_records": "\(head.records)",
                        "hint.max_bytes": "\(configuration.maxBytes)",
                    ]
                )
                removeHead()
            }
            if records > 0 || bytes > 0 { writeCursor() }
            return (records, bytes)
        }

        /// Forgets and deletes the oldest segment; its undelivered records leave the counters here, and
        /// callers count them as dropped or not.
        mutating func removeHead() {
            let head = segments.removeFirst()
            statistics.count -= head.records
            statistics.bytes -= head.payloadBytes
            statistics.diskBytes -= head.size
            statistics.segments = segments.count
            Posix.closeFile(readFD)
            readFD = -1
            if segments.isEmpty {
                appender?.close()
                appender = nil
            }
            readOffset = 0
            front = nil
            Posix.removeFile(files.path(head.id), logger: logger)
        }

        // MARK: Consuming

        mutating func peek() throws(HintQueueError) -> Entry? {
            guard !closed else { throw HintQueueError(.closed, "hint queue \(directory) is closed") }
            if let front { return front }
            while let head = segments.first {
                if readOffset >= head.size {
                    removeHead()
                    writeCursor()
                    continue
                }
                let path = files.path(head.id)
                if readFD < 0 { readFD = try Posix.openFile(path, O_RDONLY | O_CLOEXEC) }
                var headerBytes = [UInt8](repeating: 0, count: LogFrame.headerBytes)
                let headerCount = try Posix.readFully(readFD, &headerBytes, at: readOffset, path: path)
                let header = headerBytes.withUnsafeBytes { LogFrame.header($0, at: 0) }
                let start = readOffset + LogFrame.headerBytes
                if headerCount == LogFrame.headerBytes, LogFrame.check(header, remaining: head.size - start) == nil {
                    var payload = [UInt8](repeating: 0, count: header.length)
                    let payloadCount = try Posix.readFully(readFD, &payload, at: start, path: path)
                    if payloadCount == header.length, payload.withUnsafeBytes({ LogFrame.check($0, against: header) }) == nil {
                        let entry = Entry(payload: payload, segment: head.id, offset: readOffset)
                        front = entry
                        return entry
                    }
                }
                // The segment changed under us since it was written and checked.
                statistics.droppedRecords += head.records
                statistics.droppedBytes += head.payloadBytes
                logger.error(
                    "Dropping the rest of a corrupt hint segment",
                    metadata: ["hint.segment": "\(path)", "hint.offset": "\(readOffset)", "hint.dropped_records": "\(head.records)"]
                )
                removeHead()
                writeCursor()
            }
            return nil
        }

        mutating func commit(_ entry: Entry) throws(HintQueueError) -> Bool {
            guard !closed else { throw HintQueueError(.closed, "hint queue \(directory) is closed") }
            guard let head = segments.first, head.id == entry.segment, readOffset == entry.offset,
                readOffset + LogFrame.headerBytes + entry.payload.count <= head.size
            else { return false }
            readOffset += LogFrame.headerBytes + entry.payload.count
            segments[0].records -= 1
            segments[0].payloadBytes -= entry.payload.count
            statistics.count -= 1
            statistics.bytes -= entry.payload.count
            front = nil
            if readOffset >= head.size { removeHead() }
            writeCursor()
            return true
        }

        func sync() throws(HintQueueError) {
            guard !closed else { throw HintQueueError(.closed, "hint queue \(directory) is closed") }
            try Posix.dataSync(cursorFD, path: path("cursor"))
        }

        mutating func close(recordingPosition: Bool = true) {
            guard !closed else { return }
            closed = true
            if cursorFD >= 0 {
                if recordingPosition { writeCursor() }
                if fsync(cursorFD) != 0 {
                    logger.warning("Could not sync hint read position", metadata: ["hint.directory": "\(directory)"])
                }
                Posix.closeFile(cursorFD)
                cursorFD = -1
            }
            Posix.closeFile(readFD)
            appender?.close()
            readFD = -1
            appender = nil
            front = nil
        }

        // MARK: Names

        func path(_ name: String) -> String { directory + "/" + name }

    }
}

// MARK: - POSIX

/// The system calls the queue makes, throwing `HintQueueError`s that name the call and path.
typealias Posix = Files<HintQueueError>

extension Files<HintQueueError> {
    /// Deletes a file the queue no longer needs. A failure leaves it to be deleted, or replayed, after
    /// the next open, so it is only logged.
    static func removeFile(_ path: String, logger: Logger) {
        do throws(HintQueueError) {
            try removeFile(path)
        } catch {
            logger.warning("Could not delete hint file", metadata: ["hint.segment": "\(path)", "error": "\(error)"])
        }
    }
}
