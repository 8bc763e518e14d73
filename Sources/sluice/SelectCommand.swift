import ArgumentParser
import Logging
import ServiceLifecycle
import SluiceHTTP
import SluiceRing
import SluiceSelect

/// `sluice select`: maps flags onto `SelectConfiguration` and runs the services. No logic lives here.
struct SelectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "select",
        abstract: "Serve Prometheus remote read (and the labels/series API) across the storage ring, replicas merged."
    )

    @Option(name: .long, help: "The ring file (YAML). Reloaded when it changes and on SIGHUP.")
    var config: String

    @Option(name: .long, help: "Address to listen on, host:port.")
    var listen: String = "127.0.0.1:9202"

    @Option(name: .long, help: "Timeout for one storage node to answer one request (Prometheus duration).")
    var nodeTimeout: String = "30s"

    @Flag(name: .long, help: "With replication-factor or more nodes failed, answer 2xx with what the others hold and a Warning header, instead of 503.")
    var partialResponse = false

    @Option(name: .long, help: "Headers carrying the tenant, first present wins (comma-separated).")
    var tenantHeader: String = SelectConfiguration().tenantHeaders.joined(separator: ",")

    @Option(name: .long, help: "Tenant for requests without a tenant header.")
    var defaultTenant: String = SelectConfiguration().defaultTenant

    @Option(name: .long, help: "Label insert adds with the tenant: reads are restricted to it and it is removed from answers; empty for no tenancy.")
    var tenantLabel: String = SelectConfiguration().tenantLabel ?? ""

    @Option(name: .long, help: "Most samples one SAMPLES remote-read answer may hold; 0 for no limit.")
    var readSampleLimit: Int = SelectConfiguration().readSampleLimit

    @OptionGroup var server: ServerOptions

    @OptionGroup var access: AccessOptions

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func run() async throws {
        let logger = try bootstrapLogging(label: "sluice.select", level: logLevel)
        let (host, port) = try parseListen(listen)
        var configuration = SelectConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.idleTimeout = try server.idleTimeout()
        configuration.tls = try server.tls()
        configuration.clientTLS = try access.clientTLS()
        configuration.auth = try access.auth()
        configuration.nodeTimeout = try parsePrometheusDuration(nodeTimeout, flag: "--node-timeout")
        configuration.partialResponse = partialResponse
        configuration.tenantHeaders = tenantHeader.split(separator: ",").map { String($0) }
        configuration.defaultTenant = defaultTenant
        configuration.tenantLabel = tenantLabel.isEmpty ? nil : tenantLabel
        configuration.readSampleLimit = readSampleLimit

        let watcher = try RingFileWatcher(configuration: .init(path: config), logger: logger)
        let server = SelectServer(configuration: configuration, ring: watcher.current, logger: logger)
        let services: [any Service] = [watcher] + server.services { port in
            logger.info("sluice select listening", metadata: ["address": "\(host):\(port)"])
        }
        try await runUntilSignalled(services, logger: logger)
    }
}
