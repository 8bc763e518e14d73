import ArgumentParser
import Logging
import ServiceLifecycle
import SluiceInsert
import SluiceHTTP
import SluiceRing

/// `sluice insert`: maps flags onto `InsertConfiguration` and runs the services. No logic lives here.
struct InsertCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "insert",
        abstract: "Receive Prometheus remote write and shard it over the storage ring."
    )

    @Option(name: .long, help: "The ring file (YAML). Reloaded when it changes and on SIGHUP.")
    var config: String

    @Option(name: .long, help: "Directory for the hinted-handoff queues.")
    var dataDir: String = "./data/insert"

    @Option(name: .long, help: "Requests handled at once before answering 429.")
    var maxInflightRequests: Int = InsertConfiguration().maxInflightRequests

    @Option(name: .long, help: "Decoded bytes handled at once before answering 429.")
    var maxInflightBytes: Int = InsertConfiguration().maxInflightBytes

    @Option(name: .long, help: "Most labels a series may have.")
    var maxLabelNamesPerSeries: Int = InsertConfiguration().limits.maxLabelNamesPerSeries

    @Option(name: .long, help: "Longest label name, in bytes.")
    var maxLabelNameLength: Int = InsertConfiguration().limits.maxLabelNameLength

    @Option(name: .long, help: "Longest label value, in bytes.")
    var maxLabelValueLength: Int = InsertConfiguration().limits.maxLabelValueLength

    @Option(name: .long, help: "Most series in one request; 0 for no limit.")
    var maxSeriesPerRequest: Int = InsertConfiguration().limits.maxSeriesPerRequest

    @Option(name: .long, help: "Per-tenant limits (YAML: defaults and overrides), reloaded when it changes.")
    var overridesFile: String?

    @Option(name: .long, help: "How often the overrides file is reread, in seconds.")
    var overridesReloadInterval: Double = 10

    @Option(name: .long, help: "Prometheus relabel_configs (YAML) applied to every series before it is placed.")
    var relabelConfigFile: String?

    @Option(name: .long, help: "Timeout for one forward to one storage node, in seconds.")
    var forwardTimeout: Double = 10

    @Option(name: .long, help: "Group commit: while a forward to a node is in flight, the 1.0 parts other requests send it wait together up to this long and go as one; 0 sends every part alone.")
    var forwardBatchWait: String = "2ms"

    @Option(name: .long, help: "Most bytes of hints queued per storage node.")
    var maxHintBytesPerNode: Int = InsertConfiguration().maxHintBytesPerNode

    @Flag(name: .long, help: "Deduplicate HA pairs of Prometheus: per tenant and cluster, keep only the elected replica's writes.")
    var haTracker = false

    @Option(name: .long, help: "Label naming the HA pair (cluster) of a write's series.")
    var haClusterLabel: String = HATrackerConfiguration().clusterLabel

    @Option(name: .long, help: "Label naming the replica within the pair; removed from accepted series.")
    var haReplicaLabel: String = HATrackerConfiguration().replicaLabel

    @Option(name: .long, help: "Elect another replica once the elected one has sent nothing for this long.")
    var haFailoverTimeout: String = "30s"

    @Option(name: .long, help: "How often the elected replica's last write is recorded in the election store; below --ha-failover-timeout.")
    var haUpdateTimeout: String = "15s"

    @Option(name: .long, help: "etcd client URLs (comma-separated http://host:port) shared by every insert node for HA elections; unset keeps them in this process.")
    var haEtcdEndpoints: String?

    @OptionGroup var tenancy: TenancyOptions

    @OptionGroup var server: ServerOptions<InsertConfiguration>

    @OptionGroup var bodyLimits: BodyLimitOptions<InsertConfiguration>

    @OptionGroup var access: AccessOptions

    @OptionGroup var log: LogOptions

    func run() async throws {
        let logger = try log.bootstrap(label: "sluice.insert")
        var configuration = InsertConfiguration()
        try server.apply(to: &configuration)
        bodyLimits.apply(to: &configuration)
        configuration.forwarder.tls = try access.clientTLS()
        configuration.auth = try access.auth()
        configuration.dataDirectory = dataDir
        configuration.maxInflightRequests = maxInflightRequests
        configuration.maxInflightBytes = maxInflightBytes
        configuration.limits.maxLabelNamesPerSeries = maxLabelNamesPerSeries
        configuration.limits.maxLabelNameLength = maxLabelNameLength
        configuration.limits.maxLabelValueLength = maxLabelValueLength
        configuration.limits.maxSeriesPerRequest = maxSeriesPerRequest
        configuration.overridesFile = overridesFile
        guard overridesReloadInterval > 0, overridesReloadInterval <= 86_400 else {
            throw ValidationError("--overrides-reload-interval must be more than 0 and at most 86400 seconds")
        }
        configuration.overridesReloadInterval = .milliseconds(Int64(overridesReloadInterval * 1000))
        configuration.tenantHeaders = tenancy.headers
        configuration.defaultTenant = tenancy.defaultTenant
        configuration.tenantLabel = tenancy.label
        if let relabelConfigFile {
            do {
                configuration.relabelRules = try InsertConfiguration.relabelRules(file: relabelConfigFile)
            } catch {
                throw ValidationError("--relabel-config-file: \(error)")
            }
        }
        configuration.forwarder.timeout = .milliseconds(Int64(forwardTimeout * 1000))
        configuration.forwardBatching.maxWait = try parsePrometheusDuration(forwardBatchWait, flag: "--forward-batch-wait")
        guard configuration.forwardBatching.maxWait <= .seconds(1) else {
            throw ValidationError("--forward-batch-wait must be at most 1s")
        }
        configuration.maxHintBytesPerNode = maxHintBytesPerNode
        if haTracker {
            var ha = HATrackerConfiguration()
            guard !haClusterLabel.isEmpty, !haReplicaLabel.isEmpty, haClusterLabel != haReplicaLabel else {
                throw ValidationError("--ha-cluster-label and --ha-replica-label must be two different non-empty labels")
            }
            ha.clusterLabel = haClusterLabel
            ha.replicaLabel = haReplicaLabel
            ha.failoverTimeout = try parsePositiveDuration(haFailoverTimeout, flag: "--ha-failover-timeout")
            ha.updateTimeout = try parsePositiveDuration(haUpdateTimeout, flag: "--ha-update-timeout")
            guard ha.updateTimeout < ha.failoverTimeout else {
                throw ValidationError("--ha-update-timeout must be below --ha-failover-timeout")
            }
            ha.etcdEndpoints = (haEtcdEndpoints ?? "").split(separator: ",").map { String($0.filter { $0 != " " }) }
            guard ha.etcdEndpoints.allSatisfy({ $0.hasPrefix("http://") || $0.hasPrefix("https://") }) else {
                throw ValidationError("--ha-etcd-endpoints must be http:// or https:// URLs")
            }
            configuration.haTracker = ha
        }

        let server = try InsertServer(configuration: configuration, ringFile: .init(path: config), logger: logger)
        try await runUntilSignalled([server.service { [host = configuration.host] port in
            logger.info("sluice insert listening", metadata: ["address": "\(host):\(port)"])
        }], logger: logger)
    }
}
