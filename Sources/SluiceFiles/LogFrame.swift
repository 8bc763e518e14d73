import SluiceCodec

/// The frame around each record of Sluice's append-only logs, the storage WAL and insert's hint
/// queues: `[u32 payload length][u32 CRC32C of the payload][payload]`, little-endian, with no file
/// header.
///
/// A payload is never empty. A zero-filled tail, which some file systems leave after a crash, would
/// otherwise read as a run of empty records (CRC32C of nothing is 0); here it reads as damage.
///
/// Both logs find their torn tail the same way: frames are checked in order, and the first that
/// fails `check` ends the valid part of the file (`Damage` says why).
public enum LogFrame {
    public static let headerBytes = 8

    /// Why the frames of a file stop before its end.
    public enum Damage: Error, Equatable, Sendable, CustomStringConvertible {
        /// Fewer than `headerBytes` bytes left.
        case truncatedHeader
        /// A header with length 0.
        case emptyFrame
        /// A header whose payload runs past the end of the file.
        case truncatedFrame
        /// A payload whose CRC32C is not the header's.
        case checksumMismatch

        public var description: String {
            switch self {
            case .truncatedHeader: "truncated frame header"
            case .emptyFrame: "empty frame"
            case .truncatedFrame: "truncated frame"
            case .checksumMismatch: "checksum mismatch"
            }
        }
    }

    /// A frame's header: its payload's length and CRC32C.
    public struct Header: Sendable {
        public var length: Int
        public var checksum: UInt32

        public init(length: Int, checksum: UInt32) {
            self.length = length
            self.checksum = checksum
        }
    }

    /// Appends one frame whose payload `writePayload` appends to `buffer`, which must append at
    /// least one byte.
    public static func append(to buffer: inout [UInt8], payload writePayload: (inout [UInt8]) -> Void) {
        let start = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: headerBytes))
        writePayload(&buffer)
        let length = buffer.count - start - headerBytes
        precondition(length > 0, "a log frame's payload is never empty")
        precondition(length <= Int(UInt32.max), "a record of \(length) bytes does not fit a log frame")
        buffer.withUnsafeMutableBytes { bytes in
            let checksum = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[(start + headerBytes)...]))
            bytes.storeBytes(of: UInt32(length).littleEndian, toByteOffset: start, as: UInt32.self)
            bytes.storeBytes(of: checksum.littleEndian, toByteOffset: start + 4, as: UInt32.self)
        }
    }

    /// Appends one frame around `payload`, which is not empty.
    public static func append(_ payload: [UInt8], to buffer: inout [UInt8]) {
        append(to: &buffer) { $0.append(contentsOf: payload) }
    }

    /// The header at `offset`; `bytes` holds at least `headerBytes` from there.
    public static func header(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> Header {
        Header(
            length: Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))),
            checksum: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self))
        )
    }

    /// Checks a header against the file: `remaining` is how many bytes of the file follow it.
    public static func check(_ header: Header, remaining: Int) -> Damage? {
        guard header.length > 0 else { return .emptyFrame }
        guard header.length <= remaining else { return .truncatedFrame }
        return nil
    }

    /// Checks a payload against its header's checksum.
    public static func check(_ payload: UnsafeRawBufferPointer, against header: Header) -> Damage? {
        CRC32C.checksum(payload) == header.checksum ? nil : .checksumMismatch
    }

    /// The frame at `offset` of a whole file held in `bytes`: the range of its payload, or why the
    /// file's frames stop there. `checksum` false checks only that the headers chain.
    public static func frame(in bytes: UnsafeRawBufferPointer, at offset: Int, checksum: Bool = true) -> Result<Range<Int>, Damage> {
        guard bytes.count - offset >= headerBytes else { return .failure(.truncatedHeader) }
        let header = header(bytes, at: offset)
        let start = offset + headerBytes
        if let damage = check(header, remaining: bytes.count - start) { return .failure(damage) }
        let payload = start..<start + header.length
        if checksum, let damage = check(UnsafeRawBufferPointer(rebasing: bytes[payload]), against: header) { return .failure(damage) }
        return .success(payload)
    }
}
