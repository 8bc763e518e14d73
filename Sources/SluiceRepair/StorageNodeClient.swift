import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SluiceCodec
import SluiceHTTP
import SluiceRing

/// Why a call to a node failed.
struct NodeCallFailure: Error, CustomStringConvertible {
    var node: String
    var message: String
    var description: String { "\(node): \(message)" }
}

/// The three calls repair makes to a Sluice storage node: its digests (`SeriesDigest`), remote read
/// of chosen series, and backfill.
struct StorageNodeClient: Sendable {
    let client: HTTPClient
    let timeout: Duration

    /// The node's digests, and the bytes of its answer.
    func digest(_ request: SeriesDigest.Request, from node: RingConfiguration.Node) async throws -> (SeriesDigest.Response, bytes: Int) {
        try await postJSON(request, to: SeriesDigest.path, on: node, what: "digest")
    }

    /// The samples in `[start, end]` of the series with exactly these label sets; a series the node
    /// does not hold is left out.
    func read(_ labelSets: [[Label]], start: Int64, end: Int64, from node: RingConfiguration.Node) async throws -> [[Label]: [Sample]] {
        let queries = labelSets.map { labels in
            Query(startMs: start, endMs: end, matchers: labels.map { LabelMatcher(.equal, name: $0.name, value: $0.value) })
        }
        let request = ReadRequest(queries: queries, acceptedResponseTypes: [.samples])
        var http = HTTPClientRequest(url: node.remoteReadURL)
        http.method = .POST
        http.headers.add(name: "Content-Type", value: "application/x-protobuf")
        http.headers.add(name: "Content-Encoding", value: "snappy")
        http.headers.add(name: "X-Prometheus-Remote-Read-Version", value: "0.1.0")
        http.body = .bytes(ByteBuffer(bytes: Snappy.compress(MessageCodec().encoded { codec, out in codec.encode(request, appendingTo: out) })))
        let body = try await send(http, to: node, expecting: 200, what: "remote read")
        let decoded = try body.withUnsafeReadableBytes { raw in
            let bytes = ByteScratch(capacity: 0)
            try Snappy.decompress(raw, into: bytes, limit: 1 << 30)
            return try MessageCodec(memoryLimit: max(1 << 20, bytes.count * MessageCodec.expansionFactor)).decodeReadResponse(bytes.bytes)
        }
        let wanted = Set(labelSets)
        var out: [[Label]: [Sample]] = [:]
        for result in decoded.results {
            for series in result.timeseries where wanted.contains(series.labels) {
                out[series.labels, default: []] += series.samples
            }
        }
        return out
    }

    /// Asks the node to delete the series `request` names from its blocks.
    func deletePlaced(_ request: PlacedSeriesDeletion.Request, from node: RingConfiguration.Node) async throws -> PlacedSeriesDeletion.Response {
        try await postJSON(request, to: PlacedSeriesDeletion.path, on: node, what: "delete").0
    }

    /// POSTs `request` as JSON to `path` on the node and decodes its 200 answer; also returns the
    /// answer's size in bytes.
    private func postJSON<Answer: Decodable>(
        _ request: some Encodable, to path: String, on node: RingConfiguration.Node, what: String
    ) async throws -> (Answer, Int) {
        var http = HTTPClientRequest(url: node.baseURL + path)
        http.method = .POST
        http.headers.add(name: "Content-Type", value: "application/json")
        http.body = .bytes(ByteBuffer(data: try JSONEncoder().encode(request)))
        let body = try await send(http, to: node, expecting: 200, what: what)
        return (try JSONDecoder().decode(Answer.self, from: Data(buffer: body)), body.readableBytes)
    }

    /// Sends `request` to the node's backfill; returns the samples it added and the bytes sent.
    func backfill(_ request: WriteRequest, to node: RingConfiguration.Node) async throws -> (added: Int, bytes: Int) {
        let body = Snappy.compress(MessageCodec().encoded { codec, out in codec.encode(request, appendingTo: out) })
        var http = HTTPClientRequest(url: node.baseURL + BackfillHeaders.path)
        http.method = .POST
        http.headers.add(name: "Content-Type", value: "application/x-protobuf")
        http.headers.add(name: "Content-Encoding", value: "snappy")
        http.headers.add(name: RemoteWriteVersion.versionHeaderName, value: "0.1.0")
        http.body = .bytes(ByteBuffer(bytes: body))
        var added = 0
        _ = try await send(http, to: node, expecting: 204, what: "backfill") { headers in
            added = headers.first(name: BackfillHeaders.added).flatMap { Int($0) } ?? 0
        }
        return (added, body.count)
    }

    private func send(
        _ request: HTTPClientRequest, to node: RingConfiguration.Node, expecting status: UInt, what: String,
        headers: (HTTPHeaders) -> Void = { _ in }
    ) async throws -> ByteBuffer {
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: .init(timeout))
        } catch {
            throw NodeCallFailure(node: node.name, message: "\(what): \(error)")
        }
        let body = try await response.body.collect(upTo: 1 << 30)
        guard response.status.code == status else {
            let text = String(buffer: body).split(separator: "\n").first.map(String.init) ?? ""
            throw NodeCallFailure(node: node.name, message: "\(what) answered \(response.status.code): \(text)")
        }
        headers(response.headers)
        return body
    }
}
