import AsyncHTTPClient
import Foundation
import NIOCore
import SluiceCodec
import SluiceTestSupport
import Synchronization
import Testing

// The remote-write 2.0 receiver compliance suite (prometheus/compliance, remotewrite/receiver),
// ported case by case and run against real processes: a `sluice storage` node written to directly,
// and `sluice insert` forwarding to a second node. Each test is named after its compliance case. The
// suite itself only checks the HTTP answer; these tests also read back, through remote read (SAMPLES),
// the metadata API and the exemplar API, exactly what was stored, and check that it agrees with the
// `X-Prometheus-Remote-Write-*-Written` headers. Where a port deviates from its case, the test says
// why. Tests after the suite's cases come from the spec's receiver rules and the issue.
//
// Cases the suite generates per value (five float values) or per label shape are parameterized
// instead. The suite's extra "returns 204" SHOULD variant of every successful case is folded in: a
// success must be exactly 204.
//
// All cases share one cluster (as the suite shares one receiver) and run in order, with strictly
// increasing timestamps, so that series reused between cases (`up`, `http_requests_total`) never
// get a sample out of order.

/// Where a case writes: a storage node directly, or insert in front of another one.
enum WriteTarget: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case storage
    case insert

    var testDescription: String { rawValue }
}

/// The cluster every case shares: `direct` is written to directly; `insert` forwards to `behind`
/// (replication factor 1), adding `tenant_id="default"` to every series.
final class ComplianceCluster: Sendable {
    @TaskLocal static var current: ComplianceCluster?

    static let tenantLabel = ("tenant_id", "default")

    let directory: TemporaryDirectory
    let direct: PeerProcess
    let behind: PeerProcess
    let insert: PeerProcess

    init() throws {
        directory = try TemporaryDirectory("sluice-rw2")
        let ports = try freePorts(3)
        direct = PeerProcess(.sluiceStorage(["--log-level=warning"]), name: "storage-direct", port: ports[0], directory: directory.path + "/direct")
        behind = PeerProcess(.sluiceStorage(["--log-level=warning"]), name: "storage-behind", port: ports[1], directory: directory.path + "/behind")
        let ring = directory.path + "/ring.yml"
        try "replication_factor: 1\nwrite_quorum: 1\nnodes:\n  - {name: storage-behind, url: \(behind.writeURL)}\n"
            .write(toFile: ring, atomically: true, encoding: .utf8)
        insert = PeerProcess(
            .sluice(["insert", "--config", ring, "--listen", "127.0.0.1:\(ports[2])", "--data-dir", directory.path + "/insert/data", "--log-level", "warning"]),
            name: "insert", port: ports[2], directory: directory.path + "/insert"
        )
    }

    func start() async throws {
        try await startAll([direct, behind])
        try await insert.start(timeout: .seconds(120))
    }

    func stop() {
        for peer in [insert, direct, behind] { peer.kill() }
        directory.remove()
    }

    /// Reports and restarts any process that no longer serves.
    func reviveCrashed() async throws {
        for peer in [direct, behind, insert] {
            let ready = try? await TestHTTP.get(peer.baseURL + "/-/ready", timeout: .seconds(2))
            guard ready?.status != 200 else { continue }
            let log = (try? String(contentsOfFile: peer.logPath, encoding: .utf8)) ?? ""
            let lines = log.split(separator: "\n").filter { $0.contains("Fatal error") || $0.contains("/Sources/Sluice") || $0.contains("crashed") }
            Issue.record("\(peer.name) stopped serving during this case; restarted. \(lines.suffix(8).joined(separator: "\n"))")
            peer.kill()
            try await peer.start(timeout: .seconds(120))
        }
    }

    func writeURL(_ target: WriteTarget) -> String {
        target == .storage ? direct.writeURL : insert.writeURL
    }

    /// The node that holds what `target` took.
    func node(_ target: WriteTarget) -> PeerProcess {
        target == .storage ? direct : behind
    }

    /// The labels a series sent to `target` is stored with.
    func stored(_ labels: LabelSet, _ target: WriteTarget) -> LabelSet {
        guard target == .insert else { return labels }
        var out = labels
        out[Self.tenantLabel.0] = Self.tenantLabel.1
        return out
    }

    static func shared() throws -> ComplianceCluster {
        guard let current else { throw EndToEndError("the compliance cluster is not running (the suite trait starts it)") }
        return current
    }
}

/// Starts the shared cluster once around the whole suite and stops it afterwards. After each case it
/// checks that every process still serves: one that crashed is reported against the case that
/// crashed it, with the fatal error from its log, and started again so later cases still run.
struct ComplianceClusterTrait: SuiteTrait, TestTrait, TestScoping {
    var isRecursive: Bool { true }

    func scopeProvider(for test: Test, testCase: Test.Case?) -> Self? {
        test.isSuite && testCase == nil || testCase != nil ? self : nil
    }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        guard test.isSuite else {
            try await function()
            try await ComplianceCluster.shared().reviveCrashed()
            return
        }
        let cluster = try ComplianceCluster()
        defer { cluster.stop() }
        try await cluster.start()
        try await ComplianceCluster.$current.withValue(cluster) { try await function() }
    }
}

extension Trait where Self == ComplianceClusterTrait {
    static var complianceCluster: Self { Self() }
}

/// Strictly increasing millisecond timestamps near now, one per sample.
enum Timestamps {
    private static let last = Mutex<Int64>(0)

    static func next() -> Int64 {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        return last.withLock { last in
            last = max(last + 1, now)
            return last
        }
    }
}

/// The compliance suite's float values: `1.0`, a stale marker, a plain NaN (Prometheus'
/// `value.NormalNaN`), +Inf and -Inf.
enum FloatValue: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case one = "1.0"
    case staleNaN = "StaleNaN"
    case nan = "NaN"
    case inf = "Inf"
    case negativeInf = "-Inf"

    var value: Double {
        switch self {
        case .one: 1
        case .staleNaN: StaleMarker.value
        case .nan: Double(bitPattern: 0x7ff8_0000_0000_0001)
        case .inf: .infinity
        case .negativeInf: -.infinity
        }
    }

    var testDescription: String { rawValue }
}

/// Metadata types as `Metadata.MetricType` numbers.
enum MetricType {
    static let unspecified: Int32 = 0
    static let counter: Int32 = 1
    static let gauge: Int32 = 2
    static let histogram: Int32 = 3
    static let gaugeHistogram: Int32 = 4
    static let summary: Int32 = 5
    static let info: Int32 = 6
    static let stateset: Int32 = 7

    /// What Prometheus' metadata API calls each type.
    static func apiName(_ type: Int32) -> String {
        ["unknown", "counter", "gauge", "histogram", "gaugehistogram", "summary", "info", "stateset"][Int(type)]
    }
}

typealias Pairs = [(String, String)]

// MARK: - Sending and checking

/// What a case expects, as the compliance suite's `ExpectedResponse`: on success exactly these
/// counts; on failure at most these (a receiver may write part of a request), and the status.
enum Outcome {
    case written(samples: Int = 0, histograms: Int = 0, exemplars: Int = 0)
    case rejected(status: Int = 400, samples: Int = 0, histograms: Int = 0, exemplars: Int = 0)
}

/// Sends `request` to `target` with `headers` and checks the answer and the stored data.
@discardableResult
func check(
    _ request: RemoteWriteV2.Request, on target: WriteTarget, expect outcome: Outcome,
    headers: [(String, String)] = RemoteWriteV2.headers(), body: [UInt8]? = nil,
    sourceLocation: SourceLocation = #_sourceLocation
) async throws -> RemoteWriteV2.Answer {
    let cluster = try ComplianceCluster.shared()
    let answer = try await RemoteWriteV2.post(body ?? request.encoded(), to: cluster.writeURL(target), headers: headers)
    let expected = ExpectedData(request, target: target, cluster: cluster)
    let node = cluster.node(target)
    switch outcome {
    case .written(let samples, let histograms, let exemplars):
        // MUST 2xx; SHOULD 204 (the suite's "returns 204" variant).
        #expect(answer.status == 204, "\(answer)", sourceLocation: sourceLocation)
        // MUST: the exact counts of what was written.
        #expect(answer.samplesWritten == samples, "samples written: \(answer)", sourceLocation: sourceLocation)
        #expect(answer.histogramsWritten == histograms, "histograms written: \(answer)", sourceLocation: sourceLocation)
        #expect(answer.exemplarsWritten == exemplars, "exemplars written: \(answer)", sourceLocation: sourceLocation)
        guard answer.status / 100 == 2 else { return answer }
        let stored = try await readBack(expected, from: node)
        #expect(
            stored.samples == expected.samples, "stored samples differ: \(describe(expected.samples, stored.samples))",
            sourceLocation: sourceLocation
        )
        #expect(
            stored.histograms == expected.histograms, "stored histograms differ: expected \(expected.histograms), stored \(stored.histograms)",
            sourceLocation: sourceLocation
        )
        for (labels, exemplars) in expected.exemplars {
            let found = try await storedExemplars(of: labels, on: node, around: exemplars.map(\.timestamp))
            #expect(found == Set(exemplars), "exemplars of \(labels): expected \(exemplars), stored \(found)", sourceLocation: sourceLocation)
        }
        for (name, entries) in expected.metadata {
            let found = try await storedMetadata(of: name, on: node)
            for entry in entries {
                #expect(found.contains(entry), "metadata of \(name): expected \(entry) among \(found)", sourceLocation: sourceLocation)
            }
        }
    case .rejected(let status, let samples, let histograms, let exemplars):
        #expect(answer.status == status, "\(answer)", sourceLocation: sourceLocation)
        #expect(!answer.body.isEmpty, "an error needs a human-readable message", sourceLocation: sourceLocation)
        guard status != 415 else { return answer }
        // MUST: the written counts, on failure too, once the content type was accepted.
        #expect(answer.hasWrittenHeaders, "written headers missing on a \(answer.status): \(answer)", sourceLocation: sourceLocation)
        #expect((answer.samplesWritten ?? 0) <= samples, "\(answer)", sourceLocation: sourceLocation)
        #expect((answer.histogramsWritten ?? 0) <= histograms, "\(answer)", sourceLocation: sourceLocation)
        #expect((answer.exemplarsWritten ?? 0) <= exemplars, "\(answer)", sourceLocation: sourceLocation)
        // What was stored is what the headers say was written.
        let stored = try await readBack(expected, from: node)
        let storedSamples = stored.samples.values.reduce(0) { $0 + $1.count }
        let storedHistograms = stored.histograms.values.reduce(0) { $0 + $1.count }
        #expect(storedSamples == answer.samplesWritten ?? 0, "\(storedSamples) samples stored, \(answer)", sourceLocation: sourceLocation)
        #expect(storedHistograms == answer.histogramsWritten ?? 0, "\(storedHistograms) histograms stored, \(answer)", sourceLocation: sourceLocation)
    }
    return answer
}

/// A sample value compared bit for bit, so a stale marker must stay one.
struct Bits: Hashable, CustomStringConvertible {
    let value: Double
    init(_ value: Double) { self.value = value }
    static func == (a: Bits, b: Bits) -> Bool { a.value.bitPattern == b.value.bitPattern }
    func hash(into hasher: inout Hasher) { hasher.combine(value.bitPattern) }
    var description: String { StaleMarker.isStale(value) ? "StaleNaN" : value.isNaN ? "NaN(0x\(String(value.bitPattern, radix: 16)))" : "\(value)" }
}

struct StoredExemplar: Hashable, CustomStringConvertible {
    var labels: LabelSet
    var value: Bits
    var timestamp: Int64
    var description: String { "\(labels) \(value) @\(timestamp)" }
}

struct StoredMetadata: Hashable, CustomStringConvertible {
    var type: String
    var help: String
    var unit: String
    var description: String { "\(type) \"\(help)\" \"\(unit)\"" }
}

/// What a request holds, as the target would store it: by label set (references resolved, labels
/// sorted, the tenant label added behind insert). Series whose references do not resolve are left out.
struct ExpectedData {
    var samples: [LabelSet: [Int64: Bits]] = [:]
    var histograms: [LabelSet: [Int64: SluiceCodec.Histogram]] = [:]
    var exemplars: [LabelSet: [StoredExemplar]] = [:]
    var metadata: [String: [StoredMetadata]] = [:]
    /// Every label set of the request with its timestamps, for reading back after a rejection too.
    var timestamps: [LabelSet: [Int64]] = [:]

    init(_ request: RemoteWriteV2.Request, target: WriteTarget, cluster: ComplianceCluster) {
        func symbol(_ ref: UInt32) -> String? { Int(ref) < request.symbols.count ? request.symbols[Int(ref)] : nil }
        func pairs(_ refs: [UInt32]) -> LabelSet? {
            guard refs.count % 2 == 0 else { return nil }
            var out: LabelSet = [:]
            for index in stride(from: 0, to: refs.count, by: 2) {
                guard let name = symbol(refs[index]), let value = symbol(refs[index + 1]) else { return nil }
                guard !value.isEmpty else { continue }  // an empty value is no label
                out[name] = value
            }
            return out
        }
        for series in request.timeseries {
            guard let sent = pairs(series.labelsRefs), !sent.isEmpty else { continue }
            let labels = cluster.stored(sent, target)
            for sample in series.samples { samples[labels, default: [:]][sample.timestamp] = Bits(sample.value) }
            for histogram in series.histograms { histograms[labels, default: [:]][histogram.timestamp] = normalized(histogram.model) }
            timestamps[labels, default: []] += series.samples.map(\.timestamp) + series.histograms.map(\.timestamp)
            for exemplar in series.exemplars {
                guard let exemplarLabels = pairs(exemplar.labelsRefs) else { continue }
                exemplars[labels, default: []].append(StoredExemplar(labels: exemplarLabels, value: Bits(exemplar.value), timestamp: exemplar.timestamp))
            }
            if let entry = series.metadata, let name = sent["__name__"], (0...7).contains(entry.type),
               let help = symbol(entry.helpRef), let unit = symbol(entry.unitRef) {
                metadata[name, default: []].append(StoredMetadata(type: MetricType.apiName(entry.type), help: help, unit: unit))
            }
        }
    }
}

/// A histogram as compared after a round trip: an unset count or zero count is zero, and the counter
/// reset hints (unknown, yes, no) are one: a store derives them from its chunks (Prometheus reads the
/// first histogram of a chunk back as "unknown" or "yes", the others as "no"). A gauge stays a gauge.
func normalized(_ histogram: SluiceCodec.Histogram) -> SluiceCodec.Histogram {
    var out = histogram
    let isFloat = if case .float = histogram.count { true } else { false }
    if out.count == nil { out.count = isFloat ? .float(0) : .int(0) }
    if out.zeroCount == nil { out.zeroCount = isFloat ? .float(0) : .int(0) }
    if out.resetHint != SluiceCodec.Histogram.ResetHint.gauge.rawValue { out.resetHint = 0 }
    return out
}

/// Everything `node` holds for the label sets of `expected`, at exactly their timestamps' range.
func readBack(_ expected: ExpectedData, from node: PeerProcess) async throws -> (samples: [LabelSet: [Int64: Bits]], histograms: [LabelSet: [Int64: SluiceCodec.Histogram]]) {
    var samples: [LabelSet: [Int64: Bits]] = [:]
    var histograms: [LabelSet: [Int64: SluiceCodec.Histogram]] = [:]
    for (labels, timestamps) in expected.timestamps where !timestamps.isEmpty {
        let matchers = labels.sorted { $0.key < $1.key }.map { LabelMatcher(.equal, name: $0.key, value: $0.value) }
        let query = Query(startMs: timestamps.min()!, endMs: timestamps.max()!, matchers: matchers)
        for series in try await remoteRead(node, [query])[0] {
            let found = LabelSet(uniqueKeysWithValues: series.labels.map { ($0.name, $0.value) })
            guard found == labels else { continue }  // a superset of the labels, from another case
            for sample in series.samples { samples[labels, default: [:]][sample.timestamp] = Bits(sample.value) }
            for histogram in series.histograms { histograms[labels, default: [:]][histogram.timestamp] = normalized(histogram) }
        }
    }
    return (samples, histograms)
}

/// A SAMPLES remote read: every query's series, float samples and histograms alike.
func remoteRead(_ node: PeerProcess, _ queries: [Query]) async throws -> [[SluiceCodec.TimeSeries]] {
    let request = ReadRequest(queries: queries, acceptedResponseTypes: [.samples])
    let encoded = MessageCodec().encoded { codec, out in codec.encode(request, appendingTo: out) }
    var http = HTTPClientRequest(url: node.baseURL + "/api/v1/read")
    http.method = .POST
    http.headers.add(name: "Content-Type", value: "application/x-protobuf")
    http.headers.add(name: "Content-Encoding", value: "snappy")
    http.headers.add(name: "X-Prometheus-Remote-Read-Version", value: "0.1.0")
    http.body = .bytes(ByteBuffer(bytes: Snappy.compress(encoded)))
    let response = try await TestHTTP.client.execute(http, timeout: .seconds(30))
    let raw = Array(try await response.body.collect(upTo: 256 << 20).readableBytesView)
    guard response.status.code == 200 else {
        throw EndToEndError("\(node.name) remote read answered \(response.status.code): \(String(decoding: raw.prefix(300), as: UTF8.self))")
    }
    let decoded = try MessageCodec().decodeReadResponse(try Snappy.decompress(raw, limit: 1 << 30))
    return decoded.results.map(\.timeseries)
}

extension MessageCodec {
    fileprivate func decodeReadResponse(_ bytes: [UInt8]) throws -> ReadResponse {
        try bytes.withUnsafeBytes { try decodeReadResponse($0) }
    }
}

/// A PromQL selector for exactly these labels (legacy label names: the exemplar cases use no others).
func selector(_ labels: LabelSet) -> String {
    func quoted(_ value: String) -> String {
        "\"" + value.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"").replacing("\n", with: "\\n") + "\""
    }
    return "{" + labels.sorted { $0.key < $1.key }.map { "\($0.key)=\(quoted($0.value))" }.joined(separator: ",") + "}"
}

/// The exemplars `node` serves for exactly `labels` at `timestamps`, from `/api/v1/query_exemplars`.
func storedExemplars(of labels: LabelSet, on node: PeerProcess, around timestamps: [Int64]) async throws -> Set<StoredExemplar> {
    struct Answer: Decodable {
        struct Series: Decodable {
            var seriesLabels: LabelSet
            var exemplars: [Item]
        }
        struct Item: Decodable {
            var labels: LabelSet
            var value: String
            var timestamp: Double
        }
        var status: String
        var data: [Series]
    }
    // Exactly the exemplars' timestamps: the same series has exemplars from other cases around them.
    func seconds(_ milliseconds: Int64) -> String { String(format: "%.3f", Double(milliseconds) / 1000) }
    let start = seconds(timestamps.min() ?? 0)
    let end = seconds(timestamps.max() ?? 0)
    let result = try await TestHTTP.get(
        node.baseURL + "/api/v1/query_exemplars", [("query", selector(labels)), ("start", start), ("end", end)]
    )
    guard result.status == 200 else { throw EndToEndError("\(node.name) query_exemplars answered \(result.status): \(result.body.prefix(300))") }
    let answer = try JSONDecoder().decode(Answer.self, from: Data(result.body.utf8))
    var out: Set<StoredExemplar> = []
    for series in answer.data where series.seriesLabels == labels {
        for item in series.exemplars where timestamps.contains(Int64((item.timestamp * 1000).rounded())) {
            out.insert(StoredExemplar(labels: item.labels, value: Bits(parsePromValue(item.value)), timestamp: Int64((item.timestamp * 1000).rounded())))
        }
    }
    return out
}

/// Prometheus' JSON float text: "NaN", "+Inf", "-Inf" or a number.
func parsePromValue(_ text: String) -> Double {
    switch text {
    case "NaN": Double(bitPattern: 0x7ff8_0000_0000_0001)
    case "+Inf", "Inf": .infinity
    case "-Inf": -.infinity
    default: Double(text) ?? .nan
    }
}

/// The metadata `node` serves for the metric family `name`, from `/api/v1/metadata`.
func storedMetadata(of name: String, on node: PeerProcess) async throws -> [StoredMetadata] {
    struct Answer: Decodable {
        struct Entry: Decodable {
            var type: String
            var help: String
            var unit: String
        }
        var status: String
        var data: [String: [Entry]]
    }
    let result = try await TestHTTP.get(node.baseURL + "/api/v1/metadata", [("metric", name)])
    guard result.status == 200 else { throw EndToEndError("\(node.name) /api/v1/metadata answered \(result.status): \(result.body.prefix(300))") }
    let answer = try JSONDecoder().decode(Answer.self, from: Data(result.body.utf8))
    return (answer.data[name] ?? []).map { StoredMetadata(type: $0.type, help: $0.help, unit: $0.unit) }
}

func describe(_ expected: [LabelSet: [Int64: Bits]], _ actual: [LabelSet: [Int64: Bits]]) -> String {
    "expected \(expected.mapValues { $0.sorted { $0.key < $1.key } }), stored \(actual.mapValues { $0.sorted { $0.key < $1.key } })"
}

/// One sample of `value` now, for `labels`.
func oneSample(_ value: Double, at timestamp: Int64 = Timestamps.next(), start: Int64 = 0) -> [RemoteWriteV2.Sample] {
    [RemoteWriteV2.Sample(value: value, timestamp: timestamp, startTimestamp: start)]
}

/// The compliance suite's histogram fixture at a fresh timestamp.
func complianceHistogram(
    _ sum: Double, positive: Bool, negative: Bool, zero: Bool, custom: Bool = false, badCount: Bool = false, start: Int64 = 0
) -> RemoteWriteV2.Histogram {
    var histogram = RemoteWriteV2.Histogram.compliance(
        sum: sum, positive: positive, negative: negative, zero: zero, customBuckets: custom, badCount: badCount, timestamp: Timestamps.next()
    )
    histogram.startTimestamp = start
    return histogram
}

func basicMetric(_ name: String) -> Pairs { [("__name__", name)] }
let jobInstanceLabels: Pairs = [("__name__", "up"), ("job", "testjob"), ("instance", "localhost:9090")]

/// Milliseconds `offset` before now.
func ago(_ milliseconds: Int64) -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) - milliseconds }

private let hour: Int64 = 3_600_000
private let minute: Int64 = 60_000

// MARK: - The cases

@Suite(
    "RemoteWrite2Compliance", .serialized, .complianceCluster,
    .enabled(if: PeerProcess.Kind.sluice([]).isInstalled, "needs the sluice binary (swift build)")
)
struct RemoteWrite2ComplianceTests {
    // MARK: metric.go: SingleMetric/<value>/<case> (MUST; 204 SHOULD)

    /// Labels are sent in the order the suite lists them, unsorted, as its Go map iteration sends
    /// them in some order: a receiver must sort them, not reject them.
    static let singleMetricCases: [(name: String, labels: Pairs, success: Bool)] = [
        ("simple metric", basicMetric("up"), true),
        ("simple metric with multiple labels", jobInstanceLabels, true),
        ("simple metric with newlines", [("__name__", "up"), ("job", "test\njob\n"), ("instance", "localhost:9090")], true),
        ("simple metric with dots", [("__name__", "resource.cpu.usage"), ("job.name", "testjob"), ("instance.name", "localhost:9090")], true),
        ("simple metric with spaces", [("__name__", "resource cpu usage"), ("job name", "testjob"), ("instance name", "localhost:9090")], true),
        ("simple metric without name label", [("job", "testjob"), ("instance", "localhost:9090")], false),
        ("empty metric", [], false),
    ]

    func singleMetric(_ index: Int, _ target: WriteTarget, _ value: FloatValue) async throws {
        let testCase = Self.singleMetricCases[index]
        var request = RemoteWriteV2.Request()
        request.add(testCase.labels, sorted: false, samples: oneSample(value.value))
        try await check(request, on: target, expect: testCase.success ? .written(samples: 1) : .rejected())
    }

    @Test("SingleMetric/simple metric", arguments: WriteTarget.allCases, FloatValue.allCases)
    func singleMetricSimple(target: WriteTarget, value: FloatValue) async throws { try await singleMetric(0, target, value) }

    @Test("SingleMetric/simple metric with multiple labels", arguments: WriteTarget.allCases, FloatValue.allCases)
    func singleMetricMultipleLabels(target: WriteTarget, value: FloatValue) async throws { try await singleMetric(1, target, value) }

    @Test("SingleMetric/simple metric with newlines", arguments: WriteTarget.allCases, FloatValue.allCases)
    func singleMetricNewlines(target: WriteTarget, value: FloatValue) async throws { try await singleMetric(2, target, value) }

    /// MUST in the suite; the spec: "Metric names, label names, and label values MUST be any sequence
    /// of UTF-8 characters" (the legacy character set is only a SHOULD).
    @Test("SingleMetric/simple metric with dots", arguments: WriteTarget.allCases, FloatValue.allCases)
    func singleMetricDots(target: WriteTarget, value: FloatValue) async throws { try await singleMetric(3, target, value) }

    @Test("SingleMetric/simple metric with spaces", arguments: WriteTarget.allCases, FloatValue.allCases)
    func singleMetricSpaces(target: WriteTarget, value: FloatValue) async throws { try await singleMetric(4, target, value) }

    @Test("SingleMetric/simple metric without name label", arguments: WriteTarget.allCases, FloatValue.allCases)
    func singleMetricWithoutName(target: WriteTarget, value: FloatValue) async throws { try await singleMetric(5, target, value) }

    @Test("SingleMetric/empty metric", arguments: WriteTarget.allCases, FloatValue.allCases)
    func singleMetricEmpty(target: WriteTarget, value: FloatValue) async throws { try await singleMetric(6, target, value) }

    // MARK: metric.go: MultipleMetrics/<value>/<case> (MUST; 204 SHOULD)

    static func instances(_ name: Bool...) -> [Pairs] {
        name.enumerated().map { index, named in
            (named ? [("__name__", "up")] : []) + [("job", "testjob"), ("instance", "localhost:909\(index)")]
        }
    }

    func multipleMetrics(_ series: [Pairs], _ target: WriteTarget, _ value: FloatValue, success: Bool, valid: Int) async throws {
        var request = RemoteWriteV2.Request()
        for labels in series { request.add(labels, sorted: false, samples: oneSample(value.value)) }
        try await check(request, on: target, expect: success ? .written(samples: valid) : .rejected(samples: valid))
    }

    @Test("MultipleMetrics/multiple metrics", arguments: WriteTarget.allCases, FloatValue.allCases)
    func multipleMetrics(target: WriteTarget, value: FloatValue) async throws {
        try await multipleMetrics(Self.instances(true, true, true, true), target, value, success: true, valid: 4)
    }

    @Test("MultipleMetrics/multiple metrics, without name label", arguments: WriteTarget.allCases, FloatValue.allCases)
    func multipleMetricsWithoutName(target: WriteTarget, value: FloatValue) async throws {
        try await multipleMetrics(Self.instances(false, false, false, false), target, value, success: false, valid: 0)
    }

    /// A partial write is allowed (up to 3 written) but the answer must be a 400 either way.
    @Test("MultipleMetrics/multiple metrics, 1 without name label", arguments: WriteTarget.allCases, FloatValue.allCases)
    func multipleMetricsOneWithoutName(target: WriteTarget, value: FloatValue) async throws {
        try await multipleMetrics(Self.instances(false, true, true, true), target, value, success: false, valid: 3)
    }

    // MARK: metric.go: CounterWithCreatedTimestamp (SHOULD)

    @Test("CounterWithCreatedTimestamp", arguments: WriteTarget.allCases)
    func counterWithCreatedTimestamp(target: WriteTarget) async throws {
        var request = RemoteWriteV2.Request()
        request.add([("__name__", "http_requests_total"), ("job", "api")], sorted: false, samples: oneSample(100, start: ago(hour)))
        try await check(request, on: target, expect: .written(samples: 1))
    }

    // MARK: histograms.go: Histograms/<case> (MUST; 204 SHOULD)

    static let histogramCases: [(name: String, labels: Pairs, positive: Bool, negative: Bool, zero: Bool, custom: Bool, success: Bool, badCount: Bool)] = [
        ("basic_histogram", basicMetric("test_histogram"), true, true, true, false, true, false),
        ("custom_buckets_histogram", basicMetric("test_histogram"), true, false, false, true, true, false),
        ("positive_only_histogram", [("__name__", "test_histogram"), ("job", "test")], true, false, true, false, true, false),
        ("negative_only_histogram", [("__name__", "test_histogram"), ("instance", "localhost")], false, true, false, false, true, false),
        ("minimal_histogram", basicMetric("minimal_hist"), false, false, true, false, true, false),
        ("bad_count_histogram", basicMetric("minimal_hist"), true, false, false, false, false, true),
    ]

    func histogramCase(_ index: Int, _ target: WriteTarget) async throws {
        let c = Self.histogramCases[index]
        var request = RemoteWriteV2.Request()
        request.add(
            c.labels, sorted: false,
            histograms: [complianceHistogram(1, positive: c.positive, negative: c.negative, zero: c.zero, custom: c.custom, badCount: c.badCount)]
        )
        try await check(request, on: target, expect: c.success ? .written(histograms: 1) : .rejected(histograms: 1))
    }

    @Test("Histograms/basic_histogram", arguments: WriteTarget.allCases)
    func basicHistogram(target: WriteTarget) async throws { try await histogramCase(0, target) }

    /// Custom buckets (schema -53) right after exponential ones in the same series: a schema change,
    /// which Prometheus takes (it cuts a new chunk).
    @Test("Histograms/custom_buckets_histogram", arguments: WriteTarget.allCases)
    func customBucketsHistogram(target: WriteTarget) async throws { try await histogramCase(1, target) }

    @Test("Histograms/positive_only_histogram", arguments: WriteTarget.allCases)
    func positiveOnlyHistogram(target: WriteTarget) async throws { try await histogramCase(2, target) }

    @Test("Histograms/negative_only_histogram", arguments: WriteTarget.allCases)
    func negativeOnlyHistogram(target: WriteTarget) async throws { try await histogramCase(3, target) }

    @Test("Histograms/minimal_histogram", arguments: WriteTarget.allCases)
    func minimalHistogram(target: WriteTarget) async throws { try await histogramCase(4, target) }

    /// Count 99 where the buckets add up to 23: Prometheus' histogram validation rejects it.
    @Test("Histograms/bad_count_histogram", arguments: WriteTarget.allCases)
    func badCountHistogram(target: WriteTarget) async throws { try await histogramCase(5, target) }

    // MARK: histograms.go: the rest

    @Test("HistogramWithCreatedTimestamp", arguments: WriteTarget.allCases)
    func histogramWithCreatedTimestamp(target: WriteTarget) async throws {
        var request = RemoteWriteV2.Request()
        request.add(
            [("__name__", "request_duration_seconds"), ("job", "api")], sorted: false,
            histograms: [complianceHistogram(1.5, positive: true, negative: true, zero: true, start: ago(30 * minute))]
        )
        try await check(request, on: target, expect: .written(histograms: 1))
    }

    @Test("MultipleHistograms", arguments: WriteTarget.allCases)
    func multipleHistograms(target: WriteTarget) async throws {
        var request = RemoteWriteV2.Request()
        request.add([("__name__", "hist1"), ("job", "test")], sorted: false, histograms: [complianceHistogram(10.5, positive: true, negative: false, zero: true)])
        request.add([("__name__", "hist2"), ("job", "test")], sorted: false, histograms: [complianceHistogram(5.2, positive: false, negative: true, zero: false)])
        try await check(request, on: target, expect: .written(histograms: 2))
    }

    @Test("EmptyHistogram", arguments: WriteTarget.allCases)
    func emptyHistogram(target: WriteTarget) async throws {
        var request = RemoteWriteV2.Request()
        request.add(basicMetric("empty_hist"), histograms: [complianceHistogram(0, positive: false, negative: false, zero: false)])
        try await check(request, on: target, expect: .written(histograms: 1))
    }

    @Test("HistogramWithMetadata", arguments: WriteTarget.allCases)
    func histogramWithMetadata(target: WriteTarget) async throws {
        var request = RemoteWriteV2.Request()
        request.add(
            [("__name__", "request_duration_seconds"), ("job", "api")], sorted: false,
            histograms: [complianceHistogram(2.5, positive: true, negative: true, zero: true)],
            metadata: (MetricType.histogram, "HTTP request duration in seconds", "seconds")
        )
        try await check(request, on: target, expect: .written(histograms: 1))
    }

    @Test("HistogramWithExemplar", arguments: WriteTarget.allCases)
    func histogramWithExemplar(target: WriteTarget) async throws {
        var request = RemoteWriteV2.Request()
        let histogram = complianceHistogram(1.23, positive: true, negative: false, zero: true)
        request.add(
            [("__name__", "http_request_duration_seconds"), ("method", "GET")], sorted: false, histograms: [histogram],
            exemplars: [([("trace_id", "abc123def456"), ("span_id", "span789")], 1.23, histogram.timestamp)]
        )
        try await check(request, on: target, expect: .written(histograms: 1, exemplars: 1))
    }

    @Test("HistogramWithMetadataAndExemplar", arguments: WriteTarget.allCases)
    func histogramWithMetadataAndExemplar(target: WriteTarget) async throws {
        var request = RemoteWriteV2.Request()
        let histogram = complianceHistogram(10_485_760, positive: true, negative: true, zero: true)
        request.add(
            [("__name__", "response_size_bytes"), ("service", "upload")], sorted: false, histograms: [histogram],
            exemplars: [([("trace_id", "large_upload_trace"), ("user_id", "user456")], 10_485_760, histogram.timestamp)],
            metadata: (MetricType.histogram, "HTTP response size in bytes", "bytes")
        )
        try await check(request, on: target, expect: .written(histograms: 1, exemplars: 1))
    }

    @Test("MultipleHistogramsWithMetadata", arguments: WriteTarget.allCases)
    func multipleHistogramsWithMetadata(target: WriteTarget) async throws {
        var request = RemoteWriteV2.Request()
        request.add(
            [("__name__", "cpu_usage_histogram"), ("instance", "server1")], sorted: false,
            histograms: [complianceHistogram(0.75, positive: true, negative: false, zero: true)],
            metadata: (MetricType.histogram, "CPU usage distribution", "ratio")
        )
        request.add(
            [("__name__", "memory_usage_histogram"), ("instance", "server1")], sorted: false,
            histograms: [complianceHistogram(8_589_934_592, positive: true, negative: true, zero: false)],
            metadata: (MetricType.histogram, "Memory usage distribution", "bytes")
        )
        try await check(request, on: target, expect: .written(histograms: 2))
    }

    // MARK: exemplars.go: Exemplars/<case> (MUST; 204 SHOULD)

    static let exemplarCases: [(name: String, labels: Pairs, exemplar: Pairs, value: Double)] = [
        ("basic_exemplar", [("__name__", "http_requests_total"), ("job", "api")], [("trace_id", "abc123def456")], 1),
        ("exemplar_with_span_id", [("__name__", "request_duration_seconds"), ("method", "GET")], [("trace_id", "xyz789"), ("span_id", "span123")], 0.125),
        ("exemplar_without_trace_id", [("__name__", "cpu_usage"), ("instance", "host1")], [("user_id", "user123")], 0.85),
        (
            "exemplar_with_multiple_labels", [("__name__", "request_latency"), ("service", "auth")],
            [("trace_id", "trace456"), ("user", "admin"), ("endpoint", "/login")], 0.05
        ),
        ("exemplar_no_labels", basicMetric("simple_counter"), [], 1),
        ("exemplar_with_special_chars", basicMetric("test_metric"), [("trace_id", "trace-with-dashes_and_underscores.123")], 42),
        ("exemplar_with_unicode", [("__name__", "unicode_test"), ("region", "🌍")], [("trace_id", "unicode_trace_测试")], 100),
    ]

    func exemplarCase(_ index: Int, _ target: WriteTarget) async throws {
        let c = Self.exemplarCases[index]
        var request = RemoteWriteV2.Request()
        let samples = oneSample(c.value)
        request.add(c.labels, sorted: false, samples: samples, exemplars: [(c.exemplar, c.value, samples[0].timestamp)])
        try await check(request, on: target, expect: .written(samples: 1, exemplars: 1))
    }

    @Test("Exemplars/basic_exemplar", arguments: WriteTarget.allCases)
    func basicExemplar(target: WriteTarget) async throws { try await exemplarCase(0, target) }

    @Test("Exemplars/exemplar_with_span_id", arguments: WriteTarget.allCases)
    func exemplarWithSpanID(target: WriteTarget) async throws { try await exemplarCase(1, target) }

    @Test("Exemplars/exemplar_without_trace_id", arguments: WriteTarget.allCases)
    func exemplarWithoutTraceID(target: WriteTarget) async throws { try await exemplarCase(2, target) }

    @Test("Exemplars/exemplar_with_multiple_labels", arguments: WriteTarget.allCases)
    func exemplarWithMultipleLabels(target: WriteTarget) async throws { try await exemplarCase(3, target) }

    @Test("Exemplars/exemplar_no_labels", arguments: WriteTarget.allCases)
    func exemplarNoLabels(target: WriteTarget) async throws { try await exemplarCase(4, target) }

    @Test("Exemplars/exemplar_with_special_chars", arguments: WriteTarget.allCases)
    func exemplarWithSpecialChars(target: WriteTarget) async throws { try await exemplarCase(5, target) }

    @Test("Exemplars/exemplar_with_unicode", arguments: WriteTarget.allCases)
    func exemplarWithUnicode(target: WriteTarget) async throws { try await exemplarCase(6, target) }

    // MARK: exemplars.go: the rest

    @Test("ExemplarWithCreatedTimestamp", arguments: WriteTarget.allCases)
    func exemplarWithCreatedTimestamp(target: WriteTarget) async throws {
        var request = RemoteWriteV2.Request()
        let samples = oneSample(250, start: ago(2 * hour))
        request.add(
            [("__name__", "http_requests_total"), ("job", "api")], sorted: false, samples: samples,
            exemplars: [([("trace_id", "abc123"), ("span_id", "span456")], 250, samples[0].timestamp)]
        )
        try await check(request, on: target, expect: .written(samples: 1, exemplars: 1))
    }

    @Test("MultipleExemplars", arguments: WriteTarget.allCases)
    func multipleExemplars(target: WriteTarget) async throws {
        var request = RemoteWriteV2.Request()
        let cases: [(Pairs, Double, Pairs)] = [
            ([("__name__", "request_duration"), ("method", "GET")], 0.1, [("trace_id", "trace1"), ("span_id", "span1")]),
            ([("__name__", "request_duration"), ("method", "POST")], 0.25, [("trace_id", "trace2"), ("span_id", "span2")]),
            ([("__name__", "error_count"), ("service", "payment")], 1, [("trace_id", "trace3"), ("user", "test_user")]),
        ]
        for (labels, value, exemplar) in cases {
            let samples = oneSample(value)
            request.add(labels, sorted: false, samples: samples, exemplars: [(exemplar, value, samples[0].timestamp)])
        }
        try await check(request, on: target, expect: .written(samples: 3, exemplars: 3))
    }

    /// Three samples of one series, an hour, a minute and no time ago, each with an exemplar. Ported
    /// at 59 minutes instead of an hour: like Prometheus, storage takes nothing more than half a
    /// chunk range (1 h) older than the newest sample it holds, and the shared node (as the suite's
    /// shared receiver) already holds samples from now.
    @Test("ExemplarTimestamps", arguments: WriteTarget.allCases)
    func exemplarTimestamps(target: WriteTarget) async throws {
        var request = RemoteWriteV2.Request()
        // The series name differs per target so each target's series starts empty.
        let name = "latency_hist_\(target.rawValue)"
        let times = [ago(59 * minute), ago(minute), Timestamps.next()]
        for (time, (value, trace)) in zip(times, [(0.05, "old_trace"), (0.15, "recent_trace"), (0.08, "current_trace")]) {
            request.add(basicMetric(name), samples: oneSample(value, at: time), exemplars: [([("trace_id", trace)], value, time)])
        }
        try await check(request, on: target, expect: .written(samples: 3, exemplars: 3))
    }

    // MARK: exemplars.go: ExemplarValidation/<case> (SHOULD)

    func exemplarValidation(_ labels: Pairs, _ target: WriteTarget, success: Bool) async throws {
        var request = RemoteWriteV2.Request()
        let samples = oneSample(1)
        request.add(labels, sorted: false, samples: samples, exemplars: [([("trace_id", "test_trace")], 1, samples[0].timestamp)])
        try await check(request, on: target, expect: success ? .written(samples: 1, exemplars: 1) : .rejected(samples: 1, exemplars: 1))
    }

    @Test("ExemplarValidation/exemplar_without_name_label", arguments: WriteTarget.allCases)
    func exemplarWithoutNameLabel(target: WriteTarget) async throws { try await exemplarValidation([("job", "test")], target, success: false) }

    @Test("ExemplarValidation/exemplar_with_empty_name", arguments: WriteTarget.allCases)
    func exemplarWithEmptyName(target: WriteTarget) async throws { try await exemplarValidation([("__name__", "")], target, success: false) }

    @Test("ExemplarValidation/exemplar_with_valid_name", arguments: WriteTarget.allCases)
    func exemplarWithValidName(target: WriteTarget) async throws { try await exemplarValidation(basicMetric("valid_metric"), target, success: true) }

    // MARK: exemplars.go: ExemplarSpecialValues/<case> (MUST; 204 SHOULD)

    static let exemplarSpecialValues: [(String, Double)] = [
        ("zero_value", 0), ("negative_value", -123.456), ("large_value", 1e10), ("small_value", 1e-10),
        ("nan_value", Double(bitPattern: 0x7ff8_0000_0000_0001)), ("inf_value", .infinity), ("-inf_value", -.infinity),
    ]

    @Test("ExemplarSpecialValues", arguments: WriteTarget.allCases, 0..<7)
    func exemplarSpecialValues(target: WriteTarget, index: Int) async throws {
        let value = Self.exemplarSpecialValues[index].1
        var request = RemoteWriteV2.Request()
        let samples = oneSample(value)
        request.add(basicMetric("test_metric"), samples: samples, exemplars: [([("trace_id", "special_value_trace")], value, samples[0].timestamp)])
        try await check(request, on: target, expect: .written(samples: 1, exemplars: 1))
    }

    // MARK: metadata.go: Metadata/<case> (MUST; 204 SHOULD)

    static let metadataCases: [(name: String, labels: Pairs, type: Int32, help: String, unit: String)] = [
        ("counter_metadata", basicMetric("http_requests_total"), MetricType.counter, "Total number of HTTP requests", "requests"),
        ("gauge_metadata", basicMetric("cpu_usage_percent"), MetricType.gauge, "Current CPU usage percentage", "percent"),
        ("histogram_metadata", basicMetric("request_duration_seconds"), MetricType.histogram, "Request duration in seconds", "seconds"),
        ("metadata_no_help_no_unit", basicMetric("simple_counter"), MetricType.counter, "", ""),
        ("metadata_with_special_chars", [("__name__", "test_metric"), ("job", "test")], MetricType.gauge, "Test metric with\nnewlines and \"quotes\"", "bytes/sec"),
        ("unspecified_metadata_type", basicMetric("unknown_metric"), MetricType.unspecified, "Unknown metric type", ""),
        ("info_metadata_type", basicMetric("build_info"), MetricType.info, "Build information", ""),
        ("stateset_metadata_type", basicMetric("node_state"), MetricType.stateset, "Node state information", ""),
        ("summary_metadata_type", basicMetric("request_latency_summary"), MetricType.summary, "Request latency summary", "seconds"),
        ("gauge_histogram_metadata_type", basicMetric("temperature_histogram"), MetricType.gaugeHistogram, "Temperature distribution gauge histogram", "celsius"),
    ]

    func metadataCase(_ index: Int, _ target: WriteTarget) async throws {
        let c = Self.metadataCases[index]
        var request = RemoteWriteV2.Request()
        if c.type == MetricType.histogram {
            request.add(c.labels, sorted: false, histograms: [complianceHistogram(1, positive: true, negative: true, zero: true)], metadata: (c.type, c.help, c.unit))
            try await check(request, on: target, expect: .written(histograms: 1))
        } else {
            request.add(c.labels, sorted: false, samples: oneSample(1), metadata: (c.type, c.help, c.unit))
            try await check(request, on: target, expect: .written(samples: 1))
        }
    }

    @Test("Metadata/counter_metadata", arguments: WriteTarget.allCases)
    func counterMetadata(target: WriteTarget) async throws { try await metadataCase(0, target) }

    @Test("Metadata/gauge_metadata", arguments: WriteTarget.allCases)
    func gaugeMetadata(target: WriteTarget) async throws { try await metadataCase(1, target) }

    @Test("Metadata/histogram_metadata", arguments: WriteTarget.allCases)
    func histogramMetadata(target: WriteTarget) async throws { try await metadataCase(2, target) }

    @Test("Metadata/metadata_no_help_no_unit", arguments: WriteTarget.allCases)
    func metadataNoHelpNoUnit(target: WriteTarget) async throws { try await metadataCase(3, target) }

    @Test("Metadata/metadata_with_special_chars", arguments: WriteTarget.allCases)
    func metadataWithSpecialChars(target: WriteTarget) async throws { try await metadataCase(4, target) }

    @Test("Metadata/unspecified_metadata_type", arguments: WriteTarget.allCases)
    func unspecifiedMetadataType(target: WriteTarget) async throws { try await metadataCase(5, target) }

    @Test("Metadata/info_metadata_type", arguments: WriteTarget.allCases)
    func infoMetadataType(target: WriteTarget) async throws { try await metadataCase(6, target) }

    @Test("Metadata/stateset_metadata_type", arguments: WriteTarget.allCases)
    func statesetMetadataType(target: WriteTarget) async throws { try await metadataCase(7, target) }

    @Test("Metadata/summary_metadata_type", arguments: WriteTarget.allCases)
    func summaryMetadataType(target: WriteTarget) async throws { try await metadataCase(8, target) }

    @Test("Metadata/gauge_histogram_metadata_type", arguments: WriteTarget.allCases)
    func gaugeHistogramMetadataType(target: WriteTarget) async throws { try await metadataCase(9, target) }

    // MARK: metadata.go: the rest

    @Test("CounterMetadataWithCreatedTimestamp", arguments: WriteTarget.allCases)
    func counterMetadataWithCreatedTimestamp(target: WriteTarget) async throws {
        var request = RemoteWriteV2.Request()
        request.add(
            [("__name__", "http_requests_total"), ("job", "api")], sorted: false, samples: oneSample(150, start: ago(hour)),
            metadata: (MetricType.counter, "Total HTTP requests", "requests")
        )
        try await check(request, on: target, expect: .written(samples: 1))
    }

    @Test("MetadataWithSamples", arguments: WriteTarget.allCases)
    func metadataWithSamples(target: WriteTarget) async throws {
        var request = RemoteWriteV2.Request()
        request.add(
            [("__name__", "http_requests_total"), ("job", "test")], sorted: false, samples: oneSample(42),
            metadata: (MetricType.counter, "Total HTTP requests", "requests")
        )
        try await check(request, on: target, expect: .written(samples: 1))
    }

    @Test("MultipleMetadata", arguments: WriteTarget.allCases)
    func multipleMetadata(target: WriteTarget) async throws {
        var request = RemoteWriteV2.Request()
        request.add(basicMetric("cpu_usage"), samples: oneSample(85.5), metadata: (MetricType.gauge, "CPU usage percentage", "percent"))
        request.add(basicMetric("memory_usage"), samples: oneSample(4_096_000_000), metadata: (MetricType.gauge, "Memory usage in bytes", "bytes"))
        request.add(
            [("__name__", "disk_usage"), ("device", "sda1")], sorted: false, samples: oneSample(75.2),
            metadata: (MetricType.gauge, "Disk usage percentage", "percent")
        )
        try await check(request, on: target, expect: .written(samples: 3))
    }

    @Test("MetadataWithComplexLabels", arguments: WriteTarget.allCases)
    func metadataWithComplexLabels(target: WriteTarget) async throws {
        var request = RemoteWriteV2.Request()
        request.add(
            [
                ("__name__", "http_request_duration_seconds"), ("job", "api-server"), ("instance", "localhost:8080"),
                ("method", "GET"), ("status", "200"), ("endpoint", "/api/v1/users"),
            ],
            sorted: false, histograms: [complianceHistogram(0.25, positive: true, negative: true, zero: true)],
            metadata: (MetricType.histogram, "HTTP request duration in seconds", "seconds")
        )
        try await check(request, on: target, expect: .written(histograms: 1))
    }

    // MARK: metadata.go: MetadataValidation/<case> (SHOULD)

    func metadataValidation(_ labels: Pairs, type: Int32, _ target: WriteTarget, success: Bool) async throws {
        var request = RemoteWriteV2.Request()
        request.add(labels, sorted: false, samples: oneSample(1), metadata: (type, "Test help", "unit"))
        try await check(request, on: target, expect: success ? .written(samples: 1) : .rejected(samples: 1))
    }

    /// The suite leaves the metadata out here (no name to match it to): a sample without a name.
    @Test("MetadataValidation/metadata_without_name_label", arguments: WriteTarget.allCases)
    func metadataWithoutNameLabel(target: WriteTarget) async throws {
        var request = RemoteWriteV2.Request()
        request.add([("job", "test")], samples: oneSample(1))
        try await check(request, on: target, expect: .rejected(samples: 1))
    }

    @Test("MetadataValidation/metadata_with_empty_name", arguments: WriteTarget.allCases)
    func metadataWithEmptyName(target: WriteTarget) async throws {
        try await metadataValidation([("__name__", "")], type: MetricType.gauge, target, success: false)
    }

    @Test("MetadataValidation/metadata_with_valid_name", arguments: WriteTarget.allCases)
    func metadataWithValidName(target: WriteTarget) async throws {
        try await metadataValidation(basicMetric("valid_metric_name"), type: MetricType.counter, target, success: true)
    }

    // MARK: combined.go (MUST; 204 SHOULD, unless marked)

    @Test("SamplesWithMetadataAndExemplars", arguments: WriteTarget.allCases)
    func samplesWithMetadataAndExemplars(target: WriteTarget) async throws {
        var request = RemoteWriteV2.Request()
        let samples = oneSample(1)
        request.add(
            [("__name__", "http_requests_total"), ("job", "api"), ("method", "POST")], sorted: false, samples: samples,
            exemplars: [([("trace_id", "request_trace_123"), ("user_id", "user789")], 1, samples[0].timestamp)],
            metadata: (MetricType.counter, "Total number of HTTP requests", "requests")
        )
        try await check(request, on: target, expect: .written(samples: 1, exemplars: 1))
    }

    @Test("HistogramsWithMetadataAndExemplars", arguments: WriteTarget.allCases)
    func histogramsWithMetadataAndExemplars(target: WriteTarget) async throws {
        var request = RemoteWriteV2.Request()
        let histogram = complianceHistogram(0.456, positive: true, negative: true, zero: true)
        request.add(
            [("__name__", "request_duration_seconds"), ("service", "auth")], sorted: false, histograms: [histogram],
            exemplars: [([("trace_id", "slow_request_trace"), ("endpoint", "/login")], 0.456, histogram.timestamp)],
            metadata: (MetricType.histogram, "HTTP request duration distribution", "seconds")
        )
        try await check(request, on: target, expect: .written(histograms: 1, exemplars: 1))
    }

    @Test("ComplexSamplesRequest", arguments: WriteTarget.allCases)
    func complexSamplesRequest(target: WriteTarget) async throws {
        var request = RemoteWriteV2.Request()
        let samples = oneSample(0.85)
        request.add(
            [("__name__", "cpu_usage"), ("instance", "server1")], samples: samples,
            exemplars: [([("trace_id", "high_cpu_trace"), ("process", "worker")], 0.85, samples[0].timestamp)],
            metadata: (MetricType.gauge, "CPU usage ratio", "ratio")
        )
        request.add(
            [("__name__", "memory_usage"), ("instance", "server1")], samples: oneSample(8_589_934_592),
            metadata: (MetricType.gauge, "Memory usage in bytes", "bytes")
        )
        try await check(request, on: target, expect: .written(samples: 2, exemplars: 1))
    }

    @Test("ComplexHistogramsRequest", arguments: WriteTarget.allCases)
    func complexHistogramsRequest(target: WriteTarget) async throws {
        var request = RemoteWriteV2.Request()
        let histogram = complianceHistogram(0.125, positive: true, negative: false, zero: true)
        request.add(
            [("__name__", "response_time_hist"), ("endpoint", "/api/v1/users")], histograms: [histogram],
            exemplars: [([("trace_id", "fast_response"), ("user", "premium")], 0.125, histogram.timestamp)],
            metadata: (MetricType.histogram, "Response time distribution", "seconds")
        )
        request.add(
            [("__name__", "request_size_hist"), ("method", "POST")], histograms: [complianceHistogram(1024, positive: false, negative: true, zero: true)],
            metadata: (MetricType.histogram, "Request size distribution", "bytes")
        )
        try await check(request, on: target, expect: .written(histograms: 2, exemplars: 1))
    }

    @Test("MultipleMetricFamiliesSamples", arguments: WriteTarget.allCases)
    func multipleMetricFamiliesSamples(target: WriteTarget) async throws {
        var request = RemoteWriteV2.Request()
        let samples = oneSample(1000)
        request.add(
            [("__name__", "http_requests_total"), ("status", "200")], samples: samples,
            exemplars: [([("trace_id", "successful_request")], 1000, samples[0].timestamp)],
            metadata: (MetricType.counter, "Total HTTP requests", "requests")
        )
        request.add(
            [("__name__", "temperature_celsius"), ("location", "datacenter1")], sorted: false, samples: oneSample(23.5),
            metadata: (MetricType.gauge, "Temperature in Celsius", "celsius")
        )
        try await check(request, on: target, expect: .written(samples: 2, exemplars: 1))
    }

    @Test("MultipleMetricFamiliesHistograms", arguments: WriteTarget.allCases)
    func multipleMetricFamiliesHistograms(target: WriteTarget) async throws {
        var request = RemoteWriteV2.Request()
        let histogram = complianceHistogram(0.003, positive: true, negative: false, zero: true)
        request.add(
            [("__name__", "request_duration_seconds"), ("handler", "/metrics")], histograms: [histogram],
            exemplars: [([("trace_id", "metrics_scrape"), ("scraper", "prometheus")], 0.003, histogram.timestamp)],
            metadata: (MetricType.histogram, "Request duration in seconds", "seconds")
        )
        try await check(request, on: target, expect: .written(histograms: 1, exemplars: 1))
    }

    /// SHOULD: a series with metadata only is taken; nothing is counted as written.
    @Test("EdgeCaseCombinations/metadata_without_data", arguments: WriteTarget.allCases)
    func metadataWithoutData(target: WriteTarget) async throws {
        var request = RemoteWriteV2.Request()
        request.add(basicMetric("orphan_metric"), metadata: (MetricType.counter, "Orphaned metric metadata", "count"))
        try await check(request, on: target, expect: .written())
    }

    /// SHOULD: a series with an exemplar and no sample is taken, the exemplar written.
    @Test("EdgeCaseCombinations/exemplars_without_data", arguments: WriteTarget.allCases)
    func exemplarsWithoutData(target: WriteTarget) async throws {
        var request = RemoteWriteV2.Request()
        request.add(basicMetric("orphan_metric"), exemplars: [([("trace_id", "orphan_trace")], 42, Timestamps.next())])
        try await check(request, on: target, expect: .written(exemplars: 1))
    }

    /// SHOULD: samples an hour old beside current ones. Ported at 59 minutes, as ExemplarTimestamps.
    @Test("EdgeCaseCombinations/mixed_timestamp_data", arguments: WriteTarget.allCases)
    func mixedTimestampData(target: WriteTarget) async throws {
        var request = RemoteWriteV2.Request()
        let old = ago(59 * minute)
        request.add(
            basicMetric("old_metric_\(target.rawValue)"), samples: oneSample(1, at: old),
            exemplars: [([("trace_id", "old_trace")], 1, ago(30 * minute))]
        )
        request.add(basicMetric("new_metric"), samples: oneSample(2))
        try await check(request, on: target, expect: .written(samples: 2, exemplars: 1))
    }

    @Test("ManySamples", arguments: WriteTarget.allCases)
    func manySamples(target: WriteTarget) async throws {
        var request = RemoteWriteV2.Request()
        for i in 0..<50 {
            let samples = oneSample(Double(i * 100))
            request.add(
                [("__name__", "counter_metric_\(i)"), ("series", "series_\(i)")], samples: samples,
                exemplars: [([("trace_id", "trace_\(i)")], Double(i * 100), samples[0].timestamp)],
                metadata: (MetricType.counter, "Counter metric number \(i)", "count")
            )
        }
        try await check(request, on: target, expect: .written(samples: 50, exemplars: 50))
    }

    @Test("ManyHistograms", arguments: WriteTarget.allCases)
    func manyHistograms(target: WriteTarget) async throws {
        var request = RemoteWriteV2.Request()
        for i in 0..<50 {
            let histogram = complianceHistogram(Double(i) / 10, positive: true, negative: i % 2 == 0, zero: true)
            request.add(
                [("__name__", "histogram_metric_\(i)"), ("bucket", "bucket_\(i)")], histograms: [histogram],
                exemplars: [([("trace_id", "trace_\(i)")], Double(i) / 10, histogram.timestamp)],
                metadata: (MetricType.histogram, "Histogram metric number \(i)", "seconds")
            )
        }
        try await check(request, on: target, expect: .written(histograms: 50, exemplars: 50))
    }

    @Test("SpecialCharactersCombined", arguments: WriteTarget.allCases)
    func specialCharactersCombined(target: WriteTarget) async throws {
        var request = RemoteWriteV2.Request()
        let samples = oneSample(42)
        request.add(
            [("__name__", "test_metric"), ("job", "test-job_with.special@chars"), ("instance", "localhost:9090"), ("environment", "test🚀")],
            sorted: false, samples: samples,
            exemplars: [([("trace_id", "special_trace_äöü-123"), ("span_id", "span_with.dots-and_underscores")], 42, samples[0].timestamp)],
            metadata: (MetricType.gauge, "Test metric with special characters: äöü, newlines\nand \"quotes\"", "special/units")
        )
        try await check(request, on: target, expect: .written(samples: 1, exemplars: 1))
    }

    @Test("CustomBucketsHistogramWithExemplar", arguments: WriteTarget.allCases)
    func customBucketsHistogramWithExemplar(target: WriteTarget) async throws {
        var request = RemoteWriteV2.Request()
        let histogram = complianceHistogram(0.05, positive: false, negative: false, zero: false, custom: true)
        request.add(
            [("__name__", "custom_latency_hist"), ("version", "v2")], histograms: [histogram],
            exemplars: [([("trace_id", "custom_bucket_trace"), ("bucket", "0.1")], 0.05, histogram.timestamp)]
        )
        try await check(request, on: target, expect: .written(histograms: 1, exemplars: 1))
    }

    // MARK: request_validation.go (MUST)

    /// The first byte of the compressed body replaced by '0', as the suite corrupts it.
    static func corrupted(_ request: RemoteWriteV2.Request, with byte: UInt8 = UInt8(ascii: "0")) -> [UInt8] {
        var body = Snappy.compress(request.encoded())
        body[0] = byte
        return body
    }

    static func upRequest() -> RemoteWriteV2.Request {
        var request = RemoteWriteV2.Request()
        request.add(basicMetric("up"), samples: oneSample(1))
        return request
    }

    @Test("BadContentTypes", arguments: WriteTarget.allCases, ["application/json", "image/png"])
    func badContentTypes(target: WriteTarget, contentType: String) async throws {
        let cluster = try ComplianceCluster.shared()
        let answer = try await RemoteWriteV2.post(
            Self.corrupted(Self.upRequest()), to: cluster.writeURL(target), headers: RemoteWriteV2.headers(contentType: contentType), compress: false
        )
        #expect(answer.status == 415, "\(answer)")
    }

    @Test("BadContentEncodings", arguments: WriteTarget.allCases, ["gzip", "deflate"])
    func badContentEncodings(target: WriteTarget, encoding: String) async throws {
        let cluster = try ComplianceCluster.shared()
        let answer = try await RemoteWriteV2.post(
            Self.corrupted(Self.upRequest()), to: cluster.writeURL(target), headers: RemoteWriteV2.headers(contentEncoding: encoding), compress: false
        )
        #expect(answer.status == 415, "\(answer)")
    }

    @Test("CorruptRequestBody", arguments: WriteTarget.allCases)
    func corruptRequestBody(target: WriteTarget) async throws {
        let cluster = try ComplianceCluster.shared()
        let answer = try await RemoteWriteV2.post(Self.corrupted(Self.upRequest()), to: cluster.writeURL(target), compress: false)
        #expect(answer.status == 400, "\(answer)")
        #expect(!answer.body.isEmpty)
        #expect((answer.samplesWritten ?? 0) == 0, "\(answer)")
    }

    // MARK: rw1_compat.go (MAY; Sluice takes 1.0)

    static func v1Body(_ series: [Pairs], values: [Double]) -> (body: [UInt8], request: WriteRequest) {
        let request = WriteRequest(timeseries: zip(series, values).map { labels, value in
            TimeSeries(labels: labels.map { Label(name: $0.0, value: $0.1) }.sorted(), samples: [Sample(timestamp: Timestamps.next(), value: value)])
        })
        return (MessageCodec().encoded { codec, out in codec.encode(request, appendingTo: out) }, request)
    }

    /// The 1.0 request, read back from `node`.
    func checkV1Stored(_ request: WriteRequest, target: WriteTarget) async throws {
        let cluster = try ComplianceCluster.shared()
        var expected = ExpectedData(RemoteWriteV2.Request(), target: target, cluster: cluster)
        for series in request.timeseries {
            let labels = cluster.stored(LabelSet(uniqueKeysWithValues: series.labels.map { ($0.name, $0.value) }), target)
            for sample in series.samples {
                expected.samples[labels, default: [:]][sample.timestamp] = Bits(sample.value)
                expected.timestamps[labels, default: []].append(sample.timestamp)
            }
        }
        let stored = try await readBack(expected, from: cluster.node(target))
        #expect(stored.samples == expected.samples, "\(describe(expected.samples, stored.samples))")
    }

    @Test("RW1BasicCompatibility", arguments: WriteTarget.allCases)
    func rw1BasicCompatibility(target: WriteTarget) async throws {
        let cluster = try ComplianceCluster.shared()
        let (body, request) = Self.v1Body([jobInstanceLabels, basicMetric("http_requests_total")], values: [1, 100])
        let answer = try await RemoteWriteV2.post(
            body, to: cluster.writeURL(target), headers: RemoteWriteV2.headers(contentType: "application/x-protobuf", version: nil)
        )
        #expect(answer.status == 204, "\(answer)")
        try await checkV1Stored(request, target: target)
    }

    @Test("RW1ErrorHandling", arguments: WriteTarget.allCases)
    func rw1ErrorHandling(target: WriteTarget) async throws {
        let cluster = try ComplianceCluster.shared()
        var body = Snappy.compress(Self.v1Body([basicMetric("error_test")], values: [1]).body)
        body[0] = 0xFF
        let answer = try await RemoteWriteV2.post(
            body, to: cluster.writeURL(target), headers: RemoteWriteV2.headers(contentType: "application/x-protobuf", version: nil), compress: false
        )
        #expect(answer.status == 400, "\(answer)")
    }

    // MARK: - Beyond the suite: content negotiation (spec MUST) and the 2.0 message rules

    /// `proto=prometheus.WriteRequest` names the 1.0 message: taken as 1.0.
    @Test("Negotiation/proto=prometheus.WriteRequest is 1.0", arguments: WriteTarget.allCases)
    func namedV1(target: WriteTarget) async throws {
        let cluster = try ComplianceCluster.shared()
        let (body, request) = Self.v1Body([[("__name__", "named_v1"), ("job", "negotiation")]], values: [7])
        let answer = try await RemoteWriteV2.post(
            body, to: cluster.writeURL(target), headers: RemoteWriteV2.headers(contentType: RemoteWriteV2.v1ContentType, version: "0.1.0")
        )
        #expect(answer.status == 204, "\(answer)")
        try await checkV1Stored(request, target: target)
    }

    /// A message the receiver does not know: 415, so a sender can fall back.
    @Test("Negotiation/unknown proto is 415", arguments: WriteTarget.allCases)
    func unknownProto(target: WriteTarget) async throws {
        let cluster = try ComplianceCluster.shared()
        let answer = try await RemoteWriteV2.post(
            Self.upRequest().encoded(), to: cluster.writeURL(target),
            headers: RemoteWriteV2.headers(contentType: "application/x-protobuf;proto=io.prometheus.write.v3.Request")
        )
        #expect(answer.status == 415, "\(answer)")
    }

    /// An encoding other than snappy on a 2.0 body with a valid snappy payload: 415.
    @Test("Negotiation/wrong encoding is 415", arguments: WriteTarget.allCases)
    func wrongEncoding(target: WriteTarget) async throws {
        let cluster = try ComplianceCluster.shared()
        let answer = try await RemoteWriteV2.post(
            Self.upRequest().encoded(), to: cluster.writeURL(target), headers: RemoteWriteV2.headers(contentEncoding: "zstd")
        )
        #expect(answer.status == 415, "\(answer)")
    }

    /// RFC 9110 media types: whitespace around `;` and `=`, and any case in the type and the
    /// parameter name, still name the 2.0 message.
    @Test(
        "Negotiation/lenient Content-Type parsing",
        arguments: WriteTarget.allCases, [
            "application/x-protobuf ; proto = io.prometheus.write.v2.Request",
            "application/x-protobuf;proto=io.prometheus.write.v2.Request ",
            "Application/X-Protobuf; Proto=io.prometheus.write.v2.Request",
        ]
    )
    func lenientContentType(target: WriteTarget, contentType: String) async throws {
        var request = RemoteWriteV2.Request()
        request.add([("__name__", "lenient_content_type"), ("job", "negotiation")], samples: oneSample(3))
        try await check(request, on: target, expect: .written(samples: 1), headers: RemoteWriteV2.headers(contentType: contentType))
    }

    /// A 2.0 body with neither a version header nor a user agent a receiver might look at: the
    /// content type alone decides.
    @Test("Negotiation/Content-Type alone selects 2.0", arguments: WriteTarget.allCases)
    func contentTypeAlone(target: WriteTarget) async throws {
        var request = RemoteWriteV2.Request()
        request.add([("__name__", "content_type_alone"), ("job", "negotiation")], samples: oneSample(4))
        try await check(request, on: target, expect: .written(samples: 1), headers: RemoteWriteV2.headers(version: nil))
    }

    @Test("Symbols/first symbol not empty is 400", arguments: WriteTarget.allCases)
    func firstSymbolNotEmpty(target: WriteTarget) async throws {
        var request = RemoteWriteV2.Request(symbols: ["__name__", "first_symbol_not_empty"])
        request.timeseries = [RemoteWriteV2.Series(labelsRefs: [0, 1], samples: oneSample(1))]
        try await check(request, on: target, expect: .rejected(samples: 0))
    }

    @Test("Symbols/label reference out of range is 400", arguments: WriteTarget.allCases)
    func labelRefOutOfRange(target: WriteTarget) async throws {
        var request = RemoteWriteV2.Request()
        var refs = request.refs([("__name__", "ref_out_of_range")])
        refs += [refs[0] + 100, refs[1]]
        request.timeseries = [RemoteWriteV2.Series(labelsRefs: refs, samples: oneSample(1))]
        try await check(request, on: target, expect: .rejected(samples: 0))
    }

    @Test("Symbols/exemplar label reference out of range is 400", arguments: WriteTarget.allCases)
    func exemplarRefOutOfRange(target: WriteTarget) async throws {
        var request = RemoteWriteV2.Request()
        let refs = request.refs([("__name__", "exemplar_ref_out_of_range")])
        let samples = oneSample(1)
        request.timeseries = [
            RemoteWriteV2.Series(labelsRefs: refs, samples: samples, exemplars: [.init(labelsRefs: [1, 99], value: 1, timestamp: samples[0].timestamp)])
        ]
        try await check(request, on: target, expect: .rejected(samples: 0))
    }

    @Test("Symbols/metadata help reference out of range is 400", arguments: WriteTarget.allCases)
    func metadataRefOutOfRange(target: WriteTarget) async throws {
        var request = RemoteWriteV2.Request()
        let refs = request.refs([("__name__", "metadata_ref_out_of_range")])
        request.timeseries = [RemoteWriteV2.Series(labelsRefs: refs, samples: oneSample(1), metadata: .init(type: MetricType.gauge, helpRef: 1000))]
        try await check(request, on: target, expect: .rejected(samples: 0))
    }

    @Test("Labels/odd labels_refs is 400", arguments: WriteTarget.allCases)
    func oddLabelRefs(target: WriteTarget) async throws {
        var request = RemoteWriteV2.Request()
        var refs = request.refs([("__name__", "odd_label_refs"), ("job", "labels")])
        refs.removeLast()
        request.timeseries = [RemoteWriteV2.Series(labelsRefs: refs, samples: oneSample(1))]
        try await check(request, on: target, expect: .rejected(samples: 0))
    }

    /// Labels out of order are sorted, not rejected (Prometheus sorts them), and stored sorted.
    @Test("Labels/unsorted labels are sorted and stored", arguments: WriteTarget.allCases)
    func unsortedLabels(target: WriteTarget) async throws {
        var request = RemoteWriteV2.Request()
        request.add([("zone", "z1"), ("job", "sorting"), ("__name__", "unsorted_labels"), ("a", "first")], sorted: false, samples: oneSample(5))
        try await check(request, on: target, expect: .written(samples: 1))
    }

    @Test("Labels/duplicate label names are 400", arguments: WriteTarget.allCases)
    func duplicateLabelNames(target: WriteTarget) async throws {
        var request = RemoteWriteV2.Request()
        request.add([("__name__", "duplicate_labels"), ("job", "a"), ("job", "b")], sorted: false, samples: oneSample(1))
        try await check(request, on: target, expect: .rejected(samples: 0))
    }

    /// "A TimeSeries MUST NOT include both samples and histograms."
    @Test("Series/samples and histograms in one series are 400", arguments: WriteTarget.allCases)
    func samplesAndHistograms(target: WriteTarget) async throws {
        var request = RemoteWriteV2.Request()
        request.add(
            basicMetric("samples_and_histograms"), samples: oneSample(1),
            histograms: [complianceHistogram(1, positive: true, negative: false, zero: false)]
        )
        try await check(request, on: target, expect: .rejected(samples: 1, histograms: 1))
    }

    /// The pre-rc.4 layout: the created timestamp in TimeSeries field 6, beside rc.4's
    /// start_timestamp on another series of the same request.
    @Test("CreatedTimestamp/TimeSeries field 6 is accepted", arguments: WriteTarget.allCases)
    func legacyCreatedTimestamp(target: WriteTarget) async throws {
        var request = RemoteWriteV2.Request()
        request.add([("__name__", "legacy_created_total"), ("job", "ct")], samples: oneSample(10), createdTimestamp: ago(hour))
        request.add([("__name__", "start_timestamp_total"), ("job", "ct")], samples: oneSample(11, start: ago(hour)))
        request.add(
            [("__name__", "legacy_created_histogram"), ("job", "ct")],
            histograms: [complianceHistogram(2, positive: true, negative: false, zero: true)], createdTimestamp: ago(hour)
        )
        try await check(request, on: target, expect: .written(samples: 2, histograms: 1))
    }

    /// A float histogram (counts, not deltas) round-trips.
    @Test("Histograms/float histogram", arguments: WriteTarget.allCases)
    func floatHistogram(target: WriteTarget) async throws {
        var request = RemoteWriteV2.Request()
        let histogram = RemoteWriteV2.Histogram(
            count: .float(10.5), sum: 3.25, schema: 1, zeroThreshold: 0.001, zeroCount: .float(0.5),
            negativeSpans: [.init(offset: -1, length: 1)], negativeCounts: [2],
            positiveSpans: [.init(offset: 0, length: 2), .init(offset: 1, length: 1)], positiveCounts: [1.5, 2.5, 4],
            resetHint: Int32(SluiceCodec.Histogram.ResetHint.gauge.rawValue), timestamp: Timestamps.next()
        )
        request.add([("__name__", "float_histogram"), ("job", "fh")], histograms: [histogram], metadata: (MetricType.gaugeHistogram, "", ""))
        try await check(request, on: target, expect: .written(histograms: 1))
    }

    /// Buckets whose deltas take a count below zero: invalid, as in Prometheus.
    @Test("Histograms/negative bucket count is 400", arguments: WriteTarget.allCases)
    func negativeBucketCount(target: WriteTarget) async throws {
        var request = RemoteWriteV2.Request()
        let histogram = RemoteWriteV2.Histogram(
            count: .int(1), sum: 1, positiveSpans: [.init(offset: 0, length: 2)], positiveDeltas: [2, -3], timestamp: Timestamps.next()
        )
        request.add(basicMetric("negative_bucket_histogram"), histograms: [histogram])
        try await check(request, on: target, expect: .rejected(histograms: 1))
    }

    /// Spans that describe three buckets with two deltas: invalid, as in Prometheus.
    @Test("Histograms/spans and deltas disagree is 400", arguments: WriteTarget.allCases)
    func spansDeltasMismatch(target: WriteTarget) async throws {
        var request = RemoteWriteV2.Request()
        let histogram = RemoteWriteV2.Histogram(
            count: .int(3), sum: 1, positiveSpans: [.init(offset: 0, length: 3)], positiveDeltas: [1, 1], timestamp: Timestamps.next()
        )
        request.add(basicMetric("span_mismatch_histogram"), histograms: [histogram])
        try await check(request, on: target, expect: .rejected(histograms: 1))
    }

    /// Custom bucket bounds that do not increase: invalid, as in Prometheus.
    @Test("Histograms/custom values not increasing is 400", arguments: WriteTarget.allCases)
    func customValuesNotIncreasing(target: WriteTarget) async throws {
        var request = RemoteWriteV2.Request()
        let histogram = RemoteWriteV2.Histogram(
            count: .int(3), sum: 1, schema: SluiceCodec.Histogram.customBucketsSchema, positiveSpans: [.init(offset: 0, length: 2)],
            positiveDeltas: [1, 1], timestamp: Timestamps.next(), customValues: [1, 0.5]
        )
        request.add(basicMetric("custom_values_histogram"), histograms: [histogram])
        try await check(request, on: target, expect: .rejected(histograms: 1))
    }
}
