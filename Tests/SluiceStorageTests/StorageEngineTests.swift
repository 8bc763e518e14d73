import Foundation
import Logging
import Prometheus
import SluiceCodec
import SluiceQuery
import SluiceTestSupport
import Synchronization
import Testing
@testable import SluiceStorage

@Suite("Storage: WAL, blocks, restart and retention")
struct StorageEngineTests {
    /// A storage over `directory`, recovered. Blocks are not merged unless `maxBlockDuration` says so
    /// (0: the storage's default): these suites count the blocks the head cuts.
    static func open(
        _ directory: String, blockDuration: Int64 = 600_000, retention: Int64 = 0, maxBlockDuration: Int64? = nil,
        now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }
    ) throws -> Storage {
        var configuration = Storage.Configuration()
        configuration.dataDirectory = directory
        configuration.blockDuration = blockDuration
        configuration.retention = retention
        configuration.now = now
        configuration.maxBlockDuration = maxBlockDuration ?? blockDuration
        let storage = try Storage(configuration: configuration, metrics: StorageMetrics(registry: PrometheusCollectorRegistry()), logger: TestLog.logger("storage"))
        try storage.recover()
        return storage
    }

    static func everything(_ storage: Storage, minTime: Int64 = .min, maxTime: Int64 = .max) throws -> [LabelSet: [Int64: Double]] {
        var out: [LabelSet: [Int64: Double]] = [:]
        for series in try storage.select([LabelMatcher(.regex, name: "__name__", value: ".+")], minTime: minTime, maxTime: maxTime) {
            for chunk in series.chunks {
                for sample in try XORChunkDecoder.decodeAll(chunk.bytes) where (minTime...maxTime).contains(sample.timestamp) {
                    out[labelSet(series.labels), default: [:]][sample.timestamp] = sample.value
                }
            }
        }
        return out
    }

    @Test func blocksAreCutTheWALTruncatedAndEverythingSurvivesRestart() async throws {
        let directory = try TemporaryDirectory("sluice-storage")
        defer { directory.remove() }
        // 40 series, 15 s apart for 2 h 30 min, into 10-minute blocks.
        let series = syntheticSeries(40, samples: 600, start: 1_700_000_000_000, step: 15_000)
        do {
            let storage = try Self.open(directory.path)
            for request in batches(series, perRequest: 20) {
                let outcome = try await storage.append(request)
                #expect(outcome.rejectedCount == 0)
            }
            try await storage.compact()
            #expect(storage.blockList.count >= 12, "blocks: \(storage.blockList.map { "\($0.meta.minTime)-\($0.meta.maxTime)" })")
            for block in storage.blockList {
                #expect(block.meta.maxTime - block.meta.minTime == 600_000)
            }
            let data = try Self.everything(storage)
            #expect(sameData(data, expected(series)), "\(describeDifference(expected(series), data))")
            storage.close()
        }
        // The WAL holds only what the head still has: a checkpoint and the segments after it.
        let walFiles = try FileManager.default.contentsOfDirectory(atPath: directory.path + "/wal")
        #expect(walFiles.contains { $0.hasPrefix("checkpoint") }, "\(walFiles)")

        let reopened = try Self.open(directory.path)
        defer { reopened.close() }
        let data = try Self.everything(reopened)
        #expect(sameData(data, expected(series)), "after restart: \(describeDifference(expected(series), data))")
        // Appending continues where it left off; the old range is closed.
        let next = series.map { TimeSeries(labels: $0.labels, samples: [Sample(timestamp: $0.samples.last!.timestamp + 15_000, value: 1)]) }
        #expect(try await reopened.append(WriteRequest(timeseries: next)).appended == 40)
        let old = series.map { TimeSeries(labels: $0.labels, samples: [Sample(timestamp: $0.samples.first!.timestamp - 1, value: 1)]) }
        #expect(try await reopened.append(WriteRequest(timeseries: old)).rejected[.outOfOrder] == 40)
    }

    @Test func aTornWALTailIsTruncatedNotFatal() async throws {
        let directory = try TemporaryDirectory("sluice-storage")
        defer { directory.remove() }
        let series = syntheticSeries(5, samples: 50, start: 1_700_000_000_000, step: 15_000)
        do {
            let storage = try Self.open(directory.path)
            for request in batches(series, perRequest: 10) { _ = try await storage.append(request) }
            storage.close()
        }
        // Garbage at the end of the newest non-empty segment, as a crash mid-write leaves.
        let walDirectory = directory.path + "/wal"
        let segments = try FileManager.default.contentsOfDirectory(atPath: walDirectory).filter { $0.allSatisfy(\.isNumber) }.sorted()
        let last = try #require(segments.last { (try? FileManager.default.attributesOfItem(atPath: walDirectory + "/" + $0)[.size] as? Int ?? 0) ?? 0 > 0 })
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: walDirectory + "/" + last))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data([0, 0, 0, 40, 1, 2, 3, 4, 5, 6]))
        try handle.close()

        let reopened = try Self.open(directory.path)
        defer { reopened.close() }
        #expect(metric(reopened, "sluice_storage_wal_corruptions_total") == 1)
        let data = try Self.everything(reopened)
        #expect(sameData(data, expected(series)), "\(describeDifference(expected(series), data))")
    }

    @Test func retentionDeletesWholeOldBlocksByTheWallClock() async throws {
        let directory = try TemporaryDirectory("sluice-storage")
        defer { directory.remove() }
        // 6 h of data at 1 min into 1 h blocks, 2 h retention, and the wall clock at the newest sample.
        let series = syntheticSeries(8, samples: 360, start: 1_700_000_000_000 - 1_700_000_000_000 % 3_600_000, step: 60_000)
        let newest = series[0].samples.last!.timestamp
        let clock = Mutex(newest)
        let storage = try Self.open(directory.path, blockDuration: 3_600_000, retention: 2 * 3_600_000, now: { clock.withLock { $0 } })
        defer { storage.close() }
        for request in batches(series, perRequest: 30) { _ = try await storage.append(request) }
        try await storage.compact()
        let blocks = storage.blockList
        #expect(!blocks.isEmpty)
        for block in blocks {
            #expect(block.meta.maxTime > newest - 2 * 3_600_000, "block \(block.meta.minTime)-\(block.meta.maxTime) outlived retention")
        }
        #expect((metric(storage, "sluice_storage_blocks_deleted_total") ?? 0) >= 1)
        let onDisk = try FileManager.default.contentsOfDirectory(atPath: directory.path + "/blocks")
        #expect(onDisk.count == blocks.count, "\(onDisk)")
        // What is left is exactly the data from the oldest kept block on.
        let firstKept = blocks.map(\.meta.minTime).min()!
        let data = try Self.everything(storage)
        #expect(sameData(data, expected(series, in: firstKept...Int64.max)))

        // No new sample arrives, yet time passes: every block expires, the head's data stays.
        clock.withLock { $0 = newest + 10 * 3_600_000 }
        try storage.applyRetention()
        #expect(storage.blockList.isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path + "/blocks").isEmpty)
    }
}

/// One sample of the storage's registry, as `/metrics` would show it.
func metric(_ storage: Storage, _ name: String, _ labels: LabelSet = [:]) -> Double? {
    var buffer: [UInt8] = []
    storage.metrics.registry.emit(into: &buffer)
    return MetricsText(text: String(decoding: buffer, as: UTF8.self)).value(name, labels)
}
