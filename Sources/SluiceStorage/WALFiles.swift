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
// A segment or checkpoint is a run of `LogFrame`s (SluiceFiles/LogFrame.swift, as in the insert
// tier's hint queue), each payload one `WALRecord` (WALRecord.swift).

/// Why the write-ahead log could not do what was asked.
struct WALError: CodedError {
    typealias Code = ErrorCode<WALError>

    let code: Code
    let message: String
    /// The errno of a failed system call, or 0.
    let systemError: Int32

    init(_ code: Code, _ message: String, systemError: Int32 = 0) {
        self.code = code
        self.message = message
        self.systemError = systemError
    }
}

extension ErrorCode where Domain == WALError {
    /// A system call failed; `systemError` holds its errno. ENOSPC lands here.
    static var io: Self { Self("io") }
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
    static func segment(_ id: Int) -> String { padded(id) }

    static func checkpoint(_ id: Int) -> String { checkpointPrefix + padded(id) }

    static func segmentID(_ name: String) -> Int? { number(Substring(name)) }

    static func checkpointID(_ name: String) -> Int? {
        guard name.hasPrefix(checkpointPrefix) else { return nil }
        return number(name.dropFirst(checkpointPrefix.count))
    }

    /// The id of a checkpoint left half-written, to delete.
    static func temporaryCheckpointID(_ name: String) -> Int? {
        guard name.hasSuffix(temporarySuffix) else { return nil }
        return checkpointID(String(name.dropLast(temporarySuffix.count)))
    }

    private static func padded(_ id: Int) -> String {
        let digits = String(id)
        return String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }

    private static func number(_ text: Substring) -> Int? {
        guard text.utf8.count >= 8, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            return nil
        }
        return Int(text)
    }
}

/// The system calls the WAL makes, throwing `WALError`s that name the call and path.
typealias WALFiles = Files<WALError>

extension WALError: FileErrorRepresentable {
    init(_ error: FileError) {
        self.init(.io, error.message, systemError: error.code)
    }
}

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
