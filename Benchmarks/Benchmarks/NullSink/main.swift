// A remote-write receiver that discards what it gets, for Benchmarks/peers.sh: sluice insert
// forwards to it so that the benchmark measures insert's own core, not a storage node's.
//
//   NullSink 127.0.0.1:18431 [127.0.0.1:18432 …]
//
// Listens on every address given (loopback only) on one event-loop thread, since it shares a core
// with the load generator. POST /api/v1/write → 204 once the whole body is read; GET /-/ready and
// /health → 200; anything else → 404. Connections stay open (keep-alive). On SIGTERM or SIGINT it
// prints the requests and body bytes it took to stderr and exits.
import Dispatch
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

func note(_ message: String) {
    var line = "NullSink: \(message)\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

func fail(_ message: String) -> Never {
    note(message)
    exit(2)
}

/// Totals across every connection and address.
final class Totals: Sendable {
    let writes = Atomic<Int>(0)
    let bytes = Atomic<Int>(0)
    let others = Atomic<Int>(0)
}

/// One per connection: answers each request once its body has been read to the end.
final class SinkHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private enum Route { case write, ready, notFound }

    private let totals: Totals
    private var route = Route.notFound
    private var keepAlive = true
    private var bytes = 0

    init(totals: Totals) { self.totals = totals }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            switch (head.method, path) {
            case (.POST, "/api/v1/write"): route = .write
            case (.GET, "/-/ready"), (.GET, "/health"), (.HEAD, "/-/ready"), (.HEAD, "/health"): route = .ready
            default: route = .notFound
            }
            keepAlive = head.isKeepAlive
            bytes = 0
        case .body(let buffer):
            bytes += buffer.readableBytes
        case .end:
            let status: HTTPResponseStatus
            switch route {
            case .write:
                totals.writes.add(1, ordering: .relaxed)
                totals.bytes.add(bytes, ordering: .relaxed)
                status = .noContent
            case .ready:
                status = .ok
            case .notFound:
                totals.others.add(1, ordering: .relaxed)
                status = .notFound
            }
            var headers = HTTPHeaders()
            if status != .noContent { headers.add(name: "content-length", value: "0") }
            if !keepAlive { headers.add(name: "connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
            let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
            if !keepAlive {
                let channel = context.channel
                written.whenComplete { _ in channel.close(promise: nil) }
            }
        }
    }
}

/// `host:port` with a numeric loopback host (`127.x.x.x` or `[::1]`).
func loopbackAddress(_ text: String) -> SocketAddress {
    guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
        fail("not host:port: \(text)")
    }
    var host = String(text[..<colon])
    if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
    guard host.hasPrefix("127.") || host == "::1", let address = try? SocketAddress(ipAddress: host, port: port) else {
        fail("not a numeric loopback address: \(text)")
    }
    return address
}

let arguments = CommandLine.arguments.dropFirst()
guard !arguments.isEmpty else { fail("usage: NullSink 127.0.0.1:PORT [127.0.0.1:PORT …]") }
let addresses = arguments.map(loopbackAddress)

let totals = Totals()
let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
let bootstrap = ServerBootstrap(group: group)
    .serverChannelOption(.backlog, value: 256)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
    .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
            try channel.pipeline.syncOperations.addHandler(SinkHandler(totals: totals))
        }
    }

var channels: [Channel] = []
for address in addresses {
    do {
        channels.append(try bootstrap.bind(to: address).wait())
    } catch {
        fail("cannot listen on \(address): \(error)")
    }
}

/// Not in top-level code: closures there belong to the main actor, and these run on a Dispatch queue.
func printTotalsOnSignals(_ totals: Totals) -> [any DispatchSourceSignal] {
    [SIGTERM, SIGINT].map { number in
        signal(number, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
        source.setEventHandler {
            let writes = totals.writes.load(ordering: .relaxed)
            let bytes = totals.bytes.load(ordering: .relaxed)
            let others = totals.others.load(ordering: .relaxed)
            note("\(writes) writes, \(bytes) body bytes, \(others) other requests")
            exit(0)
        }
        source.resume()
        return source
    }
}
let signalSources = printTotalsOnSignals(totals)

note("listening on \(addresses.map { "\($0)" }.joined(separator: ", "))")
for channel in channels { try channel.closeFuture.wait() }
