#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import SluiceCodec
import SluiceRing
import SluiceTestSupport
import Testing
@testable import SluiceSelect

/// A loopback port that takes connections and never answers, as a stopped (SIGSTOP) or wedged
/// node does: the kernel completes the handshake, nothing reads the request.
final class HungListener: Sendable {
    let port: Int
    private let fd: Int32

    init() throws {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard fd >= 0, bound == 0, listen(fd, 64) == 0 else { throw EndToEndError("cannot listen on loopback: errno \(errno)") }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        self.fd = fd
        self.port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(fd) }
}

@Suite("Select skips a node that failed, and probes it beside the requests")
struct SelectNodeHealthTests {
    static let start: Int64 = 1_700_000_000_000
    static let step: Int64 = 15_000

    @Test func theBoardSkipsAFailedNodeUntilAProbeSucceeds() {
        let configuration = NodeHealth.Configuration(failureThreshold: 1, initialBackoff: .seconds(1), maximumBackoff: .seconds(8))
        let board = NodeHealthBoard(configuration: configuration)
        let now = ContinuousClock.now
        #expect(!board.isDown("a"))
        #expect(board.record("a", success: false, at: now), "one failure takes it down")
        #expect(board.isDown("a"))
        #expect(!board.startProbe("a", at: now + .milliseconds(500)), "no probe before the backoff ends")
        #expect(board.startProbe("a", at: now + .seconds(1)))
        #expect(!board.startProbe("a", at: now + .seconds(1)), "one probe at a time")
        #expect(!board.finishProbe("a", success: false, at: now + .seconds(2)), "a failed probe keeps it down, with a longer backoff")
        #expect(!board.startProbe("a", at: now + .seconds(3)))
        #expect(board.startProbe("a", at: now + .seconds(4)))
        #expect(board.finishProbe("a", success: true, at: now + .seconds(4)))
        #expect(!board.isDown("a"))
        #expect(!board.startProbe("a", at: now + .seconds(10)), "a healthy node needs no probe")
    }

    /// One of three nodes hung, RF 2: the first read waits for it once; the next ones leave it out and
    /// still answer completely, and it is asked no more.
    @Test func aHungNodeCostsOneTimeoutNotOnePerRead() async throws {
        let directory = try TemporaryDirectory("sluice-select")
        defer { directory.remove() }
        let series = syntheticSeries(18, samples: 100, start: Self.start, step: Self.step)
        let hung = try HungListener()
        try await withStorageNodes(3, in: directory) { nodes in
            let ring = try currentRing(nodes.map(\.ringNode), replicationFactor: 2)
            try await withInsert(ring: ring, dataDirectory: try directory.subdirectory("insert")) { insert in
                for request in batches(series, perRequest: 50) { try await insert.write(request) }
            }
            // The same ring, store-2 now behind a port that never answers.
            var withHung = nodes.map(\.ringNode)
            withHung[2].url = "http://127.0.0.1:\(hung.port)/api/v1/write"
            let hungRing = try currentRing(withHung, replicationFactor: 2)
            let query = [Query(startMs: Self.start, endMs: Self.start + 100 * Self.step, matchers: [LabelMatcher(.regex, name: "__name__", value: ".+")])]
            let want = expected(series)
            try await withSelect(ring: hungRing, configure: { $0.nodeTimeout = .seconds(3) }) { select in
                for round in 0..<20 {
                    let accept: [ReadRequest.ResponseType] = round % 2 == 0 ? [] : [.streamedXORChunks]
                    let answer = try await Read.post(select.readURL, query, accept: accept)
                    #expect(answer.status == 200, "round \(round): \(answer.text)")
                    let got = round % 2 == 0 ? try answer.samples()[0] : try answer.streamed(queries: 1)[0]
                    #expect(got == want, "round \(round): \(describeDifference(want, got))")
                }
                let labels = try await select.api("/api/v1/labels")
                #expect(labels.status == 200)
                let metrics = try await select.metrics()
                #expect(metrics.value("sluice_select_node_requests_total", ["node": "store-2", "result": "failed"]) == 1,
                        "the hung node is asked once, by the first read")
                #expect(metrics.value("sluice_select_node_up", ["node": "store-2"]) == 0)
                #expect(metrics.value("sluice_select_node_requests_total", ["node": "store-0", "result": "ok"]) == 21)
            }
        }
    }
}
