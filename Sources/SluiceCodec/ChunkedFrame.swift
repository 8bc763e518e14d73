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

extension ChunkedFrame {
    /// Appends one frame holding a `ChunkedReadResponse` of one series, encoded straight into `output`:
    /// the streamed read path writes thousands of these per answer, and building the message through
    /// libprotobuf-c first cost an allocation per label and per chunk.
    ///
    /// `labelBytes` are the series' labels as `LabelSetBytes`: already the message's `labels`
    /// fields, copied in one piece. The bytes are what protoc's encoders produce for the same
    /// message (fields in number order, proto3 defaults omitted) for every label set the storage
    /// holds, whose names and values are never empty; any remote-read client decodes them.
    public static func appendSeries(labelBytes: UnsafeRawBufferPointer, chunks: ArraySlice<Chunk>, queryIndex: Int64, to output: ByteScratch) {
        func fieldSize(_ length: Int) -> Int { 1 + Varint.size(UInt64(length)) + length }
        func chunkSize(_ chunk: Chunk) -> Int {
            (chunk.minTimeMs == 0 ? 0 : 1 + Varint.size(UInt64(bitPattern: chunk.minTimeMs)))
                + (chunk.maxTimeMs == 0 ? 0 : 1 + Varint.size(UInt64(bitPattern: chunk.maxTimeMs)))
                + (chunk.encoding.rawValue == 0 ? 0 : 1 + Varint.size(UInt64(bitPattern: Int64(chunk.encoding.rawValue))))
                + (chunk.data.isEmpty ? 0 : fieldSize(chunk.data.count))
        }
        var seriesSize = labelBytes.count
        for chunk in chunks { seriesSize += fieldSize(chunkSize(chunk)) }
        let messageSize = fieldSize(seriesSize) + (queryIndex == 0 ? 0 : 1 + Varint.size(UInt64(bitPattern: queryIndex)))

        Varint.append(UInt64(messageSize), to: output)
        let crcOffset = output.count
        output.reserve(extra: 4 + messageSize)
        output.appendUnsafe { _ in 4 }
        let messageStart = output.count

        func key(_ field: UInt8, _ wireType: UInt8) { output.append(field << 3 | wireType) }
        func bytesField(_ field: UInt8, _ bytes: UnsafeRawBufferPointer) {
            guard !bytes.isEmpty else { return }
            key(field, 2)
            Varint.append(UInt64(bytes.count), to: output)
            output.append(bytes)
        }
        func varintField(_ field: UInt8, _ value: Int64) {
            guard value != 0 else { return }
            key(field, 0)
            Varint.append(UInt64(bitPattern: value), to: output)
        }

        key(1, 2)
        Varint.append(UInt64(seriesSize), to: output)
        output.append(labelBytes)
        for chunk in chunks {
            key(2, 2)
            Varint.append(UInt64(chunkSize(chunk)), to: output)
            varintField(1, chunk.minTimeMs)
            varintField(2, chunk.maxTimeMs)
            varintField(3, Int64(chunk.encoding.rawValue))
            chunk.data.withUnsafeBytes { bytesField(4, $0) }
        }
        varintField(2, queryIndex)

        let message = UnsafeRawBufferPointer(rebasing: output.bytes[messageStart...])
        precondition(message.count == messageSize, "ChunkedReadResponse size mismatch")
        output.storeBigEndian(CRC32C.checksum(message), at: crcOffset)
    }
}
