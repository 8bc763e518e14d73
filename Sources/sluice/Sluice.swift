import ArgumentParser

@main
struct Sluice: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice",
        abstract: "A Prometheus remote-write ingestion gateway.",
        subcommands: [InsertCommand.self, StorageCommand.self, RingCommand.self]
    )
}
