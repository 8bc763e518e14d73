import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import NIOCore
import NIOSSL

/// How every tier's HTTP server treats its connections.
///
/// A connection that completes no request part (a header block, a body chunk) for `idleTimeout` is
/// closed. That ends keep-alive connections nobody uses, and clients that trickle a header a byte
/// at a time (slowloris) or stop halfway through a body: such a client holds one file descriptor,
/// never a worker, and not for longer than the timeout. VictoriaMetrics closes idle connections
/// after a minute too (`-http.idleConnTimeout`).
///
/// With `tls`, the server speaks HTTPS only.
public enum ServerConnections {
    public static let defaultIdleTimeout: Duration = .seconds(60)

    public static func builder(idleTimeout: Duration, tls: TLSConfiguration? = nil) -> HTTPServerBuilder {
        let http1 = HTTP1Channel.Configuration(idleTimeout: TimeAmount(idleTimeout))
        guard let tls else { return .http1(configuration: http1) }
        return HTTPServerBuilder { responder in
            try TLSChannel(HTTP1Channel(responder: responder, configuration: http1), tlsConfiguration: tls)
        }
    }
}

/// Where and how a tier's HTTP server listens. Every server tier's configuration has these four,
/// so the CLI sets them in one place (`ServerOptions.apply`).
public protocol ServerListening {
    /// The tier's defaults, its default address among them.
    init()
    var host: String { get set }
    var port: Int { get set }
    /// Connections that complete no request part for this long are closed (`ServerConnections`).
    var idleTimeout: Duration { get set }
    /// Serve HTTPS only, with this certificate (`TLSFiles.server`).
    var tls: TLSConfiguration? { get set }
}

/// TLS from PEM files, for the servers (`--tls-cert-file`, `--tls-key-file`) and for the clients
/// that forward to and read from storage nodes (`--tls-ca-file`).
public enum TLSFiles {
    public static func server(certificate: String, key: String) throws -> TLSConfiguration {
        let chain = try NIOSSLCertificate.fromPEMFile(certificate).map { NIOSSLCertificateSource.certificate($0) }
        return TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
    }

    /// The system's roots, plus `caFile`'s certificates when given (a private CA).
    public static func client(caFile: String?) throws -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        if let caFile {
            configuration.additionalTrustRoots = [.certificates(try NIOSSLCertificate.fromPEMFile(caFile))]
        }
        return configuration
    }
}
