import NIOSSL
import SluiceCodec
import SluiceFiles
import SluiceHTTP
import SluiceQuery
import SluiceRelabel
import SluiceRing

/// Everything `sluice insert` can be told; the CLI maps flags onto it, tests build it directly.
public struct InsertConfiguration: ServerListening, WriteBodyLimits, Sendable {
    public var host = "127.0.0.1"
    public var port = 9201
    /// Connections that complete no request part for this long are closed (`ServerConnections`).
    public var idleTimeout: Duration = ServerConnections.defaultIdleTimeout
    /// Serve HTTPS only, with this certificate (`TLSFiles.server`).
    public var tls: TLSConfiguration?
    /// Credentials clients must send, on every path but the health checks.
    public var auth: HTTPAuth = .none
    /// Holds the hinted-handoff queues.
    public var dataDirectory = "./data/insert"

    /// Compressed body limit, checked against Content-Length before reading.
    public var maxBodyBytes = 32 << 20
    /// Decoded body limit, checked against snappy's declared length before decompressing.
    public var maxDecodedBytes = 32 << 20
    /// Beyond these, requests get 429 with Retry-After.
    public var maxInflightRequests = 512
    public var maxInflightBytes = 1 << 30
    public var retryAfterSeconds = 2

    public var limits = WriteRequestScanner.Limits()
    /// Per-tenant limits (YAML, Mimir's `overrides:`), reread every `overridesReloadInterval`; nil
    /// holds every tenant to `limits` with no ingestion rate limit.
    public var overridesFile: String?
    public var overridesReloadInterval: Duration = .seconds(10)

    /// Checked in order; the first present wins.
    public var tenantHeaders = ["X-Scope-OrgID", "THANOS-TENANT"]
    public var defaultTenant = "default"
    /// The label that carries the tenant on forwarded series, as Thanos Receive's `tenant_id`; nil
    /// adds none (the tenant still selects placement).
    public var tenantLabel: String? = "tenant_id"
    /// Prometheus `relabel_configs` applied to every series before placement (`--relabel-config-file`);
    /// nil forwards series with their labels as sent.
    public var relabelRules: RelabelRules?
    /// HA-pair deduplication (`--ha-tracker`); nil forwards every replica's writes.
    public var haTracker: HATrackerConfiguration?

    public var forwarder = WriteForwarder.Configuration()
    /// Group commit: parts for a busy node wait together and go as one forward (`ForwardBatcher`).
    public var forwardBatching = ForwardBatcher.Configuration()
    public var nodeHealth = NodeHealth.Configuration()
    /// Per storage node.
    public var maxHintBytesPerNode = 1 << 30

    public init() {}

    /// Reads and validates a relabel file (Prometheus `relabel_configs` YAML) for `relabelRules`. A bad
    /// file stops startup with a message naming the file and the rule.
    public static func relabelRules(file path: String) throws -> RelabelRules {
        let bytes = try Files<FileError>.readWholeFile(path, limit: 4 << 20)
        do {
            return try RelabelRules.parse(yaml: String(decoding: bytes, as: UTF8.self))
        } catch {
            throw RelabelError(error.code, "\(path): \(error.message)")
        }
    }
}
