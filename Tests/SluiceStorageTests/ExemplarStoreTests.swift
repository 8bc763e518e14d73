import Foundation
import SluiceCodec
import SluiceQuery
import SluiceTestSupport
import Testing
@testable import SluiceStorage

@Suite("Exemplar store: circular slots, ordering, limits, WAL")
struct ExemplarStoreTests {
    static let start: Int64 = 1_700_000_000_000
    static let a = [Label(name: "__name__", value: "rpc_seconds_bucket"), Label(name: "le", value: "0.5")]
    static let b = [Label(name: "__name__", value: "rpc_seconds_bucket"), Label(name: "le", value: "1")]
    static let everything = [try! CompiledMatcher(LabelMatcher(.regex, name: "__name__", value: ".+"))]

    static func exemplar(_ t: Int64, _ value: Double = 1, trace: String = "t") -> Exemplar {
        Exemplar(labels: [Label(name: "trace_id", value: trace)], value: value, timestamp: start + t)
    }

    static func request(_ series: [([Label], [Exemplar])]) -> WriteRequest {
        WriteRequest(timeseries: series.map { TimeSeries(labels: $0.0, exemplars: $0.1) })
    }

    static func stored(_ store: ExemplarStore) -> [[Label]: [Int64]] {
        var out: [[Label]: [Int64]] = [:]
        for series in store.select(everything, minTime: .min, maxTime: .max) {
            out[series.seriesLabels] = series.exemplars.map { $0.timestamp - start }
        }
        return out
    }

    @Test func theOldestExemplarOfAllIsOverwrittenOnceFull() {
        let store = ExemplarStore(capacity: 3)
        _ = store.append(Self.request([(Self.a, [Self.exemplar(1), Self.exemplar(2)])]), wal: nil)
        _ = store.append(Self.request([(Self.b, [Self.exemplar(3)])]), wal: nil)
        #expect(Self.stored(store) == [Self.a: [1, 2], Self.b: [3]])
        _ = store.append(Self.request([(Self.b, [Self.exemplar(4)])]), wal: nil)
        #expect(Self.stored(store) == [Self.a: [2], Self.b: [3, 4]])
        // The series whose last exemplar goes is forgotten.
        let outcome = store.append(Self.request([(Self.b, [Self.exemplar(5)])]), wal: nil)
        #expect(outcome.appended == 1)
        #expect(Self.stored(store) == [Self.b: [3, 4, 5]])
        #expect(store.count == 3)
        // A series overwriting its own oldest exemplar keeps its links.
        _ = store.append(Self.request([(Self.b, [Self.exemplar(6), Self.exemplar(7)])]), wal: nil)
        #expect(Self.stored(store) == [Self.b: [5, 6, 7]])
        // Time range.
        let ranged = store.select(Self.everything, minTime: Self.start + 6, maxTime: Self.start + 6)
        #expect(ranged.map { $0.exemplars.map(\.timestamp) } == [[Self.start + 6]])
    }

    @Test func repeatsAreIgnoredAndOlderExemplarsDroppedPerSeries() {
        let store = ExemplarStore(capacity: 10)
        var outcome = store.append(Self.request([(Self.a, [Self.exemplar(10, 1)])]), wal: nil)
        #expect(outcome.appended == 1)
        outcome = store.append(Self.request([(Self.a, [Self.exemplar(10, 1), Self.exemplar(5, 9), Self.exemplar(10, 0.5)])]), wal: nil)
        #expect(outcome.appended == 0)
        #expect(outcome.duplicates == 1)
        #expect(outcome.dropped == [.outOfOrder: 2])
        // Same timestamp, greater value: allowed (a native histogram's buckets), as in Prometheus.
        outcome = store.append(Self.request([(Self.a, [Self.exemplar(10, 2)]), (Self.b, [Self.exemplar(1)])]), wal: nil)
        #expect(outcome.appended == 2)
        #expect(Self.stored(store) == [Self.a: [10, 10], Self.b: [1]])
        // Empty-valued labels are dropped and labels sorted, so a reordered repeat is a repeat.
        let messy = Exemplar(labels: [Label(name: "z", value: "1"), Label(name: "empty", value: ""), Label(name: "a", value: "2")], value: 3, timestamp: Self.start + 20)
        #expect(store.append(Self.request([(Self.a, [messy])]), wal: nil).appended == 1)
        let tidy = Exemplar(labels: [Label(name: "a", value: "2"), Label(name: "z", value: "1")], value: 3, timestamp: Self.start + 20)
        #expect(store.append(Self.request([(Self.a, [tidy])]), wal: nil).duplicates == 1)
        #expect(store.select(Self.everything, minTime: Self.start + 20, maxTime: .max).first?.exemplars == [tidy])
    }

    @Test func labelSetsLongerThan128RunesAreDropped() {
        let store = ExemplarStore(capacity: 10)
        // "trace_id" is 8 runes; 120 more make exactly 128, in two-byte runes to count runes not bytes.
        let fits = Exemplar(labels: [Label(name: "trace_id", value: String(repeating: "é", count: 120))], value: 1, timestamp: Self.start)
        let tooLong = Exemplar(labels: [Label(name: "trace_id", value: String(repeating: "é", count: 121))], value: 1, timestamp: Self.start + 1)
        let outcome = store.append(Self.request([(Self.a, [fits, tooLong])]), wal: nil)
        #expect(outcome.appended == 1)
        #expect(outcome.dropped == [.labelSetTooLong: 1])
    }

    @Test func aZeroCapacityKeepsNothing() {
        let store = ExemplarStore(capacity: 0)
        #expect(store.append(Self.request([(Self.a, [Self.exemplar(1)])]), wal: nil).appended == 0)
        #expect(store.count == 0)
    }

    @Test func selectionFollowsPrometheusMatcherRules() throws {
        let store = ExemplarStore(capacity: 10)
        _ = store.append(Self.request([(Self.a, [Self.exemplar(1)]), (Self.b, [Self.exemplar(2)])]), wal: nil)
        let one = try SeriesSelector.parse(#"rpc_seconds_bucket{le="1"}"#).map { try CompiledMatcher($0) }
        #expect(store.select(one, minTime: .min, maxTime: .max).map(\.seriesLabels) == [Self.b])
        // A label the series lacks matches as "".
        let missing = try SeriesSelector.parse(#"rpc_seconds_bucket{job=""}"#).map { try CompiledMatcher($0) }
        #expect(store.select(missing, minTime: .min, maxTime: .max).map(\.seriesLabels) == [Self.a, Self.b])
    }

    @Test func walRecordsRoundTripAndRefuseDamage() throws {
        let records: [WALRecord] = [
            .exemplars([]),
            .exemplars([
                WALExemplar(series: Self.a, exemplar: Self.exemplar(1, 0.25)),
                WALExemplar(series: Self.a, exemplar: Exemplar(labels: [], value: StaleMarker.value, timestamp: -5)),
                WALExemplar(series: Self.b, exemplar: Self.exemplar(3, 2, trace: "ü")),
                WALExemplar(series: Self.a, exemplar: Self.exemplar(0)),
            ]),
            .metadata([]),
            .metadata([
                MetricMetadata(type: .counter, metricFamilyName: "rpc_total", help: "Requests.", unit: ""),
                MetricMetadata(type: .init(rawValue: -3), metricFamilyName: "odd", help: "", unit: "seconds"),
            ]),
        ]
        for record in records {
            let bytes = WALRecordCodec.encode(record)
            let decoded = try WALRecordCodec.decode(bytes)
            #expect(decoded == record)
            #expect(WALRecordCodec.encode(decoded) == bytes)
            for length in 0..<bytes.count {
                #expect(throws: CodecError.self, "prefix of \(length) bytes") { try WALRecordCodec.decode(bytes[..<length]) }
            }
            #expect(throws: CodecError.self) { try WALRecordCodec.decode(bytes + [0]) }
        }
        // Unknown versions and absurd counts are damage, not allocations.
        #expect(throws: CodecError.self) { try WALRecordCodec.decode([WALRecordCodec.exemplarsType, 2, 0]) }
        #expect(throws: CodecError.self) { try WALRecordCodec.decode([WALRecordCodec.exemplarsType, 1, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F]) }
        #expect(throws: CodecError.self) { try WALRecordCodec.decode([WALRecordCodec.metadataType, 1, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0, 0, 0, 0]) }
        #expect(throws: CodecError.self) { try WALRecordCodec.decode([WALRecordCodec.metadataType, 1, 1, 2, 1, 0xC3, 0, 0]) }
    }

    @Test func exemplarsAndMetadataSurviveRestartsAndCheckpoints() async throws {
        let directory = try TemporaryDirectory("sluice-exemplars")
        defer { directory.remove() }
        let labels = [Label(name: "__name__", value: "rpc_seconds_count"), Label(name: "job", value: "api")]
        let help = MetricMetadata(type: .histogram, metricFamilyName: "rpc_seconds", help: "RPC latency.", unit: "seconds")
        do {
            let storage = try StorageEngineTests.open(directory.path)
            let outcome = try await storage.append(WriteRequest(
                timeseries: [TimeSeries(labels: labels, samples: [Sample(timestamp: Self.start, value: 1)], exemplars: [Self.exemplar(0, 0.3)])],
                metadata: [help, help]
            ))
            #expect(outcome.appendedExemplars == 1)
            // A retry reports the same number written, as Prometheus does.
            let retry = try await storage.append(WriteRequest(timeseries: [TimeSeries(labels: labels, exemplars: [Self.exemplar(0, 0.3)])]))
            #expect(retry.appendedExemplars == 1)
            #expect(metric(storage, "sluice_storage_exemplars_appended_total") == 1)
            #expect(metric(storage, "sluice_storage_exemplars_in_storage") == 1)
            storage.close()
        }
        do {
            let storage = try StorageEngineTests.open(directory.path)
            #expect(Self.stored(storage.exemplars) == [labels: [0]])
            #expect(storage.metadata.families().map(\.entries) == [[help]])
            #expect(metric(storage, "sluice_storage_exemplars_in_storage") == 1)
            // Enough samples for blocks, so the WAL is checkpointed and its first segments deleted.
            let series = syntheticSeries(4, samples: 300, start: Self.start + 15_000, step: 15_000)
            for request in batches(series, perRequest: 4) { _ = try await storage.append(request) }
            try await storage.compact()
            #expect(!storage.blockList.isEmpty)
            storage.close()
        }
        let walFiles = try FileManager.default.contentsOfDirectory(atPath: directory.path + "/wal")
        #expect(walFiles.contains { $0.hasPrefix("checkpoint") }, "\(walFiles)")
        let storage = try StorageEngineTests.open(directory.path)
        defer { storage.close() }
        #expect(Self.stored(storage.exemplars) == [labels: [0]], "after a checkpoint")
        #expect(storage.metadata.families().map(\.entries) == [[help]], "after a checkpoint")
    }
}
