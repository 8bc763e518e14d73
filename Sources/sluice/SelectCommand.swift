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

    @Option(name: .long, help: "Timeout for one storage node to answer one request (Prometheus duration).")
    var nodeTimeout: String = "30s"

    @Flag(name: .long, help: "With replication-factor or more nodes failed, answer 2xx with what the others hold and a Warning header, instead of 503.")
    var partialResponse = false

    @Option(name: .long, help: "Most samples one SAMPLES remote-read answer may hold; 0 for no limit.")
    var readSampleLimit: Int = SelectConfiguration().readSampleLimit

    @OptionGroup var tenancy: TenancyOptions

    @OptionGroup var server: ServerOptions<SelectConfiguration>

    @OptionGroup var access: AccessOptions

    @OptionGroup var log: LogOptions

    func run() async throws {
        let logger = try log.bootstrap(label: "sluice.select")
        var configuration = SelectConfiguration()
        try server.apply(to: &configuration)
        configuration.clientTLS = try access.clientTLS()
        configuration.auth = try access.auth()
        configuration.nodeTimeout = try parsePrometheusDuration(nodeTimeout, flag: "--node-timeout")
        configuration.partialResponse = partialResponse
        configuration.tenantHeaders = tenancy.headers
        configuration.defaultTenant = tenancy.defaultTenant
        configuration.tenantLabel = tenancy.label
        configuration.readSampleLimit = readSampleLimit

        let server = try SelectServer(configuration: configuration, ringFile: .init(path: config), logger: logger)
        try await runUntilSignalled([server.service { [host = configuration.host] port in
            logger.info("sluice select listening", metadata: ["address": "\(host):\(port)"])
        }], logger: logger)
    }
}
