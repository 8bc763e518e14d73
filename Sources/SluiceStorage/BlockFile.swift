#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a block could not be written, opened or deleted. Corrupt block contents throw `CodecError`
/// instead, so a caller can tell a damaged block (quarantine it) from a failing disk (retry, alert).
struct BlockError: Error, Hashable, Sendable, CustomStringConvertible {
    struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case io
            case invalidInput
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A system call failed; `systemError` holds its errno.
        static let io = Code(.io)
        /// `BlockWriter.write` was given series or chunks that break its preconditions.
        static let invalidInput = Code(.invalidInput)

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

/// The system calls blocks need: EINTR retried, short transfers finished, failures turned into
/// `BlockError` naming the call and path. Named apart from the calls themselves so none shadows another.
enum BlockFile {
    static func error(_ call: String, _ path: String, _ code: Int32) -> BlockError {
        BlockError(.io, "\(call) \(path): \(String(cString: strerror(code)))", systemError: code)
    }

    static func openFile(_ path: String, _ flags: Int32, mode: mode_t = 0o644) throws(BlockError) -> Int32 {
        while true {
            let fd = open(path, flags, mode)
            if fd >= 0 { return fd }
            let code = errno
            if code != EINTR { throw error("open", path, code) }
        }
    }

    static func closeFile(_ fd: Int32) {
        if fd >= 0 { _ = close(fd) }
    }

    /// Reads up to `buffer.count` bytes at `offset`; fewer only at end of file. -1 on error, errno set.
    static func readUpTo(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, at offset: Int) -> Int {
        guard let base = buffer.baseAddress else { return 0 }
        var done = 0
        while done < buffer.count {
            let count = pread(fd, base + done, buffer.count - done, off_t(offset + done))
            if count < 0 {
                if errno == EINTR { continue }
                return -1
            }
            if count == 0 { break }
            done += count
        }
        return done
    }

    /// Reads exactly `count` bytes at `offset`, or nil when the file ends first.
    static func read(_ fd: Int32, count: Int, at offset: Int, path: String) throws(BlockError) -> [UInt8]? {
        var code: Int32 = 0
        var short = false
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            let read = readUpTo(fd, UnsafeMutableRawBufferPointer(buffer), at: offset)
            if read < 0 {
                code = errno
                initialized = 0
                return
            }
            short = read < count
            initialized = read
        }
        if code != 0 { throw error("pread", path, code) }
        return short ? nil : bytes
    }

    static func size(of fd: Int32, path: String) throws(BlockError) -> Int {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw error("fstat", path, errno) }
        return Int(info.st_size)
    }

    /// The whole file, refusing one larger than `limit` bytes before allocating.
    static func readWholeFile(_ path: String, limit: Int = .max) throws(BlockError) -> [UInt8] {
        let fd = try openFile(path, O_RDONLY | O_CLOEXEC)
        defer { closeFile(fd) }
        let size = try size(of: fd, path: path)
        guard size <= limit else {
            throw BlockError(.io, "\(path): \(size) bytes, more than the \(limit) allowed")
        }
        // A file that shrank since fstat reads short; the caller's decoder then sees the truncation.
        var code: Int32 = 0
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            let read = readUpTo(fd, UnsafeMutableRawBufferPointer(buffer), at: 0)
            if read < 0 { code = errno }
            initialized = max(read, 0)
        }
        if code != 0 { throw error("pread", path, code) }
        return bytes
    }

    static func writeFully(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(BlockError) {
        guard let base = bytes.baseAddress else { return }
        var done = 0
        while done < bytes.count {
            let count = write(fd, base + done, bytes.count - done)
            if count < 0 {
                let code = errno
                if code == EINTR { continue }
                throw error("write", path, code)
            }
            if count == 0 { throw error("write", path, EIO) }
            done += count
        }
    }

    /// Creates `path` (which must not exist), writes `bytes`, fsyncs and closes it.
    static func writeNewFile(_ path: String, _ bytes: [UInt8]) throws(BlockError) {
        let fd = try openFile(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC)
        defer { closeFile(fd) }
        var failure: BlockError?
        bytes.withUnsafeBytes { raw in
            do throws(BlockError) {
                try writeFully(fd, raw, path: path)
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
        try sync(fd, path: path)
    }

    static func sync(_ fd: Int32, path: String) throws(BlockError) {
        guard fsync(fd) == 0 else { throw error("fsync", path, errno) }
    }

    static func syncDirectory(_ path: String) throws(BlockError) {
        let fd = try openFile(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { closeFile(fd) }
        try sync(fd, path: path)
    }

    static func renameItem(_ from: String, _ to: String) throws(BlockError) {
        guard rename(from, to) == 0 else { throw error("rename", "\(from) -> \(to)", errno) }
    }

    /// `mkdir -p`, syncing each parent that gained an entry.
    static func makeDirectories(_ path: String) throws(BlockError) {
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
        let trimmed = trimmingSlashes(path)
        guard let slash = trimmed.lastIndex(of: "/") else { return "." }
        if slash == trimmed.startIndex { return "/" }
        return String(trimmed[..<slash])
    }

    /// `path` without trailing slashes, except for "/" itself.
    static func trimmingSlashes(_ path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        return String(trimmed)
    }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// Whether anything, even a dangling symlink, is at `path`.
    static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    static func fileSize(_ path: String) throws(BlockError) -> Int {
        var info = stat()
        guard stat(path, &info) == 0 else { throw error("stat", path, errno) }
        return Int(info.st_size)
    }

    /// The names in a directory, without `.` and `..`.
    static func listDirectory(_ path: String) throws(BlockError) -> [String] {
        guard let handle = opendir(path) else { throw error("opendir", path, errno) }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafePointer(to: &entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: MemoryLayout.size(ofValue: entry.pointee.d_name)) {
                    String(cString: $0)
                }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// `rm -r`: never follows symlinks; a missing path is not an error.
    static func removeTree(_ path: String) throws(BlockError) {
        var info = stat()
        if lstat(path, &info) != 0 {
            let code = errno
            if code == ENOENT { return }
            throw error("lstat", path, code)
        }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            for name in try listDirectory(path) {
                try removeTree(path + "/" + name)
            }
            if rmdir(path) != 0 {
                let code = errno
                if code != ENOENT { throw error("rmdir", path, code) }
            }
        } else if unlink(path) != 0 {
            let code = errno
            if code != ENOENT { throw error("unlink", path, code) }
        }
    }
}
