import ArgumentParser
import SluiceRepair
import SluiceRing

/// `sluice ring …`: tools for the ring file.
struct RingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ring",
        abstract: "Inspect ring files, and move history after a ring change.",
        subcommands: [Plan.self, Rebalance.self]
    )

    /// Copies the history of every series whose owners changed to its new owners. The work is
    /// `Repairer.rebalance`; this maps flags.
    struct Rebalance: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy every series' history from the nodes of the previous ring to its owners in the new one (Sluice storage nodes).",
            discussion:
                "Run it after insert and select switched to the new ring. Only the new owners are written; " +
                "the previous owners keep their copies. Only block windows every node has cut are copied: " +
                "run it again once the previous owners have cut their heads (at most 1.5 block ranges), or " +
                "after an interruption; a rerun copies only what is still missing. Exit 0 once every " +
                "replica set of the new ring holds everything, 1 otherwise. To drain a node, rebalance to a " +
                "ring without it, rerun after its head is cut, then stop it."
        )

        @Option(name: .long, help: "The previous ring file, whose nodes hold the history.")
        var config: String

        @Option(name: .long, help: "The new ring file, in force in insert and select.")
        var to: String

        @Flag(name: .long, help: "Once a replica set's new owners are shown to hold every sample a previous owner has of its series, delete those series from that owner's blocks.")
        var deleteMoved = false

        @OptionGroup var copy: CopyOptions

        @OptionGroup var log: LogOptions

        func run() async throws {
            let logger = try log.bootstrap(label: "sluice.rebalance")
            let repairer = Repairer(configuration: try copy.configuration(ringFile: to), logger: logger)
            try await copy.runOnce(repairer, name: "rebalance") { [config, deleteMoved] repairer, progress in
                try await repairer.rebalance(from: config, deleteMoved: deleteMoved, progress: progress)
            }
        }
    }

    /// Shows what a membership change would cost before making it. The computation is `RingPlan`;
    /// this only reads the files and prints the table.
    struct Plan: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show each node's share and the fraction of series that would move between two ring files."
        )

        @Option(name: .long, help: "The ring file in force.")
        var config: String

        @Option(name: .long, help: "The proposed ring file.")
        var to: String

        @Option(name: .long, help: "How many synthetic series to place.")
        var series: Int = RingPlan.Configuration().seriesCount

        func validate() throws {
            guard series > 0 else { throw ValidationError("--series must be positive") }
        }

        func run() throws {
            let old = try RingConfiguration.load(path: config)
            let new = try RingConfiguration.load(path: to)
            let plan = try RingPlan(from: old, to: new, configuration: .init(seriesCount: series))
            print(Self.render(plan))
        }

        static func render(_ plan: RingPlan) -> String {
            let rfBefore = plan.replicationFactorBefore
            let rfAfter = plan.replicationFactorAfter
            var rows = [["node", "primary before", "primary after", "replicas before (RF \(rfBefore))", "replicas after (RF \(rfAfter))"]]
            for node in plan.nodes {
                rows.append([
                    node.name,
                    node.before.map { percent($0.primary) } ?? "-",
                    node.after.map { percent($0.primary) } ?? "-",
                    node.before.map { percent($0.replicas) } ?? "-",
                    node.after.map { percent($0.replicas) } ?? "-",
                ])
            }
            let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
            var out = "\(plan.seriesCount) synthetic series; shares are fractions of all series.\n\n"
            for row in rows {
                let cells = row.indices.map { column in
                    let padding = String(repeating: " ", count: widths[column] - row[column].count)
                    return column == 0 ? row[column] + padding : padding + row[column]
                }
                out += cells.joined(separator: "  ") + "\n"
            }
            out += "\n"
            out += "series whose primary moves:       \(percent(plan.primaryMoved))\n"
            out += "series whose replica set changes: \(percent(plan.replicaSetChanged))\n"
            out += "replica copies to move:           \(percent(plan.copiesMoved))"
            return out
        }

        /// One decimal place, without Foundation's formatters.
        static func percent(_ fraction: Double) -> String {
            let tenths = Int((fraction * 1000).rounded())
            return "\(tenths / 10).\(tenths % 10)%"
        }
    }
}
