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
                let scratch = ByteScratch(capacity: 64)
                try Snappy.decompress(raw, into: scratch, limit: maxDecodedBytes)
                return try MessageCodec(memoryLimit: max(1 << 20, scratch.count * MessageCodec.expansionFactor)).decodeReadRequest(scratch.bytes)
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

    /// A SAMPLES answer: one snappy-compressed `ReadResponse`, written one series at a time.
    ///
    /// The encoded answer is built in a buffer from `pool`, which goes back to the pool once the
    /// body is sent. The body is compressed and sent in pieces of `pieceBytes` (a whole number of
    /// snappy fragments, so the bytes are those of compressing the answer whole), with no buffer the
    /// size of the compressed answer.
    public struct SamplesAnswer {
        public static let pieceBytes = 16 * Snappy.fragmentBytes

        private let encoded: ByteScratch
        private let pool: ByteScratchPool
        private let sampleLimit: Int
        private var samples = 0
        private var resultStart: Int?

        /// `sampleLimit` bounds the samples and histograms of the whole answer; 0 is no limit.
        public init(pool: ByteScratchPool, sampleLimit: Int) {
            self.encoded = pool.take()
            self.pool = pool
            self.sampleLimit = sampleLimit
        }

        /// Opens the next query's result.
        public mutating func beginResult() {
            precondition(resultStart == nil, "a SAMPLES result is already open")
            resultStart = ReadResponseEncoder.beginResult(in: encoded)
        }

        /// Appends one series of the open result; a series with no points is left out. Throws a 400
        /// once the answer passes the sample limit (a histogram counts as one sample, as in
        /// Prometheus).
        /// Adds one series; `labelBytes` are its labels as `LabelSetBytes`.
        public mutating func append(labelBytes: [UInt8], samples: [Sample], histograms: [Histogram]) throws(HTTPFailure) {
            precondition(resultStart != nil, "no SAMPLES result is open")
            guard !samples.isEmpty || !histograms.isEmpty else { return }
            self.samples += samples.count + histograms.count
            if sampleLimit > 0, self.samples > sampleLimit {
                throw HTTPFailure(.badRequest, "exceeded sample limit (\(sampleLimit))")
            }
            labelBytes.withUnsafeBytes { ReadResponseEncoder.appendSeries(labelBytes: $0, samples: samples, histograms: histograms, to: encoded) }
        }

        /// Closes the open result.
        public mutating func endResult() {
            guard let start = resultStart else { preconditionFailure("no SAMPLES result is open") }
            ReadResponseEncoder.endResult(start, in: encoded)
            resultStart = nil
        }

        /// The answer, compressed as it is sent.
        public func response(headers: HTTPFields = [:]) -> Response {
            precondition(resultStart == nil, "a SAMPLES result is still open")
            let owned = OwnedScratch(scratch: encoded)
            let pool = self.pool
            let body = ResponseBody(contentLength: nil) { writer in
                defer { pool.give(owned.scratch) }
                let bytes = owned.scratch.bytes
                var offset = 0
                repeat {
                    let piece = UnsafeRawBufferPointer(rebasing: bytes[offset..<min(bytes.count, offset + Self.pieceBytes)])
                    var buffer = ByteBuffer()
                    var share = 0..<0
                    buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: Snappy.maxPieceLength(piece.count)) { tail in
                        share = Snappy.compressPiece(piece, totalLength: offset == 0 ? bytes.count : nil, into: tail)
                        return share.upperBound
                    }
                    buffer.moveReaderIndex(forwardBy: share.lowerBound)
                    offset += piece.count
                    try await writer.write(buffer)
                } while offset < bytes.count
                try await writer.finish(nil)
            }
            var headers = headers
            headers[.contentType] = samplesContentType
            headers[.contentEncoding] = "snappy"
            return Response(status: .ok, headers: headers, body: body)
        }

        /// The answer's buffer, owned by the response body once the answer is sent.
        private struct OwnedScratch: @unchecked Sendable {
            let scratch: ByteScratch
        }
    }

    /// One series of a STREAMED_XOR_CHUNKS answer.
    public struct StreamedSeries: Sendable {
        /// The series' labels as `LabelSetBytes`: compared, merged and written into frames as they
        /// are, never turned into `String`s on the way.
        public var labelBytes: [UInt8]
        public var chunks: [Chunk]
        public init(labelBytes: [UInt8], chunks: [Chunk]) {
            self.labelBytes = labelBytes
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
                    var start = one.chunks.startIndex
                    while start < one.chunks.endIndex {
                        let end = frameEnd(of: one.chunks, from: start, labelBytes: one.labelBytes.count + 16, maxBytes: maxFrameBytes)
                        one.labelBytes.withUnsafeBytes { labels in
                            ChunkedFrame.appendSeries(labelBytes: labels, chunks: one.chunks[start..<end], queryIndex: Int64(index), to: pending)
                        }
                        start = end
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

    /// The end of the frame that starts at chunk `start`: as many chunks as keep the frame's message
    /// under `maxBytes`, counting the labels (`labelBytes`, in every frame) and a generous per-chunk overhead
    /// for the protobuf framing, and at least one. A series' frames are found one after another
    /// with no array of them: nearly every series takes one.
    static func frameEnd(of chunks: [Chunk], from start: Int, labelBytes: Int, maxBytes: Int) -> Int {
        var size = labelBytes
        var index = start
        while index < chunks.endIndex {
            let chunkBytes = chunks[index].data.count + 40
            if index > start && size + chunkBytes > maxBytes { break }
            size += chunkBytes
            index += 1
        }
        return index
    }
}
