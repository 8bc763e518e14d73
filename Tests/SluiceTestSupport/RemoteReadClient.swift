import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import SluiceCodec

/// A remote-read client for tests: sends one `ReadRequest` and decodes either response type into
/// samples per series, keeping what a test checks about the wire (content type, frames, chunks).
public enum RemoteReadClient {
    public struct Answer: Sendable {
        public var status: Int
        public var contentType: String?
        /// The error body when the status is not 200.
        public var error: String
        /// Per query: every series' samples by timestamp.
        public var results: [[LabelSet: [Int64: Double]]]
        /// Per query, in the order they arrived: every series' label set (a series split over several
        /// frames appears once per frame).
        public var order: [[[Label]]]
        /// STREAMED only: each frame's message size, and every chunk received.
        public var frameSizes: [Int]
        public var chunks: [Chunk]
    }

    public static func read(
        _ url: String,
        _ queries: [Query],
        accept: [ReadRequest.ResponseType] = [],
        headers: [(String, String)] = []
    ) async throws -> Answer {
        let request = ReadRequest(queries: queries, acceptedResponseTypes: accept)
        let encoded = MessageCodec().encoded { codec, out in codec.encode(request, appendingTo: out) }
        let body = Snappy.compress(encoded)
        var http = HTTPClientRequest(url: url)
        http.method = .POST
        http.headers.add(name: "Content-Type", value: "application/x-protobuf")
        http.headers.add(name: "Content-Encoding", value: "snappy")
        http.headers.add(name: "X-Prometheus-Remote-Read-Version", value: "0.1.0")
        for (name, value) in headers { http.headers.add(name: name, value: value) }
        http.body = .bytes(body)
        let response = try await TestHTTP.client.execute(http, timeout: .seconds(60))
        let buffer = try await response.body.collect(upTo: 512 << 20)
        let bytes = Array(buffer.readableBytesView)
        var answer = Answer(
            status: Int(response.status.code), contentType: response.headers.first(name: "Content-Type"), error: "",
            results: Array(repeating: [:], count: queries.count), order: Array(repeating: [], count: queries.count),
            frameSizes: [], chunks: []
        )
        guard answer.status == 200 else {
            answer.error = String(decoding: bytes, as: UTF8.self)
            return answer
        }
        if answer.contentType?.hasPrefix("application/x-streamed-protobuf") == true {
            let ranges = try bytes.withUnsafeBytes { try ChunkedFrame.messages(in: $0) }
            for range in ranges {
                let message = try bytes.withUnsafeBytes { raw in
                    try MessageCodec().decodeChunkedReadResponse(UnsafeRawBufferPointer(rebasing: raw[range]))
                }
                answer.frameSizes.append(range.count)
                let index = Int(message.queryIndex)
                for series in message.chunkedSeries {
                    let labels = LabelSet(uniqueKeysWithValues: series.labels.map { ($0.name, $0.value) })
                    answer.order[index].append(series.labels)
                    // Histogram chunks are kept in `chunks` for the test to decode; `results` holds floats.
                    for chunk in series.chunks {
                        answer.chunks.append(chunk)
                        guard chunk.encoding == .xor else { continue }
                        for sample in try XORChunkDecoder.decodeAll(chunk.data) {
                            answer.results[index][labels, default: [:]][sample.timestamp] = sample.value
                        }
                    }
                }
            }
        } else {
            let decoded = try MessageCodec().decodeReadResponse(try Snappy.decompress(bytes, limit: 1 << 30))
            for (index, result) in decoded.results.enumerated() {
                for series in result.timeseries {
                    let labels = LabelSet(uniqueKeysWithValues: series.labels.map { ($0.name, $0.value) })
                    answer.order[index].append(series.labels)
                    for sample in series.samples { answer.results[index][labels, default: [:]][sample.timestamp] = sample.value }
                }
            }
        }
        return answer
    }
}

extension MessageCodec {
    func decodeReadResponse(_ bytes: [UInt8]) throws -> ReadResponse {
        try bytes.withUnsafeBytes { try decodeReadResponse($0) }
    }
}
