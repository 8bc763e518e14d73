import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SluiceCodec
import SluiceLoadgen
import SluiceTestSupport
import Synchronization

/// A remote-write receiver whose answers a test scripts: `answer` sees each arrival (numbered from 0)
/// with its decoded request and returns the status and headers to send back.
final class ScriptedReceiver: Sendable {
    struct Arrival: Sendable {
        var headers: HTTPFields
        var request: WriteRequest
    }

    typealias Script = @Sendable (_ number: Int, _ request: WriteRequest) async throws -> (HTTPResponse.Status, HTTPFields)

    let port = PortPromise()
    private let script: Script
    private let log = Mutex<[Arrival]>([])

    init(_ script: @escaping Script = { _, _ in (.noContent, [:]) }) {
        self.script = script
    }

    var arrivals: [Arrival] { log.withLock { $0 } }

    func application() -> some ApplicationProtocol {
        let router = Router()
        router.post("/api/v1/write") { [self] request, _ -> Response in
            let body = try await request.body.collect(upTo: 64 << 20)
            let decoded = try MessageCodec().decodeWriteRequest(try Snappy.decompress(Array(body.readableBytesView), limit: 64 << 20))
            let number = log.withLock { log in
                log.append(Arrival(headers: request.headers, request: decoded))
                return log.count - 1
            }
            let (status, headers) = try await script(number, decoded)
            // A 204 has no body; anything else says who answered.
            if status == .noContent { return Response(status: status, headers: headers) }
            return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: "scripted \(status.code)\n")))
        }
        return Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "scripted"),
            onServerRunning: { [port] channel in port.fulfil(channel.localAddress?.port ?? 0) },
            logger: TestLog.logger("loadgen.receiver")
        )
    }
}

/// A remote-write proxy in front of a real receiver that can tamper with what passes: drop, alter or
/// add samples while still answering with the receiver's status. `--verify` must notice.
final class TamperingProxy: Sendable {
    typealias Tamper = @Sendable (_ number: Int, _ request: inout WriteRequest) -> Void

    let port = PortPromise()
    private let target: String
    private let tamper: Tamper
    private let count = Atomic<Int>(0)

    init(forwardingTo target: String, tamper: @escaping Tamper) {
        self.target = target
        self.tamper = tamper
    }

    func application() -> some ApplicationProtocol {
        let router = Router()
        router.post("/api/v1/write") { [self] request, _ -> Response in
            let body = try await request.body.collect(upTo: 64 << 20)
            var decoded = try MessageCodec().decodeWriteRequest(try Snappy.decompress(Array(body.readableBytesView), limit: 64 << 20))
            let number = count.add(1, ordering: .relaxed).oldValue
            tamper(number, &decoded)
            let encoded = MessageCodec().encoded { codec, out in codec.encode(decoded, appendingTo: out) }
            let answer = try await TestHTTP.send(
                .POST, target, headers: TestHTTP.remoteWriteHeaders, body: .bytes(ByteBuffer(bytes: Snappy.compress(encoded)))
            )
            return Response(status: .init(code: answer.status), body: .init(byteBuffer: ByteBuffer(string: answer.body)))
        }
        return Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "tampering-proxy"),
            onServerRunning: { [port] channel in port.fulfil(channel.localAddress?.port ?? 0) },
            logger: TestLog.logger("loadgen.proxy")
        )
    }
}

/// A small run: `requests` requests of `batch` series each, as fast as possible, no progress output.
func smallRun(url: String?, series: Int = 40, batch: Int = 10, requests: Int = 8, _ adjust: (inout LoadgenConfiguration) -> Void = { _ in })
    -> LoadgenConfiguration
{
    var configuration = LoadgenConfiguration(url: url, runID: "t\(UInt32.random(in: 0...UInt32.max))")
    configuration.series = series
    configuration.metrics = min(10, series)
    configuration.batch = batch
    configuration.requests = requests
    configuration.duration = 120
    configuration.pace = .max
    configuration.concurrency = 4
    configuration.progress = .none
    configuration.minBackoff = 0.01
    configuration.maxBackoff = 0.05
    configuration.intervalMs = 15_000
    adjust(&configuration)
    return configuration
}
