import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import SluiceCodec
import SluiceHTTP
import SluiceInsert
import SluiceQuery
import SluiceRing
import SluiceSelect
import SluiceStorage
import SluiceTestSupport

// Support for the select tier's end-to-end tests: storage nodes, insert and select in this process
// on loopback port 0, each storage node in its own service group so a test can stop it, every wait
// bounded. Generous timeouts: on 2 cores the CPU-bound suites running beside this one can hold the
// cooperative pool for tens of seconds.

let readyTimeout: Duration = .seconds(120)

// MARK: - Storage nodes

/// A `StorageServer` running in this process.
struct StorageNode: Sendable {
    let name: String
    let port: Int
    let group: ServiceGroup
    /// The node's write path for insert in this process (`InProcessNodes`).
    let writer: InProcessNodes.Writer
    /// The node's read path for select in this process.
    let reader: InProcessNodes.Reader

    var url: String { "http://127.0.0.1:\(port)" }
    var writeURL: String { url + "/api/v1/write" }
    var readURL: String { url + "/api/v1/read" }
    var ringNode: RingConfiguration.Node { RingConfiguration.Node(name: name, url: writeURL) }

    func write(_ request: WriteRequest) async throws -> HTTPResult {
        let body = Snappy.compress(MessageCodec().encoded { codec, out in codec.encode(request, appendingTo: out) })
        return try await TestHTTP.send(.POST, writeURL, headers: TestHTTP.remoteWriteHeaders, body: .bytes(body))
    }

    /// Shuts the node down as SIGTERM would and waits until it refuses connections.
    func stop() async throws {
        await group.triggerGracefulShutdown()
        let refused = try await eventually(timeout: readyTimeout, every: .milliseconds(50)) {
            (try? await TestHTTP.get(url + "/-/healthy", timeout: .seconds(2))) == nil
        }
        guard refused else { throw EndToEndError("\(name) still answers after its shutdown") }
    }
}

/// Runs one storage node over `dataDirectory` for the duration of `body`, once it is ready.
func withStorageNode<T: Sendable>(name: String, dataDirectory: String, _ body: (StorageNode) async throws -> T) async throws -> T {
    var configuration = StorageConfiguration()
    configuration.port = 0
    configuration.dataDirectory = dataDirectory
    configuration.compactionInterval = .milliseconds(200)
    let server = try StorageServer(configuration: configuration, logger: TestLog.logger("e2e.storage.\(name)"))
    let port = PortPromise()
    return try await withServices([server.service(onServerRunning: { port.fulfil($0) })]) { group in
        let node = StorageNode(name: name, port: try await port.wait(timeout: readyTimeout), group: group, writer: server.inProcessWriter(), reader: server.inProcessReader())
        let ready = try await eventually(timeout: readyTimeout) {
            (try? await TestHTTP.get(node.url + "/-/ready", timeout: .seconds(5)))?.status == 200
        }
        guard ready else { throw EndToEndError("\(name) was not ready within \(readyTimeout)") }
        return try await body(node)
    }
}

/// Runs `count` storage nodes, `store-0`, `store-1`, ..., each in its own service group.
func withStorageNodes<T: Sendable>(_ count: Int, in directory: TemporaryDirectory, _ body: ([StorageNode]) async throws -> T) async throws -> T {
    func nest(_ running: [StorageNode]) async throws -> T {
        guard running.count < count else { return try await body(running) }
        let name = "store-\(running.count)"
        return try await withStorageNode(name: name, dataDirectory: try directory.subdirectory(name)) { node in
            try await nest(running + [node])
        }
    }
    return try await nest([])
}

/// The ring over `nodes` as insert and select read it.
func currentRing(_ nodes: [RingConfiguration.Node], replicationFactor: Int) throws -> CurrentRing {
    let configuration = RingConfiguration(replicationFactor: replicationFactor, nodes: nodes)
    return CurrentRing(RingSnapshot(configuration: configuration, ring: try configuration.makeRing(), generation: 1))
}

/// The nodes the ring places a series on, by name: tenant and labels as sent, never the tenant label.
func owners(of labels: [Label], tenant: String = "default", ring: CurrentRing) -> [String] {
    ring.snapshot.ring.replicaNames(for: SeriesKeyHasher.hash(tenant: tenant, labels: labels.map { ($0.name, $0.value) }))
}

// MARK: - Select and insert

struct RunningSelect: Sendable {
    let port: Int
    var url: String { "http://127.0.0.1:\(port)" }
    var readURL: String { url + "/api/v1/read" }

    func metrics() async throws -> MetricsText {
        let result = try await TestHTTP.get(url + "/metrics")
        guard result.status == 200 else { throw EndToEndError("/metrics answered \(result.status)") }
        return MetricsText(text: result.body)
    }

    /// A query-API GET as `tenant` (nil: no tenant header).
    func api(_ path: String, _ query: [(String, String)] = [], tenant: String? = nil) async throws -> HTTPResult {
        let target = query.isEmpty ? url + path : url + path + "?" + TestHTTP.formEncoded(query)
        return try await TestHTTP.send(.GET, target, headers: tenant.map { [("X-Scope-OrgID", $0)] } ?? [])
    }
}

/// Runs a select server over `ring`, as it is given, for the duration of `body`.
func withSelect<T: Sendable>(
    ring: CurrentRing,
    configure: (inout SelectConfiguration) -> Void = { _ in },
    _ body: (RunningSelect) async throws -> T
) async throws -> T {
    try await withSelect(configure: configure, body) { configuration in
        SelectServer(configuration: configuration, ring: ring, logger: TestLog.logger("e2e.select"))
    }
}

/// Runs a select server that reads and follows `ringFile` for the duration of `body`.
func withSelect<T: Sendable>(
    ringFile: RingFileWatcher.Configuration,
    configure: (inout SelectConfiguration) -> Void = { _ in },
    _ body: (RunningSelect) async throws -> T
) async throws -> T {
    try await withSelect(configure: configure, body) { configuration in
        try SelectServer(configuration: configuration, ringFile: ringFile, logger: TestLog.logger("e2e.select"))
    }
}

private func withSelect<T: Sendable>(
    configure: (inout SelectConfiguration) -> Void,
    _ body: (RunningSelect) async throws -> T,
    server make: (SelectConfiguration) throws -> SelectServer
) async throws -> T {
    var configuration = SelectConfiguration()
    configuration.port = 0
    configuration.nodeTimeout = .seconds(60)
    configure(&configuration)
    let server = try make(configuration)
    let port = PortPromise()
    return try await withServices([server.service(onServerRunning: { port.fulfil($0) })]) { _ in
        try await body(RunningSelect(port: try await port.wait(timeout: readyTimeout)))
    }
}

struct RunningInsert: Sendable {
    let port: Int
    var url: String { "http://127.0.0.1:\(port)" }

    func metrics() async throws -> MetricsText {
        let result = try await TestHTTP.get(url + "/metrics")
        guard result.status == 200 else { throw EndToEndError("/metrics answered \(result.status)") }
        return MetricsText(text: result.body)
    }

    /// Writes `request` as `tenant` (nil: no tenant header); fails the test's setup unless 2xx.
    func write(_ request: WriteRequest, tenant: String? = nil) async throws {
        let body = Snappy.compress(MessageCodec().encoded { codec, out in codec.encode(request, appendingTo: out) })
        let headers = TestHTTP.remoteWriteHeaders + (tenant.map { [("X-Scope-OrgID", $0)] } ?? [])
        let result = try await TestHTTP.send(.POST, url + "/api/v1/write", headers: headers, body: .bytes(body))
        guard (200..<300).contains(result.status) else { throw EndToEndError("insert answered \(result.status): \(result.body)") }
    }
}

func withInsert<T: Sendable>(
    ring: CurrentRing, dataDirectory: String, inProcess: InProcessNodes? = nil, _ body: (RunningInsert) async throws -> T
) async throws -> T {
    var configuration = InsertConfiguration()
    configuration.port = 0
    configuration.dataDirectory = dataDirectory
    configuration.forwarder.timeout = .seconds(60)
    configuration.forwarder.inProcess = inProcess
    let server = try InsertServer(configuration: configuration, ring: ring, logger: TestLog.logger("e2e.insert"))
    let port = PortPromise()
    return try await withServices([server.service(onServerRunning: { port.fulfil($0) })]) { _ in
        try await body(RunningInsert(port: try await port.wait(timeout: readyTimeout)))
    }
}

// MARK: - Remote read, every byte of the answer kept

/// A remote-read answer as it came: status, headers, body.
struct ReadAnswer: Sendable {
    var status: Int
    var headers: HTTPHeaders
    var body: [UInt8]

    var text: String { String(decoding: body, as: UTF8.self) }
    var contentType: String { headers.first(name: "Content-Type") ?? "" }

    /// A SAMPLES answer's series per query, in the order sent.
    func samples() throws -> [[TimeSeries]] {
        guard status == 200, contentType == "application/x-protobuf" else { throw EndToEndError("not a SAMPLES answer: \(status) \(contentType) \(text.prefix(300))") }
        let decoded = try Snappy.decompress(body, limit: 1 << 30)
        return try decoded.withUnsafeBytes { try MessageCodec().decodeReadResponse($0) }.results.map(\.timeseries)
    }

    /// A STREAMED answer per query, each series' frames joined and its chunks decoded. Throws if a
    /// series' chunks overlap or are out of order: a valid answer never has that.
    func streamed(queries: Int) throws -> [[TimeSeries]] {
        guard status == 200, contentType.hasPrefix("application/x-streamed-protobuf") else {
            throw EndToEndError("not a STREAMED answer: \(status) \(contentType) \(text.prefix(300))")
        }
        var chunked = Array(repeating: [ChunkedSeries](), count: queries)
        try body.withUnsafeBytes { raw in
            for range in try ChunkedFrame.messages(in: raw) {
                let message = try MessageCodec().decodeChunkedReadResponse(UnsafeRawBufferPointer(rebasing: raw[range]))
                let index = Int(message.queryIndex)
                guard chunked.indices.contains(index) else { throw EndToEndError("query index \(index)") }
                for series in message.chunkedSeries {
                    if chunked[index].last?.labels == series.labels {
                        chunked[index][chunked[index].count - 1].chunks += series.chunks
                    } else {
                        chunked[index].append(series)
                    }
                }
            }
        }
        return try chunked.map { list in
            try list.map { series in
                var samples: [Sample] = []
                for chunk in series.chunks {
                    guard chunk.minTimeMs > (samples.last?.timestamp ?? .min) else {
                        throw EndToEndError("\(series.labels): chunk from \(chunk.minTimeMs) overlaps the one before")
                    }
                    let decoded = try XORChunkDecoder.decodeAll(chunk.data)
                    guard decoded.count <= 120, decoded.first?.timestamp == chunk.minTimeMs, decoded.last?.timestamp == chunk.maxTimeMs else {
                        throw EndToEndError("\(series.labels): chunk of \(decoded.count) samples does not match its time range")
                    }
                    samples += decoded.map { Sample(timestamp: $0.timestamp, value: $0.value) }
                }
                return TimeSeries(labels: series.labels, samples: samples)
            }
        }
    }
}

enum Read {
    static func post(_ url: String, body: [UInt8], headers: [(String, String)] = []) async throws -> ReadAnswer {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-protobuf")
        request.headers.add(name: "Content-Encoding", value: "snappy")
        request.headers.add(name: "X-Prometheus-Remote-Read-Version", value: "0.1.0")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(body)
        let response = try await TestHTTP.client.execute(request, timeout: .seconds(120))
        let buffer = try await response.body.collect(upTo: 512 << 20)
        return ReadAnswer(status: Int(response.status.code), headers: response.headers, body: Array(buffer.readableBytesView))
    }

    static func post(
        _ url: String,
        _ queries: [Query],
        accept: [ReadRequest.ResponseType] = [],
        tenant: String? = nil
    ) async throws -> ReadAnswer {
        let request = ReadRequest(queries: queries, acceptedResponseTypes: accept)
        let body = Snappy.compress(MessageCodec().encoded { codec, out in codec.encode(request, appendingTo: out) })
        return try await post(url, body: body, headers: tenant.map { [("X-Scope-OrgID", $0)] } ?? [])
    }

    /// The series of `queries` both as SAMPLES and as STREAMED; throws unless both answered 200.
    static func both(_ url: String, _ queries: [Query], tenant: String? = nil) async throws -> (samples: [[TimeSeries]], streamed: [[TimeSeries]]) {
        let samples = try await post(url, queries, tenant: tenant).samples()
        let streamed = try await post(url, queries, accept: [.streamedXORChunks, .samples], tenant: tenant).streamed(queries: queries.count)
        return (samples, streamed)
    }
}

// MARK: - Data

/// What a remote read of `series` must answer: the series with samples in `range` that `include`
/// selects, sorted by label set, each sample once.
func expected(_ series: [TimeSeries], in range: ClosedRange<Int64> = Int64.min...Int64.max, where include: ([Label]) -> Bool = { _ in true }) -> [TimeSeries] {
    series.filter { include($0.labels) }
        .map { TimeSeries(labels: $0.labels, samples: $0.samples.filter { range.contains($0.timestamp) }) }
        .filter { !$0.samples.isEmpty }
        .sorted { compareLabelSets($0.labels, $1.labels) < 0 }
}

/// `labels` with `name="value"` added at its sorted place, as insert adds the tenant label.
func adding(_ name: String, _ value: String, to labels: [Label]) -> [Label] {
    (labels.filter { $0.name != name } + [Label(name: name, value: value)]).sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
}

/// A short account of how two answers differ, for expectation messages.
func describeDifference(_ expected: [TimeSeries], _ actual: [TimeSeries]) -> String {
    if expected.map(\.labels) != actual.map(\.labels) {
        let missing = Set(expected.map(\.labels)).subtracting(actual.map(\.labels))
        let extra = Set(actual.map(\.labels)).subtracting(expected.map(\.labels))
        return "\(expected.count) series expected, \(actual.count) answered; missing \(missing.prefix(2)), unexpected \(extra.prefix(2))"
            + (missing.isEmpty && extra.isEmpty ? " (same sets, different order or repeated)" : "")
    }
    for (want, got) in zip(expected, actual) where want != got {
        let wrong = zip(want.samples, got.samples).first { $0 != $1 }
        return "\(want.labels): \(want.samples.count) samples expected, \(got.samples.count) answered; first difference \(wrong.map { "\($0.0) vs \($0.1)" } ?? "in length")"
    }
    return "no difference"
}

/// Prometheus' JSON envelope for label names and values.
struct Strings: Decodable, Equatable {
    var status: String
    var data: [String]
}

struct SeriesList: Decodable {
    var status: String
    var data: [LabelSet]
}

func decodeJSON<T: Decodable>(_ type: T.Type, _ result: HTTPResult) throws -> T {
    try JSONDecoder().decode(type, from: Data(result.body.utf8))
}
