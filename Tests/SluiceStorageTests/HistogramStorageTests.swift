import AsyncHTTPClient
import Foundation
import NIOCore
import SluiceCodec
import SluiceHTTP
import SluiceQuery
import SluiceTestSupport
import Testing
@testable import SluiceStorage

/// Native histograms through the storage node: head, WAL, checkpoint, blocks and remote read.
///
/// Histograms read back are compared with what was appended bit for bit, with one field normalized:
/// the reset hint. A chunk keeps only a counter-reset header for its first histogram and readers give
/// later ones "no" (or "gauge"), as Prometheus' iterators do, so the hint that comes back need not be
/// the one that was sent. Every other field, spans included, must match exactly: the chunk encoder
/// cuts a new chunk whenever the bucket layout changes, so each chunk's layout is the appended one.
@Suite("Native histograms in storage")
struct HistogramStorageTests {
    static let labels = [Label(name: "__name__", value: "rpc_seconds"), Label(name: "job", value: "api")]
    static let start: Int64 = 1_700_000_000_000
    static let step: Int64 = 15_000

    static func time(_ index: Int) -> Int64 { start + Int64(index) * step }

    /// An integer histogram that only grows with `index`, so consecutive ones are no counter reset.
    static func intHistogram(_ index: Int, at timestamp: Int64? = nil, wide: Bool = false) -> Histogram {
        let i = Int64(index)
        var spans = [BucketSpan(offset: -1, length: 2), BucketSpan(offset: 2, length: 1)]
        var deltas = [i, 1, -1]
        if wide {
            spans.append(BucketSpan(offset: 3, length: 1))
            deltas.append(2)
        }
        let buckets = deltas.reduce(into: (sum: Int64(0), running: Int64(0))) { $0.running += $1; $0.sum += $0.running }.sum
        let zero = UInt64(index / 2 + 1)
        return Histogram(
            count: .int(UInt64(buckets) + zero), sum: Double(index) * 0.75 + 0.1, schema: 3, zeroThreshold: 0.001,
            zeroCount: .int(zero), negativeSpans: [BucketSpan(offset: 0, length: 1)], negativeDeltas: [i],
            positiveSpans: spans, positiveDeltas: deltas, timestamp: timestamp ?? time(index)
        )
    }

    /// A float histogram with custom bucket bounds (schema -53), growing with `index`.
    static func floatHistogram(_ index: Int, at timestamp: Int64? = nil) -> Histogram {
        let x = Double(index)
        let counts = [x + 0.5, 2 * x + 1, 0.25 * x]
        return Histogram(
            count: .float(counts.reduce(0, +)), sum: x * 3.3, schema: Histogram.customBucketsSchema,
            zeroCount: .float(0), positiveSpans: [BucketSpan(offset: 0, length: 3)], positiveCounts: counts,
            timestamp: timestamp ?? time(index), customValues: [0.1, 0.5]
        )
    }

    static func normalized(_ histograms: [Histogram]) -> [Histogram] {
        histograms.map { var h = $0; h.resetHint = 0; return h }
    }

    static func request(samples: [Sample] = [], histograms: [Histogram] = [], labels: [Label] = labels) -> WriteRequest {
        WriteRequest(timeseries: [TimeSeries(labels: labels, samples: samples, histograms: histograms)])
    }

    static var all: [CompiledMatcher] {
        get throws { [try CompiledMatcher(LabelMatcher(.regex, name: "__name__", value: ".+"))] }
    }

    /// Every float sample and histogram of `chunks`, decoded.
    static func decode(_ chunks: [StoredChunk]) throws -> (samples: [Sample], histograms: [Histogram]) {
        var samples: [Sample] = []
        var histograms: [Histogram] = []
        for chunk in chunks {
            if chunk.isHistogram {
                histograms += try chunk.histograms()
            } else {
                samples += try XORChunkDecoder.decodeAll(chunk.bytes).map { Sample(timestamp: $0.timestamp, value: $0.value) }
            }
        }
        return (samples, histograms)
    }

    // MARK: Head

    @Test func orderingDuplicatesAndConflictsShareTheFloatTimeline() throws {
        let head = Head()
        let first = head.append(Self.request(histograms: [Self.intHistogram(0), Self.intHistogram(1)]), wal: nil)
        #expect(first.appendedHistograms == 2 && first.appended == 0 && first.createdSeries == 1)

        let older = head.append(Self.request(histograms: [Self.intHistogram(0, at: Self.time(0) + 1)]), wal: nil)
        #expect(older.rejected == [.outOfOrder: 1])
        #expect(older.firstRejection?.contains("rpc_seconds{job=\"api\"}") == true)

        // The same histogram again is a retry: accepted silently, even with another reset hint.
        var retried = Self.intHistogram(1)
        retried.resetHint = Histogram.ResetHint.no.rawValue
        let repeated = head.append(Self.request(histograms: [Self.intHistogram(1), retried]), wal: nil)
        #expect(repeated.duplicateHistograms == 2 && repeated.rejectedCount == 0 && repeated.appendedHistograms == 0)

        // Another histogram, or a float sample, at the newest timestamp conflicts.
        var changed = Self.intHistogram(1)
        changed.sum += 1
        #expect(head.append(Self.request(histograms: [changed]), wal: nil).rejected == [.duplicateTimestamp: 1])
        #expect(head.append(Self.request(samples: [Sample(timestamp: Self.time(1), value: 1)]), wal: nil).rejected == [.duplicateTimestamp: 1])
        // A float sample older than the newest histogram is out of order, and the other way round.
        #expect(head.append(Self.request(samples: [Sample(timestamp: Self.time(0), value: 1)]), wal: nil).rejected == [.outOfOrder: 1])
        #expect(head.append(Self.request(samples: [Sample(timestamp: Self.time(2), value: 1)]), wal: nil).appended == 1)
        #expect(head.append(Self.request(histograms: [Self.intHistogram(1, at: Self.time(2) - 1)]), wal: nil).rejected == [.outOfOrder: 1])
        // A float sample repeated is a float duplicate, not a histogram one.
        let floatRepeat = head.append(Self.request(samples: [Sample(timestamp: Self.time(2), value: 1)]), wal: nil)
        #expect(floatRepeat.duplicates == 1 && floatRepeat.duplicateHistograms == 0)

        // Buckets that do not match the spans never reach the chunk encoder.
        var broken = Self.intHistogram(3)
        broken.positiveDeltas.removeLast()
        let invalid = head.append(Self.request(histograms: [broken]), wal: nil)
        #expect(invalid.rejected == [.invalidHistogram: 1])
        #expect(invalid.firstRejection?.contains("histogram buckets do not match its spans") == true)
    }

    @Test func tooOldAppliesToHistograms() {
        let head = Head(configuration: .init(chunkRange: 10_000))
        #expect(head.append(Self.request(samples: [Sample(timestamp: 100_000, value: 1)]), wal: nil).appended == 1)
        let other = [Label(name: "__name__", value: "rpc_seconds"), Label(name: "job", value: "b")]
        #expect(head.append(Self.request(histograms: [Self.intHistogram(0, at: 94_999)], labels: other), wal: nil).rejected == [.tooOld: 1])
        #expect(head.append(Self.request(histograms: [Self.intHistogram(0, at: 95_000)], labels: other), wal: nil).appendedHistograms == 1)
    }

    @Test func chunksCutOnKindLayoutCountAndRange() throws {
        let head = Head(configuration: .init(chunkRange: 3_600_000))
        // 130 integer histograms (a cut at 120), 5 floats, 3 float histograms, then integer histograms
        // with a new bucket layout and then a counter reset.
        var histograms = (0..<130).map { Self.intHistogram($0) }
        let floats = (130..<135).map { Sample(timestamp: Self.time($0), value: Double($0)) }
        let floatHistograms = (135..<138).map { Self.floatHistogram($0) }
        let wide = (138..<140).map { Self.intHistogram($0, wide: true) }
        let reset = Self.intHistogram(0, at: Self.time(140), wide: true)
        #expect(head.append(Self.request(histograms: histograms), wal: nil).appendedHistograms == 130)
        #expect(head.append(Self.request(samples: floats), wal: nil).appended == 5)
        #expect(head.append(Self.request(histograms: floatHistograms + wide + [reset]), wal: nil).appendedHistograms == 6)
        histograms += floatHistograms + wide + [reset]

        let series = try #require(head.select(Self.all, minTime: .min, maxTime: .max).first)
        #expect(series.chunks.map(\.encoding) == [.histogram, .histogram, .xor, .floatHistogram, .histogram, .histogram])
        // 120 histograms a chunk; the kind changes twice; the new layout and the reset cut too.
        #expect(series.chunks.map { BlockFormat.sampleCount($0.bytes) } == [120, 10, 5, 3, 2, 1])
        for chunk in series.chunks {
            #expect(chunk.minTime / 3_600_000 == chunk.maxTime / 3_600_000, "chunk \(chunk.minTime)...\(chunk.maxTime) straddles a boundary")
        }
        // The counter reset's chunk says so in its header, which readers turn into the hint "yes".
        #expect(try series.chunks.last!.histograms().first?.resetHint == Histogram.ResetHint.yes.rawValue)

        let decoded = try Self.decode(series.chunks)
        #expect(decoded.samples == floats)
        #expect(Self.normalized(decoded.histograms) == Self.normalized(histograms))
    }

    // MARK: WAL

    @Test func walRecordRoundTripsEveryField() throws {
        var odd = Self.floatHistogram(3)
        odd.sum = StaleMarker.value
        odd.zeroCount = nil
        odd.resetHint = 7
        odd.negativeSpans = [BucketSpan(offset: -5, length: 2)]
        odd.negativeCounts = [-.infinity, .nan]
        let mixed = Histogram(count: .int(.max), zeroCount: .float(-0.0), negativeDeltas: [.min, .max], timestamp: .min)
        let record = WALRecord.histograms([
            WALHistogram(ref: 9, histogram: Self.intHistogram(1)),
            WALHistogram(ref: 3, histogram: odd),
            WALHistogram(ref: .max, histogram: mixed),
            WALHistogram(ref: 0, histogram: Histogram(timestamp: .max)),
        ])
        let bytes = WALRecordCodec.encode(record)
        #expect(bytes.first == WALRecordCodec.histogramsType)
        #expect(try WALRecordCodec.decode(bytes) == record)
        #expect(WALRecordCodec.encode(try WALRecordCodec.decode(bytes)) == bytes)
        for length in 0..<bytes.count {
            #expect(throws: CodecError.self, "prefix of \(length) bytes") { try WALRecordCodec.decode(bytes[..<length]) }
        }
        #expect(throws: CodecError.self) { try WALRecordCodec.decode(bytes + [0]) }
        // An unknown payload version, or unknown count kinds, are damage.
        var future = bytes
        future[1] = 2
        #expect(throws: CodecError.self) { try WALRecordCodec.decode(future) }
        #expect(throws: CodecError.self) {
            try WALRecordCodec.decode([WALRecordCodec.histogramsType, 1, 1, 0, 0, 0x03] + [UInt8](repeating: 0, count: 30))
        }
        // A count far past the bytes left is refused before anything is allocated.
        #expect(throws: CodecError.self) { try WALRecordCodec.decode([WALRecordCodec.histogramsType, 1, 0xFF, 0xFF, 0xFF, 0x0F, 0]) }
    }

    @Test func walReplayRebuildsTheHeadExactly() async throws {
        let directory = try TemporaryDirectory("sluice-histograms")
        defer { directory.remove() }
        let other = [Label(name: "__name__", value: "rpc_seconds"), Label(name: "job", value: "float")]
        let before: [SeriesChunks]
        do {
            let storage = try StorageEngineTests.open(directory.path)
            // Floats then histograms in one request and one series, as remote write 2.0 may send.
            let outcome = try await storage.append(WriteRequest(timeseries: [
                TimeSeries(labels: Self.labels, samples: (0..<3).map { Sample(timestamp: Self.time($0), value: 1) }, histograms: (3..<150).map { Self.intHistogram($0) }),
                TimeSeries(labels: other, histograms: (0..<20).map { Self.floatHistogram($0) }),
            ]))
            #expect(outcome.appended == 3 && outcome.appendedHistograms == 167 && outcome.rejectedCount == 0)
            #expect(try await storage.append(Self.request(histograms: [Self.intHistogram(0, at: Self.time(150), wide: true)])).appendedHistograms == 1)
            before = try storage.select([LabelMatcher(.regex, name: "__name__", value: ".+")], minTime: .min, maxTime: .max)
            storage.close()
        }
        let reopened = try StorageEngineTests.open(directory.path)
        defer { reopened.close() }
        let after = try reopened.select([LabelMatcher(.regex, name: "__name__", value: ".+")], minTime: .min, maxTime: .max)
        #expect(after.map(\.labels) == before.map(\.labels))
        #expect(after.map(\.chunks) == before.map(\.chunks), "replay cuts the same chunks, byte for byte")
        // A retry after the restart is still a duplicate.
        let retry = try await reopened.append(Self.request(histograms: [Self.intHistogram(0, at: Self.time(150), wide: true)]))
        #expect(retry.duplicateHistograms == 1 && retry.rejectedCount == 0)
    }

    /// Blocks cut from the head carry histogram chunks, the checkpoint keeps the head's histograms, and
    /// both survive a restart.
    @Test func blocksAndCheckpointKeepHistograms() async throws {
        let directory = try TemporaryDirectory("sluice-histograms")
        defer { directory.remove() }
        // 10-minute blocks; 2 h of data at 15 s: floats, then int histograms, then float histograms.
        let samples = (0..<160).map { Sample(timestamp: Self.time($0), value: Double($0)) }
        let histograms = (160..<320).map { Self.intHistogram($0) } + (320..<480).map { Self.floatHistogram($0) }
        let expected = (samples, Self.normalized(histograms))
        func check(_ storage: Storage, _ comment: Comment) throws {
            let series = try storage.select([LabelMatcher(.equal, name: "job", value: "api")], minTime: .min, maxTime: .max)
            let decoded = try Self.decode(try #require(series.first).chunks)
            #expect(decoded.samples == expected.0, comment)
            #expect(Self.normalized(decoded.histograms) == expected.1, comment)
        }
        do {
            let storage = try StorageEngineTests.open(directory.path)
            for part in stride(from: 0, to: 480, by: 40) {
                let request = Self.request(
                    samples: samples.filter { $0.timestamp >= Self.time(part) && $0.timestamp < Self.time(part + 40) },
                    histograms: histograms.filter { $0.timestamp >= Self.time(part) && $0.timestamp < Self.time(part + 40) }
                )
                #expect(try await storage.append(request).rejectedCount == 0)
            }
            try await storage.compact()
            let blocks = storage.blockList
            #expect(blocks.count >= 9)
            #expect(blocks.first?.meta.version == BlockFormat.xorVersion, "a block of floats alone stays version 1")
            #expect(blocks.contains { $0.meta.version == BlockFormat.encodingVersion })
            #expect(blocks.reduce(0) { $0 + $1.meta.numSamples } + Self.headCount(storage) == 480)
            try check(storage, "after compaction")
            storage.close()
        }
        let walFiles = try FileManager.default.contentsOfDirectory(atPath: directory.path + "/wal")
        #expect(walFiles.contains { $0.hasPrefix("checkpoint") }, "\(walFiles)")
        let reopened = try StorageEngineTests.open(directory.path)
        defer { reopened.close() }
        try check(reopened, "after restart")
    }

    static func headCount(_ storage: Storage) -> Int {
        storage.head.select((try? all) ?? [], minTime: .min, maxTime: .max)
            .reduce(0) { $0 + $1.chunks.reduce(0) { $0 + BlockFormat.sampleCount($1.bytes) } }
    }

    // MARK: Blocks

    @Test func blockRoundTripKeepsEncodingsAndReadsVersionOne() throws {
        let directory = try TemporaryDirectory("sluice-histograms")
        defer { directory.remove() }
        func chunk(_ histograms: [Histogram]) throws -> StoredChunk {
            try #require(StoredChunk.histogramChunks(histograms, encoding: histograms[0].isFloat ? .floatHistogram : .histogram).first)
        }
        var xor = XORChunkEncoder()
        xor.append(timestamp: Self.time(0), value: 1)
        let chunks = [
            StoredChunk(minTime: xor.minTime, maxTime: xor.maxTime, bytes: xor.bytes),
            try chunk((1..<10).map { Self.intHistogram($0) }),
            try chunk((10..<20).map { Self.floatHistogram($0) }),
        ]
        let minTime = Self.time(0)
        let path = try BlockWriter.write(parent: directory.path, minTime: minTime, maxTime: minTime + 3_600_000, series: [(Self.labels, chunks)])
        let block = try Block(path: path)
        #expect(block.meta.version == BlockFormat.encodingVersion)
        #expect(block.meta.numSamples == 20)
        let refs = block.chunks(of: 0)
        #expect(refs.map(\.encoding) == [.xor, .histogram, .floatHistogram])
        #expect(try refs.map { try block.chunk($0) } == chunks)
        #expect(try Self.normalized(block.chunk(refs[1]).histograms()) == Self.normalized((1..<10).map { Self.intHistogram($0) }))

        // Floats alone: version 1, byte for byte what older releases wrote and read.
        let old = try BlockWriter.write(parent: directory.path, minTime: minTime, maxTime: minTime + 3_600_000, series: [(Self.labels, [chunks[0]])])
        #expect(try BlockFile.readWholeFile(old + "/chunks")[4] == 1)
        #expect(try BlockFile.readWholeFile(old + "/index")[4] == 1)
        #expect(try Block(path: old).chunk(Block(path: old).chunks(of: 0)[0]).encoding == .xor)

        // An encoding blocks do not know is refused before anything is written.
        var unknown = chunks[1]
        unknown.encoding = Chunk.Encoding(rawValue: 9)
        #expect(throws: BlockError.self) {
            try BlockWriter.write(parent: directory.path, minTime: minTime, maxTime: minTime + 3_600_000, series: [(Self.labels, [unknown])])
        }
        // Files that disagree on the version are corrupt.
        try Data(Array(String(decoding: BlockFile.readWholeFile(path + "/meta.json"), as: UTF8.self).replacing("\"version\":2", with: "\"version\":1").utf8))
            .write(to: URL(fileURLWithPath: path + "/meta.json"))
        #expect(throws: CodecError.self) { try Block(path: path) }
    }

    // MARK: Remote read

    @Test func streamedChunksPassWholeAndAreReencodedWhenCut() throws {
        let histograms = (0..<50).map { Self.intHistogram($0) }
        let stored = StoredChunk.histogramChunks(histograms, encoding: .histogram)
        #expect(stored.count == 1)
        let whole = try RemoteReadHandler.chunks(stored, within: .min, .max)
        #expect(whole == [Chunk(minTimeMs: Self.time(0), maxTimeMs: Self.time(49), encoding: .histogram, data: stored[0].bytes)])

        let cut = try RemoteReadHandler.chunks(stored, within: Self.time(10), Self.time(19))
        #expect(cut.count == 1 && cut[0].encoding == .histogram)
        #expect(cut[0].minTimeMs == Self.time(10) && cut[0].maxTimeMs == Self.time(19))
        let decoded = try HistogramChunkDecoder.decode(cut[0].data, encoding: .histogram)
        #expect(Self.normalized(decoded) == Self.normalized(Array(histograms[10...19])))

        let floats = StoredChunk.histogramChunks((0..<5).map { Self.floatHistogram($0) }, encoding: .floatHistogram)
        let floatCut = try RemoteReadHandler.chunks(floats, within: Self.time(1), Self.time(3))
        #expect(floatCut.map(\.encoding) == [.floatHistogram])
        #expect(try Self.normalized(HistogramChunkDecoder.decode(floatCut[0].data, encoding: .floatHistogram)) == Self.normalized((1...3).map { Self.floatHistogram($0) }))
    }

    /// A stored chunk the range cuts must be decoded to be cut; one that does not decode answers 500,
    /// as the SAMPLES answer does, instead of leaving its samples out of a 200. A whole chunk goes as
    /// stored.
    @Test func aCorruptChunkTheRangeCutsIs500() throws {
        var encoder = XORChunkEncoder()
        for t in 0..<10 { encoder.append(timestamp: Int64(t) * 1000, value: Double(t)) }
        var corrupt = encoder.bytes
        corrupt.removeLast(corrupt.count - 4)
        let series = [SeriesChunks(labels: [Label(name: "__name__", value: "up")], chunks: [StoredChunk(minTime: 0, maxTime: 9000, bytes: corrupt)])]
        let whole = try RemoteReadHandler.streamed(series, Query(startMs: 0, endMs: 9000, matchers: []))
        #expect(whole.count == 1 && whole[0].chunks[0].data == corrupt)
        let failure = #expect(throws: HTTPFailure.self) { try RemoteReadHandler.streamed(series, Query(startMs: 2000, endMs: 5000, matchers: [])) }
        #expect(failure?.status == .internalServerError)
        #expect(failure?.message.contains("stored chunk is corrupt") == true)
    }

    @Test func remoteReadServesHistogramsInBothResponseTypes() async throws {
        let directory = try TemporaryDirectory("sluice-histograms")
        defer { directory.remove() }
        let floatLabels = [Label(name: "__name__", value: "rpc_seconds"), Label(name: "job", value: "float")]
        let plainLabels = [Label(name: "__name__", value: "up"), Label(name: "job", value: "api")]
        let ints = (0..<40).map { Self.intHistogram($0) }
        let floats = (0..<40).map { Self.floatHistogram($0) }
        let plain = (0..<40).map { Sample(timestamp: Self.time($0), value: Double($0)) }
        try await withStorage(dataDirectory: directory.path) { node in
            // Straight into the storage: the write handler's answer is not what this test is about.
            let outcome = try await node.storage.append(WriteRequest(timeseries: [
                TimeSeries(labels: Self.labels, histograms: ints),
                TimeSeries(labels: floatLabels, histograms: floats),
                TimeSeries(labels: plainLabels, samples: plain),
            ]))
            #expect(outcome.appendedHistograms == 80 && outcome.appended == 40)
            let query = Query(startMs: Self.time(5), endMs: Self.time(30), matchers: [LabelMatcher(.regex, name: "__name__", value: ".+")])

            let samples = try await Self.read(node.readURL, ReadRequest(queries: [query]))
            #expect(samples.contentType == RemoteReadHTTP.samplesContentType)
            let decompressed = try Snappy.decompress(samples.body, limit: 1 << 26)
            let response = try decompressed.withUnsafeBytes { try MessageCodec().decodeReadResponse($0) }
            let series = response.results[0].timeseries
            #expect(series.map(\.labels) == [Self.labels, floatLabels, plainLabels])
            #expect(Self.normalized(series[0].histograms) == Self.normalized(Array(ints[5...30])))
            #expect(Self.normalized(series[1].histograms) == Self.normalized(Array(floats[5...30])))
            #expect(series[0].samples.isEmpty && series[2].histograms.isEmpty)
            #expect(series[2].samples == Array(plain[5...30]))

            let streamed = try await Self.read(node.readURL, ReadRequest(queries: [query], acceptedResponseTypes: [.streamedXORChunks]))
            #expect(streamed.contentType == RemoteReadHTTP.streamedContentType)
            var chunks: [[Label]: [Chunk]] = [:]
            for range in try streamed.body.withUnsafeBytes({ try ChunkedFrame.messages(in: $0) }) {
                let message = try streamed.body.withUnsafeBytes { raw in
                    try MessageCodec().decodeChunkedReadResponse(UnsafeRawBufferPointer(rebasing: raw[range]))
                }
                for one in message.chunkedSeries { chunks[one.labels, default: []] += one.chunks }
            }
            #expect(chunks[Self.labels]?.map(\.encoding) == [.histogram])
            #expect(chunks[floatLabels]?.map(\.encoding) == [.floatHistogram])
            #expect(chunks[plainLabels]?.map(\.encoding) == [.xor])
            let streamedInts = try HistogramChunkDecoder.decode(try #require(chunks[Self.labels]?.first).data, encoding: .histogram)
            #expect(Self.normalized(streamedInts) == Self.normalized(Array(ints[5...30])))

            // The whole range: the stored chunk goes out as it is.
            let everything = Query(startMs: .min, endMs: .max, matchers: [LabelMatcher(.equal, name: "job", value: "api"), LabelMatcher(.equal, name: "__name__", value: "rpc_seconds")])
            let whole = try await Self.read(node.readURL, ReadRequest(queries: [everything], acceptedResponseTypes: [.streamedXORChunks]))
            let stored = try node.storage.select(everything.matchers, minTime: .min, maxTime: .max)
            let ranges = try whole.body.withUnsafeBytes { try ChunkedFrame.messages(in: $0) }
            let message = try whole.body.withUnsafeBytes { try MessageCodec().decodeChunkedReadResponse(UnsafeRawBufferPointer(rebasing: $0[ranges[0]])) }
            #expect(message.chunkedSeries[0].chunks.map(\.data) == stored[0].chunks.map(\.bytes))
        }
    }

    /// Posts a remote-read request and returns the raw answer.
    static func read(_ url: String, _ request: ReadRequest) async throws -> (contentType: String?, body: [UInt8]) {
        var http = HTTPClientRequest(url: url)
        http.method = .POST
        http.headers.add(name: "Content-Type", value: "application/x-protobuf")
        http.headers.add(name: "Content-Encoding", value: "snappy")
        http.headers.add(name: "X-Prometheus-Remote-Read-Version", value: "0.1.0")
        http.body = .bytes(Snappy.compress(MessageCodec().encoded { codec, out in codec.encode(request, appendingTo: out) }))
        let response = try await TestHTTP.client.execute(http, timeout: .seconds(60))
        let body = Array(try await response.body.collect(upTo: 64 << 20).readableBytesView)
        try #require(response.status.code == 200, "\(String(decoding: body, as: UTF8.self))")
        return (response.headers.first(name: "Content-Type"), body)
    }
}
