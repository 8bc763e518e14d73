import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Testing
@testable import SluiceCodec

/// Proves the XOR chunk codec bit-compatible with a real Prometheus 2.42 (Debian's `prometheus`
/// package, which `scripts/setup.sh --test` installs): samples go in by remote write, come back by
/// remote read as Prometheus' own chunks, decode to exactly what was written, and re-encode to the
/// same bytes.
@Suite struct PrometheusXORTests {
    @Test(
        .enabled(
            if: FileManager.default.isExecutableFile(atPath: PrometheusProcess.executable)
                && FileManager.default.isExecutableFile(atPath: HTTPClient.executable),
            "needs Debian's prometheus and curl packages (scripts/setup.sh --test installs them)"
        ),
        .timeLimit(.minutes(2))
    )
    func chunksMatchPrometheus() async throws {
        let client = try HTTPClient()
        defer { client.remove() }
        let prometheus = try await PrometheusProcess.start(client: client)
        defer { prometheus.stop() }

        let written = TestData.series(endingAt: Int64(Date().timeIntervalSince1970 * 1000) - 60_000)
        let first = written.map { $0.samples.first!.timestamp }.min()!
        let last = written.map { $0.samples.last!.timestamp }.max()!
        // Past 1.5 × the 2 h block range, Prometheus would compact the head while the test reads it.
        try #require(last - first < 3 * 3_600_000, "test data spans \(last - first) ms")
        try await write(written, to: prometheus, client: client)

        // A range wider than the data: chunks cut by the query's bounds would come back re-encoded.
        let start = first - 60_000
        let end = last + 120_000
        let query = Query(
            startMs: start, endMs: end,
            matchers: [LabelMatcher(.regex, name: "__name__", value: TestData.namePrefix + ".*")]
        )
        try await expectChunksMatch(written, query: query, prometheus: prometheus, client: client)
        try await expectSamplesMatch(written, query: query, prometheus: prometheus, client: client)
    }

    /// Remote write 1.0, in time order and in batches of at most `TestData.batchSpan` per request: the
    /// head takes no sample more than an hour older than its newest (no out-of-order window is set).
    private func write(_ series: [WrittenSeries], to prometheus: PrometheusProcess, client: HTTPClient) async throws {
        let codec = MessageCodec()
        let first = series.map { $0.samples.first!.timestamp }.min()!
        let last = series.map { $0.samples.last!.timestamp }.max()!
        var requests = 0
        var batchStart = first
        while batchStart <= last {
            let batch = batchStart..<(batchStart + TestData.batchSpan)
            batchStart = batch.upperBound
            let request = WriteRequest(timeseries: series.compactMap { s in
                let samples = s.samples.filter { batch.contains($0.timestamp) }
                return samples.isEmpty ? nil : TimeSeries(labels: s.labels, samples: samples)
            })
            guard !request.timeseries.isEmpty else { continue }
            let protobuf = codec.encoded { $0.encode(request, appendingTo: $1) }
            // The -0.0 → +0.0 of `received` happens here, in our own encoder, as in Prometheus' client.
            let sent = try codec.decodeWriteRequest(protobuf)
            #expect(sent.timeseries.map(\.samples) == request.timeseries.map { $0.samples.map(\.asReceived) })
            let body = Snappy.compress(protobuf)
            let response = try await client.post(prometheus.url("/api/v1/write"), body: body, headers: [
                "Content-Encoding": "snappy",
                "Content-Type": "application/x-protobuf",
                "X-Prometheus-Remote-Write-Version": "0.1.0",
            ])
            try #require(
                response.status == 204,
                "remote write \(requests) answered \(response.status): \(response.text)\n\(prometheus.logTail())"
            )
            requests += 1
        }
        #expect(requests >= 5, "written in several batches")
    }

    /// STREAMED_XOR_CHUNKS: Prometheus' own chunk bytes, which must decode to exactly the samples written
    /// and re-encode to the same bytes, save 2.42's padding byte.
    ///
    /// Completed head chunks come back as stored (m-mapped); the open one is re-encoded by Prometheus'
    /// appender at query time. Both are Prometheus' encoder. 2.42 cuts head chunks by time, not count:
    /// at the 30th sample it predicts an end time that spreads the rest of the 2 h range evenly, cuts
    /// at 240 samples regardless, and never lets a chunk cross a 2 h boundary. So with gaps in the data
    /// chunks hold anything from a few to 240 samples.
    private func expectChunksMatch(
        _ written: [WrittenSeries], query: Query, prometheus: PrometheusProcess, client: HTTPClient
    ) async throws {
        let codec = MessageCodec()
        let request = ReadRequest(queries: [query], acceptedResponseTypes: [.streamedXORChunks])
        let response = try await client.post(
            prometheus.url("/api/v1/read"),
            body: Snappy.compress(codec.encoded { $0.encode(request, appendingTo: $1) }),
            headers: Self.readHeaders
        )
        try #require(response.status == 200, "remote read answered \(response.status): \(response.text)")
        #expect(response.contentType == "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse")
        // The frames are not snappy-compressed: their CRCs cover the raw messages.
        #expect(response.contentEncoding == nil)

        let frames = try response.body.withBytes { (raw) throws(CodecError) in
            try ChunkedFrame.messages(in: raw).map { (range) throws(CodecError) in
                try codec.decodeChunkedReadResponse(UnsafeRawBufferPointer(rebasing: raw[range]))
            }
        }
        // A series larger than one frame (1 MiB by default) would continue in the next frame, so gather
        // chunks by label set rather than assuming one frame per series.
        var chunksBySeries: [[Label]: [Chunk]] = [:]
        for frame in frames {
            #expect(frame.queryIndex == 0)
            for series in frame.chunkedSeries {
                chunksBySeries[series.labels, default: []].append(contentsOf: series.chunks)
            }
        }
        #expect(Set(chunksBySeries.keys) == Set(written.map(\.labels)))

        var identical = 0
        var padded = 0
        var deltaOfDeltaBuckets = Set<Int>()
        var chunkSizes: [String: [Int]] = [:]
        for series in written {
            let chunks = try #require(chunksBySeries[series.labels], "no chunks for \(series.name)")
            var samples: [Sample] = []
            var previousMax = Int64.min
            for (index, chunk) in chunks.enumerated() {
                let place = "\(series.name) chunk \(index)"
                #expect(chunk.encoding == .xor, "\(place)")
                let decoded = try XORChunkDecoder.decodeAll(chunk.data).map { Sample(timestamp: $0.timestamp, value: $0.value) }
                try #require(!decoded.isEmpty, "\(place) is empty")
                #expect(chunk.minTimeMs == decoded.first!.timestamp, "\(place) minTime")
                #expect(chunk.maxTimeMs == decoded.last!.timestamp, "\(place) maxTime")
                #expect(chunk.minTimeMs > previousMax, "\(place) overlaps the one before")
                previousMax = chunk.maxTimeMs
                samples += decoded
                chunkSizes[series.name, default: []].append(decoded.count)
                deltaOfDeltaBuckets.formUnion(TestData.deltaOfDeltaBuckets(decoded.map(\.timestamp)))

                var encoder = XORChunkEncoder()
                for sample in decoded {
                    encoder.append(timestamp: sample.timestamp, value: sample.value)
                }
                let ours = encoder.bytes
                if ours == chunk.data {
                    identical += 1
                } else if chunk.data.count == ours.count + 1, chunk.data.last == 0, chunk.data.dropLast().elementsEqual(ours) {
                    // Prometheus before prometheus/prometheus#14854 leaves an empty byte after a byte-aligned
                    // `writeByte`, so the stream must have ended on a byte boundary.
                    #expect(encoder.bitCount % 8 == 0, "\(place): padding byte after a stream that is not byte-aligned")
                    padded += 1
                } else {
                    Issue.record("""
                        \(place) re-encodes differently: Prometheus \(chunk.data.count) bytes, ours \(ours.count) bytes, \
                        first difference at byte \(zip(ours, chunk.data).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(ours.count, chunk.data.count))
                        """)
                }
            }
            expectSameSamples(samples, series.received, "\(series.name) from chunks")
        }
        // The timestamps were made to need every bucket; check Prometheus' chunk cuts left each inside
        // some chunk, so the byte comparison above covered them all.
        #expect(deltaOfDeltaBuckets == [0, 14, 17, 20, 64])
        #expect(padded >= 1, "the one-sample chunk ends in 2.42's padding byte")
        print("Prometheus XOR chunks: \(identical) byte-identical, \(padded) equal after stripping one trailing zero byte")
        for (name, sizes) in chunkSizes.sorted(by: { $0.key < $1.key }) {
            print("  \(name): \(sizes.count) chunks of \(sizes.map(String.init).joined(separator: ", ")) samples")
        }
    }

    /// SAMPLES: a snappy-compressed `ReadResponse`.
    private func expectSamplesMatch(
        _ written: [WrittenSeries], query: Query, prometheus: PrometheusProcess, client: HTTPClient
    ) async throws {
        let codec = MessageCodec()
        let request = ReadRequest(queries: [query])
        let response = try await client.post(
            prometheus.url("/api/v1/read"),
            body: Snappy.compress(codec.encoded { $0.encode(request, appendingTo: $1) }),
            headers: Self.readHeaders
        )
        try #require(response.status == 200, "remote read answered \(response.status): \(response.text)")
        #expect(response.contentType == "application/x-protobuf")
        #expect(response.contentEncoding == "snappy")
        let protobuf = try Snappy.decompress(response.body, limit: 64 << 20)
        let decoded = try protobuf.withBytes { (raw) throws(CodecError) in try codec.decodeReadResponse(raw) }
        try #require(decoded.results.count == 1)
        let timeseries = decoded.results[0].timeseries
        #expect(Set(timeseries.map(\.labels)) == Set(written.map(\.labels)))
        for series in written {
            let returned = try #require(timeseries.first { $0.labels == series.labels }, "no \(series.name)")
            // Prometheus 2.42's SAMPLES path (`remote.ToQueryResult`) copies every sample the series
            // iterator yields, stale markers and other NaNs included, bit for bit: unlike PromQL, remote
            // read does not hide staleness.
            expectSameSamples(returned.samples, series.received, "\(series.name) as samples")
            #expect(
                returned.samples.count { StaleMarker.isStale($0.value) }
                    == series.samples.count { StaleMarker.isStale($0.value) }
            )
        }
    }

    private static let readHeaders = [
        "Content-Encoding": "snappy",
        "Content-Type": "application/x-protobuf",
        "X-Prometheus-Remote-Read-Version": "0.1.0",
    ]
}

// MARK: Test data

/// One series as written.
private struct WrittenSeries {
    var name: String
    var samples: [Sample]

    /// The samples as Prometheus receives them.
    var received: [Sample] { samples.map(\.asReceived) }

    /// Sorted, as Prometheus returns them.
    var labels: [Label] { [Label(name: "__name__", value: name), Label(name: "job", value: "sluice-xor-test")] }
}

private enum TestData {
    static let namePrefix = "sluice_xor_"
    static let samplesPerSeries = 500
    static let batchSpan: Int64 = 20 * 60_000

    /// A counter, a random-walk gauge, and a series of special values, each about 2 h 48 min long, and
    /// a series of one sample. Everything comes from a fixed seed except the end time, which is near now
    /// so that the data lands in Prometheus' head.
    static func series(endingAt end: Int64) -> [WrittenSeries] {
        var rng = SplitMix64(seed: 242)
        let counter = counterValues(using: &rng)
        let gauge = gaugeValues(using: &rng)
        let special = specialValues(using: &rng)
        let long = [("counter_total", counter), ("gauge", gauge), ("special", special)].map { name, values in
            let times = timestamps(endingAt: end, using: &rng)
            return WrittenSeries(
                name: namePrefix + name,
                samples: zip(times, values).map { Sample(timestamp: $0, value: $1) }
            )
        }
        // A one-sample chunk is written with byte-aligned `writeByte`s only, so Prometheus 2.42 always
        // pads it: the padding case is seen on every run, not by chance.
        return long + [WrittenSeries(name: namePrefix + "single", samples: [Sample(timestamp: end - 30_000, value: 42.5)])]
    }

    /// 15 s apart, a third of them jittered by up to ±3 s (14-bit delta-of-delta), with gaps that need the
    /// 17-, 20- and 64-bit buckets. Several gaps of each kind, at different places in each series, so
    /// that some land inside a chunk whatever times Prometheus cuts chunks at.
    static func timestamps(endingAt end: Int64, using rng: inout SplitMix64) -> [Int64] {
        var deltas = [Int64](repeating: 15_000, count: samplesPerSeries - 1)
        for i in deltas.indices where Int.random(in: 0..<3, using: &rng) == 0 {
            deltas[i] += Int64.random(in: -3_000...3_000, using: &rng)
        }
        var places = Array(10..<(deltas.count - 10)).shuffled(using: &rng)
        for _ in 0..<4 { deltas[places.removeLast()] = Int64.random(in: 30_000...60_000, using: &rng) }
        for _ in 0..<2 { deltas[places.removeLast()] = Int64.random(in: 200_000...300_000, using: &rng) }
        for _ in 0..<3 { deltas[places.removeLast()] = Int64.random(in: 600_000...610_000, using: &rng) }
        var t = end - deltas.reduce(0, +)
        var times = [t]
        for delta in deltas {
            t += delta
            times.append(t)
        }
        return times
    }

    /// Hundredths, like CPU seconds, unchanged one time in five, with one reset.
    static func counterValues(using rng: inout SplitMix64) -> [Double] {
        var value = Double(Int.random(in: 0...1_000_000, using: &rng))
        let reset = Int.random(in: (samplesPerSeries / 4)..<(samplesPerSeries * 3 / 4), using: &rng)
        return (0..<samplesPerSeries).map { i in
            if i == reset {
                value = Double(Int.random(in: 0...10, using: &rng))
            } else if Int.random(in: 0..<5, using: &rng) != 0 {
                value += Double(Int.random(in: 1...50_000, using: &rng)) / 100
            }
            return value
        }
    }

    /// Full-precision steps, unchanged one time in six.
    static func gaugeValues(using rng: inout SplitMix64) -> [Double] {
        var value = 50.0
        return (0..<samplesPerSeries).map { _ in
            if Int.random(in: 0..<6, using: &rng) != 0 {
                value += Double.random(in: -1...1, using: &rng)
            }
            return value
        }
    }

    static let specials: [Double] = [
        StaleMarker.value, .nan, Double(bitPattern: 0x7FF8_0000_0000_0001) /* Go's math.NaN() */,
        .infinity, -.infinity, -0.0, 0, .greatestFiniteMagnitude, .leastNonzeroMagnitude, -.leastNormalMagnitude,
    ]

    /// Small halves, stale markers (alone and in runs), NaNs, infinities, signed zero and extremes; each
    /// special value appears at least once.
    static func specialValues(using rng: inout SplitMix64) -> [Double] {
        var values = (0..<samplesPerSeries).map { _ in
            switch Int.random(in: 0..<8, using: &rng) {
            case 0: specials.randomElement(using: &rng)!
            case 1: StaleMarker.value
            default: Double(Int.random(in: 0...6, using: &rng)) / 2
            }
        }
        for (k, value) in specials.enumerated() {
            values[20 + k * 41] = value
        }
        values.replaceSubrange(300..<306, with: repeatElement(StaleMarker.value, count: 6))
        return values
    }

    /// The delta-of-delta buckets (0, 14, 17, 20 or 64 bits) that the timestamps of one chunk need.
    static func deltaOfDeltaBuckets(_ times: [Int64]) -> Set<Int> {
        var buckets = Set<Int>()
        guard times.count > 2 else { return buckets }
        for i in 2..<times.count {
            let dod = (times[i] - times[i - 1]) - (times[i - 1] - times[i - 2])
            let bits = switch dod {
            case 0: 0
            case -8191...8192: 14
            case -65535...65536: 17
            case -524_287...524_288: 20
            default: 64
            }
            buckets.insert(bits)
        }
        return buckets
    }
}

extension Sample {
    /// The sample as a remote-write 1.0 receiver gets it: -0.0 arrives as +0.0. `Sample.value` is a
    /// proto3 `double` without presence, which gogoproto (Prometheus' generated `if m.Value != 0`) and
    /// libprotobuf-c (`field_is_zeroish`) alike leave out when it compares equal to zero, as -0.0 does;
    /// the receiver then reads the default, +0.0.
    fileprivate var asReceived: Sample {
        value == 0 ? Sample(timestamp: timestamp, value: 0) : self
    }
}

private func expectSameSamples(
    _ actual: [Sample], _ expected: [Sample], _ what: String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    guard actual != expected else { return }
    let index = zip(actual, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset
        ?? min(actual.count, expected.count)
    func show(_ samples: [Sample]) -> String {
        guard index < samples.count else { return "nothing" }
        return "(\(samples[index].timestamp), 0x\(String(samples[index].value.bitPattern, radix: 16)))"
    }
    Issue.record(
        "\(what): \(actual.count) samples, expected \(expected.count); first difference at \(index): \(show(actual)), expected \(show(expected))",
        sourceLocation: sourceLocation
    )
}

// MARK: Prometheus and HTTP

private struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A Prometheus child process on a loopback port, with its config, TSDB and log in a temporary
/// directory that `stop()` removes.
private final class PrometheusProcess {
    static let executable = "/usr/bin/prometheus"

    let port: Int
    let directory: URL
    private let process = Process()
    private let log: FileHandle
    private let logURL: URL

    /// Starts Prometheus and waits, at most 30 s, for `/-/ready`. The port comes from binding port 0,
    /// so another process may take it before Prometheus does; then Prometheus exits and this tries
    /// again with a new port.
    static func start(client: HTTPClient) async throws -> PrometheusProcess {
        var attempt = 0
        while true {
            attempt += 1
            let prometheus = try PrometheusProcess(port: try freeLoopbackPort())
            do {
                try await prometheus.waitUntilReady(client: client, timeout: .seconds(30))
                return prometheus
            } catch let error as TestFailure where !prometheus.process.isRunning && attempt < 3 {
                print("Prometheus exited before it was ready, retrying: \(error)")
                prometheus.stop()
            } catch {
                prometheus.stop()
                throw error
            }
        }
    }

    private init(port: Int) throws {
        self.port = port
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-prometheus-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let config = directory.appendingPathComponent("prometheus.yml")
        // No scrape configs: the only data is what the test writes.
        try Data("global:\n  scrape_interval: 15s\n".utf8).write(to: config)
        logURL = directory.appendingPathComponent("prometheus.log")
        guard FileManager.default.createFile(atPath: logURL.path, contents: nil) else {
            try? FileManager.default.removeItem(at: directory)
            throw TestFailure("cannot create \(logURL.path)")
        }
        log = try FileHandle(forWritingTo: logURL)
        process.executableURL = URL(fileURLWithPath: Self.executable)
        process.arguments = [
            "--config.file=\(config.path)",
            "--storage.tsdb.path=\(directory.appendingPathComponent("data").path)",
            "--web.listen-address=127.0.0.1:\(port)",
            "--web.enable-remote-write-receiver",
        ]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = log
        process.standardError = log
        do {
            try process.run()
        } catch {
            try? log.close()
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
    }

    func url(_ path: String) -> URL {
        URL(string: "http://127.0.0.1:\(port)\(path)")!
    }

    private func waitUntilReady(client: HTTPClient, timeout: Duration) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            guard process.isRunning else {
                throw TestFailure("Prometheus exited with status \(process.terminationStatus)\n\(logTail())")
            }
            if let response = try? await client.get(url("/-/ready"), timeout: 1), response.status == 200 {
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure("Prometheus not ready after \(timeout)\n\(logTail())")
    }

    /// SIGTERM, then SIGKILL if it has not exited within 10 s; removes the directory.
    func stop() {
        if process.isRunning {
            process.terminate()
            let deadline = Date().addingTimeInterval(10)
            while process.isRunning && Date() < deadline {
                usleep(20_000)
            }
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
            }
            process.waitUntilExit()
        }
        try? log.close()
        try? FileManager.default.removeItem(at: directory)
    }

    /// The end of Prometheus' log, for failure messages.
    func logTail() -> String {
        let text = (try? String(contentsOf: logURL, encoding: .utf8)) ?? ""
        return "--- \(logURL.lastPathComponent) ---\n" + String(text.suffix(3000))
    }
}

/// A loopback port that was free a moment ago: bind port 0, read what the kernel chose, close.
private func freeLoopbackPort() throws -> Int {
    #if canImport(Glibc)
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    #else
    let fd = socket(AF_INET, SOCK_STREAM, 0)
    #endif
    guard fd >= 0 else { throw TestFailure("socket() failed, errno \(errno)") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
            bind(fd, raw, length) == 0 && getsockname(fd, raw, &length) == 0
        }
    }
    guard ok else { throw TestFailure("binding 127.0.0.1:0 failed, errno \(errno)") }
    return Int(UInt16(bigEndian: address.sin_port))
}

private struct HTTPResponse {
    var status: Int
    var contentType: String?
    var contentEncoding: String?
    var body: [UInt8]

    var text: String { String(decoding: body.prefix(1024), as: UTF8.self) }
}

/// HTTP through the `curl` command, every request bounded by `--max-time`.
///
/// Not URLSession: swift-corelibs-foundation turns on libcurl's automatic decompression, and libcurl
/// then fails a SAMPLES response outright on its `Content-Encoding: snappy` ("Unrecognized content
/// encoding type"). The curl command decodes nothing unless asked to.
private final class HTTPClient {
    static let executable = "/usr/bin/curl"

    /// Request and response bodies and headers go through files here.
    private let directory: URL
    private var requests = 0

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-curl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func remove() {
        try? FileManager.default.removeItem(at: directory)
    }

    func get(_ url: URL, timeout: Int = 10) async throws -> HTTPResponse {
        try await send(url, body: nil, headers: [:], timeout: timeout)
    }

    func post(_ url: URL, body: [UInt8], headers: [String: String], timeout: Int = 10) async throws -> HTTPResponse {
        try await send(url, body: body, headers: headers, timeout: timeout)
    }

    private func send(_ url: URL, body: [UInt8]?, headers: [String: String], timeout: Int) async throws -> HTTPResponse {
        requests += 1
        let name = directory.appendingPathComponent("\(requests)").path
        defer {
            for suffix in [".request", ".response", ".headers"] {
                try? FileManager.default.removeItem(atPath: name + suffix)
            }
        }
        var arguments = [
            "--silent", "--show-error", "--noproxy", "*",
            "--connect-timeout", "2", "--max-time", "\(timeout)",
            "--output", name + ".response", "--dump-header", name + ".headers",
            "--write-out", "%{http_code}",
        ]
        if let body {
            try Data(body).write(to: URL(fileURLWithPath: name + ".request"))
            // No `Expect: 100-continue` round trip for bodies over 1 KiB.
            arguments += ["--request", "POST", "--data-binary", "@" + name + ".request", "--header", "Expect:"]
        }
        for (field, value) in headers.sorted(by: { $0.key < $1.key }) {
            arguments += ["--header", "\(field): \(value)"]
        }
        arguments.append(url.absoluteString)

        let output = try await run(arguments)
        guard output.status == 0, let status = Int(output.stdout) else {
            throw TestFailure("curl \(url.path) exited with \(output.status): \(output.stderr)")
        }
        let rawHeaders = (try? String(contentsOfFile: name + ".headers", encoding: .utf8)) ?? ""
        // The last header block is the final response's.
        let lines = rawHeaders.components(separatedBy: "\r\n\r\n").last { !$0.isEmpty }?.components(separatedBy: "\r\n") ?? []
        func header(_ field: String) -> String? {
            let prefix = field.lowercased() + ":"
            return lines.first { $0.lowercased().hasPrefix(prefix) }
                .map { $0.dropFirst(prefix.count).trimmingCharacters(in: .whitespaces) }
        }
        return HTTPResponse(
            status: status,
            contentType: header("Content-Type"),
            contentEncoding: header("Content-Encoding"),
            body: [UInt8](FileManager.default.contents(atPath: name + ".response") ?? Data())
        )
    }

    private func run(_ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.executable)
        process.arguments = arguments
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = stdout
        process.standardError = stderr
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            process.terminationHandler = { _ in continuation.resume() }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
        // curl has exited, so both pipes are at their end; its output is a few bytes.
        return (
            process.terminationStatus,
            String(decoding: stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
            String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        )
    }
}
