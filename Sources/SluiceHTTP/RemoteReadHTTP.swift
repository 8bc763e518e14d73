import Hummingbird
import NIOCore
import SluiceCodec

/// The remote-read protocol's HTTP side, the same on storage and select: decoding the request and
/// writing either response type.
public enum RemoteReadHTTP {
    public static let samplesContentType = "application/x-protobuf"
    public static let streamedContentType = "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse"

    /// Snappy-decompresses and decodes a `ReadRequest`, bounded by `maxDecodedBytes`.
    public static func decodeRequest(_ body: ByteBuffer, maxDecodedBytes: Int) throws(HTTPFailure) -> ReadRequest {
        do {
            return try body.withUnsafeReadableBytes { (raw) throws(CodecError) -> ReadRequest in
                let length = try Snappy.declaredLength(raw)
                guard length <= maxDecodedBytes else {
                    throw CodecError(.sizeLimitExceeded, "decoded body of \(length) bytes exceeds the limit of \(maxDecodedBytes) bytes")
                }
                let scratch = ByteScratch(capacity: max(length, 64))
                try Snappy.decompress(raw, into: scratch, limit: maxDecodedBytes)
                return try MessageCodec(memoryLimit: max(1 << 20, length * MessageCodec.expansionFactor)).decodeReadRequest(scratch.bytes)
            }
        } catch {
            throw HTTPFailure(error)
        }
    }

    /// The negotiated response type, or a 400 naming what the client asked for.
    public static func negotiate(_ request: ReadRequest) throws(HTTPFailure) -> ReadRequest.ResponseType {
        guard let type = request.negotiate() else {
            throw HTTPFailure(.badRequest, "none of the accepted response types \(request.acceptedResponseTypes.map(\.rawValue)) is supported: use SAMPLES (0) or STREAMED_XOR_CHUNKS (1)")
        }
        return type
    }

    /// A SAMPLES answer: one snappy-compressed `ReadResponse`. Float-only answers take the fast
    /// encoder; answers holding native histograms the complete one.
    public static func samplesResponse(_ results: [QueryResult], headers: HTTPFields = [:]) -> Response {
        let encoded = ByteScratch(capacity: 1 << 20)
        ReadResponseEncoder.append(results.map(\.timeseries), to: encoded)
        return samplesResponse(encoded: encoded, headers: headers)
    }

    /// A SAMPLES answer from an encoded `ReadResponse` (`ReadResponseEncoder`), compressed here.
    public static func samplesResponse(encoded: ByteScratch, headers: HTTPFields = [:]) -> Response {
        var compressed = ByteBuffer()
        compressed.reserveCapacity(Snappy.maxCompressedLength(encoded.count))
        compressed.writeWithUnsafeMutableBytes(minimumWritableBytes: Snappy.maxCompressedLength(encoded.count)) { tail in
            Snappy.compress(encoded.bytes, into: tail)
        }
        var headers = headers
        headers[.contentType] = samplesContentType
        headers[.contentEncoding] = "snappy"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: compressed))
    }

    /// One series of a STREAMED_XOR_CHUNKS answer.
    public struct StreamedSeries: Sendable {
        public var labels: [Label]
        public var chunks: [Chunk]
        public init(labels: [Label], chunks: [Chunk]) {
            self.labels = labels
            self.chunks = chunks
        }
    }

    /// A STREAMED_XOR_CHUNKS answer: per query, its series in order, one series per frame, each frame's
    /// message under `maxFrameBytes` (a series with more chunks than fit spans several frames).
    ///
    /// `series(queryIndex)` is called as the body is written, so a caller can produce each query's
    /// series lazily.
    public static func streamedResponse(
        queries: Int,
        maxFrameBytes: Int,
        headers: HTTPFields = [:],
        series: @escaping @Sendable (Int) throws -> [StreamedSeries]
    ) -> Response {
        let body = ResponseBody { writer in
            // Frames are gathered into writes of about 64 KiB: one write per frame cost more than
            // encoding the frame.
            let pending = ByteScratch(capacity: 128 << 10)
            for index in 0..<queries {
                for one in try series(index) {
                    for part in frames(of: one.chunks, labels: one.labels, maxBytes: maxFrameBytes) {
                        ChunkedFrame.appendSeries(labels: one.labels, chunks: part, queryIndex: Int64(index), to: pending)
                        if pending.count >= 64 << 10 {
                            try await writer.write(ByteBuffer(bytes: pending.bytes))
                            pending.removeAll()
                        }
                    }
                }
            }
            if pending.count > 0 { try await writer.write(ByteBuffer(bytes: pending.bytes)) }
            try await writer.finish(nil)
        }
        var headers = headers
        headers[.contentType] = streamedContentType
        return Response(status: .ok, headers: headers, body: body)
    }

    /// Splits one series' chunks so that each frame's message stays under `maxBytes`, counting the
    /// labels in every frame and a generous per-chunk overhead for the protobuf framing.
    static func frames(of chunks: [Chunk], labels: [Label], maxBytes: Int) -> [ArraySlice<Chunk>] {
        let labelBytes = labels.reduce(16) { $0 + $1.name.utf8.count + $1.value.utf8.count + 8 }
        var frames: [ArraySlice<Chunk>] = []
        var start = chunks.startIndex
        var size = labelBytes
        for index in chunks.indices {
            let chunkBytes = chunks[index].data.count + 40
            if index > start && size + chunkBytes > maxBytes {
                frames.append(chunks[start..<index])
                start = index
                size = labelBytes
            }
            size += chunkBytes
        }
        if start < chunks.endIndex { frames.append(chunks[start...]) }
        return frames
    }
}
