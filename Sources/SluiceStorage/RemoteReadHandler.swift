import Hummingbird
import Logging
import NIOCore
import SluiceCodec
import SluiceHTTP

/// `POST /api/v1/read`: Prometheus' remote-read protocol over this node's blocks and head.
///
/// The response type is the first of the client's `accepted_response_types` this node speaks; none
/// listed means SAMPLES, as Prometheus 2.42 sends. Streamed responses carry one series per frame and
/// send stored chunks as they lie on disk, re-encoding only those cut by the query's range.
struct RemoteReadHandler: Sendable {
    static let samplesContentType = "application/x-protobuf"
    static let streamedContentType = "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse"

    let configuration: StorageConfiguration
    let storage: Storage
    let logger: Logger

    func handle(_ request: Request) async -> Response {
        let response: Response
        do {
            response = try await read(request)
        } catch {
            if error.status.code >= 500 { logger.warning("read failed", metadata: ["error": "\(error.message)"]) }
            response = error.response
        }
        storage.metrics.request(handler: "read", code: Int(response.status.code))
        return response
    }

    private func read(_ request: Request) async throws(HTTPFailure) -> Response {
        guard storage.isReady else { throw HTTPFailure(.serviceUnavailable, "storage is replaying its WAL; retry later") }
        let body = try await BoundedBody.collect(request, limit: configuration.maxBodyBytes)
        let readRequest: ReadRequest
        do {
            readRequest = try body.withUnsafeReadableBytes { (raw) throws(CodecError) -> ReadRequest in
                let decoded = try Snappy.decompress(Array(raw), limit: configuration.maxDecodedBytes)
                return try MessageCodec(memoryLimit: max(1 << 20, decoded.count * MessageCodec.expansionFactor)).decodeReadRequest(decoded)
            }
        } catch {
            throw HTTPFailure(error)
        }
        guard let type = readRequest.negotiate() else {
            throw HTTPFailure(.badRequest, "none of the accepted response types \(readRequest.acceptedResponseTypes.map(\.rawValue)) is supported: use SAMPLES (0) or STREAMED_XOR_CHUNKS (1)")
        }
        var selected: [[SeriesChunks]] = []
        for query in readRequest.queries {
            do {
                selected.append(try storage.select(query.matchers, minTime: query.startMs, maxTime: query.endMs))
            } catch {
                throw HTTPFailure(error.code == .invalidQuery ? .badRequest : .internalServerError, error.message)
            }
        }
        if type == .samples {
            return try samplesResponse(readRequest.queries, selected)
        }
        return streamedResponse(readRequest.queries, selected)
    }

    // MARK: SAMPLES

    private func samplesResponse(_ queries: [Query], _ selected: [[SeriesChunks]]) throws(HTTPFailure) -> Response {
        var results: [QueryResult] = []
        var total = 0
        for (query, series) in zip(queries, selected) {
            var timeseries: [TimeSeries] = []
            timeseries.reserveCapacity(series.count)
            for one in series {
                var samples: [Sample] = []
                for chunk in one.chunks {
                    do {
                        for sample in try XORChunkDecoder.decodeAll(chunk.bytes) where sample.timestamp >= query.startMs && sample.timestamp <= query.endMs {
                            samples.append(Sample(timestamp: sample.timestamp, value: sample.value))
                        }
                    } catch {
                        throw HTTPFailure(.internalServerError, "stored chunk is corrupt: \(error)")
                    }
                }
                guard !samples.isEmpty else { continue }
                total += samples.count
                if configuration.readSampleLimit > 0, total > configuration.readSampleLimit {
                    throw HTTPFailure(.badRequest, "exceeded sample limit (\(configuration.readSampleLimit))")
                }
                timeseries.append(TimeSeries(labels: one.labels, samples: samples))
            }
            results.append(QueryResult(timeseries: timeseries))
        }
        let codec = MessageCodec()
        let encoded = codec.encoded { codec, out in codec.encode(ReadResponse(results: results), appendingTo: out) }
        let compressed = Snappy.compress(encoded)
        return Response(
            status: .ok,
            headers: [.contentType: Self.samplesContentType, .contentEncoding: "snappy"],
            body: .init(byteBuffer: ByteBuffer(bytes: compressed))
        )
    }

    // MARK: STREAMED_XOR_CHUNKS

    private func streamedResponse(_ queries: [Query], _ selected: [[SeriesChunks]]) -> Response {
        let maxFrame = configuration.readMaxBytesInFrame
        let body = ResponseBody { writer in
            let codec = MessageCodec()
            let frame = ByteScratch()
            for (index, (query, series)) in zip(queries, selected).enumerated() {
                for one in series {
                    let chunks = Self.chunks(one.chunks, within: query.startMs, query.endMs)
                    for part in Self.frames(of: chunks, labels: one.labels, maxBytes: maxFrame) {
                        let message = codec.encoded { codec, out in
                            codec.encode(ChunkedReadResponse(chunkedSeries: [ChunkedSeries(labels: one.labels, chunks: part)], queryIndex: Int64(index)), appendingTo: out)
                        }
                        frame.removeAll()
                        message.withUnsafeBytes { ChunkedFrame.append(message: $0, to: frame) }
                        try await writer.write(ByteBuffer(bytes: frame.bytes))
                    }
                }
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: Self.streamedContentType], body: body)
    }

    /// Chunks inside `[minTime, maxTime]` as stored; chunks cut by the range re-encoded with only the
    /// samples inside it.
    static func chunks(_ stored: [StoredChunk], within minTime: Int64, _ maxTime: Int64) -> [Chunk] {
        var out: [Chunk] = []
        out.reserveCapacity(stored.count)
        for chunk in stored {
            if chunk.minTime >= minTime && chunk.maxTime <= maxTime {
                out.append(Chunk(minTimeMs: chunk.minTime, maxTimeMs: chunk.maxTime, encoding: .xor, data: chunk.bytes))
                continue
            }
            guard let samples = try? XORChunkDecoder.decodeAll(chunk.bytes) else { continue }
            var encoder = XORChunkEncoder()
            for sample in samples where sample.timestamp >= minTime && sample.timestamp <= maxTime {
                encoder.append(timestamp: sample.timestamp, value: sample.value)
            }
            if encoder.count > 0 {
                out.append(Chunk(minTimeMs: encoder.minTime, maxTimeMs: encoder.maxTime, encoding: .xor, data: encoder.bytes))
            }
        }
        return out
    }

    /// Splits one series' chunks so that each frame's message stays under `maxBytes`, counting the labels
    /// in every frame and a generous per-chunk overhead for the protobuf framing.
    static func frames(of chunks: [Chunk], labels: [Label], maxBytes: Int) -> [[Chunk]] {
        let labelBytes = labels.reduce(16) { $0 + $1.name.utf8.count + $1.value.utf8.count + 8 }
        var frames: [[Chunk]] = []
        var current: [Chunk] = []
        var size = labelBytes
        for chunk in chunks {
            let chunkBytes = chunk.data.count + 40
            if !current.isEmpty && size + chunkBytes > maxBytes {
                frames.append(current)
                current = []
                size = labelBytes
            }
            current.append(chunk)
            size += chunkBytes
        }
        if !current.isEmpty { frames.append(current) }
        return frames
    }
}
