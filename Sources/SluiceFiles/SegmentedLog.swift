#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import SluiceCodec

// The segmented, CRC-framed log that the storage WAL and insert's hint queues are both made of:
//
//     <directory>/
//         <lock file>          held with flock(2) while one log has the directory open
//         00000001<suffix>     segments: runs of `LogFrame`s, no file header, ids only growing
//         00000002<suffix>
//
// `LogSegments` names and lists the segments, `LogAppender` appends to the newest one and rolls to
// the next, `LogFrame.walk` finds a segment's torn tail, and `LogCursor` records how far a reader
// has got. What a record means, when to roll and what to do with a torn tail is each log's own.

/// How a log names its segments: the id, zero-padded to `digits` so that names sort as ids do,
/// then `suffix`.
public struct LogSegmentNames: Sendable {
    public let digits: Int
    public let suffix: String

    public init(digits: Int, suffix: String = "") {
        self.digits = digits
        self.suffix = suffix
    }

    public func name(_ id: Int) -> String {
        let number = String(id)
        return String(repeating: "0", count: max(0, digits - number.utf8.count)) + number + suffix
    }

    /// The id a file name stands for: at least `digits` decimal digits, then `suffix`; nil for any
    /// other file.
    public func id(_ name: String) -> Int? {
        guard name.hasSuffix(suffix) else { return nil }
        let stem = name.utf8.dropLast(suffix.utf8.count)
        guard stem.count >= digits, stem.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        return Int(Substring(stem))
    }
}

/// The segment files of one log directory.
public struct LogSegments: Sendable {
    public let directory: String
    public let names: LogSegmentNames

    public init(directory: String, names: LogSegmentNames) {
        self.directory = directory
        self.names = names
    }

    public func path(_ id: Int) -> String { directory + "/" + names.name(id) }

    /// The ids of the segments in the directory, ascending; none when it does not exist.
    public func ids<Failure: FileErrorRepresentable>(_: Failure.Type = Failure.self) throws(Failure) -> [Int] {
        (try Files<Failure>.listDirectoryIfPresent(directory) ?? []).compactMap(names.id).sorted()
    }

    /// Opens segment `id` for appending at its end, creating it if needed (`truncate`: empty). Its
    /// name is synced into the directory before this returns, so the file outlives a power cut
    /// before anything in it is acknowledged.
    public func append<Failure: FileErrorRepresentable>(to id: Int, truncate: Bool = false) throws(Failure) -> LogAppender<Failure> {
        let path = path(id)
        let fd = try Files<Failure>.openFile(path, O_WRONLY | O_CREAT | O_CLOEXEC | (truncate ? O_TRUNC : 0))
        do throws(Failure) {
            let size = try Files<Failure>.size(of: fd, path: path)
            try Files<Failure>.syncDirectory(directory)
            return LogAppender(id: id, path: path, fd: fd, size: size)
        } catch {
            Files<Failure>.closeFile(fd)
            throw error
        }
    }
}

/// A log segment open for appending: frames go at its end, and a write that fails is cut back out,
/// so that a half-written batch is never read as records later.
///
/// A value owns its file descriptor until `close`; copies must not outlive it.
public struct LogAppender<Failure: FileErrorRepresentable>: Sendable {
    public let id: Int
    public let path: String
    private let fd: Int32
    /// Where the next frame goes: the bytes of the segment that hold whole, written frames.
    public private(set) var size: Int

    /// Why an append failed. The segment is as it was before, unless `cutBack` failed too: then
    /// what is past `size` is unknown, and the log should append to a new segment instead.
    public struct AppendFailure: Error {
        public let error: Failure
        /// The error of cutting the failed write back out, if that failed too.
        public let cutBack: Failure?
    }

    fileprivate init(id: Int, path: String, fd: Int32, size: Int) {
        self.id = id
        self.path = path
        self.fd = fd
        self.size = size
    }

    /// Writes `frames` at the end of the segment.
    public mutating func append(_ frames: UnsafeRawBufferPointer) throws(AppendFailure) {
        do throws(Failure) {
            try Files<Failure>.writeFully(fd, frames, at: size, path: path)
        } catch {
            throw AppendFailure(error: error, cutBack: cutBack(to: size))
        }
        size += frames.count
    }

    /// Writes `frames` at the end of the segment.
    public mutating func append(_ frames: [UInt8]) throws(AppendFailure) {
        var failure: AppendFailure?
        frames.withUnsafeBytes { raw in
            do throws(AppendFailure) { try append(raw) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Makes what was appended durable (`fdatasync`).
    public func sync() throws(Failure) {
        try Files<Failure>.dataSync(fd, path: path)
    }

    /// Drops what was appended after `size`: after a failed sync, what reached the disk is
    /// unknown. Returns the error if the file could not be cut.
    @discardableResult
    public mutating func cutBack(to size: Int) -> Failure? {
        do throws(Failure) {
            try Files<Failure>.truncateFile(fd, to: size, path: path)
            self.size = min(self.size, size)
            return nil
        } catch {
            return error
        }
    }

    public func close() {
        Files<Failure>.closeFile(fd)
    }
}

/// How far a reader of a log has got: every segment below `segment`, and every frame of `segment`
/// that ends at or before `offset`, is read. Stored as 20 bytes, u64 segment, u64 offset and the
/// CRC32C of those 16 bytes, little-endian.
public struct LogCursor: Equatable, Sendable {
    public static let encodedBytes = 20

    public var segment: Int
    public var offset: Int

    public init(segment: Int, offset: Int) {
        self.segment = segment
        self.offset = offset
    }

    /// The cursor `bytes` hold; nil unless they are exactly one with a matching checksum.
    public init?(decoding bytes: UnsafeRawBufferPointer) {
        guard bytes.count == Self.encodedBytes else { return nil }
        let stored = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 16, as: UInt32.self))
        guard CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<16])) == stored else { return nil }
        let segment = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        let offset = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        guard segment <= UInt64(Int.max), offset <= UInt64(Int.max) else { return nil }
        self.init(segment: Int(segment), offset: Int(offset))
    }

    public var encoded: [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Self.encodedBytes)
        bytes.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: UInt64(segment).littleEndian, toByteOffset: 0, as: UInt64.self)
            raw.storeBytes(of: UInt64(offset).littleEndian, toByteOffset: 8, as: UInt64.self)
            let checksum = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<16]))
            raw.storeBytes(of: checksum.littleEndian, toByteOffset: 16, as: UInt32.self)
        }
        return bytes
    }
}

extension LogFrame {
    /// Walks the frames of a whole segment held in `bytes`, from `offset`, handing each payload's
    /// range to `body`, up to the first frame that fails its checks. Returns where the valid frames
    /// end and, if that is before the end of `bytes`, why. `checksum` false checks only that the
    /// headers chain.
    public static func walk(
        _ bytes: UnsafeRawBufferPointer, from offset: Int = 0, checksum: Bool = true, _ body: (Range<Int>) -> Void
    ) -> (validEnd: Int, damage: Damage?) {
        var position = offset
        while position < bytes.count {
            switch frame(in: bytes, at: position, checksum: checksum) {
            case .failure(let damage):
                return (position, damage)
            case .success(let payload):
                body(payload)
                position = payload.upperBound
            }
        }
        return (position, nil)
    }
}

extension Files {
    /// Opens (creating) `path` and takes an exclusive `flock` on it, waiting up to a second: the
    /// lock that keeps a second log off a directory. Nil when another holder keeps it.
    public static func openLocked(_ path: String) throws(Failure) -> Int32? {
        let fd = try openFile(path, O_RDWR | O_CREAT | O_CLOEXEC)
        let locked: Bool
        do throws(Failure) {
            locked = try lockExclusively(fd, path: path)
        } catch {
            closeFile(fd)
            throw error
        }
        guard locked else {
            closeFile(fd)
            return nil
        }
        return fd
    }
}
