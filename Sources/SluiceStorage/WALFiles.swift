#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import SluiceCodec

// The write-ahead log on disk:
//
//     <wal-dir>/
//         lock                    held with flock(2) while a WAL has the directory open for append
//         00000001                segments, appended in order, no file header
//         00000002
//         checkpoint.00000001     the head's state through segment 1, written by `checkpoint`
//
// A segment or checkpoint is a run of frames, [u32 payload length][u32 CRC32C of payload][payload],
// both little-endian (as in the insert tier's hint queue), each payload one `WALRecord`
// (WALRecord.swift). A frame never has an empty payload, so a zero-filled tail is caught as damage.

/// Why the write-ahead log could not do what was asked.
struct WALError: Error, Hashable, Sendable, CustomStringConvertible {
    struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case io
            case locked
            case closed
            case invalidCheckpoint
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A system call failed; `systemError` holds its errno. ENOSPC lands here.
        static let io = Code(.io)
        /// Another WAL, in this process or another, has the directory open for append.
        static let locked = Code(.locked)
        /// The WAL was closed before the record could be written.
        static let closed = Code(.closed)
        /// A checkpoint named a segment that has not been cut.
        static let invalidCheckpoint = Code(.invalidCheckpoint)

        var description: String { base.rawValue }
    }

    let code: Code
    let message: String
    /// The errno of a failed system call, or 0.
    let systemError: Int32

    init(_ code: Code, _ message: String, systemError: Int32 = 0) {
        self.code = code
        self.message = message
        self.systemError = systemError
    }

    var description: String { "\(code): \(message)" }
}

/// The frame around each record.
enum WALFrame {
    static let headerBytes = 8

    /// Appends `record` as one frame.
    static func append(_ record: WALRecord, to buffer: inout [UInt8]) {
        let start = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: headerBytes))
        WALRecordCodec.encode(record, into: &buffer)
        let length = buffer.count - start - headerBytes
        precondition(length <= Int(UInt32.max), "WAL record of \(length) bytes does not fit a frame")
        buffer.withUnsafeMutableBytes { bytes in
            let checksum = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[(start + headerBytes)...]))
            bytes.storeBytes(of: UInt32(length).littleEndian, toByteOffset: start, as: UInt32.self)
            bytes.storeBytes(of: checksum.littleEndian, toByteOffset: start + 4, as: UInt32.self)
        }
    }

    /// The series frames among `frames`, which this process framed itself: what must still reach the
    /// disk after a failed write, because records written later may refer to those series.
    static func seriesFrames(in frames: [UInt8]) -> [UInt8] {
        var kept: [UInt8] = []
        frames.withUnsafeBytes { bytes in
            var position = 0
            while bytes.count - position > headerBytes {
                let length = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt32.self)))
                let end = position + headerBytes + length
                guard length > 0, end <= bytes.count else { break }
                if bytes[position + headerBytes] == WALRecordCodec.seriesType {
                    kept.append(contentsOf: bytes[position..<end])
                }
                position = end
            }
        }
        return kept
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

/// Thin wrappers over the system calls the WAL makes: EINTR retried, short transfers finished,
/// failures turned into `WALError`s naming the call and path.
enum WALFiles {
    static func error(_ call: String, _ path: String, _ code: Int32) -> WALError {
        WALError(.io, "\(call) \(path): \(String(cString: strerror(code)))", systemError: code)
    }

    static func open(_ path: String, _ flags: Int32) throws(WALError) -> Int32 {
        while true {
            #if canImport(Darwin)
            let fd = Darwin.open(path, flags, 0o644)
            #elseif canImport(Musl)
            let fd = Musl.open(path, flags, 0o644)
            #else
            let fd = Glibc.open(path, flags, 0o644)
            #endif
            if fd >= 0 { return fd }
            let code = errno
            if code != EINTR { throw error("open", path, code) }
        }
    }

    static func close(_ fd: Int32) {
        #if canImport(Darwin)
        if fd >= 0 { _ = Darwin.close(fd) }
        #elseif canImport(Musl)
        if fd >= 0 { _ = Musl.close(fd) }
        #else
        if fd >= 0 { _ = Glibc.close(fd) }
        #endif
    }

    static func size(_ fd: Int32, path: String) throws(WALError) -> Int {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw error("fstat", path, errno) }
        return Int(info.st_size)
    }

    /// Reads up to `buffer.count` bytes from `offset`; fewer only at end of file.
    static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int, path: String) throws(WALError) -> Int {
        var done = 0
        while done < buffer.count {
            let count = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if count < 0 {
                let code = errno
                if code == EINTR { continue }
                throw error("pread", path, code)
            }
            if count == 0 { break }
            done += count
        }
        return done
    }

    static func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int, path: String) throws(WALError) {
        var done = 0
        while done < bytes.count {
            let count = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if count < 0 {
                let code = errno
                if code == EINTR { continue }
                throw error("pwrite", path, code)
            }
            if count == 0 { throw error("pwrite", path, EIO) }
            done += count
        }
    }

    static func write(_ fd: Int32, _ buffer: [UInt8], at offset: Int, path: String) throws(WALError) {
        try buffer.withUnsafeBytes { bytes in
            Result { () throws(WALError) in try write(fd, bytes, at: offset, path: path) }
        }.get()
    }

    static func truncate(_ fd: Int32, to size: Int, path: String) throws(WALError) {
        guard ftruncate(fd, off_t(size)) == 0 else { throw error("ftruncate", path, errno) }
    }

    /// Makes a file's data durable. Appends change the size, which `fdatasync` covers too.
    static func dataSync(_ fd: Int32, path: String) throws(WALError) {
        #if os(Linux)
        let result = fdatasync(fd)
        #else
        let result = fsync(fd)
        #endif
        guard result == 0 else { throw error("fdatasync", path, errno) }
    }

    /// Makes the creation, renaming or deletion of names in `path` durable.
    static func syncDirectory(_ path: String) throws(WALError) {
        let fd = try open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw error("fsync", path, errno) }
    }

    static func rename(_ from: String, _ to: String) throws(WALError) {
        #if canImport(Darwin)
        let result = Darwin.rename(from, to)
        #elseif canImport(Musl)
        let result = Musl.rename(from, to)
        #else
        let result = Glibc.rename(from, to)
        #endif
        guard result == 0 else { throw error("rename", from, errno) }
    }

    /// Deletes a file the WAL no longer needs. Returns false, after logging, when it is still there.
    @discardableResult
    static func remove(_ path: String, logger: Logger) -> Bool {
        guard unlink(path) != 0 else { return true }
        let code = errno
        if code == ENOENT { return true }
        logger.warning("Could not delete WAL file", metadata: ["wal.file": "\(path)", "error": "\(error("unlink", path, code))"])
        return false
    }

    /// `mkdir -p`, syncing each parent that gained an entry.
    static func makeDirectories(_ path: String) throws(WALError) {
        if isDirectory(path) { return }
        let parent = parentDirectory(path)
        if parent != path { try makeDirectories(parent) }
        if mkdir(path, 0o755) != 0 {
            let code = errno
            if code == EEXIST && isDirectory(path) { return }
            throw error("mkdir", path, code)
        }
        try syncDirectory(parent)
    }

    static func parentDirectory(_ path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "." }
        if slash == trimmed.startIndex { return "/" }
        return String(trimmed[..<slash])
    }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// The names in a directory, without `.` and `..`; nil when it does not exist.
    static func list(_ path: String) throws(WALError) -> [String]? {
        guard let handle = opendir(path) else {
            let code = errno
            if code == ENOENT { return nil }
            throw error("opendir", path, code)
        }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafePointer(to: &entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: MemoryLayout.size(ofValue: entry.pointee.d_name)) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}
