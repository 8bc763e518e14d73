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

// Reading the log back at startup, and replacing its old segments by a checkpoint.

extension WAL {
    /// Hands `body` every record of the newest checkpoint, if any, then of every later segment, in
    /// the order they were logged.
    ///
    /// Damage is repaired, not thrown: a frame cut short by a crash, failing its checksum or not
    /// decoding ends its file there (truncated and synced), every later segment is deleted, and a
    /// warning is logged and counted in the report. What followed the damage cannot be trusted to
    /// refer to series that were read, and a crash can only tear the newest writes, so keeping a
    /// consistent prefix is the only safe repair; a second replay then finds nothing to repair.
    ///
    /// Run it before opening the WAL for append, never while one is open on `directory`.
    ///
    /// - Throws: a `WALError` for a failed system call (permission denied, EIO), or what `body` throws.
    ///   A missing directory is an empty log.
    static func replay(directory: String, logger: Logger, _ body: (WALRecord) throws -> Void) throws -> ReplayReport {
        var report = ReplayReport()
        guard let names = try WALFiles.listDirectoryIfPresent(directory) else { return report }
        let checkpoint = names.compactMap(WALNames.checkpointID).max()
        let segments = names.compactMap(WALNames.segmentID).filter { $0 > (checkpoint ?? Int.min) }.sorted()

        if let checkpoint {
            report.checkpoint = checkpoint
            let path = directory + "/" + WALNames.checkpoint(checkpoint)
            let scan = try replayFile(path, report: &report, body)
            if let damage = scan.damage {
                // Segments after a checkpoint stand on their own, so they are still replayed.
                logger.warning(
                    "Truncated a damaged WAL checkpoint; the head may miss series and samples from it",
                    metadata: ["wal.file": "\(path)", "wal.offset": "\(scan.validEnd)", "wal.reason": "\(damage)"]
                )
            }
        }

        for (index, id) in segments.enumerated() {
            report.segments += 1
            let path = directory + "/" + WALNames.segment(id)
            let scan = try replayFile(path, report: &report, body)
            guard let damage = scan.damage else { continue }
            var dropped: [String] = []
            for later in segments[(index + 1)...] {
                let laterPath = directory + "/" + WALNames.segment(later)
                var info = stat()
                if stat(laterPath, &info) == 0 { report.truncatedBytes += Int(info.st_size) }
                if WALFiles.remove(laterPath, logger: logger) { dropped.append(WALNames.segment(later)) }
            }
            if !dropped.isEmpty { try WALFiles.syncDirectory(directory) }
            logger.warning(
                "Truncated a damaged WAL segment",
                metadata: [
                    "wal.file": "\(path)", "wal.offset": "\(scan.validEnd)", "wal.reason": "\(damage)",
                    "wal.discarded_bytes": "\(scan.size - scan.validEnd)", "wal.dropped_segments": "\(dropped)",
                ]
            )
            break
        }
        return report
    }

    /// One file's replay: where its good frames end and why, if not at its end.
    struct FileScan {
        var size = 0
        var validEnd = 0
        var damage: String?
    }

    /// Replays the frames of one file up to the first bad one, and cuts the file there.
    static func replayFile(_ path: String, report: inout ReplayReport, _ body: (WALRecord) throws -> Void) throws -> FileScan {
        let fd = try WALFiles.openFile(path, O_RDWR | O_CLOEXEC)
        defer { WALFiles.closeFile(fd) }
        var scan = FileScan()
        scan.size = try WALFiles.size(of: fd, path: path)
        var window = FileWindow(fd: fd, path: path, size: scan.size)
        var position = 0
        frames: while position < scan.size {
            let headerBytes = LogFrame.headerBytes
            guard scan.size - position >= headerBytes, try window.load(position, headerBytes) else {
                scan.damage = LogFrame.Damage.truncatedHeader.description
                break
            }
            let header = window.header(at: position)
            if let damage = LogFrame.check(header, remaining: scan.size - position - headerBytes) {
                scan.damage = damage.description
                break
            }
            guard try window.load(position + headerBytes, header.length) else {
                scan.damage = LogFrame.Damage.truncatedFrame.description
                break
            }
            switch window.decode(at: position + headerBytes, header: header) {
            case .success(let record):
                try body(record)
                report.records += 1
            case .failure(let reason):
                scan.damage = reason.description
                break frames
            }
            position += headerBytes + header.length
        }
        scan.validEnd = position
        if scan.damage != nil {
            try WALFiles.truncateFile(fd, to: position, path: path)
            try WALFiles.dataSync(fd, path: path)
            report.corruptions += 1
            report.truncatedBytes += scan.size - position
        }
        return scan
    }

    /// Why a frame's payload could not be used.
    enum FrameDamage: Error, CustomStringConvertible {
        case frame(LogFrame.Damage)
        case undecodable(CodecError)

        var description: String {
            switch self {
            case .frame(let damage): damage.description
            case .undecodable(let error): "undecodable record: \(error)"
            }
        }
    }

    /// A file read in large pieces, so replay needs neither a read per frame nor the whole file in
    /// memory. Only a frame larger than a piece, already checked against the file size, grows it.
    struct FileWindow {
        static let pieceBytes = 1 << 20

        let fd: Int32
        let path: String
        let size: Int
        private var buffer: [UInt8] = []
        /// The file offset of `buffer[0]`, and how many bytes from there are valid.
        private var start = 0
        private var count = 0

        init(fd: Int32, path: String, size: Int) {
            self.fd = fd
            self.path = path
            self.size = size
        }

        /// Makes `length` bytes from `offset` available; the caller checked they are inside `size`.
        /// False when the file turned out shorter.
        mutating func load(_ offset: Int, _ length: Int) throws(WALError) -> Bool {
            if offset >= start, offset + length <= start + count { return true }
            let wanted = min(max(length, Self.pieceBytes), size - offset)
            if buffer.count < wanted { buffer = [UInt8](repeating: 0, count: wanted) }
            let (fd, path) = (self.fd, self.path)
            let read = try buffer.withUnsafeMutableBytes { bytes in
                Result { () throws(WALError) in
                    try WALFiles.readFully(fd, into: UnsafeMutableRawBufferPointer(rebasing: bytes[0..<wanted]), at: offset, path: path)
                }
            }.get()
            start = offset
            count = read
            return read >= length
        }

        func header(at offset: Int) -> LogFrame.Header {
            buffer.withUnsafeBytes { LogFrame.header($0, at: offset - start) }
        }

        func decode(at offset: Int, header: LogFrame.Header) -> Result<WALRecord, FrameDamage> {
            buffer.withUnsafeBytes { bytes in
                let payload = UnsafeRawBufferPointer(rebasing: bytes[(offset - start)..<(offset - start + header.length)])
                if let damage = LogFrame.check(payload, against: header) { return .failure(.frame(damage)) }
                do throws(CodecError) {
                    return .success(try WALRecordCodec.decode(payload))
                } catch {
                    return .failure(.undecodable(error))
                }
            }
        }
    }

    /// Writes `checkpoint.<segment>` holding `records`, then deletes what it replaces: segments up to
    /// `segment` and older checkpoints. Blocking; runs on a thread pool.
    static func writeCheckpoint(directory: String, through segment: Int, records: [WALRecord], logger: Logger) throws(WALError) {
        let path = directory + "/" + WALNames.checkpoint(segment)
        let temporary = path + WALNames.temporarySuffix
        let fd = try WALFiles.openFile(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC)
        var written = 0
        do throws(WALError) {
            var buffer: [UInt8] = []
            buffer.reserveCapacity(FileWindow.pieceBytes + 4096)
            for (index, record) in records.enumerated() {
                LogFrame.append(record, to: &buffer)
                if buffer.count >= FileWindow.pieceBytes || index == records.count - 1 {
                    try WALFiles.writeFully(fd, buffer, at: written, path: temporary)
                    written += buffer.count
                    buffer.removeAll(keepingCapacity: true)
                }
            }
            try WALFiles.dataSync(fd, path: temporary)
        } catch {
            WALFiles.closeFile(fd)
            WALFiles.remove(temporary, logger: logger)
            throw error
        }
        WALFiles.closeFile(fd)
        do throws(WALError) {
            try WALFiles.renameItem(temporary, path)
            try WALFiles.syncDirectory(directory)
        } catch {
            WALFiles.remove(temporary, logger: logger)
            throw error
        }

        // The checkpoint is durable: what it replaces can go. A file that will not go is only logged,
        // since replay skips whatever a newer checkpoint covers.
        var removed = 0
        for name in try WALFiles.listDirectoryIfPresent(directory) ?? [] {
            let obsolete =
                if let id = WALNames.segmentID(name) {
                    id <= segment
                } else if let id = WALNames.checkpointID(name) ?? WALNames.temporaryCheckpointID(name) {
                    id < segment
                } else {
                    false
                }
            if obsolete, WALFiles.remove(directory + "/" + name, logger: logger) { removed += 1 }
        }
        if removed > 0 { try WALFiles.syncDirectory(directory) }
        logger.debug(
            "Wrote WAL checkpoint",
            metadata: ["wal.file": "\(path)", "wal.records": "\(records.count)", "wal.bytes": "\(written)", "wal.removed_files": "\(removed)"]
        )
    }
}
