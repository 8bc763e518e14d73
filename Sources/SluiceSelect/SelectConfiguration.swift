import NIOSSL
import SluiceHTTP
import SluiceRing

/// Everything `sluice select` needs to know; the CLI maps flags onto it and tests build it directly.
public struct SelectConfiguration: ServerListening, Sendable {
    public var host = "127.0.0.1"
    public var port = 9202
    /// Connections that complete no request part for this long are closed (`ServerConnections`).
    public var idleTimeout: Duration = ServerConnections.defaultIdleTimeout
    /// Serve HTTPS only, with this certificate (`TLSFiles.server`).
    public var tls: TLSConfiguration?
    /// For `https://` nodes: whom to trust (`TLSFiles.client`); nil trusts the system's roots.
    public var clientTLS: TLSConfiguration?
    /// Credentials clients must send, on every path but the health checks.
    public var auth: HTTPAuth = .none
    /// How long one node may take to answer one request before it counts as failed.
    public var nodeTimeout: Duration = .seconds(30)
    /// When a node that failed is left out of requests and probed again (`NodeHealthBoard`): after
    /// one failure, for half a second, doubling up to 30 s.
    public var nodeHealth = NodeHealth.Configuration(failureThreshold: 1, initialBackoff: .milliseconds(500), maximumBackoff: .seconds(30))
    /// With RF or more nodes failed, answer 2xx with what the others hold (and a warning) rather
    /// than 503.
    public var partialResponse = false
    public var tenantHeaders = ["X-Scope-OrgID", "THANOS-TENANT"]
    public var defaultTenant = "default"
    /// The label insert adds with the tenant: reads are restricted to it and it is removed from
    /// answers. Nil: no tenancy.
    public var tenantLabel: String? = "tenant_id"
    public var maxBodyBytes = 32 << 20
    /// Samples one SAMPLES answer may hold; Prometheus' default.
    public var readSampleLimit = 50_000_000
    /// Largest frame of a streamed answer; Prometheus' default.
    public var readMaxBytesInFrame = 1 << 20
    /// Largest answer accepted from one node.
    public var maxNodeResponseBytes = 1 << 30
    /// Nodes in this process (`sluice up`): remote reads take their series straight from the storage.
    public var inProcess: InProcessNodes?

    public init() {}
}
