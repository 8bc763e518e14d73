/// What a repair pass found and did: printed as it goes, and written whole with `--report`.
public struct RepairReport: Codable, Sendable, Equatable {
    /// Replica sets of the ring, and those compared (every member answered).
    public var replicaSets = 0
    public var replicaSetsCompared = 0
    /// Cells compared (each block window as one, then the windows that differ bucket by bucket),
    /// and those the replicas disagreed on.
    public var cellsCompared = 0
    public var cellsDiffering = 0
    /// Series some replica lacked samples of, and what was copied to fill them.
    public var seriesDiffering = 0
    public var seriesCopied = 0
    public var samplesCopied = 0
    /// Compressed backfill bytes sent.
    public var bytesCopied = 0
    /// Bytes of the digest answers received: what comparing cost on the network.
    public var bytesCompared = 0
    /// Cells still differing after the copy: replicas holding different values at one timestamp,
    /// which repair does not choose between.
    public var cellsConflicting = 0
    /// With `--delete-moved`: what previous owners deleted, and the sources that kept a set's series
    /// because its replicas were not shown to hold all of them.
    public var seriesDeleted = 0
    public var samplesDeleted = 0
    public var deletionsSkipped: [String] = []
    /// Nodes a call failed on; their replica sets were not compared or not repaired.
    public var unreachable: [String] = []
    /// The first failures, as the nodes answered them.
    public var errors: [String] = []
    public var dryRun = false
    public var seconds = 0.0

    public init() {}

    /// Every replica set was compared and every replica agrees (or, in a dry run, nothing differs).
    public var agreed: Bool {
        unreachable.isEmpty && replicaSetsCompared == replicaSets && cellsConflicting == 0 && deletionsSkipped.isEmpty
            && (!dryRun || cellsDiffering == 0)
    }

    /// One line, as loadgen prints its progress.
    public var line: String {
        var parts = [
            "sets \(replicaSetsCompared)/\(replicaSets)",
            "cells \(cellsCompared) compared (\(bytesCompared) bytes), \(cellsDiffering) differing",
            "series \(seriesDiffering) differing, \(seriesCopied) copied",
            "samples \(samplesCopied) copied (\(bytesCopied) bytes)",
        ]
        if seriesDeleted > 0 { parts.append("\(seriesDeleted) series (\(samplesDeleted) samples) deleted from previous owners") }
        if !deletionsSkipped.isEmpty { parts.append("\(deletionsSkipped.count) deletions skipped") }
        if cellsConflicting > 0 { parts.append("\(cellsConflicting) cells conflicting") }
        if !unreachable.isEmpty { parts.append("unreachable: \(unreachable.joined(separator: ", "))") }
        return parts.joined(separator: " · ")
    }
}
