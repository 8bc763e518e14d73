import Foundation
import NIOCore
import SluiceCodec
import SluiceTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A thousand clients that connect and never finish a request, half of them trickling a header a
/// byte at a time (slowloris): the server keeps answering others, and closes every one of them once
/// `--http-idle-timeout` passes without a complete request part.
@Suite("Slow and idle clients", .serialized, .enabled(if: PeerProcess.Kind.sluice([]).isInstalled, "needs the sluice binary (swift build)"))
struct SlowClientTests {
    @Test func idleAndSlowlorisConnectionsAreClosedAndOthersStillServed() async throws {
        let directory = try TemporaryDirectory("sluice-slow")
        defer { directory.remove() }
        let node = PeerProcess(
            .sluiceStorage(["--http-idle-timeout=2s", "--log-level=error"]), name: "storage", port: try freePorts(1)[0], directory: directory.path
        )
        defer { node.kill() }
        try await node.start(timeout: .seconds(120))

        var idle: [RawConnection] = []
        var slow: [RawConnection] = []
        defer { for connection in idle + slow { connection.close() } }
        for index in 0..<1000 {
            let connection = try RawConnection(port: node.port)
            if index % 2 == 0 {
                try connection.send("POST /api/v1/write HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                slow.append(connection)
            } else {
                idle.append(connection)
            }
        }

        // Others are served meanwhile: a real write and a read.
        let body = Snappy.compress(
            MessageCodec().encoded { codec, out in
                codec.encode(
                    WriteRequest(timeseries: [TimeSeries(labels: [Label(name: "__name__", value: "slow_test")], samples: [Sample(timestamp: 1_800_000_000_000, value: 1)])]),
                    appendingTo: out
                )
            }
        )
        let written = try await TestHTTP.send(.POST, node.writeURL, headers: TestHTTP.remoteWriteHeaders, body: .bytes(ByteBuffer(bytes: body)))
        #expect(written.status == 204, "\(written.body)")
        #expect(try await TestHTTP.get(node.baseURL + "/-/ready").status == 200)

        // Keep trickling a byte a second, never finishing the header line, for 3 s past the timeout.
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            for connection in slow { try? connection.send("x") }
            try await Task.sleep(for: .seconds(1))
        }
        let allClosed = try await eventually(timeout: .seconds(30), every: .milliseconds(500)) {
            (idle + slow).allSatisfy { $0.isClosedByPeer() }
        }
        let open = (idle + slow).filter { !$0.isClosedByPeer() }.count
        #expect(allClosed, "\(open) of 1000 connections were still open well past the 2 s idle timeout")
        // And the node still serves.
        #expect(try await TestHTTP.get(node.baseURL + "/-/ready").status == 200)
    }
}

/// A blocking TCP connection to loopback, for clients that misbehave below HTTP.
final class RawConnection: @unchecked Sendable {
    private let fd: Int32

    init(port: Int) throws {
        #if canImport(Glibc)
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw EndToEndError("socket() failed: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            Glibc.close(fd)
            throw EndToEndError("connect() failed: errno \(errno)")
        }
        // Reads give up after 10 ms, so probing for a close never blocks.
        var timeout = timeval(tv_sec: 0, tv_usec: 10_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        let sent = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard sent == bytes.count else { throw EndToEndError("send() failed: errno \(errno)") }
    }

    /// Whether the server has closed its end: a read sees end of file or a reset, not a timeout.
    func isClosedByPeer() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let read = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if read == 0 { return true }
        if read < 0 { return errno != EAGAIN && errno != EWOULDBLOCK }
        return false  // an answer (a 408, say) and more may follow: not closed yet
    }

    func close() {
        Glibc.close(fd)
    }
}
