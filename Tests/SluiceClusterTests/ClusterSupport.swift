import Foundation
import SluiceCodec
import SluiceLoadgen
import SluiceTestSupport

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// What the cluster tests share: the fixtures as an expectation, `sluice up` as a child process,
// ports for it, and PromQL range queries.

enum Fixtures {
    /// The six remote-write bodies Prometheus 2.42 sent, and what they hold by label set.
    static func load() throws -> (bodies: [[UInt8]], series: [LabelSet: [Int64: Double]], range: ClosedRange<Int64>) {
        let bodies = BuiltProducts.fixtureBodies("remote-write")
        guard bodies.count == 6 else { throw EndToEndError("expected 6 remote-write fixtures in \(BuiltProducts.fixtures), found \(bodies.count)") }
        var series: [LabelSet: [Int64: Double]] = [:]
        for body in bodies {
            let request = try MessageCodec().decodeWriteRequest(try Snappy.decompress(body, limit: 64 << 20))
            for one in request.timeseries where !one.samples.isEmpty {
                let labels = LabelSet(uniqueKeysWithValues: one.labels.map { ($0.name, $0.value) })
                series[labels, default: [:]].merge(one.samples.map { ($0.timestamp, $0.value) }) { $1 }
            }
        }
        let timestamps = series.values.flatMap(\.keys)
        guard let first = timestamps.min(), let last = timestamps.max() else { throw EndToEndError("the fixtures hold no samples") }
        return (bodies, series, first...last)
    }
}

/// Whether two answers hold the same series with the same samples, bit for bit (NaNs by payload:
/// a stale marker must stay one).
func sameData(_ a: [LabelSet: [Int64: Double]], _ b: [LabelSet: [Int64: Double]]) -> Bool {
    guard Set(a.keys) == Set(b.keys) else { return false }
    for (labels, samples) in a {
        guard let other = b[labels], other.count == samples.count else { return false }
        for (t, v) in samples {
            guard let w = other[t], v.bitPattern == w.bitPattern || v == w else { return false }
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
        text += "; e.g. \(first): \(expected[first]!.sorted { $0.key < $1.key }.prefix(3)) vs \(actual[first]!.sorted { $0.key < $1.key }.prefix(3))"
    } else if let first = missing.first {
        text += "; e.g. missing \(first)"
    } else if let first = extra.first {
        text += "; e.g. extra \(first)"
    }
    return text
}

/// `count` consecutive free loopback ports (what `sluice up --storage-port` takes) and `extra` more
/// anywhere. All are held until all are picked.
func consecutiveFreePorts(_ count: Int, extra: Int) throws -> (first: Int, extra: [Int]) {
    for _ in 0..<200 {
        let base = try freePorts(1)[0]
        guard base + count - 1 <= 65535 else { continue }
        var sockets: [Int32] = []
        defer { for fd in sockets { close(fd) } }
        var all = true
        for port in base..<(base + count) {
            #if canImport(Glibc)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            #else
            let fd = socket(AF_INET, SOCK_STREAM, 0)
            #endif
            guard fd >= 0 else { throw EndToEndError("socket() failed: errno \(errno)") }
            sockets.append(fd)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = UInt16(port).bigEndian
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let bound = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
            guard bound else {
                all = false
                break
            }
        }
        // The held range cannot be handed out again here.
        if all { return (base, try freePorts(extra)) }
    }
    throw EndToEndError("found no \(count) consecutive free ports")
}

/// `sluice up` run the way a user runs it: its own stdout and stderr, stopped with Ctrl-C (SIGINT).
final class UpProcess: @unchecked Sendable {
    let arguments: [String]
    let directory: String
    // Only the test's task touches it; the lock keeps `kill()` from a `defer` safe regardless.
    private let lock = NSLock()
    private var process: Process?

    init(arguments: [String], directory: String) {
        self.arguments = arguments
        self.directory = directory
    }

    var stdoutPath: String { directory + "/stdout" }
    var stderrPath: String { directory + "/stderr" }
    var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    var stderrTail: String { String(((try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "").suffix(1500)) }

    /// Starts it and returns what it printed once the banner is complete.
    func start(timeout: Duration = .seconds(60)) async throws -> String {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for path in [stdoutPath, stderrPath] { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: stdoutPath))
        let err = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        defer {
            try? out.close()
            try? err.close()
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: BuiltProducts.sluice)
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = out
        process.standardError = err
        try lock.withLock {
            try process.run()
            self.process = process
        }
        let up = try await eventually(timeout: timeout, every: .milliseconds(50)) {
            guard process.isRunning else { throw EndToEndError("sluice up exited at start (\(process.terminationStatus)): \(stderrTail)") }
            return stdout.contains("Ctrl-C stops everything")
        }
        guard up else {
            kill()
            throw EndToEndError("sluice up printed no banner within \(timeout): stdout \(stdout), stderr \(stderrTail)")
        }
        return stdout
    }

    /// Ctrl-C, and its exit status once it is gone; nil if it was still running after `timeout`
    /// (then it is killed).
    func interrupt(timeout: Duration = .seconds(20)) async throws -> Int32? {
        guard let process = lock.withLock({ self.process }) else { return nil }
        process.interrupt()
        let exited = try await eventually(timeout: timeout, every: .milliseconds(20)) { !process.isRunning }
        guard exited else {
            kill()
            return nil
        }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// SIGKILL and reap, for `defer`. A no-op when not running.
    func kill() {
        lock.withLock {
            guard let process, process.isRunning else { return }
            killAndReap(process)
        }
    }
}

extension PromQL {
    /// The value of a one-series instant query, now.
    static func scalar(_ peer: PeerProcess, _ promql: String) async throws -> Double? {
        struct Answer: Decodable {
            struct Body: Decodable { var result: [Series] }
            struct Series: Decodable { var value: [Value] }
            enum Value: Decodable {
                case number(Double), text(String)
                init(from decoder: any Decoder) throws {
                    let container = try decoder.singleValueContainer()
                    if let number = try? container.decode(Double.self) { self = .number(number) } else { self = .text(try container.decode(String.self)) }
                }
            }
            var data: Body
        }
        let result = try await TestHTTP.get(peer.baseURL + "/api/v1/query", [("query", promql)])
        guard result.status == 200 else { throw EndToEndError("\(peer.name) \(promql): \(result.status) \(result.body.prefix(300))") }
        let answer = try JSONDecoder().decode(Answer.self, from: Data(result.body.utf8))
        guard let series = answer.data.result.first, series.value.count == 2, case .text(let text) = series.value[1] else { return nil }
        return Double(text)
    }
}

extension LoadgenConfiguration {
    /// A load bounded by its request count, as the cluster tests send it: `requests` requests of
    /// 100 samples over `series` series, no progress output, and a run id of `run` and a random
    /// number, so runs against one cluster stay apart.
    static func bounded(
        url: String, run: String, series: Int, metrics: Int = 10, requests: Int, concurrency: Int, pace: Pace,
        maxRetryTime: Double
    ) -> LoadgenConfiguration {
        var configuration = LoadgenConfiguration(url: url, runID: "\(run)\(UInt16.random(in: 0...UInt16.max))")
        configuration.series = series
        configuration.metrics = metrics
        configuration.batch = 100
        configuration.concurrency = concurrency
        configuration.pace = pace
        configuration.duration = nil
        configuration.requests = requests
        configuration.progress = .none
        configuration.maxRetryTime = maxRetryTime
        return configuration
    }
}
