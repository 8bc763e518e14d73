import NIOCore
import Prometheus
import SluiceCodec
import SluiceHTTP
import Synchronization
import Testing
@testable import SluiceInsert

/// Group commit (`ForwardBatcher`) against a node in this process that records every body it gets,
/// can hold a write until told, and rejects a body holding `bad;`.
@Suite struct ForwardBatcherTests {
    static let url = "http://fake-node.invalid/api/v1/write"

    /// A storage node that records what it was sent.
    final class FakeNode: Sendable {
        /// Each body received, decoded, as the `;`-terminated parts it carried.
        let received = Mutex<[[String]]>([])
        let release: AsyncStream<Void>
        let releaseContinuation: AsyncStream<Void>.Continuation

        init() {
            (release, releaseContinuation) = AsyncStream<Void>.makeStream()
        }

        func writer() -> InProcessNodes.Writer {
            { body, _ in
                let decoded: [UInt8]
                switch body {
                case .snappy(let buffer): decoded = (try? Snappy.decompress(Array(buffer.readableBytesView), limit: 1 << 20)) ?? []
                case .protobuf(let buffer): decoded = Array(buffer.readableBytesView)
                case .scanned: decoded = Array("scanned;".utf8)
                }
                let parts = String(decoding: decoded, as: UTF8.self).split(separator: ";").map(String.init)
                self.received.withLock { $0.append(parts) }
                if parts.contains("hold") {
                    for await _ in self.release { break }
                }
                return parts.contains("bad")
                    ? InProcessNodes.Answer(status: 400, message: "bad sample")
                    : InProcessNodes.Answer(status: 204, message: "")
            }
        }

        var count: Int { received.withLock { $0.count } }

        func waitForBodies(_ count: Int) async throws {
            for _ in 0..<500 where self.count < count { try await Task.sleep(for: .milliseconds(10)) }
            #expect(self.count >= count)
        }
    }

    func withBatcher(
        maxWait: Duration = .seconds(30), _ body: (ForwardBatcher, FakeNode) async throws -> Void
    ) async throws {
        let node = FakeNode()
        let inProcess = InProcessNodes()
        inProcess.register(Self.url, node.writer())
        var forwarderConfiguration = WriteForwarder.Configuration()
        forwarderConfiguration.inProcess = inProcess
        let forwarder = WriteForwarder(configuration: forwarderConfiguration)
        var configuration = ForwardBatcher.Configuration()
        configuration.maxWait = maxWait
        let batcher = ForwardBatcher(
            configuration: configuration, forwarder: forwarder, metrics: InsertMetrics(registry: PrometheusCollectorRegistry()))
        do {
            try await body(batcher, node)
        } catch {
            node.releaseContinuation.finish()
            try await forwarder.shutdown()
            throw error
        }
        node.releaseContinuation.finish()
        try await forwarder.shutdown()
    }

    static func part(_ text: String, compressed: Bool) -> NodeBody {
        let bytes = Array("\(text);".utf8)
        return compressed ? .snappy(ByteBuffer(bytes: Snappy.compress(bytes))) : .protobuf(ByteBuffer(bytes: bytes))
    }

    func send(_ batcher: ForwardBatcher, _ text: String, compressed: Bool = true, version: RemoteWriteVersion = .v1) async -> NodeOutcome {
        await batcher.send(
            Self.part(text, compressed: compressed), version: version, to: Self.url, node: "fake",
            tenant: "t"
        ).outcome
    }

    @Test(arguments: [true, false])
    func partsForABusyNodeGoAsOneBody(compressed: Bool) async throws {
        try await withBatcher { batcher, node in
            let first = Task { await send(batcher, "hold", compressed: compressed) }
            try await node.waitForBodies(1)
            async let a = send(batcher, "a", compressed: compressed)
            async let b = send(batcher, "b", compressed: compressed)
            async let c = send(batcher, "c", compressed: compressed)
            // They wait while the first forward is in flight (the timer is far off).
            try await Task.sleep(for: .milliseconds(100))
            #expect(node.count == 1)
            node.releaseContinuation.yield()
            #expect(await [a, b, c] == [.accepted, .accepted, .accepted])
            #expect(await first.value == .accepted)
            let received = node.received.withLock { $0 }
            #expect(received.count == 2)
            #expect(received.last?.sorted() == ["a", "b", "c"], "one body, every part's bytes whole")
        }
    }

    @Test func anIdleNodeGetsEachPartAtOnce() async throws {
        try await withBatcher { batcher, node in
            for text in ["a", "b", "c"] { #expect(await send(batcher, text) == .accepted) }
            #expect(node.received.withLock { $0 } == [["a"], ["b"], ["c"]])
        }
    }

    @Test func aRejectedBatchGoesAgainPartByPart() async throws {
        try await withBatcher { batcher, node in
            let first = Task { await send(batcher, "hold") }
            try await node.waitForBodies(1)
            async let a = send(batcher, "a")
            async let bad = send(batcher, "bad")
            async let b = send(batcher, "b")
            try await Task.sleep(for: .milliseconds(100))
            node.releaseContinuation.yield()
            #expect(await a == .accepted, "a part is not rejected for another part's fault")
            #expect(await b == .accepted)
            #expect(await bad == .rejected(status: 400, message: "400 bad sample"))
            #expect(await first.value == .accepted)
            // hold; the joined batch; then each part alone.
            let received = node.received.withLock { $0 }
            #expect(received.count == 5)
            #expect(received[1].sorted() == ["a", "b", "bad"])
            #expect(Set(received[2...]) == [["a"], ["b"], ["bad"]])
        }
    }

    @Test func aPartWaitsAtMostMaxWait() async throws {
        try await withBatcher(maxWait: .milliseconds(20)) { batcher, node in
            let first = Task { await send(batcher, "hold") }
            try await node.waitForBodies(1)
            // The first forward never ends until released, yet the next part goes after maxWait.
            #expect(await send(batcher, "a") == .accepted)
            #expect(node.received.withLock { $0 }.last == ["a"])
            node.releaseContinuation.yield()
            #expect(await first.value == .accepted)
        }
    }

    @Test func twoPointOhPartsAndAZeroWaitGoAlone() async throws {
        try await withBatcher(maxWait: .zero) { batcher, node in
            let first = Task { await send(batcher, "hold") }
            try await node.waitForBodies(1)
            #expect(await send(batcher, "a") == .accepted, "maxWait zero: no waiting behind the held forward")
            node.releaseContinuation.yield()
            #expect(await first.value == .accepted)
        }
        try await withBatcher { batcher, node in
            let first = Task { await send(batcher, "hold") }
            try await node.waitForBodies(1)
            #expect(await send(batcher, "a", version: .v2) == .accepted, "a 2.0 part never waits")
            node.releaseContinuation.yield()
            #expect(await first.value == .accepted)
        }
    }
}
