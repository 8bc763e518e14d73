#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The file system calls the WAL, the blocks and the hint queue make, wrapped once.
///
/// Every wrapper retries EINTR, since a signal can interrupt any blocking call without anything being
/// wrong, and finishes short transfers, since `pread` and `pwrite` may move fewer bytes than asked. A
/// failure throws `Failure`, made from a `FileError` naming the call and path, so each caller keeps its
/// own error type: `typealias WALFiles = Files<WALError>`. `Files<FileError>` throws the plain one.
///
/// The names differ from the calls' own (`openFile`, not `open`) so that none shadows another.
public enum Files<Failure: FileErrorRepresentable> {
    /// The caller's error for a failed `call` on `path`.
    public static func error(_ call: String, _ path: String, _ code: Int32) -> Failure {
        Failure(FileError(call, path, code))
    }

    // MARK: Opening

    public static func openFile(_ path: String, _ flags: Int32, mode: mode_t = 0o644) throws(Failure) -> Int32 {
        while true {
            let fd = open(path, flags, mode)
            if fd >= 0 { return fd }
            let code = errno
            if code != EINTR { throw error("open", path, code) }
        }
    }

    /// Closes `fd` unless it is negative, the callers' mark for "not open". A failed close is ignored:
    /// the descriptor is gone either way, and durability comes from the syncs before it.
    public static func closeFile(_ fd: Int32) {
        if fd >= 0 { _ = close(fd) }
    }

    /// Takes `fd`'s exclusive `flock(2)`: true once held, false while another holder keeps it.
    ///
    /// A lock that is taken waits a moment before it counts as held by someone else: a process that
    /// starts another (posix_spawn, fork) shares its open descriptors with the child until the child
    /// execs, close-on-exec or not, and an flock lock lasts while any copy of its descriptor is open. A
    /// queue or WAL closed and reopened while some thread spawns a process could otherwise find its
    /// own lock still held. A live owner, another process on the same directory, still holds it after
    /// the wait.
    public static func lockExclusively(_ fd: Int32, path: String, patience: Duration = .seconds(1)) throws(Failure) -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: patience)
        while true {
            if flock(fd, LOCK_EX | LOCK_NB) == 0 { return true }
            let code = errno
            switch code {
            case EINTR:
                continue
            case EWOULDBLOCK:
                guard clock.now < deadline else { return false }
                usleep(10_000)
            default:
                throw error("flock", path, code)
            }
        }
    }

    // MARK: Sizes and names

    public static func size(of fd: Int32, path: String) throws(Failure) -> Int {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw error("fstat", path, errno) }
        return Int(info.st_size)
    }

    public static func fileSize(_ path: String) throws(Failure) -> Int {
        var info = stat()
        guard stat(path, &info) == 0 else { throw error("stat", path, errno) }
        return Int(info.st_size)
    }

    public static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// Whether anything, even a dangling symlink, is at `path`.
    public static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    public static func parentDirectory(_ path: String) -> String {
        let trimmed = trimmingSlashes(path)
        guard let slash = trimmed.lastIndex(of: "/") else { return "." }
        if slash == trimmed.startIndex { return "/" }
        return String(trimmed[..<slash])
    }

    /// The last component of `path`: a file's or directory's own name.
    public static func lastComponent(_ path: String) -> String {
        let trimmed = trimmingSlashes(path)
        guard let slash = trimmed.lastIndex(of: "/") else { return trimmed }
        return String(trimmed[trimmed.index(after: slash)...])
    }

    /// `path` without trailing slashes, except for "/" itself.
    public static func trimmingSlashes(_ path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        return String(trimmed)
    }

    // MARK: Reading

    /// Reads up to `buffer.count` bytes at `offset`; fewer only at end of file. -1 on error, with errno
    /// set, for callers that treat a failed read like a missing file.
    public static func readUpTo(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, at offset: Int) -> Int {
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

    /// Fills `buffer` from `offset`; returns fewer than `buffer.count` only at end of file.
    public static func readFully(
        _ fd: Int32,
        into buffer: UnsafeMutableRawBufferPointer,
        at offset: Int,
        path: String
    ) throws(Failure) -> Int {
        let count = readUpTo(fd, buffer, at: offset)
        if count < 0 { throw error("pread", path, errno) }
        return count
    }

    /// Fills `buffer` from `offset`; returns fewer than `buffer.count` only at end of file.
    public static func readFully(_ fd: Int32, _ buffer: inout [UInt8], at offset: Int, path: String) throws(Failure) -> Int {
        let (count, code) = buffer.withUnsafeMutableBytes { bytes in
            let count = readUpTo(fd, bytes, at: offset)
            return (count, count < 0 ? errno : 0)
        }
        if count < 0 { throw error("pread", path, code) }
        return count
    }

    /// Exactly `count` bytes at `offset`, or nil when the file ends first.
    public static func readExactly(_ fd: Int32, count: Int, at offset: Int, path: String) throws(Failure) -> [UInt8]? {
        let bytes = try read(fd, upTo: count, at: offset, path: path)
        return bytes.count < count ? nil : bytes
    }

    /// The whole open file, as long as `fstat` says it is. A file that shrank since reads short, which
    /// the caller's decoder then sees as truncation.
    public static func readWholeFile(_ fd: Int32, path: String) throws(Failure) -> [UInt8] {
        try read(fd, upTo: size(of: fd, path: path), at: 0, path: path)
    }

    /// The whole file at `path`, refusing one larger than `limit` bytes before allocating.
    public static func readWholeFile(_ path: String, limit: Int = .max) throws(Failure) -> [UInt8] {
        let fd = try openFile(path, O_RDONLY | O_CLOEXEC)
        defer { closeFile(fd) }
        let size = try size(of: fd, path: path)
        guard size <= limit else {
            throw Failure(FileError("read", path, message: "\(path): \(size) bytes, more than the \(limit) allowed"))
        }
        return try read(fd, upTo: size, at: 0, path: path)
    }

    /// Up to `count` bytes at `offset`, without zero-filling a buffer first.
    private static func read(_ fd: Int32, upTo count: Int, at offset: Int, path: String) throws(Failure) -> [UInt8] {
        var code: Int32 = 0
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            let read = readUpTo(fd, UnsafeMutableRawBufferPointer(buffer), at: offset)
            if read < 0 { code = errno }
            initialized = max(read, 0)
        }
        if code != 0 { throw error("pread", path, code) }
        return bytes
    }

    // MARK: Writing

    /// Writes all of `bytes` at `offset`. A write that moves nothing is EIO, not a reason to spin.
    public static func writeFully(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int, path: String) throws(Failure) {
        guard let base = bytes.baseAddress else { return }
        var done = 0
        while done < bytes.count {
            let count = pwrite(fd, base + done, bytes.count - done, off_t(offset + done))
            if count < 0 {
                let code = errno
                if code == EINTR { continue }
                throw error("pwrite", path, code)
            }
            if count == 0 { throw error("pwrite", path, EIO) }
            done += count
        }
    }

    /// Writes all of `buffer` at `offset`.
    public static func writeFully(_ fd: Int32, _ buffer: [UInt8], at offset: Int, path: String) throws(Failure) {
        try buffer.withUnsafeBytes { bytes in
            Result { () throws(Failure) in try writeFully(fd, bytes, at: offset, path: path) }
        }.get()
    }

    /// Writes all of `bytes` at the file position, for files written front to back.
    public static func writeFully(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(Failure) {
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

    /// Creates `path` (which must not exist), writes `bytes`, fsyncs and closes it. The new name is
    /// durable only once the caller syncs the directory.
    public static func writeNewFile(_ path: String, _ bytes: [UInt8]) throws(Failure) {
        let fd = try openFile(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC)
        defer { closeFile(fd) }
        try bytes.withUnsafeBytes { raw in
            Result { () throws(Failure) in try writeFully(fd, raw, path: path) }
        }.get()
        try sync(fd, path: path)
    }

    public static func truncateFile(_ fd: Int32, to size: Int, path: String) throws(Failure) {
        guard ftruncate(fd, off_t(size)) == 0 else { throw error("ftruncate", path, errno) }
    }

    // MARK: Durability

    /// Makes a file's data durable. Appends change the size, which `fdatasync` covers too, without
    /// the extra metadata write `fsync` makes for timestamps.
    public static func dataSync(_ fd: Int32, path: String) throws(Failure) {
        #if os(Linux)
        let result = fdatasync(fd)
        #else
        let result = fsync(fd)
        #endif
        guard result == 0 else { throw error("fdatasync", path, errno) }
    }

    /// Makes a file's data and metadata durable.
    public static func sync(_ fd: Int32, path: String) throws(Failure) {
        guard fsync(fd) == 0 else { throw error("fsync", path, errno) }
    }

    /// Makes the creation, renaming or deletion of names in `path` durable: syncing a file does not
    /// sync the directory entry that names it, so a power cut could otherwise lose a synced file.
    public static func syncDirectory(_ path: String) throws(Failure) {
        let fd = try openFile(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { closeFile(fd) }
        try sync(fd, path: path)
    }

    // MARK: Directories

    /// Atomically replaces `to` with `from`; durable once the directory is synced.
    public static func renameItem(_ from: String, _ to: String) throws(Failure) {
        guard rename(from, to) == 0 else { throw error("rename", "\(from) -> \(to)", errno) }
    }

    /// Deletes a file; one already gone is not an error, so a retried cleanup stays quiet.
    public static func removeFile(_ path: String) throws(Failure) {
        guard unlink(path) != 0 else { return }
        let code = errno
        if code != ENOENT { throw error("unlink", path, code) }
    }

    /// `rm -r`: never follows symlinks; a missing path is not an error.
    public static func removeTree(_ path: String) throws(Failure) {
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

    /// `mkdir -p`, syncing each parent that gained an entry, so the directory survives a power cut
    /// along with what is later synced into it.
    public static func makeDirectories(_ path: String) throws(Failure) {
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

    /// The names in a directory, without `.` and `..`.
    public static func listDirectory(_ path: String) throws(Failure) -> [String] {
        guard let names = try listDirectoryIfPresent(path) else { throw error("opendir", path, ENOENT) }
        return names
    }

    /// The names in a directory, without `.` and `..`; nil when it does not exist.
    public static func listDirectoryIfPresent(_ path: String) throws(Failure) -> [String]? {
        guard let handle = opendir(path) else {
            let code = errno
            if code == ENOENT { return nil }
            throw error("opendir", path, code)
        }
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
}
