import Hummingbird
import Logging
import NIOCore
import SluiceCodec
import SluiceHTTP

/// `POST /api/v1/read`: Prometheus' remote-read protocol over this node's blocks and head.
///
/// The response type is the first of the client's `accepted_response_types` this node speaks; none
/// listed means SAMPLES, as Prometheus 2.42 sends. Streamed responses carry one series per frame and
/// send stored chunks as they lie on disk, re-encoding only those cut by the query's range. Native
/// histograms travel in their own chunk encodings (2 and 3) in streamed answers, and in
/// `TimeSeries.histograms` in SAMPLES answers.
struct RemoteReadHandler: Sendable {
    let configuration: StorageConfiguration
    let storage: Storage
    let logger: Logger
    /// SAMPLES answers are built in buffers kept from one read to the next.
    let answerBuffers = ByteScratchPool()

    func handle(_ request: Request) async -> Response {
        let response = await HTTPFailure.answer(logger: logger, event: "read failed") { () async throws(HTTPFailure) in
            try await read(request)
        }
        storage.metrics.request(handler: "read", code: Int(response.status.code))
        return response
    }

    private func read(_ request: Request) async throws(HTTPFailure) -> Response {
        try Self.checkReady(storage)
        let body = try await BoundedBody.collect(request, limit: configuration.maxBodyBytes)
        let readRequest = try RemoteReadHTTP.decodeRequest(body, maxDecodedBytes: configuration.maxDecodedBytes)
        let type = try RemoteReadHTTP.negotiate(readRequest)
        let selected = try Self.select(readRequest.queries, from: storage)
        if type == .samples {
            return try samplesResponse(readRequest.queries, selected)
        }
        // Every query's chunks before the first frame: a corrupt chunk must still be able to answer
        // 500, as it does for SAMPLES, not cut the stream short after a 200.
        let series = try zip(selected, readRequest.queries).map { (one, query) throws(HTTPFailure) in try Self.streamed(one, query) }
        return RemoteReadHTTP.streamedResponse(queries: series.count, maxFrameBytes: configuration.readMaxBytesInFrame) { index in
            series[index]
        }
    }

    /// 503 while the storage replays its WAL or after it shut down.
    static func checkReady(_ storage: Storage) throws(HTTPFailure) {
        guard storage.isReady else { throw HTTPFailure(.serviceUnavailable, storage.notReadyReason + "; retry later") }
    }

    /// Per query, the series it selects with their stored chunks.
    static func select(_ queries: [Query], from storage: Storage) throws(HTTPFailure) -> [[SeriesChunks]] {
        var selected: [[SeriesChunks]] = []
        for query in queries {
            do {
                selected.append(try storage.select(query.matchers, minTime: query.startMs, maxTime: query.endMs))
            } catch {
                throw HTTPFailure(error.code == .invalidQuery ? .badRequest : .internalServerError, error.message)
            }
        }
        return selected
    }

    /// The series of a streamed answer to `query`: those with chunks inside its range. 500 for a
    /// stored chunk the range cuts that does not decode, as the SAMPLES answer does.
    static func streamed(_ series: [SeriesChunks], _ query: Query) throws(HTTPFailure) -> [RemoteReadHTTP.StreamedSeries] {
        var out: [RemoteReadHTTP.StreamedSeries] = []
        out.reserveCapacity(series.count)
        for one in series {
            let chunks: [Chunk]
            do {
                chunks = try Self.chunks(one.chunks, within: query.startMs, query.endMs)
            } catch {
                throw HTTPFailure(.internalServerError, "stored chunk is corrupt: \(error)")
            }
            if !chunks.isEmpty { out.append(RemoteReadHTTP.StreamedSeries(labelBytes: one.labelBytes, chunks: chunks)) }
        }
        return out
    }

    /// A read from select in this process (`InProcessNodes`): the streamed answer's series, not
    /// encoded, with the same readiness check, errors and request metric as over HTTP.
    static func inProcess(_ queries: [Query], storage: Storage) -> Result<[[RemoteReadHTTP.StreamedSeries]], HTTPFailure> {
        let result: Result<[[RemoteReadHTTP.StreamedSeries]], HTTPFailure>
        do {
            try checkReady(storage)
            let selected = try select(queries, from: storage)
            result = .success(try zip(selected, queries).map { (one, query) throws(HTTPFailure) in try streamed(one, query) })
        } catch {
            result = .failure(error)
        }
        switch result {
        case .success: storage.metrics.request(handler: "read", code: 200)
        case .failure(let failure): storage.metrics.request(handler: "read", code: Int(failure.status.code))
        }
        return result
    }

    // MARK: SAMPLES

    private func samplesResponse(_ queries: [Query], _ selected: [[SeriesChunks]]) throws(HTTPFailure) -> Response {
        // Series go into the answer one at a time, each decoded into the same two arrays.
        var answer = RemoteReadHTTP.SamplesAnswer(pool: answerBuffers, sampleLimit: configuration.readSampleLimit)
        var samples: [Sample] = []
        var histograms: [Histogram] = []
        for (query, series) in zip(queries, selected) {
            answer.beginResult()
            for one in series {
                samples.removeAll(keepingCapacity: true)
                histograms.removeAll(keepingCapacity: true)
                for chunk in one.chunks {
                    do {
                        if chunk.isHistogram {
                            for histogram in try chunk.histograms() where histogram.timestamp >= query.startMs && histogram.timestamp <= query.endMs {
                                histograms.append(histogram)
                            }
                        } else {
                            var decoder = try XORChunkDecoder(chunk.bytes)
                            while let sample = try decoder.next(), sample.timestamp <= query.endMs {
                                if sample.timestamp >= query.startMs { samples.append(Sample(timestamp: sample.timestamp, value: sample.value)) }
                            }
                        }
                    } catch {
                        throw HTTPFailure(.internalServerError, "stored chunk is corrupt: \(error)")
                    }
                }
                try answer.append(labelBytes: one.labelBytes, samples: samples, histograms: histograms)
            }
            answer.endResult()
        }
        return answer.response()
    }

    // MARK: STREAMED_XOR_CHUNKS

    /// Chunks inside `[minTime, maxTime]` as stored, whatever their encoding; chunks cut by the range
    /// re-encoded with only the samples or histograms inside it.
    static func chunks(_ stored: [StoredChunk], within minTime: Int64, _ maxTime: Int64) throws(CodecError) -> [Chunk] {
        var out: [Chunk] = []
        out.reserveCapacity(stored.count)
        for chunk in stored {
            if chunk.minTime >= minTime && chunk.maxTime <= maxTime {
                out.append(Chunk(minTimeMs: chunk.minTime, maxTimeMs: chunk.maxTime, encoding: chunk.encoding, data: chunk.bytes))
                continue
            }
            if chunk.isHistogram {
                let histograms = try chunk.histograms()
                let inside = histograms.lazy.filter { $0.timestamp >= minTime && $0.timestamp <= maxTime }
                for part in StoredChunk.histogramChunks(inside, encoding: chunk.encoding) {
                    out.append(Chunk(minTimeMs: part.minTime, maxTimeMs: part.maxTime, encoding: part.encoding, data: part.bytes))
                }
                continue
            }
            let samples = try XORChunkDecoder.decodeAll(chunk.bytes)
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
}
