import AsyncHTTPClient
import Foundation
import Logging
import SluiceCodec
import SluiceHTTP
import SluiceRing

/// Anti-entropy between the replicas of each replica set of the ring, one pass at a time.
///
/// A pass, for each replica set:
/// 1. Ask every member for its digests (`SeriesDigest`): per block window and bucket of series, only
///    over the series the ring places on exactly this set, only in windows every member has in
///    blocks. Equal replicas cost one small answer each, and no sample moves.
/// 2. For the cells that differ, ask for the series of those cells with their own digests.
/// 3. For each series the members disagree on, read its samples in that window from every member
///    that holds it (remote read), join them (at a timestamp two members hold, the first member's
///    value, in ring order), and backfill each member with exactly the samples it lacks
///    (`/api/v1/backfill`, which keeps a stored value).
/// 4. Ask for the digests again: a cell still differing holds replicas with different values at one
///    timestamp, which repair reports and does not choose between.
///
/// A member that does not answer leaves its sets uncompared for this pass.
public final class Repairer: Sendable {
    public let configuration: RepairConfiguration
    let nodes: StorageNodeClient
    let client: HTTPClient
    let metrics: RepairMetrics?
    let logger: Logger

    public init(configuration: RepairConfiguration, metrics: RepairMetrics? = nil, logger: Logger) {
        self.configuration = configuration
        self.metrics = metrics
        self.logger = logger
        var http = HTTPClient.Configuration()
        http.decompression = .disabled
        // A node that refuses connections has failed this pass: retrying until the timeout would
        // only delay the report.
        http.timeout = .init(connect: .seconds(5))
        http.connectionPool.retryConnectionEstablishment = false
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: http)
        nodes = StorageNodeClient(client: client, timeout: configuration.timeout)
    }

    public func shutdown() async throws {
        try await client.shutdown()
    }

    /// One pass over every replica set; `progress` gets the report after each set, with an estimate
    /// of the time left from the sets done so far.
    ///
    /// - Throws: only when the ring file cannot be read; a node that fails is in the report.
    public func pass(progress: (_ report: RepairReport, _ remaining: Duration) -> Void = { _, _ in }) async throws -> RepairReport {
        let yaml = try String(contentsOfFile: configuration.ringFile, encoding: .utf8)
        return try await run(ring: yaml, sources: [], progress: progress)
    }

    /// `sluice ring rebalance`: copies to every replica set of the ring in `configuration.ringFile`
    /// the history its series have on the nodes of `previousRing` (a ring file's path), which placed
    /// them before. Only the new ring's replicas are written to. With `deleteMoved`, a previous owner
    /// that is not in a set then loses that set's series from its blocks, once the set's replicas are
    /// shown to hold every sample it has of them (`covers`). Idempotent: a rerun, after an
    /// interruption or once the previous owners have cut their heads, does only what is left.
    public func rebalance(
        from previousRing: String, deleteMoved: Bool = false,
        progress: (_ report: RepairReport, _ remaining: Duration) -> Void = { _, _ in }
    ) async throws -> RepairReport {
        let yaml = try String(contentsOfFile: configuration.ringFile, encoding: .utf8)
        let previous = try RingConfiguration.load(path: previousRing)
        return try await run(ring: yaml, sources: previous.nodes, deleteMoved: deleteMoved, progress: progress)
    }

    /// Each replica set of `ring`, its members compared and filled, with `sources` (nodes of another
    /// ring that may hold their series) read from as well.
    private func run(
        ring yaml: String, sources: [RingConfiguration.Node], deleteMoved: Bool = false,
        progress: (_ report: RepairReport, _ remaining: Duration) -> Void
    ) async throws -> RepairReport {
        let clock = ContinuousClock()
        let start = clock.now
        let ring = try RingConfiguration.parse(yaml: yaml)
        let hashRing = try ring.makeRing()
        var report = RepairReport()
        report.dryRun = configuration.dryRun
        // The ring numbers each walk from a token; the same nodes in another order are one set here.
        var sets: [ReplicaSet] = []
        for set in hashRing.replicaSetNodes where !sets.contains(set) { sets.append(set) }
        report.replicaSets = sets.count
        var pacer = Pacer(bytesPerSecond: configuration.maxBytesPerSecond)
        for (done, set) in sets.enumerated() {
            let targets = set.members.map { ring.nodes[$0] }
            let others = sources.filter { source in !targets.contains { $0.name == source.name } }
            let complete = await repair(targets, from: others, ring: yaml, report: &report, pacer: &pacer)
            if deleteMoved, !configuration.dryRun {
                await deleteMovedSeries(of: targets, from: others, below: complete, ring: yaml, report: &report)
            }
            progress(report, (clock.now - start) / (done + 1) * (sets.count - done - 1))
        }
        report.seconds = (clock.now - start).seconds
        metrics?.record(report)
        return report
    }

    /// The series of the replica set `targets`, as insert places them with `ring`.
    private func series(of targets: [RingConfiguration.Node], ring: String) -> ReplicaSetSeries {
        ReplicaSetSeries(
            ring: ring, replicaSet: targets.map(\.name), tenantLabel: configuration.tenantLabel, defaultTenant: configuration.defaultTenant
        )
    }

    /// A series of one cell, as the digests name it.
    private struct SeriesKey: Hashable {
        var cell: SeriesDigest.Cell
        var labels: [[String]]
    }

    /// Fills `targets` (one replica set) with what any of them or of `sources` holds of the set's
    /// series: `sources` are read, never written. Returns the boundary below which the targets now
    /// agree and hold all of it, or nil when a node failed, the replicas conflict, or in a dry run
    /// something differs.
    @discardableResult
    private func repair(
        _ targets: [RingConfiguration.Node], from sources: [RingConfiguration.Node], ring: String,
        report: inout RepairReport, pacer: inout Pacer
    ) async -> Int64? {
        let members = targets + sources
        let placed = series(of: targets, ring: ring)
        // First each block window as one cell: replicas that agree cost a few bytes per window.
        let overview = SeriesDigest.Request(series: placed, buckets: 1)
        guard let windows = await digests(overview, from: members, report: &report) else { return nil }
        report.replicaSetsCompared += 1
        let window = windows[0].blockDuration
        let boundary = windows.map(\.backfillBoundary).min()!
        let differingWindows = Set(
            Self.differingCells(windows, targets: targets.count, window: window, boundary: boundary, compared: &report.cellsCompared).map(\.window)
        )
        guard !differingWindows.isEmpty else { return boundary }

        // Then the windows that differ, bucket by bucket.
        let request = SeriesDigest.Request(series: placed, buckets: configuration.buckets)
        let answers: [SeriesDigest.Response]
        if configuration.buckets == 1 {
            answers = windows
        } else {
            guard let fine = await digests(request, from: members, report: &report) else { return nil }
            answers = fine
        }
        let differing = Self.differingCells(
            answers, targets: targets.count, window: window, boundary: boundary, in: differingWindows, compared: &report.cellsCompared
        )
        report.cellsDiffering += differing.count
        guard !differing.isEmpty else { return boundary }

        // Series by series, in the cells that differ.
        var detailed = request
        detailed.detail = differing
        guard let details = await digests(detailed, from: members, report: &report) else { return nil }
        let held = details.map(Self.seriesDigests)
        let keys = Set(held.flatMap(\.keys)).filter { key in Self.differs(held.map { $0[key] }, targets: targets.count) }.sorted { $0.cell < $1.cell }
        report.seriesDiffering += Set(keys.map(\.labels)).count
        logger.info("replica set differs", metadata: [
            "repair.set": "\(targets.map(\.name))", "repair.cells": "\(differing.count)", "repair.series": "\(keys.count)",
        ])
        guard !keys.isEmpty else { return boundary }
        guard !configuration.dryRun else { return nil }

        // What each member holds of those series, read window by window.
        var samples: [SeriesKey: [Int: [Sample]]] = [:]
        for (index, member) in members.enumerated() {
            do {
                let read = try await self.read(keys.filter { held[index][$0] != nil }, window: window, from: member)
                for (key, memberSamples) in read { samples[key, default: [:]][index] = memberSamples }
            } catch {
                Self.note(member.name, failed: error, report: &report, logger: logger)
                return nil
            }
        }

        // Each target gets what it lacks of the joined samples.
        var pending = Array(repeating: [TimeSeries](), count: targets.count)
        var pendingBytes = Array(repeating: 0, count: targets.count)
        var copiedSeries = Set<[[String]]>()
        for key in keys {
            let byMember = samples[key] ?? [:]
            var joined: [Int64: Double] = [:]
            for index in members.indices {
                for sample in byMember[index] ?? [] where joined[sample.timestamp] == nil { joined[sample.timestamp] = sample.value }
            }
            let labels = key.labels.map { Label(name: $0[0], value: $0[1]) }
            for index in targets.indices {
                let have = Set((byMember[index] ?? []).map(\.timestamp))
                let lacking = joined.filter { !have.contains($0.key) }.sorted { $0.key < $1.key }.map { Sample(timestamp: $0.key, value: $0.value) }
                guard !lacking.isEmpty else { continue }
                copiedSeries.insert(key.labels)
                pending[index].append(TimeSeries(labels: labels, samples: lacking))
                pendingBytes[index] += lacking.count * 18 + key.labels.reduce(0) { $0 + $1[0].utf8.count + $1[1].utf8.count + 4 }
                if pendingBytes[index] >= configuration.maxBackfillBytes {
                    guard await flush(&pending[index], to: targets[index], report: &report, pacer: &pacer) else { return nil }
                    pendingBytes[index] = 0
                }
            }
        }
        report.seriesCopied += copiedSeries.count
        for index in targets.indices where !pending[index].isEmpty {
            guard await flush(&pending[index], to: targets[index], report: &report, pacer: &pacer) else { return nil }
        }

        // Whatever still differs between the targets, they hold different values at one timestamp.
        guard let after = await digests(request, from: targets, report: &report) else { return nil }
        var recompared = 0
        let still = Self.differingCells(after, targets: targets.count, window: window, boundary: boundary, compared: &recompared)
        let conflicting = Set(still).intersection(differing)
        report.cellsConflicting += conflicting.count
        if !conflicting.isEmpty {
            logger.warning("replicas hold different values at the same timestamps", metadata: [
                "repair.set": "\(targets.map(\.name))", "repair.cells": "\(conflicting.sorted().prefix(5))",
            ])
        }
        return conflicting.isEmpty ? boundary : nil
    }

    /// Deletes the set's series from each source the set's replicas cover below `boundary` (nil: the
    /// set is not complete, so nothing is deleted); a source not covered is reported, and keeps them.
    private func deleteMovedSeries(
        of targets: [RingConfiguration.Node], from sources: [RingConfiguration.Node], below boundary: Int64?, ring: String,
        report: inout RepairReport
    ) async {
        let names = targets.map(\.name)
        guard let boundary else {
            if !sources.isEmpty { report.deletionsSkipped.append("\(names): the set is not complete") }
            return
        }
        let request = SeriesDigest.Request(series: series(of: targets, ring: ring), buckets: configuration.buckets)
        for source in sources {
            guard await covers(targets, source, request: request, below: boundary, report: &report) else {
                report.deletionsSkipped.append("\(source.name): \(names) does not hold everything it has of their series")
                continue
            }
            do {
                let deleted = try await nodes.deletePlaced(PlacedSeriesDeletion.Request(series: request.series, before: boundary), from: source)
                report.seriesDeleted += deleted.seriesDeleted
                report.samplesDeleted += deleted.samplesDeleted
            } catch {
                Self.note(source.name, failed: error, report: &report, logger: logger)
            }
        }
    }

    /// Whether the replicas `targets` hold every sample `source` has of their set's series below
    /// `boundary`, with the same value: cell digests first, then series digests where a cell differs,
    /// then the samples themselves where a series differs (the source may hold a part of theirs).
    private func covers(
        _ targets: [RingConfiguration.Node], _ source: RingConfiguration.Node, request: SeriesDigest.Request, below boundary: Int64,
        report: inout RepairReport
    ) async -> Bool {
        guard let answers = await digests(request, from: targets + [source], report: &report) else { return false }
        let window = answers[0].blockDuration
        let maps = answers.map { Self.cellDigests($0, window: window, boundary: boundary) }
        var check: [SeriesDigest.Cell] = []
        for (cell, digest) in maps.last! {
            let replicas = Set(maps.dropLast().map { $0[cell] })
            // The replicas must agree, and hold the cell at all.
            guard replicas.count == 1, let agreed = replicas.first! else { return false }
            if agreed != digest { check.append(cell) }
        }
        guard !check.isEmpty else { return true }
        var detailed = request
        detailed.detail = check.sorted()
        guard let details = await digests(detailed, from: [targets[0], source], report: &report) else { return false }
        let theirs = Self.seriesDigests(details[0])
        var differing: [SeriesKey] = []
        for entry in details[1].series {
            let key = SeriesKey(cell: entry.cell, labels: entry.labels)
            guard let digest = theirs[key] else { return false }
            if digest != entry.digest { differing.append(key) }
        }
        guard !differing.isEmpty else { return true }
        do {
            let held = try await read(differing, window: window, from: targets[0])
            let had = try await read(differing, window: window, from: source)
            return differing.allSatisfy { key in
                let kept = Dictionary((held[key] ?? []).map { ($0.timestamp, $0.value.bitPattern) }) { a, _ in a }
                return (had[key] ?? []).allSatisfy { kept[$0.timestamp] == $0.value.bitPattern }
            }
        } catch {
            Self.note(source.name, failed: error, report: &report, logger: logger)
            return false
        }
    }

    /// An answer's cell digests below `boundary`.
    private static func cellDigests(_ answer: SeriesDigest.Response, window: Int64, boundary: Int64) -> [SeriesDigest.Cell: String] {
        Dictionary(answer.cells.filter { $0.cell.window + window <= boundary }.map { ($0.cell, $0.digest) }) { a, _ in a }
    }

    /// An answer's listed series with their digests.
    private static func seriesDigests(_ answer: SeriesDigest.Response) -> [SeriesKey: String] {
        Dictionary(answer.series.map { (SeriesKey(cell: $0.cell, labels: $0.labels), $0.digest) }) { a, _ in a }
    }

    /// The samples `node` holds of each of `keys` in its cell's window (empty for a series it does
    /// not hold), read `seriesPerRead` series to a request.
    private func read(_ keys: [SeriesKey], window: Int64, from node: RingConfiguration.Node) async throws -> [SeriesKey: [Sample]] {
        var out: [SeriesKey: [Sample]] = [:]
        for (start, group) in Dictionary(grouping: keys, by: \.cell.window).sorted(by: { $0.key < $1.key }) {
            for offset in stride(from: 0, to: group.count, by: configuration.seriesPerRead) {
                let batch = group[offset..<min(offset + configuration.seriesPerRead, group.count)]
                let labelSets = batch.map { $0.labels.map { Label(name: $0[0], value: $0[1]) } }
                let read = try await nodes.read(labelSets, start: start, end: start + window - 1, from: node)
                for (key, labels) in zip(batch, labelSets) { out[key] = read[labels] ?? [] }
            }
        }
        return out
    }

    /// Whether a cell or series needs work, given each member's digest (nil: it holds none), the
    /// first `targets` of them the replicas: when the replicas disagree, or a source holds it with a
    /// digest the replicas do not have (perhaps a part of theirs, which only the samples tell).
    private static func differs(_ digests: [String?], targets: Int) -> Bool {
        let replicas = Set(digests.prefix(targets))
        guard replicas.count == 1 else { return true }
        // nil when no replica holds it.
        let agreed = replicas.first!
        return digests.dropFirst(targets).contains { $0 != nil && $0 != agreed }
    }

    /// Every member's digests, or nil (and the failed member in the report) if one does not answer.
    private func digests(_ request: SeriesDigest.Request, from members: [RingConfiguration.Node], report: inout RepairReport) async -> [SeriesDigest.Response]? {
        var answers: [SeriesDigest.Response] = []
        for member in members {
            do {
                let (answer, bytes) = try await nodes.digest(request, from: member)
                answers.append(answer)
                report.bytesCompared += bytes
            } catch {
                Self.note(member.name, failed: error, report: &report, logger: logger)
                return nil
            }
        }
        return answers
    }

    /// The cells below `boundary`, in `windows` if given, that need work (`differs`), of the
    /// answers of the `targets` replicas followed by any sources'.
    private static func differingCells(
        _ answers: [SeriesDigest.Response], targets: Int, window: Int64, boundary: Int64, in windows: Set<Int64>? = nil,
        compared: inout Int
    ) -> [SeriesDigest.Cell] {
        let maps = answers.map { answer in
            cellDigests(answer, window: window, boundary: boundary).filter { windows?.contains($0.key.window) ?? true }
        }
        let cells = Set(maps.flatMap(\.keys))
        compared += cells.count
        return cells.filter { cell in differs(maps.map { $0[cell] }, targets: targets) }.sorted()
    }

    private func flush(_ series: inout [TimeSeries], to member: RingConfiguration.Node, report: inout RepairReport, pacer: inout Pacer) async -> Bool {
        defer { series.removeAll() }
        do {
            let (added, bytes) = try await nodes.backfill(WriteRequest(timeseries: series), to: member)
            report.samplesCopied += added
            report.bytesCopied += bytes
            await pacer.sent(bytes)
            return true
        } catch {
            Self.note(member.name, failed: error, report: &report, logger: logger)
            return false
        }
    }

    private static func note(_ name: String, failed error: any Error, report: inout RepairReport, logger: Logger) {
        logger.warning("repair: a node call failed", metadata: ["node": "\(name)", "error": "\(error)"])
        if !report.unreachable.contains(name) { report.unreachable.append(name) }
        if report.errors.count < 10 { report.errors.append("\(error)") }
    }
}

/// Holds the bytes sent to `bytesPerSecond` on average since the pass began.
struct Pacer {
    let bytesPerSecond: Int?
    private let start = ContinuousClock.now
    private var sentBytes = 0

    init(bytesPerSecond: Int?) {
        self.bytesPerSecond = bytesPerSecond
    }

    mutating func sent(_ bytes: Int) async {
        sentBytes += bytes
        guard let bytesPerSecond, bytesPerSecond > 0 else { return }
        let due = start + .milliseconds(Int64(Double(sentBytes) / Double(bytesPerSecond) * 1000))
        if due > .now { try? await Task.sleep(until: due) }
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
