import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import SluiceCodec
import SluiceHTTP
import SluiceRing

/// One series as one node answered it: chunks (streamed answers) or samples (SAMPLES answers).
struct NodeSeries: Sendable {
    /// The labels as `LabelSetBytes`: the merge orders and joins series by these bytes and writes
    /// them into its answer as they are.
    var labelBytes: [UInt8]
    var chunks: [Chunk] = []
    var samples: [Sample] = []
}

/// How one node answered one request.
enum ReadOutcome: Sendable {
    /// Per query, the node's series.
    case answered([[NodeSeries]])
    /// The node refused the request itself (4xx): the same request fails everywhere, so it is the
    /// client's error, not the node's.
    case rejected(status: Int, message: String)
    /// Unreachable, timed out, 5xx, or an answer that would not decode.
    case failed(String)
}

/// A storage node as select reads it.
struct ReadNode: Sendable {
    var name: String
    /// The ring file's `url` (the node's remote-write URL): what names a node in this process.
    var url: String
    /// `/api/v1/read` on the node.
    var readURL: String
    /// The base of the node's query API (`/api/v1/labels`, ...).
    var apiBase: String

    init(_ node: RingConfiguration.Node) {
        name = node.name
        url = node.url
        readURL = node.remoteReadURL
        apiBase = readURL.hasSuffix("/api/v1/read") ? String(readURL.dropLast("/api/v1/read".count)) : readURL
    }
}

/// Sends remote-read requests and query-API calls to storage nodes and decodes their answers.
struct NodeReader: Sendable {
    let client: HTTPClient
    let timeout: Duration
    let maxResponseBytes: Int
    /// Nodes in this process, read without HTTP.
    var inProcess: InProcessNodes? = nil

    /// Reads `queries` from `node`, sent as `body` (their encoded, compressed `ReadRequest`) asking
    /// for streamed chunks first: the node then sends stored chunks without decoding them. A node in
    /// this process hands over its series and chunks without any encoding.
    func read(_ body: [UInt8], queries: [Query], from node: ReadNode) async -> ReadOutcome {
        if let reader = inProcess?.reader(for: node.url) {
            switch await reader(queries) {
            case .success(let perQuery):
                return .answered(perQuery.map { series in series.map { NodeSeries(labelBytes: $0.labelBytes, chunks: $0.chunks) } })
            case .failure(let failure):
                let status = Int(failure.status.code)
                return (400..<500).contains(status)
                    ? .rejected(status: status, message: failure.message)
                    : .failed("\(node.name) answered \(status): \(failure.message)")
            }
        }
        let queries = queries.count
        var request = HTTPClientRequest(url: node.readURL)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-protobuf")
        request.headers.add(name: "Content-Encoding", value: "snappy")
        request.headers.add(name: "X-Prometheus-Remote-Read-Version", value: "0.1.0")
        request.headers.add(name: "User-Agent", value: "sluice-select")
        request.body = .bytes(body)
        let bytes: [UInt8]
        let contentType: String
        do {
            let response = try await client.execute(request, timeout: .init(timeout))
            let buffer = try await response.body.collect(upTo: maxResponseBytes)
            bytes = Array(buffer.readableBytesView)
            contentType = response.headers.first(name: "Content-Type") ?? ""
            let status = Int(response.status.code)
            if (400..<500).contains(status) {
                return .rejected(status: status, message: Self.errorText(bytes))
            }
            guard status == 200 else { return .failed("\(node.name) answered \(status): \(Self.errorText(bytes))") }
        } catch {
            return .failed("\(node.name): \(error)")
        }
        do {
            return .answered(try Self.decode(bytes, contentType: contentType, queries: queries))
        } catch {
            return .failed("\(node.name) sent an answer that does not decode: \(error)")
        }
    }

    /// GETs a query-API path from `node`; the JSON body on 200, else the outcome.
    func get(_ pathAndQuery: String, from node: ReadNode) async -> Result<[UInt8], QueryAPIFailure> {
        var request = HTTPClientRequest(url: node.apiBase + pathAndQuery)
        request.method = .GET
        do {
            let response = try await client.execute(request, timeout: .init(timeout))
            let buffer = try await response.body.collect(upTo: maxResponseBytes)
            let bytes = Array(buffer.readableBytesView)
            let status = Int(response.status.code)
            if status == 200 { return .success(bytes) }
            if (400..<500).contains(status) { return .failure(.rejected(status: status, body: bytes)) }
            return .failure(.failed("\(node.name) answered \(status): \(Self.errorText(bytes))"))
        } catch {
            return .failure(.failed("\(node.name): \(error)"))
        }
    }

    static func decode(_ bytes: [UInt8], contentType: String, queries: Int) throws -> [[NodeSeries]] {
        var results = Array(repeating: [NodeSeries](), count: queries)
        if contentType.hasPrefix("application/x-streamed-protobuf") {
            let codec = MessageCodec()
            try bytes.withUnsafeBytes { raw in
                for range in try ChunkedFrame.messages(in: raw) {
                    let message = try codec.decodeChunkedReadResponse(UnsafeRawBufferPointer(rebasing: raw[range]))
                    let index = Int(message.queryIndex)
                    guard results.indices.contains(index) else { throw CodecError(.protobufInvalid, "query index \(index) out of range") }
                    for series in message.chunkedSeries {
                        let labelBytes = LabelSetBytes.bytes(series.labels)
                        // A series too big for one frame comes in several; join them.
                        if let last = results[index].last, last.labelBytes == labelBytes {
                            results[index][results[index].count - 1].chunks += series.chunks
                        } else {
                            results[index].append(NodeSeries(labelBytes: labelBytes, chunks: series.chunks))
                        }
                    }
                }
            }
        } else {
            let decoded = try Snappy.decompress(bytes, limit: 1 << 30)
            let response = try decoded.withUnsafeBytes { try MessageCodec().decodeReadResponse($0) }
            guard response.results.count == queries else {
                throw CodecError(.protobufInvalid, "\(response.results.count) results for \(queries) queries")
            }
            for (index, result) in response.results.enumerated() {
                results[index] = result.timeseries.map { NodeSeries(labelBytes: LabelSetBytes.bytes($0.labels), samples: $0.samples) }
            }
        }
        return results
    }

    /// The first line of an error body, short enough to quote.
    static func errorText(_ bytes: [UInt8]) -> String {
        let text = String(decoding: bytes.prefix(300), as: UTF8.self)
        return text.split(separator: "\n").first.map(String.init) ?? ""
    }
}

/// Why a query-API call to a node did not give a usable answer.
enum QueryAPIFailure: Error {
    case rejected(status: Int, body: [UInt8])
    case failed(String)
}
