import Foundation
import Logging
import ServiceLifecycle
import SluiceCodec
import SluiceTestSupport
@testable import SluiceStorage

/// A `StorageServer` running in this process on a loopback port.
struct RunningStorage: Sendable {
    let port: Int
    let server: StorageServer
    let group: ServiceGroup

    var url: String { "http://127.0.0.1:\(port)" }
    var readURL: String { url + "/api/v1/read" }
    var storage: Storage { server.storage }

    func write(_ request: WriteRequest, headers: [(String, String)] = TestHTTP.remoteWriteHeaders) async throws -> HTTPResult {
        try await write(body: Snappy.compress(MessageCodec().encoded { codec, out in codec.encode(request, appendingTo: out) }), headers: headers)
    }

    func write(body: [UInt8], headers: [(String, String)] = TestHTTP.remoteWriteHeaders) async throws -> HTTPResult {
        try await TestHTTP.send(.POST, url + "/api/v1/write", headers: headers, body: .bytes(body))
    }

    func metrics() async throws -> MetricsText {
        MetricsText(text: try await TestHTTP.get(url + "/metrics").body)
    }
}

/// Runs a storage node over `dataDirectory` for the duration of `body`, waiting until it is ready.
func withStorage<T: Sendable>(
    dataDirectory: String,
    configure: (inout StorageConfiguration) -> Void = { _ in },
    _ body: (RunningStorage) async throws -> T
) async throws -> T {
    var configuration = StorageConfiguration()
    configuration.port = 0
    configuration.dataDirectory = dataDirectory
    configuration.compactionInterval = .milliseconds(100)
    configure(&configuration)
    let server = try StorageServer(configuration: configuration, logger: TestLog.logger("e2e.storage"))
    let port = PortPromise()
    return try await withServices([server.service(onServerRunning: { port.fulfil($0) })]) { group in
        // Generous: on 2 cores the CPU-bound suites running beside this one can hold the whole
        // cooperative pool for tens of seconds.
        let running = RunningStorage(port: try await port.wait(timeout: .seconds(120)), server: server, group: group)
        guard try await eventually(timeout: .seconds(120), { server.storage.isReady }) else {
            throw EndToEndError("storage did not replay its WAL within 120 s")
        }
        return try await body(running)
    }
}

func labelSet(_ labels: [Label]) -> LabelSet {
    LabelSet(uniqueKeysWithValues: labels.map { ($0.name, $0.value) })
}

/// Expected samples of `series` inside `range`, by label set.
func expected(_ series: [TimeSeries], in range: ClosedRange<Int64> = Int64.min...Int64.max, where include: ([Label]) -> Bool = { _ in true }) -> [LabelSet: [Int64: Double]] {
    var out: [LabelSet: [Int64: Double]] = [:]
    for one in series where include(one.labels) {
        let samples = one.samples.filter { range.contains($0.timestamp) }
        guard !samples.isEmpty else { continue }
        out[labelSet(one.labels), default: [:]].merge(samples.map { ($0.timestamp, $0.value) }) { $1 }
    }
    return out
}

/// Whether two answers hold the same series with the same samples, bit for bit (NaNs by payload).
func sameData(_ a: [LabelSet: [Int64: Double]], _ b: [LabelSet: [Int64: Double]]) -> Bool {
    guard Set(a.keys) == Set(b.keys) else { return false }
    for (labels, samples) in a {
        guard let other = b[labels], other.count == samples.count else { return false }
        for (t, v) in samples {
            guard let w = other[t], v.bitPattern == w.bitPattern || (v == w) else { return false }
        }
    }
    return true
}

func describeDifference(_ expected: [LabelSet: [Int64: Double]], _ actual: [LabelSet: [Int64: Double]]) -> String {
    let missing = Set(expected.keys).subtracting(actual.keys)
    let extra = Set(actual.keys).subtracting(expected.keys)
    let differing = expected.keys.filter { key in actual[key].map { !sameData([key: expected[key]!], [key: $0]) } ?? false }
    var text = "\(expected.count) expected series, \(actual.count) actual; \(missing.count) missing, \(extra.count) extra, \(differing.count) differ"
    if let first = differing.first {
        let e = expected[first]!, a = actual[first]!
        text += "; e.g. \(first): \(e.count) vs \(a.count) samples, first differing t=\(e.keys.sorted().first { a[$0]?.bitPattern != e[$0]!.bitPattern }.map(String.init) ?? "-")"
    } else if let first = missing.first {
        text += "; e.g. missing \(first)"
    }
    return text
}
