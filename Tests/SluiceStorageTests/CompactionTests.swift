import Foundation
import SluiceCodec
import SluiceTestSupport
import Testing
@testable import SluiceStorage

@Suite("Compaction: merged blocks, crashes mid-merge")
struct CompactionTests {
    static let minute: Int64 = 60_000
    static let hour: Int64 = 3_600_000

    @Test func rangesFollowPrometheus() {
        // 15 d retention: at most 36 h, so 2 h, 6 h, 18 h.
        #expect(Compaction.ranges(blockDuration: 2 * Self.hour, retention: 15 * 24 * Self.hour, maxBlockDuration: 0) == [2, 6, 18].map { $0 * Self.hour })
        // No retention: up to 31 d.
        #expect(Compaction.ranges(blockDuration: 2 * Self.hour, retention: 0, maxBlockDuration: 0).last == 486 * Self.hour)
        // Merging off.
        #expect(Compaction.ranges(blockDuration: 2 * Self.hour, retention: 0, maxBlockDuration: 2 * Self.hour) == [2 * Self.hour])
    }

    /// 40 series at 15 s for 2 h 30 min, 10-minute blocks: the head cuts about a dozen blocks.
    static let series = syntheticSeries(40, samples: 600, start: 1_700_000_000_000 - 1_700_000_000_000 % hour, step: 15_000)

    static func fill(_ storage: Storage) async throws {
        for request in batches(series, perRequest: 20) {
            #expect(try await storage.append(request).rejectedCount == 0)
        }
        try await storage.compact()
    }

    static func ranges(_ storage: Storage) -> [ClosedRange<Int64>] {
        storage.blockList.map { $0.meta.minTime...($0.meta.maxTime - 1) }
    }

    static func expectNoOverlap(_ storage: Storage, sourceLocation: SourceLocation = #_sourceLocation) {
        let sorted = storage.blockList.sorted { $0.meta.minTime < $1.meta.minTime }
        for (a, b) in zip(sorted, sorted.dropFirst()) {
            #expect(a.meta.maxTime <= b.meta.minTime, "blocks overlap: \(a.path) and \(b.path)", sourceLocation: sourceLocation)
        }
    }

    @Test func mergedBlocksAnswerExactlyAsTheirSources() async throws {
        let small = try TemporaryDirectory("sluice-compaction")
        let merged = try TemporaryDirectory("sluice-compaction")
        defer {
            small.remove()
            merged.remove()
        }
        let unmerged = try StorageEngineTests.open(small.path)
        defer { unmerged.close() }
        try await Self.fill(unmerged)

        // Merging up to 1 h 30 min: 10 min, 30 min, 90 min.
        let storage = try StorageEngineTests.open(merged.path, maxBlockDuration: 90 * Self.minute)
        try await Self.fill(storage)
        #expect(storage.blockList.count < unmerged.blockList.count, "\(Self.ranges(storage))")
        #expect(storage.blockList.contains { $0.meta.maxTime - $0.meta.minTime == 90 * Self.minute }, "\(Self.ranges(storage))")
        for block in storage.blockList {
            let length = block.meta.maxTime - block.meta.minTime
            #expect([10, 30, 90].map { $0 * Self.minute }.contains(length), "\(Self.ranges(storage))")
            #expect(block.meta.minTime % length == 0, "a merged block is aligned to its range")
        }
        Self.expectNoOverlap(storage)
        #expect(storage.blockList.reduce(0) { $0 + $1.meta.numSamples } == unmerged.blockList.reduce(0) { $0 + $1.meta.numSamples })
        let onDisk = try FileManager.default.contentsOfDirectory(atPath: merged.path + "/blocks")
        #expect(onDisk.count == storage.blockList.count, "sources are deleted: \(onDisk)")

        // The same answers, chunk for chunk, as without merging; and after a restart.
        let matchers = [LabelMatcher(.regex, name: "__name__", value: ".+")]
        let expected = try unmerged.select(matchers, minTime: .min, maxTime: .max)
        #expect(try storage.select(matchers, minTime: .min, maxTime: .max).map(\.labels) == expected.map(\.labels))
        #expect(sameData(try StorageEngineTests.everything(storage), try StorageEngineTests.everything(unmerged)))
        let window = (Self.series[0].samples[100].timestamp, Self.series[0].samples[300].timestamp)
        #expect(
            sameData(
                try StorageEngineTests.everything(storage, minTime: window.0, maxTime: window.1),
                try StorageEngineTests.everything(unmerged, minTime: window.0, maxTime: window.1)
            ))
        storage.close()
        let reopened = try StorageEngineTests.open(merged.path, maxBlockDuration: 90 * Self.minute)
        defer { reopened.close() }
        #expect(sameData(try StorageEngineTests.everything(reopened), try StorageEngineTests.everything(unmerged)))
    }

    /// A damaged source chunk fails the merge before anything is renamed: the sources stay, and no
    /// partial block is left behind.
    @Test func aDamagedSourceFailsTheMergeAndKeepsTheSources() async throws {
        let directory = try TemporaryDirectory("sluice-compaction")
        defer { directory.remove() }
        do {
            let storage = try StorageEngineTests.open(directory.path)
            try await Self.fill(storage)
            storage.close()
        }
        let blocksDirectory = directory.path + "/blocks"
        let before = try FileManager.default.contentsOfDirectory(atPath: blocksDirectory).sorted()
        let blocks = try Block.listBlocks(in: blocksDirectory).map { try Block(path: $0) }
        let ranges = Compaction.ranges(blockDuration: 10 * Self.minute, retention: 0, maxBlockDuration: 30 * Self.minute)
        let group = try #require(Compaction.plan(blocks, ranges: ranges, sealedBefore: .max))
        // Flip a byte inside the second source's first chunk.
        let ref = try #require(group[1].chunks(of: 0).first)
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: group[1].path + "/chunks"))
        try handle.seek(toOffset: UInt64(ref.offset + ref.length / 2))
        let byte = try #require(try handle.read(upToCount: 1)?.first)
        try handle.seek(toOffset: UInt64(ref.offset + ref.length / 2))
        try handle.write(contentsOf: Data([byte ^ 0xFF]))
        try handle.close()

        #expect(throws: (any Error).self) { try Compaction.merge(group, parent: blocksDirectory) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: blocksDirectory).sorted() == before)
    }

    /// A kill -9 can stop a merge at three places: while the merged block is written (a `.tmp`
    /// directory), after its rename but before a source is deleted, or while the sources are deleted
    /// (a `.deleted` directory). Each leaves a directory that opens with every sample once.
    @Test func aCrashAtAnyStepOfAMergeLosesNothingAndLeavesNoOverlap() async throws {
        let directory = try TemporaryDirectory("sluice-compaction")
        defer { directory.remove() }
        let reference: [LabelSet: [Int64: Double]]
        do {
            let storage = try StorageEngineTests.open(directory.path)
            try await Self.fill(storage)
            reference = try StorageEngineTests.everything(storage)
            storage.close()
        }
        let blocksDirectory = directory.path + "/blocks"
        let ranges = Compaction.ranges(blockDuration: 10 * Self.minute, retention: 0, maxBlockDuration: 30 * Self.minute)
        for step in ["written, not renamed", "renamed, sources kept", "one source half deleted"] {
            let blocks = try Block.listBlocks(in: blocksDirectory).map { try Block(path: $0) }
            let group = try #require(Compaction.plan(blocks, ranges: ranges, sealedBefore: .max), "\(step): nothing to merge")
            let mergedPath = try Compaction.merge(group, parent: blocksDirectory)
            switch step {
            case "written, not renamed":
                try FileManager.default.moveItem(atPath: mergedPath, toPath: mergedPath + ".tmp")
            case "renamed, sources kept":
                break
            default:
                try FileManager.default.moveItem(atPath: group[0].path, toPath: group[0].path + ".deleted")
            }
            // Merging stays off while the storage opens, so only the crash repair runs.
            let storage = try StorageEngineTests.open(directory.path)
            Self.expectNoOverlap(storage)
            #expect(sameData(try StorageEngineTests.everything(storage), reference), "\(step)")
            let onDisk = try FileManager.default.contentsOfDirectory(atPath: blocksDirectory).sorted()
            #expect(onDisk.count == storage.blockList.count, "\(step): \(onDisk)")
            if step != "written, not renamed" {
                #expect(storage.blockList.contains { $0.path == mergedPath }, "\(step): the merged block is kept")
            }
            storage.close()
        }
    }
}
