import NIOSSL
import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import SluiceCodec
import SluiceHTTP

/// Sends remote-write bodies to storage nodes: straight into a node served by this process
/// (`InProcessNodes`, as `sluice up` runs), else over pooled keep-alive HTTP connections.
///
/// Any remote-write receiver can be a node: Sluice storage, Prometheus with
/// `--web.enable-remote-write-receiver`, VictoriaMetrics.
public struct WriteForwarder: Sendable {
    public struct Configuration: Sendable {
        /// Per request to one node, connection included.
        public var timeout: Duration = .seconds(10)
        public var connectTimeout: Duration = .seconds(2)
        public var maxConnectionsPerNode = 32
        /// The header that carries the tenant to nodes; nil sends none.
        public var tenantHeader: String? = "X-Scope-OrgID"
        /// For `https://` nodes: whom to trust (`TLSFiles.client`); nil trusts the system's roots.
        public var tls: TLSConfiguration?
        /// Nodes in this process, reached without HTTP.
        public var inProcess: InProcessNodes?

        public init() {}
    }

    public let configuration: Configuration
    let client: HTTPClient

    public init(configuration: Configuration = .init()) {
        self.configuration = configuration
        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.timeout = .init(
            connect: .init(configuration.connectTimeout),
            read: .init(configuration.timeout)
        )
        clientConfiguration.connectionPool = .init(
            idleTimeout: .seconds(60),
            concurrentHTTP1ConnectionsPerHostSoftLimit: configuration.maxConnectionsPerNode
        )
        clientConfiguration.decompression = .disabled
        // Sluice bootstraps no tracer: without this, every forward started and ended a no-op span,
        // with its attributes built (the method, the URL parsed again) and its tracer cast.
        clientConfiguration.tracing.tracer = nil
        if let tls = configuration.tls { clientConfiguration.tlsConfiguration = tls }
        // A refused connection is an answer: fail now, so the part goes to hinted handoff and node
        // health backs off. Retrying inside the pool turned it into a wait of `connectTimeout` for
        // the whole write (and for every replay probe) while a node was down.
        clientConfiguration.connectionPool.retryConnectionEstablishment = false
        self.client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
    }

    public func shutdown() async throws {
        try await client.shutdown()
    }

    /// What a node said it wrote, from a 2.0 answer's `X-Prometheus-Remote-Write-*-Written` headers.
    public struct Written: Sendable, Hashable {
        public var samples: Int
        public var histograms: Int
        public var exemplars: Int
    }

    /// Sends one compressed 1.0 body and classifies the answer. Never throws: every failure is an outcome.
    public func send(_ body: ByteBuffer, to url: String, tenant: String?) async -> NodeOutcome {
        await send(.snappy(body), version: .v1, to: url, tenant: tenant).outcome
    }

    /// Whether `url` is a node in this process: its parts need not be compressed.
    public func isInProcess(_ url: String) -> Bool {
        configuration.inProcess?.serves(url) ?? false
    }

    /// Sends one body of `version` and classifies the answer, with the counts the node reported
    /// writing when it sent them. A node in this process takes the body in whatever form it has
    /// (`NodeBody`); over HTTP it goes snappy-compressed. Never throws: every failure is an outcome.
    public func send(
        _ body: NodeBody, version: RemoteWriteVersion, to url: String, tenant: String?
    ) async -> (outcome: NodeOutcome, written: Written?) {
        if let writer = configuration.inProcess?.writer(for: url) {
            // The tenant travels in the labels insert added; a node's writer needs no header.
            let answer = await writer(body, version)
            let written = answer.written.map { Written(samples: $0.samples, histograms: $0.histograms, exemplars: $0.exemplars) }
            return (Self.classify(status: answer.status, message: answer.message), written)
        }
        var headers = HTTPHeaders()
        headers.reserveCapacity(6)
        headers.add(name: "Content-Type", value: version.contentType)
        headers.add(name: "Content-Encoding", value: "snappy")
        headers.add(name: RemoteWriteVersion.versionHeaderName, value: version.versionHeader)
        headers.add(name: "User-Agent", value: "sluice-insert")
        if let tenant, let header = configuration.tenantHeader { headers.add(name: header, value: tenant) }
        do {
            // The delegate API answers through one future: the async API's response body stream
            // cost a task hop per part of the answer, on every forward.
            let request = try HTTPClient.Request(url: url, method: .POST, headers: headers, body: .byteBuffer(body.snappyCompressed))
            let task = client.execute(request: request, delegate: AnswerReader(), deadline: .now() + TimeAmount(configuration.timeout))
            // A cancelled write (a hint replay stopped, shutdown) stops its forward rather than
            // waiting out the timeout: the future alone does not see the cancellation.
            let answer = try await withTaskCancellationHandler {
                try await task.get()
            } onCancel: {
                task.cancel()
            }
            let written = Self.written(answer.headers)
            guard (200..<300).contains(answer.status) else {
                var message = answer.message
                let text = message.readString(length: min(message.readableBytes, 1024)) ?? ""
                return (Self.classify(status: answer.status, message: text), written)
            }
            return (.accepted, written)
        } catch {
            return (.failed(message: "\(error)"), nil)
        }
    }

    /// A node's answer: its status and headers, and up to 64 KiB of its body when it is not a 2xx
    /// (the error message; a longer body is cut there, and the answer classified by its status). A
    /// 2xx body is read and dropped, so the connection goes back to the pool.
    final class AnswerReader: HTTPClientResponseDelegate, @unchecked Sendable {
        // Called on one event loop, one call after another (`HTTPClientResponseDelegate`).
        private var status = 0
        private var headers = HTTPHeaders()
        private var message = ByteBuffer()

        func didReceiveHead(task: HTTPClient.Task<Answer>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
            status = Int(head.status.code)
            headers = head.headers
            return task.eventLoop.makeSucceededVoidFuture()
        }

        func didReceiveBodyPart(task: HTTPClient.Task<Answer>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
            if !(200..<300).contains(status) {
                var buffer = buffer
                let room = 64 * 1024 - message.readableBytes
                if room > 0, let part = buffer.readSlice(length: min(room, buffer.readableBytes)) { message.writeImmutableBuffer(part) }
            }
            return task.eventLoop.makeSucceededVoidFuture()
        }

        func didFinishRequest(task: HTTPClient.Task<Answer>) throws -> Answer {
            Answer(status: status, headers: headers, message: message)
        }
    }

    struct Answer: Sendable {
        var status: Int
        var headers: HTTPHeaders
        var message: ByteBuffer
    }

    /// The counts a 2.0 answer's `X-Prometheus-Remote-Write-*-Written` headers report, nil without them.
    static func written(_ headers: HTTPHeaders) -> Written? {
        func count(_ name: String) -> Int? { headers.first(name: name).flatMap { Int($0) } }
        guard let samples = count(RemoteWriteVersion.samplesWrittenHeader) else { return nil }
        return Written(
            samples: samples,
            histograms: count(RemoteWriteVersion.histogramsWrittenHeader) ?? 0,
            exemplars: count(RemoteWriteVersion.exemplarsWrittenHeader) ?? 0
        )
    }

    /// 2xx is accepted; a 4xx other than 429 is the data's fault; anything else may pass on retry.
    static func classify(status: Int, message: String) -> NodeOutcome {
        if (200..<300).contains(status) { return .accepted }
        let summary = "\(status) \(message.split(separator: "\n").first.map(String.init) ?? "")"
        if (400..<500).contains(status) && status != 429 {
            return .rejected(status: status, message: summary)
        }
        return .failed(message: summary)
    }
}
