import Foundation
import SluiceCodec
import SluiceHTTP
import SluiceQuery
import SluiceRing
import SluiceTestSupport
import Testing
@testable import SluiceStorage

/// Backfill (`Backfill`, `Storage.backfill`) and the digests repair compares replicas by
/// (`Storage.digest`).
@Suite("Storage: backfill into blocks, and replica digests")
struct BackfillTests {
    static let start: Int64 = 1_700_000_000_000 - 1_700_000_000_000 % 600_000
    static let step: Int64 = 15_000
    /// 2 h 30 min of 20 series at 15 s: 10-minute blocks up to about 2 h, the rest in the head.
    static let series = syntheticSeries(20, samples: 600, start: start, step: step)

    /// `series` with every other sample of the first series missing, for a backfill to add.
    static let gappy = series.enumerated().map { index, one in
        TimeSeries(labels: one.labels, samples: index == 0 ? one.samples.enumerated().filter { $0.offset % 2 == 0 }.map(\.element) : one.samples)
    }

    /// A storage whose wall clock stands at the newest sample.
    static func open(_ directory: String) throws -> Storage {
        let newest = series[0].samples.last!.timestamp
        return try StorageEngineTests.open(directory, retention: 0, now: { newest })
    }

    /// Appends `series` ten minutes at a time, every series in each request, then cuts blocks.
    static func fill(_ storage: Storage, _ series: [TimeSeries]) async throws {
        let times = series.flatMap { $0.samples.map(\.timestamp) }
        guard let first = times.min(), let last = times.max() else { return }
        for from in stride(from: first, through: last, by: 600_000) {
            let request = WriteRequest(timeseries: series.map { one in
                TimeSeries(labels: one.labels, samples: one.samples.filter { $0.timestamp >= from && $0.timestamp < from + 600_000 })
            })
            #expect(try await storage.append(request).rejectedCount == 0)
        }
        try await storage.compact()
    }

    /// Every series' samples before `end`.
    static func history(_ series: [TimeSeries], before end: Int64) -> [TimeSeries] {
        series.map { TimeSeries(labels: $0.labels, samples: $0.samples.filter { $0.timestamp < end }) }
    }

    @Test func aNodeThatLostItsHistoryGetsItBackAndKeepsItAcrossARestart() async throws {
        let full = try TemporaryDirectory("sluice-backfill-full")
        let wiped = try TemporaryDirectory("sluice-backfill-wiped")
        defer {
            full.remove()
            wiped.remove()
        }
        let source = try Self.open(full.path)
        defer { source.close() }
        try await Self.fill(source, Self.series)

        // The wiped node came back empty and has taken only the last 10 minutes since: too little
        // for the head to cut a block.
        let recent = Self.series.map { TimeSeries(labels: $0.labels, samples: Array($0.samples.suffix(40))) }
        var boundary: Int64 = 0
        do {
            let target = try Self.open(wiped.path)
            try await Self.fill(target, recent)
            boundary = target.head.backfillBoundary(now: Self.series[0].samples.last!.timestamp)
            #expect(boundary > Self.start)
            #expect(boundary == recent[0].samples[0].timestamp)
            #expect(target.blockList.isEmpty)

            // A sample where the head still takes samples: refused whole, nothing written.
            let tooNew = WriteRequest(timeseries: [TimeSeries(labels: Self.series[0].labels, samples: [
                Sample(timestamp: Self.start, value: 1), Sample(timestamp: boundary, value: 2),
            ])])
            await #expect(throws: StorageError.self) { _ = try await target.backfill(tooNew) }
            #expect(target.blockList.isEmpty)

            let history = Self.history(Self.series, before: boundary)
            let outcome = try await target.backfill(WriteRequest(timeseries: history))
            let count = history.reduce(0) { $0 + $1.samples.count }
            #expect(outcome.added == count)
            #expect(outcome.present == 0)
            // The same again is free: every sample is there.
            let again = try await target.backfill(WriteRequest(timeseries: history))
            #expect(again.added == 0 && again.present == count && again.blocksWritten == 0)
            let data = try StorageEngineTests.everything(target)
            #expect(sameData(data, expected(Self.series, in: Self.start...boundary - 1).merging(expected(recent)) { $0.merging($1) { a, _ in a } }))
            // The head takes nothing below what backfill wrote.
            let late = WriteRequest(timeseries: [TimeSeries(labels: Self.series[0].labels, samples: [Sample(timestamp: boundary - 1, value: 9)])])
            #expect(try await target.append(late).appended == 0)
            target.close()
        }
        let reopened = try Self.open(wiped.path)
        defer { reopened.close() }
        let data = try StorageEngineTests.everything(reopened, maxTime: boundary - 1)
        #expect(sameData(data, expected(Self.series, in: Self.start...boundary - 1)), "\(describeDifference(expected(Self.series, in: Self.start...boundary - 1), data))")
    }

    @Test func backfillIntoABlockRewritesItKeepingWhatItHeld() async throws {
        let directory = try TemporaryDirectory("sluice-backfill-merge")
        defer { directory.remove() }
        let storage = try Self.open(directory.path)
        defer { storage.close() }
        let gappy = Self.gappy
        try await Self.fill(storage, gappy)
        let blocks = storage.blockList
        let first = try #require(blocks.first)
        let inFirst = { (sample: Sample) in sample.timestamp >= first.meta.minTime && sample.timestamp < first.meta.maxTime }
        // The whole first window again, with other values: the missing samples land, the held keep theirs.
        let sent = Self.series[0].samples.filter(inFirst).map { Sample(timestamp: $0.timestamp, value: $0.value + 1000) }
        let outcome = try await storage.backfill(WriteRequest(timeseries: [TimeSeries(labels: Self.series[0].labels, samples: sent)]))
        #expect(outcome.added == sent.count / 2)
        #expect(outcome.present == sent.count - sent.count / 2)
        #expect(outcome.blocksWritten == 1)

        let after = storage.blockList
        #expect(after.count == blocks.count)
        let rewritten = try #require(after.first { $0.meta.minTime == first.meta.minTime })
        #expect(rewritten.path != first.path)
        #expect(rewritten.meta.replaces == BlockFile.lastComponent(first.path))
        #expect(!FileManager.default.fileExists(atPath: first.path))
        let data = try StorageEngineTests.everything(storage, minTime: first.meta.minTime, maxTime: first.meta.maxTime - 1)
        var want = expected(gappy, in: first.meta.minTime...first.meta.maxTime - 1)
        for (index, sample) in Self.series[0].samples.filter(inFirst).enumerated() where index % 2 == 1 {
            want[labelSet(Self.series[0].labels), default: [:]][sample.timestamp] = sample.value + 1000
        }
        #expect(sameData(data, want), "\(describeDifference(want, data))")
    }

    @Test func aRewriteACrashStoppedBeforeDeletingTheOldBlockIsResolvedAtOpen() async throws {
        let directory = try TemporaryDirectory("sluice-backfill-crash")
        defer { directory.remove() }
        var oldPath = ""
        var newPath = ""
        do {
            let storage = try Self.open(directory.path)
            try await Self.fill(storage, Self.series)
            let old = try #require(storage.blockList.first)
            oldPath = old.path
            // What a rewrite writes before it deletes the old block, then the crash.
            let extra = [(labels: [Label(name: "__name__", value: "backfilled")], chunks: Backfill.xorChunks(
                [Sample(timestamp: old.meta.minTime, value: 1)], chunkRange: 600_000, samplesPerChunk: 120))]
            let carried = (0..<old.seriesCount).map { id in
                (labels: old.labels(of: id), chunks: old.chunks(of: id).map { try! old.chunk($0) })
            }
            let merged: [(labels: [Label], chunks: [StoredChunk])] = (carried + extra).sorted { compareLabelSets($0.labels, $1.labels) < 0 }
            newPath = try BlockWriter.write(
                parent: storage.blocksDirectory, minTime: old.meta.minTime, maxTime: old.meta.maxTime, chunks: merged,
                replacing: BlockFile.lastComponent(old.path)
            )
            storage.close()
        }
        let reopened = try Self.open(directory.path)
        defer { reopened.close() }
        #expect(!FileManager.default.fileExists(atPath: oldPath))
        #expect(reopened.blockList.contains { $0.path == newPath })
        let data = try StorageEngineTests.everything(reopened)
        #expect(data[["__name__": "backfilled"]]?.count == 1)
        #expect(sameData(data.filter { $0.key["__name__"] != "backfilled" }, expected(Self.series)))
    }

    @Test func nativeHistogramsAreRefused() async throws {
        let directory = try TemporaryDirectory("sluice-backfill-histograms")
        defer { directory.remove() }
        let storage = try Self.open(directory.path)
        defer { storage.close() }
        let histogram = Histogram(count: .int(1), sum: 1, schema: 0, zeroThreshold: 0, zeroCount: .int(0), timestamp: Self.start)
        let request = WriteRequest(timeseries: [TimeSeries(labels: [Label(name: "__name__", value: "h")], histograms: [histogram])])
        await #expect(throws: StorageError.self) { _ = try await storage.backfill(request) }
    }

    // MARK: Digests

    static let ring = RingConfiguration(replicationFactor: 2, nodes: [
        .init(name: "a", url: "http://127.0.0.1:1/api/v1/write"), .init(name: "b", url: "http://127.0.0.1:2/api/v1/write"),
    ])

    static func digest(_ storage: Storage, detail: [SeriesDigest.Cell] = []) throws -> SeriesDigest.Response {
        try storage.digest(SeriesDigest.Request(
            ring: ring.yaml(), replicaSet: ["a", "b"], buckets: 4, tenantLabel: "tenant_id", defaultTenant: "default", detail: detail
        ))
    }

    @Test func equalReplicasDigestEquallyAndAMissingSeriesShowsInItsCell() async throws {
        let one = try TemporaryDirectory("sluice-digest-one")
        let two = try TemporaryDirectory("sluice-digest-two")
        defer {
            one.remove()
            two.remove()
        }
        let a = try Self.open(one.path)
        let b = try Self.open(two.path)
        defer {
            a.close()
            b.close()
        }
        try await Self.fill(a, Self.series)
        // b holds the same samples, sent in other batches (so cut into the same windows, by other requests).
        for request in batches(Self.series, perRequest: 7) { _ = try await b.append(request) }
        try await b.compact()
        let same = (try Self.digest(a), try Self.digest(b))
        #expect(!same.0.cells.isEmpty)
        #expect(same.0.cells == same.1.cells)
        let samples = same.0.cells.reduce(0) { $0 + $1.samples }
        #expect(samples == a.blockList.reduce(0) { $0 + $1.meta.numSamples })

        // Drop one series' first window from b by rewriting history elsewhere: a third node without it.
        let three = try TemporaryDirectory("sluice-digest-three")
        defer { three.remove() }
        let c = try Self.open(three.path)
        defer { c.close() }
        try await Self.fill(c, Array(Self.series.dropFirst()))
        let missing = try Self.digest(c)
        let differing = Set(same.0.cells).symmetricDifference(Set(missing.cells)).map(\.cell)
        #expect(!differing.isEmpty)
        // Listed series by series, the cells tell exactly which series differ.
        let detailA = try Self.digest(a, detail: differing).series
        let detailC = try Self.digest(c, detail: differing).series
        let onlyInA = Set(detailA.map(\.labels)).subtracting(detailC.map(\.labels))
        #expect(onlyInA == [Self.series[0].labels.map { [$0.name, $0.value] }])
    }

    /// A block's cells are read from its chunks once per request shape; later passes take them
    /// from the cache, and a block a backfill rewrote is read again, so the digest follows it.
    @Test func digestsReadABlockOnceAndFollowItsRewrite() async throws {
        let directory = try TemporaryDirectory("sluice-digest-cache")
        defer { directory.remove() }
        let storage = try Self.open(directory.path)
        defer { storage.close() }
        try await Self.fill(storage, Self.gappy)
        let blocks = storage.blockList.count
        #expect(blocks > 1)
        let first = try Self.digest(storage)
        #expect(storage.digestCache.hits.load(ordering: .relaxed) == 0)
        let second = try Self.digest(storage)
        #expect(second.cells == first.cells)
        #expect(storage.digestCache.hits.load(ordering: .relaxed) == blocks)
        // Listing series reads the blocks, and gives the same cells.
        #expect(try Self.digest(storage, detail: [first.cells[0].cell]).cells == first.cells)
        #expect(storage.digestCache.hits.load(ordering: .relaxed) == blocks)

        let oldest = try #require(storage.blockList.first)
        let missing = Self.series[0].samples.filter { $0.timestamp >= oldest.meta.minTime && $0.timestamp < oldest.meta.maxTime }
        let outcome = try await storage.backfill(WriteRequest(timeseries: [TimeSeries(labels: Self.series[0].labels, samples: missing)]))
        #expect(outcome.added > 0)
        let after = try Self.digest(storage)
        #expect(storage.digestCache.hits.load(ordering: .relaxed) == 2 * blocks - 1, "only the rewritten block is read again")
        #expect(after.cells != first.cells)
        #expect(after.cells == (try Self.digest(storage, detail: [after.cells[0].cell]).cells), "the cached cells agree with a fresh read")
        #expect(after.cells.reduce(0) { $0 + $1.samples } == first.cells.reduce(0) { $0 + $1.samples } + outcome.added)
    }

    @Test func aSeriesOfAnotherReplicaSetIsLeftOut() async throws {
        let directory = try TemporaryDirectory("sluice-digest-sets")
        defer { directory.remove() }
        let storage = try Self.open(directory.path)
        defer { storage.close() }
        try await Self.fill(storage, Self.series)
        let three = RingConfiguration(replicationFactor: 2, nodes: ["a", "b", "c"].enumerated().map {
            .init(name: $0.element, url: "http://127.0.0.1:\($0.offset + 1)/api/v1/write")
        })
        var total = 0
        for set in [["a", "b"], ["a", "c"], ["b", "c"]] {
            let answer = try storage.digest(SeriesDigest.Request(
                ring: three.yaml(), replicaSet: set, buckets: 4, tenantLabel: "tenant_id", defaultTenant: "default"))
            total += answer.cells.reduce(0) { $0 + $1.samples }
        }
        // Each series is in exactly one of the three sets.
        #expect(total == storage.blockList.reduce(0) { $0 + $1.meta.numSamples })
        #expect(throws: StorageError.self) {
            _ = try storage.digest(SeriesDigest.Request(ring: three.yaml(), replicaSet: ["a"], buckets: 4, tenantLabel: nil, defaultTenant: "default"))
        }
    }

    /// A deletion whose limit falls inside a block (as it does in a block compaction merged) takes
    /// the placed series' samples before the limit and keeps those from it on, and every other
    /// series whole.
    @Test func deletingPlacedSeriesCutsABlockThatReachesPastTheLimit() async throws {
        let directory = try TemporaryDirectory("sluice-delete-placed")
        defer { directory.remove() }
        let storage = try Self.open(directory.path)
        defer { storage.close() }
        try await Self.fill(storage, Self.series)
        let last = try #require(storage.blockList.last)
        // Mid-block, and not on a sample's timestamp.
        let limit = last.meta.minTime + (last.meta.maxTime - last.meta.minTime) / 2 + 1
        let three = RingConfiguration(replicationFactor: 2, nodes: ["a", "b", "c"].enumerated().map {
            .init(name: $0.element, url: "http://127.0.0.1:\($0.offset + 1)/api/v1/write")
        })
        let request = ReplicaSetSeries(ring: three.yaml(), replicaSet: ["a", "c"], tenantLabel: "tenant_id", defaultTenant: "default")
        let placed = try PlacementFilter(request)
        let moved = Self.series.filter { placed.contains($0.labels) }
        #expect(!moved.isEmpty && moved.count < Self.series.count)
        let before = try StorageEngineTests.everything(storage, maxTime: last.meta.maxTime - 1)

        let outcome = try await storage.deletePlaced(placed, before: limit)
        #expect(outcome.seriesDeleted > 0)
        let movedBelow = moved.reduce(0) { $0 + $1.samples.filter { $0.timestamp < limit }.count }
        #expect(outcome.samplesDeleted == movedBelow)

        let after = try StorageEngineTests.everything(storage, maxTime: last.meta.maxTime - 1)
        var want = before
        for one in moved {
            want[labelSet(one.labels)] = want[labelSet(one.labels)]?.filter { $0.key >= limit }
        }
        want = want.filter { !$0.value.isEmpty }
        #expect(sameData(after, want), "\(describeDifference(want, after))")
        // Done is done.
        let again = try await storage.deletePlaced(placed, before: limit)
        #expect(again.seriesDeleted == 0 && again.samplesDeleted == 0)
    }
}
