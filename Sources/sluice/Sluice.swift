import ArgumentParser

@main
struct Sluice: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice",
        abstract: "A Prometheus remote-write ingestion gateway.",
        subcommands: [UpCommand.self, InsertCommand.self, StorageCommand.self, SelectCommand.self, LoadgenCommand.self, RingCommand.self]
    )
}
