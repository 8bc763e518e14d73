/// The framing of a STREAMED_XOR_CHUNKS remote-read response: each `ChunkedReadResponse` is sent as
/// a uvarint message length, the big-endian CRC32-Castagnoli of the message, then the message.
public enum ChunkedFrame {
    /// Prometheus' client refuses frames above this by default (`remote_read` chunked limit is 50 MiB);
    /// servers in Sluice stay under 1 MiB per frame.
    public static let defaultMaximumSize = 50 << 20

    /// Appends one frame holding `message`.
    public static func append(message: UnsafeRawBufferPointer, to output: ByteScratch) {
        Varint.append(UInt64(message.count), to: output)
        let crc = CRC32C.checksum(message)
        output.reserve(extra: 4 + message.count)
        output.appendUnsafe { tail in
            tail.storeBytes(of: crc.bigEndian, toByteOffset: 0, as: UInt32.self)
            return 4
        }
        output.append(message)
    }

    /// A complete frame found at the start of a buffer.
    public struct Frame: Sendable, Equatable {
        /// Where the message lies in the buffer that was parsed.
        public var message: Range<Int>
        /// Bytes the frame takes, header included: drop these before parsing the next one.
        public var consumed: Int
    }

    /// Parses the frame at the start of `bytes`. Returns nil when more bytes are needed, so the caller
    /// can read from the network and try again.
    ///
    /// - Throws: `.sizeLimitExceeded` when the declared size passes `maximumSize` (checked before
    ///   waiting for the body), `.checksumMismatch` when the CRC does not match.
    public static func parse(
        _ bytes: UnsafeRawBufferPointer,
        maximumSize: Int = defaultMaximumSize
    ) throws(CodecError) -> Frame? {
        var offset = 0
        guard let length = try Varint.read(bytes, at: &offset) else { return nil }
        guard length <= UInt64(maximumSize) else {
            throw CodecError(.sizeLimitExceeded, "frame of \(length) bytes exceeds the limit of \(maximumSize) bytes")
        }
        let start = offset + 4
        let end = start + Int(length)
        guard end <= bytes.count else { return nil }
        let expected = UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
        let message = UnsafeRawBufferPointer(rebasing: bytes[start..<end])
        guard CRC32C.checksum(message) == expected else {
            throw CodecError(.checksumMismatch, "frame checksum does not match its message")
        }
        return Frame(message: start..<end, consumed: end)
    }

    /// Splits a whole response body into its messages.
    ///
    /// - Throws: `.truncated` when the body ends inside a frame.
    public static func messages(
        in body: UnsafeRawBufferPointer,
        maximumSize: Int = defaultMaximumSize
    ) throws(CodecError) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        var offset = 0
        while offset < body.count {
            let rest = UnsafeRawBufferPointer(rebasing: body[offset...])
            guard let frame = try parse(rest, maximumSize: maximumSize) else {
                throw CodecError(.truncated, "response ends inside a frame")
            }
            ranges.append((frame.message.lowerBound + offset)..<(frame.message.upperBound + offset))
            offset += frame.consumed
        }
        return ranges
    }
}
