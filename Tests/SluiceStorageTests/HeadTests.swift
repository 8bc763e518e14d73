import SluiceCodec
import SluiceQuery
import Testing
@testable import SluiceStorage

@Suite("Head: ordering rules and chunk cutting")
struct HeadTests {
    static let labels = [Label(name: "__name__", value: "up"), Label(name: "job", value: "a")]

    func request(_ samples: [(Int64, Double)], labels: [Label] = HeadTests.labels) -> WriteRequest {
        WriteRequest(timeseries: [TimeSeries(labels: labels, samples: samples.map { Sample(timestamp: $0.0, value: $0.1) })])
    }

    @Test func outOfOrderDuplicateAndConflictingSamples() {
        let head = Head()
        #expect(head.append(request([(1000, 1), (2000, 2)]), wal: nil).appended == 2)

        let older = head.append(request([(1500, 9)]), wal: nil)
        #expect(older.appended == 0)
        #expect(older.rejected == [.outOfOrder: 1])
        #expect(older.firstRejection?.contains("out of order sample") == true)
        #expect(older.firstRejection?.contains("up{job=\"a\"}") == true)

        let repeated = head.append(request([(1000, 1), (2000, 2)]), wal: nil)
        #expect(repeated.rejected == [.outOfOrder: 1], "1000 is behind the newest sample, so it is out of order, not a duplicate")
        #expect(repeated.duplicates == 1)

        let conflict = head.append(request([(2000, 3)]), wal: nil)
        #expect(conflict.rejected == [.duplicateTimestamp: 1])

        // A stale marker repeated bit for bit is a duplicate, not a conflict.
        #expect(head.append(request([(3000, StaleMarker.value)]), wal: nil).appended == 1)
        let staleAgain = head.append(request([(3000, StaleMarker.value)]), wal: nil)
        #expect(staleAgain.duplicates == 1 && staleAgain.rejectedCount == 0)
        // Another NaN payload at the same time is a different value.
        #expect(head.append(request([(3000, .nan)]), wal: nil).rejected == [.duplicateTimestamp: 1])
    }

    @Test func tooOldBehindHalfAChunkRange() {
        let head = Head(configuration: .init(chunkRange: 10_000))
        #expect(head.append(request([(100_000, 1)]), wal: nil).appended == 1)
        let other = [Label(name: "__name__", value: "up"), Label(name: "job", value: "b")]
        // 5 s (half the range) behind the newest sample is the limit.
        #expect(head.append(request([(95_000, 1)], labels: other), wal: nil).appended == 1)
        let third = [Label(name: "__name__", value: "up"), Label(name: "job", value: "c")]
        #expect(head.append(request([(94_999, 1)], labels: third), wal: nil).rejected == [.tooOld: 1])
    }

    @Test func chunksCutAt120SamplesAndAtRangeBoundaries() throws {
        let head = Head(configuration: .init(chunkRange: 100_000))
        let samples = (0..<300).map { (Int64($0) * 1000, Double($0)) }
        #expect(head.append(request(samples), wal: nil).appended == 300)
        let all = head.select([try CompiledMatcher(LabelMatcher(.equal, name: "job", value: "a"))], minTime: .min, maxTime: .max)
        #expect(all.count == 1)
        let counts = try all[0].chunks.map { try XORChunkDecoder.decodeAll($0.bytes).count }
        // 0..99 s: one chunk of 100 (boundary at 100 s); 100..199: 100; 200..299: 100.
        #expect(counts == [100, 100, 100])
        for chunk in all[0].chunks {
            #expect(chunk.minTime / 100_000 == chunk.maxTime / 100_000, "chunk \(chunk.minTime)...\(chunk.maxTime) straddles a boundary")
        }

        let dense = Head(configuration: .init(chunkRange: 10_000_000))
        _ = dense.append(request((0..<250).map { (Int64($0), 1.0) }), wal: nil)
        let denseChunks = dense.select([try CompiledMatcher(LabelMatcher(.equal, name: "job", value: "a"))], minTime: .min, maxTime: .max)[0].chunks
        #expect(try denseChunks.map { try XORChunkDecoder.decodeAll($0.bytes).count } == [120, 120, 10])
    }

    @Test func selectUsesMatchersAndTimeRange() throws {
        let head = Head()
        for job in ["a", "b", "c"] {
            _ = head.append(request([(1000, 1), (5000, 2)], labels: [Label(name: "__name__", value: "up"), Label(name: "job", value: job)]), wal: nil)
        }
        let regex = try CompiledMatcher(LabelMatcher(.regex, name: "job", value: "a|c"))
        #expect(head.select([regex], minTime: 0, maxTime: 10_000).map { $0.labels[1].value } == ["a", "c"])
        #expect(head.select([regex], minTime: 6000, maxTime: 10_000).isEmpty)
        let notB = try CompiledMatcher(LabelMatcher(.notEqual, name: "job", value: "b"))
        let name = try CompiledMatcher(LabelMatcher(.equal, name: "__name__", value: "up"))
        #expect(head.select([name, notB], minTime: 0, maxTime: 10_000).count == 2)
    }
}
