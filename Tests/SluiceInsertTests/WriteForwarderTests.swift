import Foundation
import Hummingbird
import NIOCore
import SluiceCodec
import SluiceHTTP
import SluiceTestSupport
import Synchronization
import Testing
@testable import SluiceInsert

/// `WriteForwarder` over HTTP against a node in this process that answers each path its own way:
/// how a node's answer becomes a `NodeOutcome`, and that a forward never throws or outlives its
/// deadline or its task. Serialized, with generous bounds: the full test run starts many servers
/// and processes at once on two cores.
@Suite(.serialized) struct WriteForwarderTests {
    static let body = ByteBuffer(bytes: Snappy.compress(Array("not read by the node".utf8)))

    /// Runs the node for `body`, which gets its base URL. `/slow` holds its answer for 120 s, or until
    /// `body` is done, so that shutting the node down does not wait for it.
    func withNode(_ body: (String) async throws -> Void) async throws {
        let done = Done()
        let router = Router()
        router.post("/reject-long") { _, _ -> Response in
            // A rejection whose body passes the 64 KiB the forwarder reads of it.
            let message = "bad sample\n" + String(repeating: "x", count: 100 * 1024)
            return Response(status: .badRequest, body: .init(byteBuffer: ByteBuffer(string: message)))
        }
        router.post("/busy") { _, _ -> Response in
            Response(status: .tooManyRequests, body: .init(byteBuffer: ByteBuffer(string: "slow down")))
        }
        router.post("/written") { _, _ -> Response in
            var headers = HTTPFields()
            headers[RemoteWriteHeaders.samplesWritten] = "5"
            headers[RemoteWriteHeaders.histogramsWritten] = "2"
            return Response(status: .noContent, headers: headers)
        }
        router.post("/slow") { _, _ -> Response in
            for _ in 0..<12000 where !done.value.load(ordering: .acquiring) { try await Task.sleep(for: .milliseconds(10)) }
            return Response(status: .noContent)
        }
        let port = PortPromise()
        let application = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { [port] channel in port.fulfil(channel.localAddress?.port ?? 0) },
            logger: TestLog.logger("forwarder.node")
        )
        try await withServices([application]) { _ in
            defer { done.value.store(true, ordering: .releasing) }
            try await body("http://127.0.0.1:\(try await port.wait(timeout: .seconds(120)))")
        }
    }

    final class Done: Sendable {
        let value = Atomic<Bool>(false)
    }

    func withForwarder(timeout: Duration = .seconds(10), _ body: (WriteForwarder) async throws -> Void) async throws {
        var configuration = WriteForwarder.Configuration()
        configuration.timeout = timeout
        let forwarder = WriteForwarder(configuration: configuration)
        do {
            try await body(forwarder)
        } catch {
            try await forwarder.shutdown()
            throw error
        }
        try await forwarder.shutdown()
    }

    @Test func aRejectionWithALongBodyIsARejectionWithItsFirstLine() async throws {
        try await withNode { base in
            try await withForwarder { forwarder in
                #expect(await forwarder.send(Self.body, to: base + "/reject-long", tenant: nil) == .rejected(status: 400, message: "400 bad sample"))
                // The connection went back to the pool in a state that serves the next forward.
                #expect(await forwarder.send(Self.body, to: base + "/written", tenant: nil) == .accepted)
            }
        }
    }

    @Test func a429MayPassOnRetry() async throws {
        try await withNode { base in
            try await withForwarder { forwarder in
                #expect(await forwarder.send(Self.body, to: base + "/busy", tenant: "t") == .failed(message: "429 slow down"))
            }
        }
    }

    @Test func theWrittenCountsOfA2xxAreKept() async throws {
        try await withNode { base in
            try await withForwarder { forwarder in
                let answer = await forwarder.send(.snappy(Self.body), version: .v2, to: base + "/written", tenant: nil)
                #expect(answer.outcome == .accepted)
                #expect(answer.written == WriteForwarder.Written(samples: 5, histograms: 2, exemplars: 0))
            }
        }
    }

    @Test func aForwardEndsAtItsDeadline() async throws {
        try await withNode { base in
            try await withForwarder(timeout: .milliseconds(200)) { forwarder in
                let start = ContinuousClock.now
                let outcome = await forwarder.send(Self.body, to: base + "/slow", tenant: nil)
                guard case .failed = outcome else { Issue.record("expected a failure, got \(outcome)"); return }
                #expect(ContinuousClock.now - start < .seconds(60), "not the node's 120 s")
            }
        }
    }

    @Test func aCancelledForwardEndsAtOnce() async throws {
        try await withNode { base in
            try await withForwarder(timeout: .seconds(300)) { forwarder in
                let start = ContinuousClock.now
                let forward = Task { await forwarder.send(Self.body, to: base + "/slow", tenant: nil) }
                try await Task.sleep(for: .milliseconds(200))
                forward.cancel()
                let outcome = await forward.value
                guard case .failed = outcome else { Issue.record("expected a failure, got \(outcome)"); return }
                #expect(ContinuousClock.now - start < .seconds(60), "not the node's 120 s, nor the 300 s timeout")
            }
        }
    }

    @Test func aRefusedConnectionIsAFailure() async throws {
        try await withForwarder { forwarder in
            // Port 9 (discard) on loopback: nothing listens there in the test environment.
            let outcome = await forwarder.send(Self.body, to: "http://127.0.0.1:9/api/v1/write", tenant: nil)
            guard case .failed = outcome else { Issue.record("expected a failure, got \(outcome)"); return }
        }
    }
}
