import Foundation
import ArgumentParser
import Logging
import ServiceLifecycle
import NIOSSL
import SluiceHTTP
import SluiceStorage

/// `sluice storage`: maps flags onto `StorageConfiguration` and runs the services. No logic lives here.
struct StorageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "storage",
        abstract: "Store remote-write data on local disk (WAL, XOR chunks, blocks) and serve remote read."
    )

    @Option(name: .long, help: "Directory for the WAL and blocks.")
    var dataDir: String = "./data/storage"

    @Option(name: .long, help: "Delete blocks that end this long before now, by the wall clock (Prometheus duration, e.g. 15d, 12h); 0 keeps everything.")
    var retention: String = "15d"

    @Option(name: .long, help: "Length of one block (Prometheus duration).")
    var blockDuration: String = "2h"

    @Option(name: .long, help: "Longest block that compaction merges blocks into, in 3x steps from --block-duration (Prometheus duration); 0 means a tenth of --retention, at most 31d. Equal to --block-duration turns merging off.")
    var maxBlockDuration: String = "0"

    @Option(name: .long, help: "always: fsync before every acknowledgement, shared by concurrent writes. interval: acknowledge after the write, fsync every --wal-fsync-interval.")
    var walFsync: String = StorageConfiguration.WALFsync.always.rawValue

    @Option(name: .long, help: "fsync period with --wal-fsync=interval (Prometheus duration).")
    var walFsyncInterval: String = "1s"

    @Option(name: .long, help: "Most samples one SAMPLES remote-read response may hold; 0 for no limit.")
    var readSampleLimit: Int = StorageConfiguration().readSampleLimit

    @Option(name: .long, help: "Largest frame of a streamed remote-read response, in bytes.")
    var readMaxBytesInFrame: Int = StorageConfiguration().readMaxBytesInFrame

    @Option(name: .long, help: "Most exemplars kept across all series, as Prometheus' max_exemplars; 0 keeps none.")
    var maxExemplars: Int = StorageConfiguration().maxExemplars

    @Option(name: .long, help: "How often to check for a block to cut and for retention (Prometheus duration).")
    var compactionInterval: String = "5s"

    @OptionGroup var server: ServerOptions<StorageConfiguration>

    @OptionGroup var bodyLimits: BodyLimitOptions<StorageConfiguration>

    @OptionGroup var log: LogOptions

    func run() async throws {
        let logger = try log.bootstrap(label: "sluice.storage")
        var configuration = StorageConfiguration()
        try server.apply(to: &configuration)
        bodyLimits.apply(to: &configuration)
        configuration.dataDirectory = dataDir
        configuration.retention = try parsePrometheusDuration(retention, flag: "--retention")
        configuration.blockDuration = try parsePrometheusDuration(blockDuration, flag: "--block-duration")
        guard configuration.blockDuration >= .seconds(1) else { throw ValidationError("--block-duration must be at least 1s") }
        configuration.maxBlockDuration = try parsePrometheusDuration(maxBlockDuration, flag: "--max-block-duration")
        guard let fsync = StorageConfiguration.WALFsync(rawValue: walFsync) else {
            throw ValidationError("--wal-fsync must be always or interval, got \(walFsync)")
        }
        configuration.walFsync = fsync
        configuration.walFsyncInterval = try parsePrometheusDuration(walFsyncInterval, flag: "--wal-fsync-interval")
        configuration.readSampleLimit = readSampleLimit
        configuration.readMaxBytesInFrame = readMaxBytesInFrame
        guard maxExemplars >= 0 else { throw ValidationError("--max-exemplars must not be negative") }
        configuration.maxExemplars = maxExemplars
        configuration.compactionInterval = try parsePrometheusDuration(compactionInterval, flag: "--compaction-interval")

        let server = try StorageServer(configuration: configuration, logger: logger)
        try await runUntilSignalled([server.service { [host = configuration.host] port in
            logger.info("sluice storage listening", metadata: ["address": "\(host):\(port)", "data_dir": "\(dataDir)"])
        }], logger: logger)
    }
}

/// Prometheus' duration syntax: one or more of `<number><unit>` with units y, w, d, h, m, s, ms,
/// largest first (`1h30m`), or `0`.
/// A duration that must be longer than zero.
func parsePositiveDuration(_ text: String, flag: String) throws -> Duration {
    let duration = try parsePrometheusDuration(text, flag: flag)
    guard duration > .zero else { throw ValidationError("\(flag) must be longer than 0") }
    return duration
}

func parsePrometheusDuration(_ text: String, flag: String) throws -> Duration {
    if text == "0" { return .zero }
    let units: [(String, Int64)] = [
        ("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000), ("w", 604_800_000), ("y", 31_536_000_000),
    ]
    var rest = Substring(text)
    var total: Int64 = 0
    var lastUnit = Int64.max
    while !rest.isEmpty {
        let digits = rest.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, let number = Int64(digits) else { throw ValidationError("\(flag): invalid duration \(text)") }
        rest = rest.dropFirst(digits.count)
        // "ms" before "m" so that 5ms is not read as 5m followed by "s".
        guard let unit = units.first(where: { rest.hasPrefix($0.0) && !($0.0 == "m" && rest.hasPrefix("ms")) }) else {
            throw ValidationError("\(flag): invalid duration \(text): unknown unit")
        }
        guard unit.1 < lastUnit else { throw ValidationError("\(flag): invalid duration \(text): units must go from largest to smallest") }
        lastUnit = unit.1
        rest = rest.dropFirst(unit.0.count)
        let (product, overflow) = number.multipliedReportingOverflow(by: unit.1)
        guard !overflow else { throw ValidationError("\(flag): duration \(text) is too long") }
        total += product
    }
    return .milliseconds(total)
}
