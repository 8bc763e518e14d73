import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import ServiceLifecycle
import SluiceCodec
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// Support for the end-to-end tests of every tier: real servers on loopback, each started and
// stopped by the test that uses it, every wait bounded.

/// A series' labels as a dictionary: what the storage query APIs return, and hashable.
public typealias LabelSet = [String: String]

public struct EndToEndError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

public enum TestLog {
    /// Quiet unless `SLUICE_TEST_LOG_LEVEL` asks for more: the tests provoke warnings on purpose.
    public static func logger(_ label: String) -> Logger {
        var logger = Logger(label: label) { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = ProcessInfo.processInfo.environment["SLUICE_TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        return logger
    }
}

// MARK: - Temporary directories and ports

/// A directory removed when the test is done with it (`defer { directory.remove() }`).
public struct TemporaryDirectory: Sendable {
    public let path: String

    public init(_ prefix: String = "sluice-e2e") throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    public func subdirectory(_ name: String) throws -> String {
        let sub = path + "/" + name
        try FileManager.default.createDirectory(atPath: sub, withIntermediateDirectories: true)
        return sub
    }

    public func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Ports `freePorts` has handed out in this process, never handed out again.
private let handedOutPorts = Mutex<Set<Int>>([])

/// `count` distinct loopback ports nothing listens on, for child processes that must be told their
/// port.
///
/// They are drawn from 20000–32767, below Linux's ephemeral range (32768 and up): the kernel gives a
/// port-0 listener or an outgoing connection only ports from that range, so the in-process servers
/// and clients the other suites run at the same time cannot take one before the child binds it.
/// Each is checked free by binding it, and none is handed out twice in this process.
public func freePorts(_ count: Int) throws -> [Int] {
    var ports: [Int] = []
    var attempts = 0
    while ports.count < count {
        attempts += 1
        guard attempts < 10_000 else { throw EndToEndError("no free port in 20000-32767 after 10,000 tries") }
        let port = Int.random(in: 20_000...32_767)
        let fresh = handedOutPorts.withLock { $0.insert(port).inserted }
        guard fresh else { continue }
        if isFree(port) { ports.append(port) }
    }
    return ports
}

/// Whether a loopback listener could bind `port` now.
private func isFree(_ port: Int) -> Bool {
    #if canImport(Glibc)
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    #else
    let fd = socket(AF_INET, SOCK_STREAM, 0)
    #endif
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
}

// MARK: - HTTP

public struct HTTPResult: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: String
    /// The body as it came, for binary answers.
    public var bytes: [UInt8]

    public init(status: Int, headers: HTTPHeaders, body: String, bytes: [UInt8]? = nil) {
        self.status = status
        self.headers = headers
        self.body = body
        self.bytes = bytes ?? Array(body.utf8)
    }
}

public enum TestHTTP {
    /// One client for every test. Decompression stays off: storage answers are plain, and a
    /// snappy-encoded body must reach the test as sent.
    public static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.decompression = .disabled
        configuration.timeout = .init(connect: .seconds(2), read: .seconds(30))
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    /// The headers Prometheus 2.42 sends with a remote-write request.
    public static let remoteWriteHeaders: [(String, String)] = [
        ("Content-Type", "application/x-protobuf"),
        ("Content-Encoding", "snappy"),
        ("X-Prometheus-Remote-Write-Version", "0.1.0"),
        ("User-Agent", "Prometheus/2.42.0+ds"),
    ]

    public static func send(
        _ method: HTTPMethod,
        _ url: String,
        headers: [(String, String)] = [],
        body: HTTPClientRequest.Body? = nil,
        timeout: TimeAmount = .seconds(30)
    ) async throws -> HTTPResult {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = body
        let response = try await client.execute(request, timeout: timeout)
        let buffer = try await response.body.collect(upTo: 64 << 20)
        return HTTPResult(status: Int(response.status.code), headers: response.headers, body: String(buffer: buffer), bytes: Array(buffer.readableBytesView))
    }

    public static func get(_ url: String, _ query: [(String, String)] = [], timeout: TimeAmount = .seconds(30)) async throws -> HTTPResult {
        try await send(.GET, query.isEmpty ? url : url + "?" + formEncoded(query), timeout: timeout)
    }

    /// A GET that trusts a test CA, for peers serving HTTPS.
    public static func get(_ url: String, timeout: TimeAmount = .seconds(30), caFile: String?) async throws -> HTTPResult {
        guard let caFile else { return try await get(url, timeout: timeout) }
        var configuration = HTTPClient.Configuration()
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.additionalTrustRoots = [.certificates(try NIOSSLCertificate.fromPEMFile(caFile))]
        configuration.tlsConfiguration = tls
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            let response = try await client.execute(HTTPClientRequest(url: url), timeout: timeout)
            let buffer = try await response.body.collect(upTo: 64 << 20)
            try await client.shutdown()
            return HTTPResult(status: Int(response.status.code), headers: response.headers, body: String(buffer: buffer), bytes: Array(buffer.readableBytesView))
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    /// `application/x-www-form-urlencoded`: everything but unreserved characters percent-encoded.
    public static func formEncoded(_ pairs: [(String, String)]) -> String {
        func encode(_ text: String) -> String {
            var out = ""
            for byte in text.utf8 {
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                     UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                    out.unicodeScalars.append(Unicode.Scalar(byte))
                default:
                    out += "%" + String(byte >> 4, radix: 16, uppercase: true) + String(byte & 0xF, radix: 16, uppercase: true)
                }
            }
            return out
        }
        return pairs.map { encode($0.0) + "=" + encode($0.1) }.joined(separator: "&")
    }
}

/// Polls `condition` until it holds, at most `timeout`; false if it never did.
public func eventually(
    timeout: Duration = .seconds(30),
    every interval: Duration = .milliseconds(50),
    _ condition: () async throws -> Bool
) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while true {
        if try await condition() { return true }
        if ContinuousClock.now >= deadline { return false }
        try await Task.sleep(for: interval)
    }
}

// MARK: - Services on loopback

/// A port that a server reports once it is bound (port 0 configurations).
public final class PortPromise: Sendable {
    private let port = Mutex<Int?>(nil)

    public init() {}

    public func fulfil(_ value: Int) { port.withLock { $0 = value } }

    public func wait(timeout: Duration = .seconds(20)) async throws -> Int {
        var bound: Int?
        _ = try await eventually(timeout: timeout, every: .milliseconds(10)) {
            bound = port.withLock { $0 }
            return bound != nil
        }
        guard let bound, bound > 0 else { throw EndToEndError("server did not report a bound port within \(timeout)") }
        return bound
    }
}

/// Runs `services` in one `ServiceGroup` for the duration of `body`, then shuts them down
/// gracefully (cancelled if that takes more than 20 s), whether `body` returned or threw.
public func withServices<T: Sendable>(
    _ services: [any Service],
    _ body: (ServiceGroup) async throws -> T
) async throws -> T {
    var configuration = ServiceGroupConfiguration(services: services.map { .init(service: $0) }, logger: TestLog.logger("e2e.services"))
    configuration.maximumGracefulShutdownDuration = .seconds(20)
    configuration.maximumCancellationDuration = .seconds(10)
    let group = ServiceGroup(configuration: configuration)
    return try await withThrowingTaskGroup(of: Void.self, returning: T.self) { tasks in
        tasks.addTask { try await group.run() }
        let result: Result<T, any Error>
        do {
            result = .success(try await body(group))
        } catch {
            result = .failure(error)
        }
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
        return try result.get()
    }
}

/// The text exposition of `/metrics`, read one sample at a time.
public struct MetricsText: Sendable {
    public let text: String

    public init(text: String) { self.text = text }

    /// The sample of `name` whose labels include `labels`, or nil when there is none.
    public func value(_ name: String, _ labels: LabelSet = [:]) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(name) && !line.hasPrefix("#") {
            let rest = line.dropFirst(name.count)
            var present: LabelSet = [:]
            let valueText: Substring
            if rest.hasPrefix("{") {
                guard let close = rest.lastIndex(of: "}") else { continue }
                for pair in rest[rest.index(after: rest.startIndex)..<close].split(separator: ",") {
                    let parts = pair.split(separator: "=", maxSplits: 1)
                    guard parts.count == 2 else { continue }
                    present[String(parts[0])] = String(parts[1].dropFirst().dropLast())
                }
                valueText = rest[rest.index(after: close)...]
            } else if rest.hasPrefix(" ") {
                valueText = rest
            } else {
                continue  // a longer name with this prefix
            }
            guard labels.allSatisfy({ present[$0.key] == $0.value }) else { continue }
            return Double(valueText.trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "")
        }
        return nil
    }
}

// MARK: - Real storage peers

/// Where the package's products and fixtures are, found from this file's path.
public enum BuiltProducts {
    /// The package root: two levels above `Tests/SluiceTestSupport`.
    public static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// The `sluice` binary of this build (`swift build --build-tests` builds it); `SLUICE_BINARY`
    /// overrides.
    public static var sluice: String {
        if let path = ProcessInfo.processInfo.environment["SLUICE_BINARY"] { return path }
        for configuration in ["debug", "release"] {
            let path = packageRoot + "/.build/\(configuration)/sluice"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return packageRoot + "/.build/debug/sluice"
    }

    /// `shared/fixtures/prometheus-2.42` beside the package, or `SLUICE_FIXTURES`.
    public static var fixtures: String {
        ProcessInfo.processInfo.environment["SLUICE_FIXTURES"]
            ?? URL(fileURLWithPath: packageRoot).deletingLastPathComponent().appendingPathComponent("shared/fixtures/prometheus-2.42").path
    }

    /// The `.bin` bodies of one fixture folder (`remote-write`, `remote-read`), sorted by name.
    public static func fixtureBodies(_ folder: String) -> [[UInt8]] {
        let directory = fixtures + "/" + folder
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".bin") }.sorted()
        return names.compactMap { FileManager.default.contents(atPath: directory + "/" + $0).map { [UInt8]($0) } }
    }
}

/// A peer run as a child process, each on its own loopback port and data directory: Debian's
/// `prometheus` (with its remote-write receiver on), `victoria-metrics`, or this package's own
/// `sluice storage` binary (for tests that must kill -9 it).
public final class PeerProcess: @unchecked Sendable {
    public enum Kind: Sendable, Equatable {
        case prometheus
        case victoriaMetrics
        /// `sluice storage` with extra flags.
        case sluiceStorage([String])
        /// Any `sluice` subcommand with its flags, verbatim (the listen address among them).
        case sluice([String])
        /// Debian's `prometheus-node-exporter`, something real for Prometheus to scrape.
        case nodeExporter

        public var executable: String {
            switch self {
            case .prometheus: "/usr/bin/prometheus"
            case .victoriaMetrics: "/usr/bin/victoria-metrics"
            case .sluiceStorage, .sluice: BuiltProducts.sluice
            case .nodeExporter: "/usr/bin/prometheus-node-exporter"
            }
        }

        public var isInstalled: Bool { FileManager.default.isExecutableFile(atPath: executable) }
    }

    /// Prometheus' configuration file; the default scrapes nothing.
    public var prometheusConfiguration = "global: {scrape_interval: 15s}\n"

    public let kind: Kind
    public let name: String
    public let port: Int
    public let directory: String
    // Only the test's task touches it; the lock keeps `kill()` from a `defer` safe regardless.
    private let lock = NSLock()
    private var process: Process?

    public init(_ kind: Kind, name: String, port: Int, directory: String) {
        self.kind = kind
        self.name = name
        self.port = port
        self.directory = directory
    }

    /// Set for a peer that serves HTTPS with a certificate from this test CA (`TestCertificates`).
    public var tlsCAFile: String?

    /// Appended to the peer's own arguments, e.g. Prometheus feature flags.
    public var extraArguments: [String] = []

    public var baseURL: String { "\(tlsCAFile == nil ? "http" : "https")://127.0.0.1:\(port)" }
    public var writeURL: String { baseURL + "/api/v1/write" }
    public var logPath: String { directory + "/peer.log" }

    private var arguments: [String] {
        switch kind {
        case .prometheus:
            [
                "--config.file=\(directory)/prometheus.yml", "--storage.tsdb.path=\(directory)/data",
                "--web.listen-address=127.0.0.1:\(port)", "--web.enable-remote-write-receiver",
            ]
        case .victoriaMetrics:
            // The fixtures were captured at a fixed time: a long retention keeps them whatever the
            // clock says.
            [
                "-httpListenAddr=127.0.0.1:\(port)", "-storageDataPath=\(directory)/data",
                "-retentionPeriod=100y", "-search.latencyOffset=0s",
            ]
        case .sluiceStorage(let flags):
            ["storage", "--listen=127.0.0.1:\(port)", "--data-dir=\(directory)/data"] + flags
        case .sluice(let arguments):
            arguments
        case .nodeExporter:
            ["--web.listen-address=127.0.0.1:\(port)"]
        }
    }

    private var readyPath: String {
        switch kind {
        case .prometheus, .sluiceStorage, .sluice: "/-/ready"
        case .victoriaMetrics: "/health"
        case .nodeExporter: "/metrics"
        }
    }

    /// Starts the peer (again, after `stop()`, on the same port and data) and waits until it serves.
    /// The bound is generous: on CI's two cores, while other suites build and load, Prometheus 2.42 took
    /// more than 30 s to answer ready once. A healthy start returns as soon as it answers.
    public func start(timeout: Duration = .seconds(120)) async throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if kind == .prometheus {
            try prometheusConfiguration.write(toFile: directory + "/prometheus.yml", atomically: true, encoding: .utf8)
        }
        if !FileManager.default.fileExists(atPath: logPath) { _ = FileManager.default.createFile(atPath: logPath, contents: nil) }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        defer { try? log.close() }
        try log.seekToEnd()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: kind.executable)
        process.arguments = arguments + extraArguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = log
        process.standardError = log
        try lock.withLock {
            precondition(self.process?.isRunning != true, "\(name) is already running")
            try process.run()
            self.process = process
        }
        let ready = try await eventually(timeout: timeout) {
            guard process.isRunning else { throw EndToEndError("\(name) exited at start: \(logTail())") }
            let answer = try? await TestHTTP.get(baseURL + readyPath, timeout: .seconds(2), caFile: tlsCAFile)
            return answer?.status == 200
        }
        guard ready else {
            kill()
            throw EndToEndError("\(name) was not ready within \(timeout): \(logTail())")
        }
    }

    /// SIGTERM, as an operator would stop it, and waits for it to exit (SIGKILL after `timeout`).
    public func stop(timeout: Duration = .seconds(20)) async throws {
        guard let process = lock.withLock({ self.process }), process.isRunning else { return }
        process.terminate()
        let exited = try await eventually(timeout: timeout, every: .milliseconds(20)) { !process.isRunning }
        if !exited {
            kill()
            throw EndToEndError("\(name) ignored SIGTERM for \(timeout) and was killed")
        }
    }

    /// SIGKILL and reap: for `defer`, where nothing can be awaited. A no-op when not running.
    public func kill() {
        lock.withLock {
            guard let process, process.isRunning else { return }
            killAndReap(process)
        }
    }

    /// The process's peak resident set (`VmHWM`), while it runs.
    public var peakResidentKiB: Int? {
        guard let pid = lock.withLock({ process?.isRunning == true ? process?.processIdentifier : nil }),
              let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
        else { return nil }
        return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
    }

    public func logTail(_ bytes: Int = 1500) -> String {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        return String(text.suffix(bytes))
    }

    /// Makes everything written so far visible to queries (VictoriaMetrics buffers for about a
    /// second; Prometheus needs nothing).
    public func flush() async throws {
        guard kind == .victoriaMetrics else { return }
        let result = try await TestHTTP.get(baseURL + "/internal/force_flush")
        guard result.status == 200 else { throw EndToEndError("\(name) force_flush answered \(result.status)") }
    }

    /// Every series the peer holds with samples between `timestamps` (milliseconds), from
    /// `/api/v1/series`. A bounded range, not `start=0`: VictoriaMetrics answers a range that wide
    /// from an index that fresh series reach only later.
    public func series(between timestamps: ClosedRange<Int64>) async throws -> Set<LabelSet> {
        struct Answer: Decodable {
            var status: String
            var data: [LabelSet]
        }
        let result = try await TestHTTP.get(
            baseURL + "/api/v1/series",
            [("match[]", "{__name__=~\".+\"}"), ("start", String(timestamps.lowerBound / 1000 - 60)), ("end", String(timestamps.upperBound / 1000 + 60))]
        )
        guard result.status == 200 else { throw EndToEndError("\(name) /api/v1/series answered \(result.status): \(result.body.prefix(300))") }
        let answer = try JSONDecoder().decode(Answer.self, from: Data(result.body.utf8))
        return Set(answer.data)
    }

    /// Every raw sample the peer holds between `timestamps` (milliseconds), by series: an instant
    /// query of a range selector returns the stored samples unchanged, on both Prometheus and
    /// VictoriaMetrics. Prometheus leaves stale markers out of range selectors.
    public func samples(between timestamps: ClosedRange<Int64>) async throws -> [LabelSet: [Int64: Double]] {
        struct Answer: Decodable {
            struct Body: Decodable {
                var resultType: String
                var result: [Series]
            }
            struct Series: Decodable {
                var metric: LabelSet
                var values: [Point]
            }
            struct Point: Decodable {
                var timestamp: Int64
                var value: Double
                init(from decoder: any Decoder) throws {
                    var container = try decoder.unkeyedContainer()
                    timestamp = Int64((try container.decode(Double.self) * 1000).rounded())
                    let text = try container.decode(String.self)
                    guard let value = Double(text) else {
                        throw DecodingError.dataCorruptedError(in: container, debugDescription: "sample value \(text)")
                    }
                    self.value = value
                }
            }
            var status: String
            var data: Body
        }
        let time = timestamps.upperBound / 1000 + 1
        let window = time - timestamps.lowerBound / 1000 + 60
        let result = try await TestHTTP.get(
            baseURL + "/api/v1/query", [("query", "{__name__=~\".+\"}[\(window)s]"), ("time", String(time))]
        )
        guard result.status == 200 else { throw EndToEndError("\(name) /api/v1/query answered \(result.status): \(result.body.prefix(300))") }
        let answer = try JSONDecoder().decode(Answer.self, from: Data(result.body.utf8))
        guard answer.data.resultType == "matrix" else { throw EndToEndError("\(name) answered a \(answer.data.resultType)") }
        var out: [LabelSet: [Int64: Double]] = [:]
        for series in answer.data.result {
            for point in series.values { out[series.metric, default: [:]][point.timestamp] = point.value }
        }
        return out
    }
}

private func sendSignal(_ signal: Int32, to pid: Int32) {
    _ = kill(pid, signal)
}

extension PeerProcess {
    /// What an instant query for exactly `labels` at `timestamp` (milliseconds) answers: the
    /// series' sample at that time. Nil when the query finds nothing.
    public func instantValue(of labels: LabelSet, at timestamp: Int64) async throws -> Double? {
        struct Answer: Decodable {
            struct Body: Decodable {
                var result: [Series]
            }
            struct Series: Decodable {
                var value: [Value]
            }
            enum Value: Decodable {
                case number(Double)
                case text(String)
                init(from decoder: any Decoder) throws {
                    let container = try decoder.singleValueContainer()
                    if let number = try? container.decode(Double.self) { self = .number(number) } else { self = .text(try container.decode(String.self)) }
                }
            }
            var data: Body
        }
        func quoted(_ value: String) -> String {
            "\"" + value.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"").replacing("\n", with: "\\n") + "\""
        }
        let selector = "{" + labels.sorted { $0.key < $1.key }.map { "\($0.key)=\(quoted($0.value))" }.joined(separator: ",") + "}"
        let milliseconds = String(timestamp % 1000)
        let time = "\(timestamp / 1000)." + String(repeating: "0", count: 3 - milliseconds.count) + milliseconds
        let result = try await TestHTTP.get(baseURL + "/api/v1/query", [("query", selector), ("time", time)])
        guard result.status == 200 else { throw EndToEndError("\(name) /api/v1/query answered \(result.status): \(result.body.prefix(300))") }
        let answer = try JSONDecoder().decode(Answer.self, from: Data(result.body.utf8))
        guard let series = answer.data.result.first else { return nil }
        guard answer.data.result.count == 1, series.value.count == 2, case .text(let text) = series.value[1] else {
            throw EndToEndError("\(name) answered \(selector) with \(answer.data.result.count) series")
        }
        return Double(text)
    }
}

/// Peers of `kind`, one per name, each on its own port and in its own subdirectory of `directory`;
/// not started yet. The caller stops them: `defer { for peer in peers { peer.kill() } }` right after.
public func makePeers(_ kind: PeerProcess.Kind, names: [String], in directory: TemporaryDirectory) throws -> [PeerProcess] {
    let ports = try freePorts(names.count)
    return zip(names, ports).map { name, port in PeerProcess(kind, name: name, port: port, directory: directory.path + "/" + name) }
}

/// Starts `peers` at once and waits until all serve.
public func startAll(_ peers: [PeerProcess]) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        for peer in peers { group.addTask { try await peer.start() } }
        try await group.waitForAll()
    }
}

/// A short account of how two sets differ, for expectation messages.
public func difference<Element: Hashable>(expected: Set<Element>, actual: Set<Element>) -> String {
    let missing = expected.subtracting(actual)
    let extra = actual.subtracting(expected)
    return "\(missing.count) missing (e.g. \(missing.prefix(2).map { "\($0)" })), \(extra.count) unexpected (e.g. \(extra.prefix(2).map { "\($0)" }))"
}

/// Whether two sample sets are the same, NaN equal to NaN, values within `tolerance` of each other
/// relative to their size (0: bit for bit, but for NaN payloads).
public func sameSamples(_ a: [Int64: Double], _ b: [Int64: Double], tolerance: Double = 0) -> Bool {
    guard a.count == b.count else { return false }
    for (timestamp, value) in a {
        guard let other = b[timestamp] else { return false }
        if value.isNaN || other.isNaN {
            guard value.isNaN && other.isNaN else { return false }
        } else if value != other {
            guard abs(value - other) <= tolerance * max(abs(value), abs(other)) else { return false }
        }
    }
    return true
}

/// Remote-write protobuf built by hand, for bodies `MessageCodec` will not encode (invalid ones).
public enum RawProtobuf {
    public static func varint(_ value: UInt64) -> [UInt8] {
        var value = value
        var out: [UInt8] = []
        while value >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        out.append(UInt8(value))
        return out
    }

    public static func field(_ number: UInt64, _ bytes: [UInt8]) -> [UInt8] {
        varint(number << 3 | 2) + varint(UInt64(bytes.count)) + bytes
    }

    public static func label(_ name: String, _ value: String) -> [UInt8] {
        field(1, field(1, Array(name.utf8)) + field(2, Array(value.utf8)))
    }

    public static func sample(_ value: Double, at timestamp: Int64) -> [UInt8] {
        var bits = value.bitPattern.littleEndian
        let double = withUnsafeBytes(of: &bits) { Array($0) }
        return field(2, [0x09] + double + [0x10] + varint(UInt64(bitPattern: timestamp)))
    }

    /// One series with one sample, its labels in the order given.
    public static func writeRequest(labels: [(String, String)], value: Double = 1, timestamp: Int64) -> [UInt8] {
        field(1, labels.flatMap { label($0.0, $0.1) } + sample(value, at: timestamp))
    }
}

/// SIGKILL `process` and wait for it, boundedly. Foundation reaps children on its own, and once in a
/// CI run it never did: the child stayed a zombie and `waitUntilExit()` spun for good, hanging the
/// whole run. After 5 s the child is reaped here instead; after 10 s it is left.
public func killAndReap(_ process: Process) {
    let pid = process.processIdentifier
    _ = kill(pid, SIGKILL)
    let clock = ContinuousClock()
    let start = clock.now
    while process.isRunning, clock.now - start < .seconds(10) {
        if clock.now - start > .seconds(5) {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid { return }
        }
        usleep(10_000)
    }
}
