#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What `stat` says about the ring file: enough to tell it may have changed without reading it.
///
/// The inode and device catch a file replaced by rename (editors, Kubernetes ConfigMap updates), the
/// size and modification time catch one rewritten in place.
struct RingFileVersion: Hashable, Sendable {
    var device: UInt64
    var inode: UInt64
    var size: Int64
    var modifiedSeconds: Int64
    var modifiedNanoseconds: Int64
}

/// Reads the ring file with plain POSIX calls: it is a few kilobytes read once a second at most, and
/// SluiceRing stays free of Foundation.
enum RingFile {
    /// Ring files are a few kilobytes; anything near this is a wrong path, not a ring.
    static let defaultSizeLimit = 4 << 20

    /// The version of the file at `path` as `stat` sees it now, following symbolic links.
    static func version(path: String) throws(RingError) -> RingFileVersion {
        var info = stat()
        guard stat(path, &info) == 0 else { throw failure("cannot stat", path) }
        return version(of: info)
    }

    /// The whole file, refusing anything that is not a regular file or is larger than `limit`, with
    /// the version of what was read.
    static func read(path: String, limit: Int) throws(RingError) -> (bytes: [UInt8], version: RingFileVersion) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw failure("cannot open", path) }
        defer { close(fd) }

        var info = stat()
        guard fstat(fd, &info) == 0 else { throw failure("cannot stat", path) }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw RingError(.unreadableFile, "ring file \(path) is not a regular file")
        }
        guard info.st_size <= limit else {
            throw RingError(.unreadableFile, "ring file \(path) has \(info.st_size) bytes, more than the \(limit) allowed")
        }

        // Read to end of file rather than trusting st_size: the file may grow while we read it.
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(info.st_size))
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = chunk.withUnsafeMutableBytes { systemRead(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw failure("cannot read", path)
            }
            if count == 0 { break }
            guard bytes.count + count <= limit else {
                throw RingError(.unreadableFile, "ring file \(path) is larger than the \(limit) bytes allowed")
            }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return (bytes, version(of: info))
    }

    private static func version(of info: stat) -> RingFileVersion {
        #if canImport(Darwin)
        let modified = info.st_mtimespec
        #else
        let modified = info.st_mtim
        #endif
        return RingFileVersion(
            device: UInt64(info.st_dev),
            inode: UInt64(info.st_ino),
            size: Int64(info.st_size),
            modifiedSeconds: Int64(modified.tv_sec),
            modifiedNanoseconds: Int64(modified.tv_nsec)
        )
    }

    private static func failure(_ what: String, _ path: String) -> RingError {
        let reason = String(cString: strerror(errno))
        return RingError(.unreadableFile, "\(what) ring file \(path): \(reason)")
    }
}

/// `read(2)`, named apart from `RingFile.read(path:limit:)`, which would otherwise shadow it.
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    #if canImport(Glibc)
    Glibc.read(fd, buffer, count)
    #elseif canImport(Musl)
    Musl.read(fd, buffer, count)
    #else
    Darwin.read(fd, buffer, count)
    #endif
}
