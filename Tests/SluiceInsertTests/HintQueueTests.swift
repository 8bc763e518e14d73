import Foundation
import Logging
import SluiceCodec
import SluiceInsert
import Synchronization
import SluiceTestSupport
import Testing

@Suite("HintQueue")
struct HintQueueTests {
    // MARK: FIFO and restart

    @Test func fifoAcrossSegmentRollsAndReopen() throws {
        try withTemporaryDirectory { directory in
            let recorder = LogRecorder()
            let configuration = HintQueue.Configuration(maxBytes: 1 << 20, segmentBytes: 256)
            let records = (0..<50).map { record($0, size: 10 + $0 * 3) }

            var queue = try HintQueue(directory: directory, configuration: configuration, logger: recorder.logger)
            for item in records[..<20] { try queue.append(item) }
            try queue.append(contentsOf: records[20...])
            #expect(queue.count == 50)
            #expect(queue.bytes == records.reduce(0) { $0 + $1.count })
            #expect(try segmentFiles(directory).count > 5)

            // Deliver ten; an uncommitted peek does not move the front.
            for index in 0..<10 {
                let entry = try #require(try queue.peek())
                #expect(entry.payload == records[index])
                #expect(try queue.peek() == entry)
                #expect(try queue.commit(entry))
                #expect(try !queue.commit(entry), "a second commit of the same entry is a no-op")
            }
            let peekedNotCommitted = try #require(try queue.peek())
            #expect(peekedNotCommitted.payload == records[10])
            queue.close()
            #expect(throws: HintQueueError.self) { try queue.peek() }

            queue = try HintQueue(directory: directory, configuration: configuration, logger: recorder.logger)
            #expect(queue.count == 40)
            #expect(queue.bytes == records[10...].reduce(0) { $0 + $1.count })
            #expect(try queue.peek()?.payload == records[10])
            #expect(try drain(queue) == Array(records[10...]))
            #expect(queue.count == 0 && queue.bytes == 0 && queue.diskBytes == 0)
            #expect(try segmentFiles(directory).isEmpty, "delivered segments are deleted")
            queue.close()

            // Drained and reopened: new segments must not be mistaken for delivered ones.
            queue = try HintQueue(directory: directory, configuration: configuration, logger: recorder.logger)
            #expect(try queue.peek() == nil)
            try queue.append(records[0])
            queue.close()
            queue = try HintQueue(directory: directory, configuration: configuration, logger: recorder.logger)
            #expect(try drain(queue) == [records[0]])
            #expect(recorder.messages(atLeast: .warning).isEmpty)
        }
    }

    @Test func megabyteRecordsWithTheDefaultConfiguration() throws {
        try withTemporaryDirectory { directory in
            let records = (0..<12).map { record($0, size: 1 << 20) }
            var queue = try HintQueue(directory: directory, logger: LogRecorder().logger)
            try queue.append(contentsOf: records[..<6])
            for item in records[6...] { try queue.append(item) }
            #expect(try segmentFiles(directory).count == 2, "seven 1 MiB frames fill an 8 MiB segment")
            queue.close()
            queue = try HintQueue(directory: directory, logger: LogRecorder().logger)
            #expect(queue.statistics.segments == 2 && queue.bytes == 12 << 20)
            #expect(try drain(queue) == records)
        }
    }

    @Test func commitPositionSurvivesAProcessCrash() throws {
        try withTemporaryDirectory { directory in
            let configuration = HintQueue.Configuration(maxBytes: 1 << 20, segmentBytes: 300)
            let records = (0..<30).map { record($0, size: 40) }
            let queue = try HintQueue(directory: directory, configuration: configuration, logger: LogRecorder().logger)
            try queue.append(contentsOf: records)
            for _ in 0..<17 { try queue.commit(try #require(try queue.peek())) }
            _ = try queue.peek()

            // A crash leaves the files as they are now: no close, no sync.
            let copy = directory + "-crashed"
            defer { try? FileManager.default.removeItem(atPath: copy) }
            try FileManager.default.copyItem(atPath: directory, toPath: copy)
            let recovered = try HintQueue(directory: copy, configuration: configuration, logger: LogRecorder().logger)
            #expect(recovered.count == 13)
            #expect(try drain(recovered) == Array(records[17...]))
        }
    }

    @Test func aDirectoryHasOneOpenQueue() throws {
        try withTemporaryDirectory { directory in
            let queue = try HintQueue(directory: directory, logger: LogRecorder().logger)
            #expect {
                try HintQueue(directory: directory, logger: LogRecorder().logger)
            } throws: { ($0 as? HintQueueError)?.code == .locked }
            queue.close()
            _ = try HintQueue(directory: directory, logger: LogRecorder().logger)
        }
    }

    /// A lock its holder gives up within a moment is taken rather than refused: a descriptor a child
    /// process inherited while another thread spawned it keeps the lock until the child execs.
    @Test func aLockFreedWithinAMomentIsTaken() throws {
        try withTemporaryDirectory { directory in
            let queue = try HintQueue(directory: directory, logger: LogRecorder().logger)
            let holder = UncheckedBox(queue)
            // A thread of its own: on a loaded machine a dispatch queue's worker can start later than
            // the second queue's one second of patience.
            Thread.detachNewThread {
                usleep(200_000)
                holder.value.close()
            }
            let started = ContinuousClock.now
            let second = try HintQueue(directory: directory, logger: LogRecorder().logger)
            #expect(ContinuousClock.now - started >= .milliseconds(150), "the first queue held the lock until it closed")
            second.close()
        }
    }

    // MARK: Bound

    @Test func boundDropsTheOldestAndCountsThem() throws {
        try withTemporaryDirectory { directory in
            let recorder = LogRecorder()
            let configuration = HintQueue.Configuration(maxBytes: 1000, segmentBytes: 200)
            let queue = try HintQueue(directory: directory, configuration: configuration, logger: recorder.logger)
            let records = (0..<100).map { record($0, size: 50) }
            var evicted = 0
            for item in records {
                let result = try queue.append(item)
                #expect(result.appended == 1)
                evicted += result.evictedRecords
                #expect(queue.diskBytes <= 1000)
            }
            #expect(queue.droppedRecords == evicted)
            #expect(queue.droppedRecords + queue.count == 100)
            #expect(queue.droppedBytes == queue.droppedRecords * 50)
            #expect(queue.count >= 1000 / 58 - 200 / 58, "at most one segment's worth below the bound")
            let kept = try drain(queue)
            #expect(kept == Array(records.suffix(kept.count)), "the newest records survive, in order")
            #expect(!recorder.messages(atLeast: .warning).isEmpty)
        }
    }

    @Test func boundEvictsAPartlyDeliveredSegmentCountingOnlyWhatWasLeft() throws {
        try withTemporaryDirectory { directory in
            let configuration = HintQueue.Configuration(maxBytes: 500, segmentBytes: 232)
            let queue = try HintQueue(directory: directory, configuration: configuration, logger: LogRecorder().logger)
            // Four 58-byte frames per segment.
            try queue.append(contentsOf: (0..<8).map { record($0, size: 50) })
            let first = try #require(try queue.peek())
            try queue.commit(first)
            let second = try #require(try queue.peek())
            // The replayer is delivering `second` when a flood of appends evicts its segment.
            let result = try queue.append(contentsOf: (8..<12).map { record($0, size: 50) })
            #expect(result.evictedRecords == 3)
            #expect(queue.droppedRecords == 3)
            #expect(try !queue.commit(second), "an evicted entry must not commit whatever is now in front")
            #expect(try drain(queue) == (4..<12).map { record($0, size: 50) })
        }
    }

    @Test func recordsThatCanNeverFitAreRejected() throws {
        try withTemporaryDirectory { directory in
            let configuration = HintQueue.Configuration(maxBytes: 1000, segmentBytes: 200)
            let queue = try HintQueue(directory: directory, configuration: configuration, logger: LogRecorder().logger)
            try queue.append(record(1, size: 100))
            let result = try queue.append(record(2, size: 993))
            #expect(result.rejected == 1 && result.appended == 0)
            #expect(queue.droppedRecords == 1 && queue.droppedBytes == 993)
            #expect(try queue.append([]).rejected == 1, "an empty record is refused, and not counted as dropped")
            #expect(queue.droppedRecords == 1)
            // The largest record that fits, in a segment of its own, evicting everything before it.
            #expect(try queue.append(record(3, size: 992)).appended == 1)
            #expect(queue.diskBytes == 1000)
            #expect(try drain(queue) == [record(3, size: 992)])

            // A batch larger than the bound keeps its newest part.
            let batch = (0..<30).map { record($0, size: 50) }
            let batchResult = try queue.append(contentsOf: batch)
            #expect(batchResult.appended == 1000 / 58)
            #expect(batchResult.evictedRecords == 30 - 1000 / 58)
            #expect(try drain(queue) == Array(batch.suffix(1000 / 58)))
        }
    }

    // MARK: Recovery

    @Test func tornTailIsTruncatedAtEveryOffset() throws {
        try withTemporaryDirectory { root in
            let configuration = HintQueue.Configuration(maxBytes: 1 << 20, segmentBytes: 400)
            let records = (0..<12).map { record($0, size: 60 + $0) }
            let lastFrame = 8 + records[11].count
            let garbages: [[UInt8]] = [[], Array(repeating: 0, count: 64), Array(repeating: 0xFF, count: 13), Array("torn write".utf8)]
            // Every cut with one kind of garbage, and cuts on a frame boundary with each kind: zeros there
            // must not read as empty records.
            let cases = (0...lastFrame).map { ($0, $0 % garbages.count) }
                + [0, lastFrame].flatMap { cut in garbages.indices.map { (cut, $0) } }
            for (cut, kind) in cases {
                let garbage = garbages[kind]
                let directory = root + "/cut-\(cut)-\(kind)"
                do {
                    let queue = try HintQueue(directory: directory, configuration: configuration, logger: LogRecorder().logger)
                    try queue.append(contentsOf: records)
                    queue.close()
                }
                let last = try #require(try segmentFiles(directory).last)
                let size = try fileSize(last)
                try truncate(last, to: size - lastFrame + cut, thenAppend: garbage)

                let recorder = LogRecorder()
                let queue = try HintQueue(directory: directory, configuration: configuration, logger: recorder.logger)
                let intact = cut == lastFrame ? 12 : 11
                #expect(queue.count == intact, "cut \(cut)")
                #expect(queue.droppedRecords == 0, "a torn tail was never acknowledged")
                let torn = (cut > 0 && cut < lastFrame) || !garbage.isEmpty
                #expect(recorder.messages(atLeast: .warning).count == (torn ? 1 : 0), "cut \(cut)")
                try queue.append(record(99, size: 70))
                queue.close()

                let again = LogRecorder()
                let reopened = try HintQueue(directory: directory, configuration: configuration, logger: again.logger)
                #expect(try drain(reopened) == Array(records[..<intact]) + [record(99, size: 70)], "cut \(cut)")
                #expect(again.messages(atLeast: .warning).isEmpty)
            }
        }
    }

    @Test func badChecksumInAnOlderSegmentDropsTheRestOfIt() throws {
        try withTemporaryDirectory { directory in
            let recorder = LogRecorder()
            // Five 48-byte frames per segment, four segments.
            let configuration = HintQueue.Configuration(maxBytes: 1 << 20, segmentBytes: 240)
            let records = (0..<20).map { record($0, size: 40) }
            do {
                let queue = try HintQueue(directory: directory, configuration: configuration, logger: recorder.logger)
                try queue.append(contentsOf: records)
            }
            let segments = try segmentFiles(directory)
            #expect(segments.count == 4)
            // Second segment, second record: flip a payload byte.
            try flipByte(in: segments[1], at: 48 + 8 + 5)

            let queue = try HintQueue(directory: directory, configuration: configuration, logger: recorder.logger)
            #expect(queue.count == 16)
            #expect(queue.droppedRecords == 4)
            #expect(queue.droppedBytes == 160)
            #expect(recorder.messages(atLeast: .error).count == 1)
            let expected = Array(records[0..<6]) + Array(records[10...])
            queue.close()

            // Cut back on disk, so a second open finds nothing more to drop.
            let again = LogRecorder()
            let reopened = try HintQueue(directory: directory, configuration: configuration, logger: again.logger)
            #expect(reopened.droppedRecords == 0)
            #expect(again.messages(atLeast: .warning).isEmpty)
            #expect(try drain(reopened) == expected)
        }
    }

    @Test func corruptionFoundWhileReadingDropsTheRestOfTheSegment() throws {
        try withTemporaryDirectory { directory in
            let recorder = LogRecorder()
            let configuration = HintQueue.Configuration(maxBytes: 1 << 20, segmentBytes: 240)
            let records = (0..<20).map { record($0, size: 40) }
            let queue = try HintQueue(directory: directory, configuration: configuration, logger: recorder.logger)
            try queue.append(contentsOf: records)
            try queue.commit(try #require(try queue.peek()))
            let segments = try segmentFiles(directory)
            try flipByte(in: segments[2], at: 3 * 48 + 8)

            #expect(try drain(queue) == Array(records[1..<13]) + Array(records[15...]))
            #expect(queue.droppedRecords == 2)
            #expect(recorder.messages(atLeast: .error).count == 1)
        }
    }

    // MARK: Concurrency

    @Test func concurrentAppendersOneConsumer() async throws {
        try await withTemporaryDirectory { directory in
            let configuration = HintQueue.Configuration(maxBytes: 1 << 20, segmentBytes: 4096)
            let queue = try HintQueue(directory: directory, configuration: configuration, logger: LogRecorder().logger)
            let producers = 8
            let perProducer = 40
            let delivered = try await withThrowingTaskGroup(of: [[UInt8]].self) { group in
                for producer in 0..<producers {
                    group.addTask {
                        for sequence in 0..<perProducer {
                            if sequence % 10 == 9 {
                                try queue.append(contentsOf: [tagged(producer, sequence), tagged(producer, sequence + 1000)])
                            } else {
                                try queue.append(tagged(producer, sequence))
                            }
                        }
                        return []
                    }
                }
                group.addTask {
                    var received: [[UInt8]] = []
                    let total = producers * (perProducer + perProducer / 10)
                    while received.count < total {
                        guard let entry = try queue.peek() else {
                            try await Task.sleep(for: .milliseconds(1))
                            continue
                        }
                        received.append(entry.payload)
                        #expect(try queue.commit(entry))
                    }
                    return received
                }
                var all: [[UInt8]] = []
                for try await part in group { all += part }
                return all
            }
            #expect(Set(delivered).count == delivered.count, "exactly once")
            #expect(delivered.count == producers * (perProducer + perProducer / 10))
            for producer in 0..<producers {
                let sequences = delivered.filter { $0[0] == UInt8(producer) }.map(sequenceOf)
                let expected = (0..<perProducer).flatMap { $0 % 10 == 9 ? [$0, $0 + 1000] : [$0] }
                #expect(sequences == expected, "each producer's records arrive in the order it appended them")
            }
            #expect(queue.count == 0)

            // At least once across a reopen: a peeked, undelivered record comes back.
            try queue.append(contentsOf: (0..<5).map { tagged(9, $0) })
            try queue.commit(try #require(try queue.peek()))
            #expect(try queue.peek()?.payload == tagged(9, 1))
            queue.close()
            let reopened = try HintQueue(directory: directory, configuration: configuration, logger: LogRecorder().logger)
            #expect(try drain(reopened) == (1..<5).map { tagged(9, $0) })
        }
    }

    // MARK: Store

    @Test func storeOpensQueuesLazilyAndListsThemAfterRestart() throws {
        try withTemporaryDirectory { dataDirectory in
            let configuration = HintStore.Configuration(queue: .init(maxBytes: 1 << 20, segmentBytes: 1024))
            let nodes = ["storage-1:8482", "10.0.0.7:8482", "http://[::1]:8482/path", ".hidden", "..", "ünïcode"]
            do {
                let store = try HintStore(dataDirectory: dataDirectory, configuration: configuration, logger: LogRecorder().logger)
                #expect(store.storedNodes.isEmpty)
                for (index, node) in nodes.enumerated() {
                    try store.queue(for: node).append(record(index, size: 20))
                }
                #expect(try store.queue(for: nodes[0]) === store.queue(for: nodes[0]))
                #expect(store.openQueues.count == nodes.count)
                store.close()
            }
            let names = try FileManager.default.contentsOfDirectory(atPath: dataDirectory + "/hints")
            #expect(names.allSatisfy { !$0.hasPrefix(".") && !$0.contains("/") })

            let store = try HintStore(dataDirectory: dataDirectory, configuration: configuration, logger: LogRecorder().logger)
            #expect(store.storedNodes == nodes.sorted())
            #expect(store.openQueues.isEmpty)
            for (index, node) in nodes.enumerated() {
                #expect(try drain(store.queue(for: node)) == [record(index, size: 20)])
            }
            #expect(throws: HintQueueError.self) { try store.queue(for: "") }
            #expect(throws: HintQueueError.self) { try store.queue(for: String(repeating: "/", count: 100)) }
        }
    }

    @Test func directoryNamesRoundTrip() {
        for node in ["a", "storage-1:8482", "a/b", "%41", ".", "..", "a.b", "ü", " "] {
            let name = HintStore.directoryName(node: node)
            #expect(name.flatMap(HintStore.nodeName(directoryName:)) == node)
        }
        #expect(HintStore.directoryName(node: "storage-1.example_a") == "storage-1.example_a")
        #expect(HintStore.directoryName(node: "..") == "%2E.")
        #expect(HintStore.nodeName(directoryName: "%41") == nil, "not what encoding would produce")
        #expect(HintStore.nodeName(directoryName: "%4") == nil)
    }
}

// MARK: - Helpers

/// A record whose bytes identify it: index, then a fill derived from it.
private func record(_ index: Int, size: Int) -> [UInt8] {
    precondition(size >= 4)
    var bytes = withUnsafeBytes(of: UInt32(index).littleEndian, Array.init)
    for position in 4..<size { bytes.append(UInt8(truncatingIfNeeded: index &* 31 &+ position)) }
    return bytes
}

private func tagged(_ producer: Int, _ sequence: Int) -> [UInt8] {
    [UInt8(producer)] + withUnsafeBytes(of: UInt32(sequence).littleEndian, Array.init) + Array(repeating: 0xAB, count: 200)
}

private func sequenceOf(_ bytes: [UInt8]) -> Int {
    Int(bytes[1]) | Int(bytes[2]) << 8 | Int(bytes[3]) << 16 | Int(bytes[4]) << 24
}

private func drain(_ queue: HintQueue) throws -> [[UInt8]] {
    var records: [[UInt8]] = []
    while let entry = try queue.peek() {
        records.append(entry.payload)
        #expect(try queue.commit(entry))
    }
    return records
}

private func withTemporaryDirectory<Result>(_ body: (String) throws -> Result) throws -> Result {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-hints-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: url) }
    return try body(url.path)
}

private func withTemporaryDirectory<Result>(_ body: (String) async throws -> Result) async throws -> Result {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-hints-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: url) }
    return try await body(url.path)
}

private func segmentFiles(_ directory: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: directory)
        .filter { $0.hasSuffix(".seg") }
        .sorted()
        .map { directory + "/" + $0 }
}

private func fileSize(_ path: String) throws -> Int {
    let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    return Int(try handle.seekToEnd())
}

private func truncate(_ path: String, to size: Int, thenAppend garbage: [UInt8]) throws {
    let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    try handle.truncate(atOffset: UInt64(size))
    try handle.seekToEnd()
    try handle.write(contentsOf: garbage)
}

private func flipByte(in path: String, at offset: Int) throws {
    let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    try handle.seek(toOffset: UInt64(offset))
    let byte = try #require(try handle.read(upToCount: 1)).first!
    try handle.seek(toOffset: UInt64(offset))
    try handle.write(contentsOf: [byte ^ 0x5A])
}

/// Keeps what was logged, so tests can say a warning was, or was not, given.
private final class LogRecorder: Sendable {
    private let entries = Mutex<[(level: Logger.Level, message: String)]>([])

    var logger: Logger {
        Logger(label: "hint-queue-tests") { _ in Handler(recorder: self) }
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
        var metadataProvider: Logger.MetadataProvider?
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

/// Hands a value to another thread in a test that orders the accesses itself.
private final class UncheckedBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
