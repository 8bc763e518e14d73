import NIOCore
import SluiceCodec
import Synchronization

/// Storage nodes served by this process, by their remote-write URL: `sluice up` hands each part
/// insert routes straight to its node's write path, and select reads each node's series straight
/// from its storage, with no HTTP request, no socket, no frames and no connection pool in between.
/// Anything not registered is reached over HTTP as before.
///
/// The writer answers as the node's HTTP handler would (status, one-line message, and the counts of
/// a 2.0 answer), so insert classifies it the same way: quorum, hinted handoff, node health and the
/// metrics do not know which way a part went.
public final class InProcessNodes: Sendable {
    /// A node's answer to one write.
    public struct Answer: Sendable {
        public var status: Int
        /// The first line of the error, empty on success.
        public var message: String
        /// What a 2.0 write stored: samples, histograms, exemplars.
        public var written: (samples: Int, histograms: Int, exemplars: Int)?

        public init(status: Int, message: String, written: (samples: Int, histograms: Int, exemplars: Int)? = nil) {
            self.status = status
            self.message = message
            self.written = written
        }
    }

    /// Takes one body of `version`, as a node's `POST /api/v1/write` would, in any `NodeBody` form.
    public typealias Writer = @Sendable (_ body: NodeBody, _ version: RemoteWriteVersion) async -> Answer

    /// Answers one remote read as a node's `POST /api/v1/read` would, minus the encoding: per query,
    /// the series that have chunks inside its range, with those chunks; or the failure the handler
    /// would answer with.
    public typealias Reader = @Sendable (_ queries: [Query]) async -> Result<[[RemoteReadHTTP.StreamedSeries]], HTTPFailure>

    private let writers = Mutex<[String: Writer]>([:])
    private let readers = Mutex<[String: Reader]>([:])

    public init() {}

    /// Serves writes to `url` with `writer` from now on, replacing any writer it had.
    public func register(_ url: String, _ writer: @escaping Writer) {
        writers.withLock { $0[url] = writer }
    }

    /// The writer for `url`, if a node in this process serves it.
    public func writer(for url: String) -> Writer? {
        writers.withLock { $0[url] }
    }

    /// Whether a node in this process serves `url`.
    public func serves(_ url: String) -> Bool {
        writers.withLock { $0[url] != nil }
    }

    /// Serves reads of the node whose remote-write URL is `url` with `reader` from now on.
    public func registerReader(_ url: String, _ reader: @escaping Reader) {
        readers.withLock { $0[url] = reader }
    }

    /// The reader of the node whose remote-write URL is `url`, if it is in this process.
    public func reader(for url: String) -> Reader? {
        readers.withLock { $0[url] }
    }
}
