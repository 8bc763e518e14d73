import AsyncHTTPClient
import NIOCore
import SluiceCodec

/// What `--verify` found. `ok` means no acknowledged sample is missing or wrong and nothing was
/// stored that the run never sent.
public struct VerificationReport: Codable, Sendable {
    public var url: String
    public var seriesRead: Int
    public var samplesRead: Int
    /// Samples in acknowledged requests: each must be read back, exactly.
    public var acknowledgedSamples: Int
    public var matched: Int
    public var missing: Int
    /// Stored at an expected timestamp with another value or under another series generation.
    public var mismatched: Int
    /// Stored but never sent by this run (or sent for another timestamp or series).
    public var extra: Int
    /// Sent in requests that were not acknowledged (a 400 for one bad sample, retries exhausted) and
    /// stored anyway: allowed, as Prometheus keeps the good samples of a rejected request.
    public var unacknowledgedStored: Int
    /// A few of the problems, for a person to look at.
    public var examples: [String]
    public var ok: Bool { missing == 0 && mismatched == 0 && extra == 0 }

    var lines: [String] {
        var lines = [
            "  verify     \(grouped(acknowledgedSamples)) acknowledged samples, \(grouped(samplesRead)) read back from \(grouped(seriesRead)) series via \(url)",
            "             \(grouped(matched)) matched, \(grouped(missing)) missing, \(grouped(mismatched)) mismatched, \(grouped(extra)) extra"
                + (unacknowledgedStored > 0 ? ", \(grouped(unacknowledgedStored)) unacknowledged but stored" : ""),
        ]
        lines += examples.map { "             \($0)" }
        lines.append(ok ? "  verify     OK: nothing acknowledged was lost" : "  verify     FAILED: acknowledged data was lost or altered")
        return lines
    }
}

/// Reads a run back through remote read, one metric name at a time (bounding each response), and
/// checks it against what the run's acknowledged requests held, recomputed from `SeriesShape`.
public struct Verifier: Sendable {
    public let url: String
    public let tenant: String?
    /// Sent as `Authorization`.
    public var authorization: String?
    /// PEM CA certificates to trust for an https:// URL.
    public var tlsCAFile: String?
    public let shape: SeriesShape
    public let batch: Int
    /// Every request's `RequestOutcome`, by request number.
    public let outcomes: [UInt8]
    /// Labels the reader adds that the run never wrote, dropped before matching: a storage node
    /// read directly, behind insert, holds each series with its `tenant_id`.
    public var ignoredLabels: Set<String> = []
    public var maxResponseBytes = 1 << 30
    public var timeout: TimeAmount = .seconds(120)

    public init(url: String, tenant: String?, shape: SeriesShape, batch: Int, outcomes: [UInt8]) {
        self.url = url
        self.tenant = tenant
        self.shape = shape
        self.batch = batch
        self.outcomes = outcomes
    }

    private var batchesPerTick: Int { (shape.series + batch - 1) / batch }

    public func verify() async throws(LoadgenError) -> VerificationReport {
        var report = VerificationReport(
            url: url, seriesRead: 0, samplesRead: 0, acknowledgedSamples: 0, matched: 0, missing: 0, mismatched: 0, extra: 0,
            unacknowledgedStored: 0, examples: []
        )
        guard !outcomes.isEmpty else { return report }
        let lastTick = (outcomes.count - 1) / batchesPerTick
        var clientConfiguration = HTTPClient.Configuration()
        if let tls = try clientTLS(caFile: tlsCAFile) { clientConfiguration.tlsConfiguration = tls }
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        do {
            try await readAll(lastTick: lastTick, client: client, into: &report)
        } catch {
            try? await client.shutdown()
            throw error
        }
        try? await client.shutdown()
        return report
    }

    private func readAll(lastTick: Int, client: HTTPClient, into report: inout VerificationReport) async throws(LoadgenError) {
        for metric in 0..<shape.metrics {
            let query = Query(
                startMs: shape.startMs - shape.intervalMs - 1, endMs: shape.timestamp(tick: lastTick),
                matchers: [
                    LabelMatcher(.equal, name: "__name__", value: shape.metricName(metric)),
                    LabelMatcher(.equal, name: "loadgen_run", value: shape.runID),
                ]
            )
            let series = try await read(query, client: client)
            check(metric: metric, lastTick: lastTick, read: series, into: &report)
        }
    }

    /// Compares one metric's series with what was sent.
    private func check(metric: Int, lastTick: Int, read: [(labels: [Label], samples: [(Int64, UInt64)])], into report: inout VerificationReport) {
        // slot → timestamp → (generation, value bits)
        var stored: [Int: [Int64: (Int, UInt64)]] = [:]
        for series in read {
            report.seriesRead += 1
            report.samplesRead += series.samples.count
            let labels = ignoredLabels.isEmpty ? series.labels : series.labels.filter { !ignoredLabels.contains($0.name) }
            guard let (slot, generation) = shape.identify(labels) else {
                report.extra += series.samples.count
                note("extra series \(format(series.labels)) with \(series.samples.count) samples", in: &report)
                continue
            }
            for (timestamp, bits) in series.samples {
                if stored[slot, default: [:]].updateValue((generation, bits), forKey: timestamp) != nil {
                    report.extra += 1  // the same slot and timestamp under two generations
                }
            }
        }
        for slot in stride(from: metric, to: shape.series, by: shape.metrics) {
            var samples = stored.removeValue(forKey: slot) ?? [:]
            for tick in 0...lastTick {
                let number = tick * batchesPerTick + slot / batch
                let outcome = number < outcomes.count ? RequestOutcome(rawValue: outcomes[number]) ?? .unsent : .unsent
                let timestamp = shape.sampleTimestamp(slot: slot, tick: tick)
                let found = samples.removeValue(forKey: timestamp)
                if outcome == .acknowledged { report.acknowledgedSamples += 1 }
                guard let (generation, bits) = found else {
                    if outcome == .acknowledged {
                        report.missing += 1
                        note("missing \(describe(slot: slot, tick: tick)) (request \(number))", in: &report)
                    }
                    continue
                }
                let expectedGeneration = shape.generation(slot: slot, tick: tick)
                let expectedBits = shape.value(slot: slot, tick: tick).bitPattern
                switch outcome {
                case .unsent:
                    report.extra += 1
                    note("extra \(describe(slot: slot, tick: tick)): never sent", in: &report)
                case _ where generation != expectedGeneration || bits != expectedBits:
                    report.mismatched += 1
                    note(
                        "mismatched \(describe(slot: slot, tick: tick)): read \(Double(bitPattern: bits)) (generation \(generation))"
                            + ", sent \(Double(bitPattern: expectedBits))", in: &report
                    )
                case .acknowledged:
                    report.matched += 1
                case .failed:
                    report.unacknowledgedStored += 1
                }
            }
            for (timestamp, _) in samples.sorted(by: { $0.key < $1.key }) {
                report.extra += 1
                note("extra sample of \(format(shape.labels(slot: slot, generation: 0))) at \(timestamp): never sent", in: &report)
            }
        }
    }

    private func describe(slot: Int, tick: Int) -> String {
        "\(format(shape.labels(slot: slot, generation: shape.generation(slot: slot, tick: tick)))) @ \(shape.sampleTimestamp(slot: slot, tick: tick))"
    }

    private func note(_ text: String, in report: inout VerificationReport) {
        if report.examples.count < 10 { report.examples.append(text) }
    }

    private func format(_ labels: [Label]) -> String {
        "{" + labels.map { "\($0.name)=\"\($0.value)\"" }.joined(separator: ",") + "}"
    }

    /// One remote-read query, in whichever response type the server chose.
    private func read(_ query: Query, client: HTTPClient) async throws(LoadgenError) -> [(labels: [Label], samples: [(Int64, UInt64)])] {
        let request = ReadRequest(queries: [query], acceptedResponseTypes: [.streamedXORChunks, .samples])
        let body = Snappy.compress(MessageCodec().encoded { codec, out in codec.encode(request, appendingTo: out) })
        var http = HTTPClientRequest(url: url)
        http.method = .POST
        http.headers.add(name: "Content-Type", value: "application/x-protobuf")
        http.headers.add(name: "Content-Encoding", value: "snappy")
        http.headers.add(name: "X-Prometheus-Remote-Read-Version", value: "0.1.0")
        http.headers.add(name: "User-Agent", value: "sluice-loadgen")
        if let tenant { http.headers.add(name: "X-Scope-OrgID", value: tenant) }
        if let authorization { http.headers.add(name: "Authorization", value: authorization) }
        http.body = .bytes(ByteBuffer(bytes: body))
        let bytes: [UInt8]
        let contentType: String
        do {
            let response = try await client.execute(http, timeout: timeout)
            let buffer = try await response.body.collect(upTo: maxResponseBytes)
            bytes = Array(buffer.readableBytesView)
            guard response.status.code == 200 else {
                let text = String(decoding: bytes.prefix(512), as: UTF8.self)
                throw LoadgenError.verification("\(url) answered \(response.status.code): \(text)")
            }
            contentType = response.headers.first(name: "Content-Type") ?? ""
        } catch let error as LoadgenError {
            throw error
        } catch {
            throw .verification("reading \(url) failed: \(error)")
        }
        do {
            var series: [(labels: [Label], samples: [(Int64, UInt64)])] = []
            let codec = MessageCodec()
            if contentType.hasPrefix("application/x-streamed-protobuf") {
                let ranges = try bytes.withUnsafeBytes { raw throws(CodecError) in try ChunkedFrame.messages(in: raw) }
                for range in ranges {
                    let frame = try bytes.withUnsafeBytes { raw throws(CodecError) in
                        try codec.decodeChunkedReadResponse(UnsafeRawBufferPointer(rebasing: raw[range]))
                    }
                    for chunked in frame.chunkedSeries {
                        var samples: [(Int64, UInt64)] = []
                        for chunk in chunked.chunks {
                            var decoder = try XORChunkDecoder(chunk.data)
                            while let sample = try decoder.nextBits() { samples.append((sample.timestamp, sample.valueBits)) }
                        }
                        series.append((chunked.labels, samples))
                    }
                }
            } else {
                let decoded = try Snappy.decompress(bytes, limit: maxResponseBytes)
                let response = try decoded.withUnsafeBytes { raw throws(CodecError) in try codec.decodeReadResponse(raw) }
                for result in response.results {
                    for timeseries in result.timeseries {
                        series.append((timeseries.labels, timeseries.samples.map { ($0.timestamp, $0.value.bitPattern) }))
                    }
                }
            }
            return series
        } catch {
            throw .verification("the answer from \(url) did not decode: \(error)")
        }
    }
}
