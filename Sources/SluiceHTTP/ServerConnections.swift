import Hummingbird
import HummingbirdCore
import NIOCore

/// How every tier's HTTP server treats its connections.
///
/// A connection that completes no request part (a header block, a body chunk) for `idleTimeout` is
/// closed. That ends keep-alive connections nobody uses, and clients that trickle a header a byte
/// at a time (slowloris) or stop halfway through a body: such a client holds one file descriptor,
/// never a worker, and not for longer than the timeout. VictoriaMetrics closes idle connections
/// after a minute too (`-http.idleConnTimeout`).
public enum ServerConnections {
    public static let defaultIdleTimeout: Duration = .seconds(60)

    public static func builder(idleTimeout: Duration) -> HTTPServerBuilder {
        .http1(configuration: .init(idleTimeout: TimeAmount(idleTimeout)))
    }
}
