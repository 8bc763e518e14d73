import Foundation
import Synchronization
import SluiceCodec
import SluiceTestSupport
import Testing

/// kill -9 of a `sluice storage` process while writes are in flight: every acknowledged sample must
/// be there after the restart.
@Suite("Storage node crash safety", .serialized, .enabled(if: PeerProcess.Kind.sluiceStorage([]).isInstalled, "needs the built sluice binary"))
struct StorageCrashTests {
    @Test func everyAcknowledgedSampleSurvivesKill9() async throws {
        let directory = try TemporaryDirectory("sluice-kill9")
        defer { directory.remove() }
        let node = try makePeers(.sluiceStorage(["--log-level=warning"]), names: ["store"], in: directory)[0]
        defer { node.kill() }
        let acknowledged = Shared<[TimeSeries]>([])
        let base: Int64 = 1_700_000_000_000

        // `make test-faults` asks for 20 rounds; the everyday suite runs 3.
        let rounds = ProcessInfo.processInfo.environment["SLUICE_CRASH_ROUNDS"].flatMap { Int($0) } ?? 3
        for round in 0..<rounds {
            try await node.start()
            let sent = Shared<Int>(0)
            // Four writers, each with its own series, each sending until the kill makes it fail.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<4 {
                    group.addTask {
                        for step in 0..<400 {
                            let series = (0..<25).map { index in
                                TimeSeries(
                                    labels: [Label(name: "__name__", value: "crash_test"), Label(name: "round", value: String(round)),
                                             Label(name: "series", value: "\(writer)-\(index)")],
                                    samples: [Sample(timestamp: base + Int64(step) * 1000, value: Double(step * 100 + index))]
                                )
                            }
                            let body = Snappy.compress(MessageCodec().encoded { codec, out in codec.encode(WriteRequest(timeseries: series), appendingTo: out) })
                            guard let answer = try? await TestHTTP.send(.POST, node.writeURL, headers: TestHTTP.remoteWriteHeaders, body: .bytes(body), timeout: .seconds(5)) else { return }
                            guard answer.status == 204 else { return }
                            acknowledged.withLock { $0 += series }
                            sent.withLock { $0 += 1 }
                        }
                    }
                }
                group.addTask {
                    // Kill once writes are flowing, at a different point each round.
                    _ = try await eventually(timeout: .seconds(30), every: .milliseconds(5)) { sent.withLock { $0 } >= 40 + round * 60 }
                    node.kill()
                }
                try await group.waitForAll()
            }
            #expect(sent.withLock { $0 } >= 40, "round \(round): writes did not get going")
        }

        try await node.start()
        let expectedData = expected(acknowledged.withLock { $0 })
        let answer = try await RemoteReadClient.read(
            node.baseURL + "/api/v1/read",
            [Query(startMs: base, endMs: base + 1_000_000, matchers: [LabelMatcher(.equal, name: "__name__", value: "crash_test")])],
            accept: [.streamedXORChunks]
        )
        #expect(answer.status == 200, "\(answer.error)")
        var missing = 0
        for (labels, samples) in expectedData {
            for (t, v) in samples where answer.results[0][labels]?[t] != v { missing += 1 }
        }
        #expect(missing == 0, "\(missing) acknowledged samples lost of \(expectedData.values.reduce(0) { $0 + $1.count })")
        try await node.stop()
    }
}

/// A value tasks share under a lock.
final class Shared<Value: Sendable>: Sendable {
    private let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
    func withLock<T>(_ body: (inout Value) -> T) -> T { value.withLock { body(&$0) } }
}
