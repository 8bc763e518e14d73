import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import SluiceHTTP
import SluiceInsert
import SluiceRing
import SluiceSelect
import SluiceStorage
import Synchronization

/// `sluice up`: a whole local cluster in one process: insert, N storage nodes and select, each on
/// its own port, from a generated ring file, with everything under one data directory.
struct UpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Run a whole local cluster (insert, storage nodes, select) in one process."
    )

    @Option(name: .long, help: "Directory for every node's data and the generated ring file.")
    var dataDir: String = "./data"

    @Option(name: .long, help: "Storage nodes.")
    var nodes: Int = 3

    @Option(name: .long, help: "Copies of each series.")
    var replicationFactor: Int = 2

    @Option(name: .long, help: "Copies that must be on disk before a write is acknowledged; default (RF+1)/2, the rest follow by hinted handoff.")
    var writeQuorum: Int?

    @Option(name: .long, help: "Host every server listens on.")
    var host: String = "127.0.0.1"

    @Option(name: .long, help: "Port of the insert tier (remote write).")
    var insertPort: Int = 9201

    @Option(name: .long, help: "Port of the select tier (remote read).")
    var selectPort: Int = 9202

    @Option(name: .long, help: "Port of the first storage node; the others follow.")
    var storagePort: Int = 9301

    @Option(name: .long, help: "Storage retention (Prometheus duration).")
    var retention: String = "15d"

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "warning"

    func validate() throws {
        guard (1...64).contains(nodes) else { throw ValidationError("--nodes must be 1 to 64") }
        guard (1...nodes).contains(replicationFactor) else { throw ValidationError("--replication-factor must be 1 to --nodes (\(nodes))") }
        if let writeQuorum, !(1...replicationFactor).contains(writeQuorum) {
            throw ValidationError("--write-quorum must be 1 to --replication-factor (\(replicationFactor))")
        }
    }

    func run() async throws {
        let logger = try bootstrapLogging(label: "sluice.up", level: logLevel)
        let data = URL(fileURLWithPath: dataDir).standardizedFileURL.path
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)

        let storageURLs = (0..<nodes).map { "http://\(host):\(storagePort + $0)" }
        let ring = RingConfiguration(
            replicationFactor: replicationFactor,
            writeQuorum: writeQuorum ?? (replicationFactor + 1) / 2,
            nodes: storageURLs.enumerated().map { RingConfiguration.Node(name: "storage-\($0.offset + 1)", url: $0.element + "/api/v1/write") }
        )
        let ringPath = data + "/ring.yml"
        try ring.yaml().write(toFile: ringPath, atomically: true, encoding: .utf8)

        let retention = try parsePrometheusDuration(self.retention, flag: "--retention")
        // Each storage node counts twice, bound and WAL replayed: before the replay it answers 503.
        let ready = ReadyBanner(expected: 2 * nodes + 2) { [self] in
            // Unbuffered: the banner must show as soon as the cluster is up, also through a pipe.
            FileHandle.standardOutput.write(Data((banner(data: data, storageURLs: storageURLs, ring: ring) + "\n").utf8))
        }
        var services: [any Service] = []
        // Insert hands each node its parts and select reads each node's series in this process,
        // without HTTP; the nodes still serve HTTP for the query API, other clients and operators.
        let inProcess = InProcessNodes()
        for index in 0..<nodes {
            var configuration = StorageConfiguration()
            configuration.host = host
            configuration.port = storagePort + index
            configuration.dataDirectory = data + "/storage-\(index + 1)"
            configuration.retention = retention
            let server = try StorageServer(configuration: configuration, logger: logger)
            inProcess.register(ring.nodes[index].url, server.inProcessWriter())
            inProcess.registerReader(ring.nodes[index].url, server.inProcessReader())
            services.append(server.service(onServerRunning: { _ in ready.arrived() }, onReady: { ready.arrived() }))
        }
        var insert = InsertConfiguration()
        insert.host = host
        insert.port = insertPort
        insert.dataDirectory = data + "/insert"
        insert.forwarder.inProcess = inProcess
        var select = SelectConfiguration()
        select.host = host
        select.port = selectPort
        select.inProcess = inProcess
        // Insert owns the ring file's watcher (only one can own SIGHUP) and select follows its ring.
        // Storage stops last: services stop in reverse order, so select and insert finish what is in
        // flight before the nodes close their WALs.
        let insertServer = try InsertServer(configuration: insert, ringFile: .init(path: ringPath), logger: logger)
        services.append(insertServer.service { _ in ready.arrived() })
        services.append(SelectServer(configuration: select, ring: insertServer.ring, logger: logger).service { _ in ready.arrived() })
        try await runUntilSignalled(services, logger: logger)
        print("sluice up: stopped; data is in \(data)")
    }

    func banner(data: String, storageURLs: [String], ring: RingConfiguration) -> String {
        """
        Sluice is up: \(nodes) storage node\(nodes == 1 ? "" : "s"), replication factor \(ring.replicationFactor), write quorum \(ring.writeQuorum).
          remote write  http://\(host):\(insertPort)/api/v1/write
          remote read   http://\(host):\(selectPort)/api/v1/read
          storage       \(storageURLs.joined(separator: "  "))
          data          \(data)  (ring file: \(data)/ring.yml)

        Add this to prometheus.yml:

        remote_write:
          - url: http://\(host):\(insertPort)/api/v1/write
        remote_read:
          - url: http://\(host):\(selectPort)/api/v1/read
            read_recent: true

        Ctrl-C stops everything; the data stays for the next run.
        """
    }
}

/// Prints the banner once every server has bound its port.
final class ReadyBanner: Sendable {
    private let remaining: Mutex<Int>
    private let print: @Sendable () -> Void

    init(expected: Int, print: @escaping @Sendable () -> Void) {
        self.remaining = Mutex(expected)
        self.print = print
    }

    func arrived() {
        let done = remaining.withLock { remaining -> Bool in
            remaining -= 1
            return remaining == 0
        }
        if done { print() }
    }
}
