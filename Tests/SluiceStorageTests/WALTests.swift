import Foundation
import Logging
import SluiceCodec
import SluiceFiles
import Synchronization
import Testing

@testable import SluiceStorage

@Suite("WAL")
struct WALTests {
    // MARK: Record codec

    @Test func recordsRoundTripBitExactly() throws {
        let nanPayload = Double(bitPattern: 0x7ff8_dead_beef_0001)
        let records: [WALRecord] = [
            .series([]),
            .samples([]),
            .series([
                WALSeries(ref: 0, labels: []),
                WALSeries(ref: 1, labels: [Label(name: "__name__", value: "up"), Label(name: "job", value: "")]),
                WALSeries(ref: UInt64.max, labels: [Label(name: "città", value: "東京 🚀"), Label(name: "e", value: String(repeating: "x", count: 300))]),
            ]),
            .samples([
                WALSample(ref: 5, timestamp: 1_700_000_000_000, value: 1.5),
                WALSample(ref: 3, timestamp: 1_699_999_999_999, value: StaleMarker.value),
                WALSample(ref: UInt64.max, timestamp: Int64.min, value: nanPayload),
                WALSample(ref: 0, timestamp: Int64.max, value: -0.0),
                WALSample(ref: 7, timestamp: -1, value: -.infinity),
                WALSample(ref: 7, timestamp: 0, value: .greatestFiniteMagnitude),
            ]),
        ]
        for record in records {
            let bytes = WALRecordCodec.encode(record)
            let decoded = try WALRecordCodec.decode(bytes)
            #expect(decoded == record)
            #expect(WALRecordCodec.encode(decoded) == bytes, "re-encoding is byte-identical")
        }
        guard case .samples(let samples) = try WALRecordCodec.decode(WALRecordCodec.encode(records[3])) else {
            Issue.record("samples decoded as another record type")
            return
        }
        let expectedBits: [UInt64] = [
            (1.5).bitPattern, StaleMarker.bitPattern, 0x7ff8_dead_beef_0001,
            (-0.0).bitPattern, (-Double.infinity).bitPattern, Double.greatestFiniteMagnitude.bitPattern,
        ]
        #expect(samples.map(\.value.bitPattern) == expectedBits)
        #expect(StaleMarker.isStale(samples[1].value))
        #expect(WALSample(ref: 1, timestamp: 1, value: StaleMarker.value) != WALSample(ref: 1, timestamp: 1, value: .nan), "NaNs compare by payload")
    }

    @Test func damagedRecordBytesThrowCodecErrors() throws {
        let records: [WALRecord] = [
            .series([WALSeries(ref: 42, labels: [Label(name: "__name__", value: "http_requests_total"), Label(name: "path", value: "/ü")])]),
            .samples((0..<20).map { WALSample(ref: UInt64($0 * 3), timestamp: 1_000 + Int64($0) * 15_000, value: Double($0)) }),
        ]
        for record in records {
            let bytes = WALRecordCodec.encode(record)
            // Every strict prefix is missing something the counts promise.
            for length in 0..<bytes.count {
                #expect(throws: CodecError.self, "prefix of \(length) bytes") { try WALRecordCodec.decode(bytes[..<length]) }
            }
            #expect(throws: CodecError.self) { try WALRecordCodec.decode(bytes + [0]) }
        }

        // Unknown type, counts far beyond the bytes, a label that is not UTF-8.
        #expect(throws: CodecError.self) { try WALRecordCodec.decode([9, 0]) }
        #expect(throws: CodecError.self) { try WALRecordCodec.decode([WALRecordCodec.samplesType, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0, 0]) }
        #expect(throws: CodecError.self) { try WALRecordCodec.decode([WALRecordCodec.seriesType, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]) }
        #expect(throws: CodecError.self) { try WALRecordCodec.decode([WALRecordCodec.seriesType, 1, 1, 200, 0x80, 0x01, 0, 0]) }
        #expect(throws: CodecError.self) { try WALRecordCodec.decode([WALRecordCodec.seriesType, 1, 1, 1, 2, 0xC3, 0x28, 0]) }
        do {
            _ = try WALRecordCodec.decode([WALRecordCodec.seriesType, 1, 1, 1, 1, 0xFF, 0])
            Issue.record("invalid UTF-8 decoded")
        } catch {
            #expect(error.code == .invalidSeries)
        }

        // Random bytes and random corruptions of good records: an error or a record, never a trap.
        var random = SplitMix64(seed: 0x5EED_0A1)
        for _ in 0..<2000 {
            var bytes = (0..<Int(random.next() % 64)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            if let first = bytes.first { bytes[0] = [first, WALRecordCodec.seriesType, WALRecordCodec.samplesType][Int(random.next() % 3)] }
            _ = try? WALRecordCodec.decode(bytes)
        }
        for record in records {
            let good = WALRecordCodec.encode(record)
            for _ in 0..<500 {
                var bytes = good
                bytes[Int(random.next() % UInt64(bytes.count))] ^= UInt8(truncatingIfNeeded: random.next() | 1)
                _ = try? WALRecordCodec.decode(bytes)
            }
        }
    }

    // MARK: Write and replay

    @Test func writeCloseReplayYieldsTheRecordsInOrder() async throws {
        try await Self.withTemporaryDirectory { directory in
            let logs = Self.recorder()
            let wal = try WAL(directory: directory, configuration: .init(), logger: logs.logger)
            let batches = (0..<10).map { Self.batch($0) }
            for batch in batches {
                try await wal.wait(wal.log(batch))
            }
            let empty = wal.log([])
            try await wal.wait(empty)
            wal.close()
            wal.close()

            #expect(try Self.segmentNames(directory) == ["00000001"])
            var replayed: [WALRecord] = []
            let report = try WAL.replay(directory: directory, logger: logs.logger) { replayed.append($0) }
            #expect(replayed == batches.flatMap { $0 })
            #expect(report == WAL.ReplayReport(records: replayed.count, segments: 1, checkpoint: nil, corruptions: 0, truncatedBytes: 0))
            #expect(logs.messages(atLeast: .warning).isEmpty)
        }
    }

    @Test func replayOfAMissingDirectoryIsEmpty() throws {
        let report = try WAL.replay(directory: "/nonexistent/sluice-wal-\(UUID().uuidString)", logger: Self.recorder().logger) { _ in
            Issue.record("a missing WAL has no records")
        }
        #expect(report == WAL.ReplayReport())
    }

    @Test func concurrentWaitersShareOneSyncPerPass() async throws {
        try await Self.withTemporaryDirectory { directory in
            let observed = Counter()
            // A slow disk, so the test does not hinge on how fast this machine syncs: every sync
            // takes at least 2 ms, during which the other tasks' records pile up for the next one.
            let wal = try WAL(directory: directory, configuration: .init(), logger: Self.recorder().logger) { _ in
                observed.add()
                usleep(2_000)
            }
            let waits = try await withThrowingTaskGroup(of: Int.self) { group in
                for task in 0..<200 {
                    group.addTask {
                        var waits = 0
                        for index in 0..<5 {
                            let sample = WALSample(ref: UInt64(task), timestamp: Int64(index), value: Double(task * 10 + index))
                            let ticket = wal.log([.samples([sample])])
                            try await wal.wait(ticket)
                            waits += 1
                        }
                        return waits
                    }
                }
                return try await group.reduce(0, +)
            }
            let statistics = wal.statistics
            wal.close()

            #expect(waits == 1000)
            #expect(statistics.fsyncs == observed.value, "observeFsync sees every sync")
            #expect(statistics.fsyncs >= 1)
            #expect(statistics.fsyncs * 4 <= 1000, "group commit: \(statistics.fsyncs) syncs for 1000 waits")
            #expect(statistics.failedWrites == 0)

            var timestamps: [UInt64: [Int64]] = [:]
            let report = try WAL.replay(directory: directory, logger: Self.recorder().logger) { record in
                guard case .samples(let samples) = record else { return }
                for sample in samples {
                    timestamps[sample.ref, default: []].append(sample.timestamp)
                    #expect(sample.value == Double(Int(sample.ref) * 10 + Int(sample.timestamp)))
                }
            }
            #expect(report.records == 1000 && report.corruptions == 0)
            #expect(timestamps.count == 200)
            #expect(timestamps.values.allSatisfy { $0 == [0, 1, 2, 3, 4] }, "each task's records replay in its order")
        }
    }

    @Test func intervalModeAcknowledgesBeforeTheSync() async throws {
        try await Self.withTemporaryDirectory { directory in
            // A second between syncs: the 20 writes take far less even on a loaded machine, so they
            // are acknowledged before most syncs (20 ms failed a parallel run at 20 syncs).
            let wal = try WAL(directory: directory, configuration: .init(fsync: .interval(.seconds(1))), logger: Self.recorder().logger)
            let batches = (0..<20).map { Self.batch($0) }
            for batch in batches {
                try await wal.wait(wal.log(batch))
            }
            let deadline = ContinuousClock.now + .seconds(5)
            while wal.statistics.fsyncs == 0, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(5))
            }
            #expect(wal.statistics.fsyncs >= 1, "the interval sync ran")
            #expect(wal.statistics.fsyncs < 20)
            wal.close()
            var replayed: [WALRecord] = []
            _ = try WAL.replay(directory: directory, logger: Self.recorder().logger) { replayed.append($0) }
            #expect(replayed == batches.flatMap { $0 })
        }
    }

    @Test func closedWALFailsLaterTicketsAndReleasesTheDirectory() async throws {
        try await Self.withTemporaryDirectory { directory in
            let wal = try WAL(directory: directory, configuration: .init(), logger: Self.recorder().logger)
            do {
                _ = try WAL(directory: directory, configuration: .init(), logger: Self.recorder().logger)
                Issue.record("a second WAL opened a locked directory")
            } catch let error as WALError {
                #expect(error.code == .locked)
            }
            let ticket = wal.log(Self.batch(0))
            wal.close()
            try await wal.wait(ticket)
            let late = wal.log(Self.batch(1))
            #expect(late > ticket)
            await #expect(throws: WALError.self) { try await wal.wait(late) }
            let reopened = try WAL(directory: directory, configuration: .init(), logger: Self.recorder().logger)
            reopened.close()
        }
    }

    // MARK: Damage

    @Test func tornTailAtEveryOffsetIsTruncatedAway() throws {
        try Self.withTemporaryDirectory { directory in
            let records = Self.batch(0) + Self.batch(1)
            let original = try Self.writeSegment(records, in: directory)
            let path = directory + "/00000001"
            let lastFrame = original.count - (LogFrame.headerBytes + WALRecordCodec.encode(records.last!).count)

            for cut in lastFrame..<original.count {
                try Data(original[..<cut]).write(to: URL(fileURLWithPath: path))
                let logs = Self.recorder()
                var replayed: [WALRecord] = []
                let report = try WAL.replay(directory: directory, logger: logs.logger) { replayed.append($0) }
                #expect(replayed == Array(records.dropLast()), "cut at \(cut)")
                let torn = cut > lastFrame
                #expect(report.corruptions == (torn ? 1 : 0), "cut at \(cut)")
                #expect(report.truncatedBytes == cut - lastFrame, "cut at \(cut)")
                #expect(try Self.fileSize(path) == lastFrame, "cut at \(cut)")
                #expect(logs.messages(atLeast: .warning).count == (torn ? 1 : 0))

                let again = try WAL.replay(directory: directory, logger: logs.logger) { _ in }
                #expect(again.corruptions == 0 && again.records == records.count - 1, "second replay after cut at \(cut)")
            }
        }
    }

    @Test func overwrittenBytesEndTheLogAtTheDamagedFrame() throws {
        try Self.withTemporaryDirectory { directory in
            let records = (0..<6).flatMap { Self.batch($0) }
            let original = try Self.writeSegment(records, in: directory)
            var frameStarts: [Int] = []
            var offset = 0
            for record in records {
                frameStarts.append(offset)
                offset += LogFrame.headerBytes + WALRecordCodec.encode(record).count
            }
            #expect(offset == original.count)
            let path = directory + "/00000001"

            var random = SplitMix64(seed: 0xC0_22_07)
            for trial in 0..<200 {
                // Damage 1 to 4 bytes of one frame, the last frame in half the trials.
                let frame = trial.isMultiple(of: 2) ? records.count - 1 : Int(random.next() % UInt64(records.count))
                let end = frame + 1 < frameStarts.count ? frameStarts[frame + 1] : original.count
                var bytes = original
                var positions: Set<Int> = []
                let count = min(1 + Int(random.next() % 4), end - frameStarts[frame])
                while positions.count < count {
                    positions.insert(frameStarts[frame] + Int(random.next() % UInt64(end - frameStarts[frame])))
                }
                for position in positions {
                    bytes[position] ^= UInt8(truncatingIfNeeded: random.next() | 1)
                }
                try Data(bytes).write(to: URL(fileURLWithPath: path))
                var replayed: [WALRecord] = []
                let report = try WAL.replay(directory: directory, logger: Self.recorder().logger) { replayed.append($0) }
                #expect(replayed == Array(records[..<frame]), "trial \(trial), frame \(frame)")
                #expect(report.corruptions == 1, "trial \(trial)")
                #expect(report.truncatedBytes == original.count - frameStarts[frame], "trial \(trial)")
                #expect(try Self.fileSize(path) == frameStarts[frame])
                #expect(try WAL.replay(directory: directory, logger: Self.recorder().logger) { _ in }.corruptions == 0)
            }

            // A zero-filled tail, as a crash can leave, is damage too.
            try Data(original + [UInt8](repeating: 0, count: 4096)).write(to: URL(fileURLWithPath: path))
            var replayed: [WALRecord] = []
            let report = try WAL.replay(directory: directory, logger: Self.recorder().logger) { replayed.append($0) }
            #expect(replayed == records)
            #expect(report.corruptions == 1 && report.truncatedBytes == 4096)
        }
    }

    @Test func damageInAMiddleSegmentDropsTheLaterSegments() async throws {
        try await Self.withTemporaryDirectory { directory in
            // A one-byte segment size puts every `log` call in a segment of its own.
            let wal = try WAL(directory: directory, configuration: .init(segmentSize: 1), logger: Self.recorder().logger)
            let batches = (0..<6).map { Self.batch($0) }
            for batch in batches {
                try await wal.wait(wal.log(batch))
            }
            wal.close()
            #expect(try Self.segmentNames(directory) == (1...6).map { WALNames.segment($0) })

            // Flip a byte inside the second record of segment 3.
            let path = directory + "/00000003"
            var bytes = try Self.readFile(path)
            let secondFrame = LogFrame.headerBytes + WALRecordCodec.encode(batches[2][0]).count
            bytes[secondFrame + LogFrame.headerBytes + 2] ^= 0x40
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let laterBytes = try (4...6).map { try Self.fileSize(directory + "/" + WALNames.segment($0)) }.reduce(0, +)

            let logs = Self.recorder()
            var replayed: [WALRecord] = []
            let report = try WAL.replay(directory: directory, logger: logs.logger) { replayed.append($0) }
            #expect(replayed == batches[0] + batches[1] + [batches[2][0]])
            #expect(report.corruptions == 1 && report.segments == 3)
            #expect(report.truncatedBytes == bytes.count - secondFrame + laterBytes)
            #expect(try Self.segmentNames(directory) == ["00000001", "00000002", "00000003"])
            #expect(logs.messages(atLeast: .warning).count == 1)

            // Reopened, the log continues after the repaired segment and replays whole.
            let reopened = try WAL(directory: directory, configuration: .init(), logger: Self.recorder().logger)
            try await reopened.wait(reopened.log(batches[5]))
            reopened.close()
            replayed = []
            let second = try WAL.replay(directory: directory, logger: Self.recorder().logger) { replayed.append($0) }
            #expect(replayed == batches[0] + batches[1] + [batches[2][0]] + batches[5])
            #expect(second.corruptions == 0)
            #expect(try Self.segmentNames(directory).last == "00000004")
        }
    }

    // MARK: Segments and checkpoints

    @Test func smallSegmentSizeRotatesSegments() async throws {
        try await Self.withTemporaryDirectory { directory in
            let segmentSize = 1024
            let wal = try WAL(directory: directory, configuration: .init(segmentSize: segmentSize), logger: Self.recorder().logger)
            let batches = (0..<60).map { Self.batch($0) }
            var largestCall = 0
            for batch in batches {
                largestCall = max(largestCall, batch.reduce(0) { $0 + LogFrame.headerBytes + WALRecordCodec.encode($1).count })
                try await wal.wait(wal.log(batch))
            }
            wal.close()

            let names = try Self.segmentNames(directory)
            #expect(names.count >= 4)
            #expect(names == (1...names.count).map { WALNames.segment($0) }, "consecutive segments")
            for name in names {
                let size = try Self.fileSize(directory + "/" + name)
                #expect(size > 0 && size < segmentSize + largestCall, "\(name) holds \(size) bytes")
            }
            var replayed: [WALRecord] = []
            let report = try WAL.replay(directory: directory, logger: Self.recorder().logger) { replayed.append($0) }
            #expect(replayed == batches.flatMap { $0 })
            #expect(report.segments == names.count)
        }
    }

    @Test func checkpointReplacesOlderSegments() async throws {
        try await Self.withTemporaryDirectory { directory in
            let wal = try WAL(directory: directory, configuration: .init(segmentSize: 512), logger: Self.recorder().logger)
            for batch in (0..<20).map({ Self.batch($0) }) {
                try await wal.wait(wal.log(batch))
            }
            let cut = wal.cutSegment()
            #expect(cut >= 2)
            #expect(wal.cutSegment() == cut, "nothing logged since: the same cut")
            let after = (20..<25).map { Self.batch($0) }
            for batch in after {
                try await wal.wait(wal.log(batch))
            }
            await #expect(throws: WALError.self) { try await wal.checkpoint(through: cut + 1000, records: []) }

            let state: [WALRecord] = [
                .series([WALSeries(ref: 1, labels: [Label(name: "__name__", value: "compacted")])]),
                .samples([WALSample(ref: 1, timestamp: 99, value: StaleMarker.value)]),
            ]
            try await wal.checkpoint(through: cut, records: state)
            var names = try Self.directoryNames(directory)
            #expect(names.contains(WALNames.checkpoint(cut)))
            #expect(!names.contains { $0.hasSuffix(WALNames.temporarySuffix) })
            #expect(names.compactMap(WALNames.segmentID).allSatisfy { $0 > cut }, "segments ≤ \(cut) are gone: \(names)")

            // A later checkpoint replaces the earlier one.
            let batch = Self.batch(25)
            try await wal.wait(wal.log(batch))
            let secondCut = wal.cutSegment()
            #expect(secondCut > cut)
            try await wal.checkpoint(through: secondCut, records: state + after.flatMap { $0 } + batch)
            let tail = Self.batch(26)
            try await wal.wait(wal.log(tail))
            wal.close()
            names = try Self.directoryNames(directory)
            #expect(names.compactMap(WALNames.checkpointID) == [secondCut])

            var replayed: [WALRecord] = []
            let report = try WAL.replay(directory: directory, logger: Self.recorder().logger) { replayed.append($0) }
            #expect(replayed == state + after.flatMap { $0 } + batch + tail)
            #expect(report.checkpoint == secondCut && report.corruptions == 0)
            #expect(report.segments == 1)
        }
    }

    @Test func checkpointRecordsThenLaterSegmentsAfterReopen() async throws {
        try await Self.withTemporaryDirectory { directory in
            var wal = try WAL(directory: directory, configuration: .init(), logger: Self.recorder().logger)
            try await wal.wait(wal.log(Self.batch(0)))
            wal.close()

            // Reopened after replay: appends go to a new segment, the old one is left as it was.
            _ = try WAL.replay(directory: directory, logger: Self.recorder().logger) { _ in }
            let firstSize = try Self.fileSize(directory + "/00000001")
            wal = try WAL(directory: directory, configuration: .init(), logger: Self.recorder().logger)
            #expect(wal.cutSegment() == 1, "an empty new segment: everything so far is in segment 1")
            try await wal.checkpoint(through: 1, records: Self.batch(100))
            try await wal.wait(wal.log(Self.batch(1)))
            wal.close()
            #expect(try Self.directoryNames(directory).sorted() == ["00000002", "checkpoint.00000001", "lock"])
            #expect(firstSize > 0)

            wal = try WAL(directory: directory, configuration: .init(), logger: Self.recorder().logger)
            try await wal.wait(wal.log(Self.batch(2)))
            wal.close()
            #expect(try Self.segmentNames(directory) == ["00000002", "00000003"])
            var replayed: [WALRecord] = []
            let report = try WAL.replay(directory: directory, logger: Self.recorder().logger) { replayed.append($0) }
            #expect(replayed == Self.batch(100) + Self.batch(1) + Self.batch(2))
            #expect(report.checkpoint == 1 && report.segments == 2)
        }
    }

    // MARK: Write failures

    @Test func failedWriteFailsItsWaitersAndTheLogRecovers() async throws {
        try await Self.withTemporaryDirectory { directory in
            let logs = Self.recorder()
            let wal = try WAL(directory: directory, configuration: .init(), logger: logs.logger)
            // The first segment is a disk that is always full: the write gets ENOSPC, and the cut-back
            // fails too, so the WAL moves on to segment 2.
            try FileManager.default.createSymbolicLink(atPath: directory + "/00000001", withDestinationPath: "/dev/full")
            let lost = Self.batch(0)
            do {
                try await wal.wait(wal.log(lost))
                Issue.record("a write to a full disk succeeded")
            } catch let error as WALError {
                #expect(error.code == .io)
                #expect(error.systemError == ENOSPC)
            }
            #expect(wal.statistics.failedWrites == 1)

            let kept = Self.batch(1)
            try await wal.wait(wal.log(kept))
            #expect(!wal.isFailing)
            wal.close()
            #expect(logs.messages(atLeast: .error).count >= 1)

            var replayed: [WALRecord] = []
            let report = try WAL.replay(directory: directory, logger: Self.recorder().logger) { replayed.append($0) }
            // The failed batch is written whole ahead of the next one: the head holds its samples,
            // and a retry of them would be acknowledged as duplicates.
            #expect(replayed == lost + kept)
            #expect(report.corruptions == 0)
        }
    }

    // MARK: Helpers

    /// Two records: a series and a few of its samples.
    static func batch(_ index: Int) -> [WALRecord] {
        let ref = UInt64(index + 1)
        return [
            .series([
                WALSeries(ref: ref, labels: [Label(name: "__name__", value: "metric_\(index)"), Label(name: "instance", value: "host-\(index % 7):9100")])
            ]),
            .samples((0..<3).map {
                WALSample(ref: ref, timestamp: 1_700_000_000_000 + Int64(index * 3 + $0) * 15_000, value: Double(index) + 0.25 * Double($0))
            }),
        ]
    }

    /// Frames `records` into segment 1 of an empty directory and returns its bytes.
    static func writeSegment(_ records: [WALRecord], in directory: String) throws -> [UInt8] {
        var frames: [UInt8] = []
        for record in records { LogFrame.append(record, to: &frames) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Data(frames).write(to: URL(fileURLWithPath: directory + "/00000001"))
        var replayed: [WALRecord] = []
        _ = try WAL.replay(directory: directory, logger: recorder().logger) { replayed.append($0) }
        #expect(replayed == records, "the undamaged segment replays whole")
        return frames
    }

    static func directoryNames(_ directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory)
    }

    static func segmentNames(_ directory: String) throws -> [String] {
        try directoryNames(directory).filter { WALNames.segmentID($0) != nil }.sorted()
    }

    static func readFile(_ path: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    static func fileSize(_ path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return (attributes[.size] as? NSNumber)?.intValue ?? -1
    }

    static func recorder() -> LogRecorder { LogRecorder() }

    final class Counter: Sendable {
        private let count = Atomic<Int>(0)

        func add() { count.add(1, ordering: .relaxed) }
        var value: Int { count.load(ordering: .relaxed) }
    }

    final class LogRecorder: Sendable {
        private let entries = Mutex<[(level: Logger.Level, message: String)]>([])

        var logger: Logger {
            Logger(label: "wal-tests") { _ in Handler(recorder: self) }
        }

        func messages(atLeast level: Logger.Level) -> [String] {
            entries.withLock { $0.filter { $0.level >= level }.map(\.message) }
        }

        fileprivate func record(_ level: Logger.Level, _ message: String) {
            entries.withLock { $0.append((level, message)) }
        }

        private struct Handler: LogHandler {
            let recorder: LogRecorder
            var metadata: Logger.Metadata = [:]
            var logLevel: Logger.Level = .trace

            subscript(metadataKey key: String) -> Logger.Metadata.Value? {
                get { metadata[key] }
                set { metadata[key] = newValue }
            }

            func log(event: LogEvent) {
                recorder.record(event.level, event.message.description)
            }
        }
    }

    static func withTemporaryDirectory<Result>(_ body: (String) throws -> Result) throws -> Result {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-wal-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: url) }
        return try body(url.path)
    }

    static func withTemporaryDirectory<Result>(_ body: (String) async throws -> Result) async throws -> Result {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-wal-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: url) }
        return try await body(url.path)
    }

    /// A seeded generator, so a failing damage trial can be rerun.
    struct SplitMix64: RandomNumberGenerator {
        var state: UInt64

        init(seed: UInt64) { state = seed }

        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }
}
