import Logging
import SluiceCodec
import SluiceFiles

// The write-ahead log on disk:
//
//     <wal-dir>/
//         lock                    held with flock(2) while a WAL has the directory open for append
//         00000001                segments, appended in order, no file header
//         00000002
//         checkpoint.00000001     the head's state through segment 1, written by `checkpoint`
//
// A segment or checkpoint is a run of `LogFrame`s, each payload one `WALRecord` (WALRecord.swift).
// Segments are named, listed and appended through SluiceFiles' segmented log (SegmentedLog.swift,
// as the insert tier's hint queues are).

/// Why the write-ahead log could not do what was asked.
typealias WALError = CodedError<WALErrorDomain>

/// The codes of `WALError`. A failed system call is `.io`; ENOSPC lands there.
enum WALErrorDomain: SystemErrorDomain {}

extension ErrorCode where Domain == WALErrorDomain {
    /// Another WAL, in this process or another, has the directory open for append.
    static var locked: Self { Self("locked") }
    /// The WAL was closed before the record could be written.
    static var closed: Self { Self("closed") }
    /// A checkpoint named a segment that has not been cut.
    static var invalidCheckpoint: Self { Self("invalidCheckpoint") }
}

extension LogFrame {
    /// Appends `record` as one frame (a record always has its type byte, so it is never empty).
    static func append(_ record: WALRecord, to buffer: inout [UInt8]) {
        append(to: &buffer) { WALRecordCodec.encode(record, into: &$0) }
    }
}

/// Names in the WAL directory.
enum WALNames {
    static let checkpointPrefix = "checkpoint."
    static let temporarySuffix = ".tmp"
    static let lock = "lock"
    /// Zero-padded to eight digits, as Prometheus names its segments, so they sort by name too.
    static let segments = LogSegmentNames(digits: 8)

    static func segment(_ id: Int) -> String { segments.name(id) }

    static func checkpoint(_ id: Int) -> String { checkpointPrefix + segments.name(id) }

    static func segmentID(_ name: String) -> Int? { segments.id(name) }

    static func checkpointID(_ name: String) -> Int? {
        guard name.hasPrefix(checkpointPrefix) else { return nil }
        return segments.id(String(name.dropFirst(checkpointPrefix.count)))
    }

    /// The id of a checkpoint left half-written, to delete.
    static func temporaryCheckpointID(_ name: String) -> Int? {
        guard name.hasSuffix(temporarySuffix) else { return nil }
        return checkpointID(String(name.dropLast(temporarySuffix.count)))
    }
}

/// The system calls the WAL makes, throwing `WALError`s that name the call and path.
typealias WALFiles = Files<WALError>

extension Files<WALError> {
    /// Deletes a file the WAL no longer needs. Returns false, after logging, when it is still there.
    @discardableResult
    static func remove(_ path: String, logger: Logger) -> Bool {
        do throws(WALError) {
            try removeFile(path)
            return true
        } catch {
            logger.warning("Could not delete WAL file", metadata: ["wal.file": "\(path)", "error": "\(error)"])
            return false
        }
    }
}
