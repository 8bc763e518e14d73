import SluiceCodec
import SluiceQuery
import Synchronization

/// Why an exemplar was not kept: the `reason` label of `sluice_storage_exemplars_dropped_total`.
///
/// Exemplars are best effort, as in Prometheus, whose remote-write handler logs these and answers
/// 2xx: a dropped exemplar never fails a write.
enum ExemplarDropReason: String, Sendable, CaseIterable {
    /// Older than the newest exemplar of its series (Prometheus' `ErrOutOfOrderExemplar`).
    case outOfOrder = "out_of_order"
    /// Names and values longer than Prometheus' 128 runes (`ErrExemplarLabelLength`).
    case labelSetTooLong = "label_set_too_long"
}

/// One exemplar with the labels of its series, as the WAL logs it. Exemplar records name their series
/// by labels, not by head ref: the exemplar store outlives the head's series (it is bounded by count,
/// not time), and replay needs nothing from other records.
struct WALExemplar: Hashable, Sendable {
    var series: [Label]
    var exemplar: Exemplar

    init(series: [Label], exemplar: Exemplar) {
        self.series = series
        self.exemplar = exemplar
    }
}

/// The newest exemplars of every series, in a fixed number of slots shared by all series: Prometheus'
/// circular exemplar storage (`tsdb/exemplar.go`).
///
/// Slots fill in arrival order and, once all are used, the oldest exemplar of all is overwritten, so
/// the store holds the last `capacity` exemplars whatever their series. Each series links its own
/// exemplars oldest to newest through the slots, so reading one series never scans the others'.
///
/// Within a series exemplars must arrive in order of (timestamp, value, labels): a repeat of the newest
/// is accepted silently, so retries are idempotent, and anything older is dropped and counted. Every
/// change is logged to the WAL under the store's lock, so the WAL's order is the slots' order and replay
/// evicts exactly what was evicted.
final class ExemplarStore: Sendable {
    /// Prometheus' `exemplar.ExemplarMaxLabelSetLength`: runes of all names and values together.
    static let maxLabelSetRunes = 128

    /// What one append did.
    struct Outcome: Sendable {
        /// New exemplars stored.
        var appended = 0
        /// Exact repeats of a series' newest exemplar: nothing to store, but written as far as the
        /// sender is concerned.
        var duplicates = 0
        var dropped: [ExemplarDropReason: Int] = [:]
        /// The WAL ticket to wait on before acknowledging, when anything was logged.
        var ticket: WAL.Ticket?
    }

    let capacity: Int
    private let ring: Mutex<ExemplarRing>

    /// A capacity of 0 disables the store: every exemplar is ignored, as Prometheus does with
    /// `max_exemplars: 0`.
    init(capacity: Int) {
        self.capacity = max(0, capacity)
        self.ring = Mutex(ExemplarRing(capacity: max(0, capacity)))
    }

    /// Stores the exemplars of `request`, logging the new ones to `wal` (nil in tests).
    func append(_ request: WriteRequest, wal: WAL?) -> Outcome {
        guard capacity > 0, request.timeseries.contains(where: { !$0.exemplars.isEmpty }) else { return Outcome() }
        return ring.withLock { ring in
            var outcome = Outcome()
            var logged: [WALExemplar] = []
            for series in request.timeseries where !series.exemplars.isEmpty {
                for exemplar in series.exemplars {
                    let normalized = Self.normalize(exemplar)
                    switch ring.add(series: series.labels, normalized) {
                    case .appended:
                        outcome.appended += 1
                        logged.append(WALExemplar(series: series.labels, exemplar: normalized))
                    case .duplicate:
                        outcome.duplicates += 1
                    case .dropped(let reason):
                        outcome.dropped[reason, default: 0] += 1
                    }
                }
            }
            if let wal, !logged.isEmpty { outcome.ticket = wal.log([.exemplars(logged)]) }
            return outcome
        }
    }

    /// Replays logged exemplars; what no longer fits (a smaller capacity) is evicted as it would be.
    func replay(_ list: [WALExemplar]) {
        guard capacity > 0 else { return }
        ring.withLock { ring in
            for entry in list { _ = ring.add(series: entry.series, entry.exemplar) }
        }
    }

    /// Exemplars stored.
    var count: Int { ring.withLock { $0.entries.count } }

    /// The series `matchers` select that have exemplars in `[minTime, maxTime]`, sorted by label set,
    /// each with those exemplars in order. A series lacking a label matches it as "", as in selection.
    func select(_ matchers: [CompiledMatcher], minTime: Int64, maxTime: Int64) -> [SeriesExemplars] {
        guard !matchers.isEmpty else { return [] }
        var out: [SeriesExemplars] = ring.withLock { ring in
            var out: [SeriesExemplars] = []
            for series in ring.series.values {
                let selected = matchers.allSatisfy { matcher in
                    matcher.matches(series.labels.first { $0.name == matcher.name }?.value ?? "")
                }
                guard selected else { continue }
                var exemplars: [Exemplar] = []
                var slot = series.oldest
                while slot >= 0 {
                    let entry = ring.entries[slot]
                    if entry.exemplar.timestamp >= minTime && entry.exemplar.timestamp <= maxTime { exemplars.append(entry.exemplar) }
                    slot = entry.next
                }
                if !exemplars.isEmpty { out.append(SeriesExemplars(seriesLabels: series.labels, exemplars: exemplars)) }
            }
            return out
        }
        out.sort { compareLabelSets($0.seriesLabels, $1.seriesLabels) < 0 }
        return out
    }

    /// Every stored exemplar, oldest first, as WAL records for a checkpoint: replaying them rebuilds
    /// the slots in the same order.
    func checkpointRecords() -> [WALRecord] {
        let all: [WALExemplar] = ring.withLock { ring in
            var all: [WALExemplar] = []
            all.reserveCapacity(ring.entries.count)
            let start = ring.entries.count < ring.capacity ? 0 : ring.nextIndex
            for offset in 0..<ring.entries.count {
                let entry = ring.entries[(start + offset) % ring.entries.count]
                all.append(WALExemplar(series: ring.series[entry.series]!.labels, exemplar: entry.exemplar))
            }
            return all
        }
        return stride(from: 0, to: all.count, by: 10_000).map { .exemplars(Array(all[$0..<min($0 + 10_000, all.count)])) }
    }

    /// Prometheus' form of an exemplar's labels: empty values dropped, sorted by name.
    static func normalize(_ exemplar: Exemplar) -> Exemplar {
        var normalized = exemplar
        normalized.labels = exemplar.labels.filter { !$0.value.isEmpty }.sorted()
        return normalized
    }
}

/// The slots and the per-series links, under `ExemplarStore`'s lock.
struct ExemplarRing {
    enum AddResult: Equatable { case appended, duplicate, dropped(ExemplarDropReason) }

    struct Entry {
        /// Key into `series`.
        var series: Int
        var exemplar: Exemplar
        /// The slot of the series' next newer exemplar, -1 for its newest.
        var next: Int
    }

    struct Series {
        let labels: [Label]
        var oldest: Int
        var newest: Int
    }

    let capacity: Int
    /// Grows to `capacity`, then is overwritten in place from `nextIndex` on.
    var entries: [Entry] = []
    var nextIndex = 0
    var seriesIDs: [[Label]: Int] = [:]
    var series: [Int: Series] = [:]
    var nextSeriesID = 0

    init(capacity: Int) { self.capacity = capacity }

    mutating func add(series labels: [Label], _ exemplar: Exemplar) -> AddResult {
        var runes = 0
        for label in exemplar.labels {
            runes += label.name.unicodeScalars.count + label.value.unicodeScalars.count
            if runes > ExemplarStore.maxLabelSetRunes { return .dropped(.labelSetTooLong) }
        }
        if let id = seriesIDs[labels], let known = series[id] {
            let newest = entries[known.newest].exemplar
            if newest == exemplar { return .duplicate }
            // Prometheus' order, with labels compared as sets rather than by hash.
            if exemplar.timestamp < newest.timestamp
                || (exemplar.timestamp == newest.timestamp && exemplar.value < newest.value)
                || (exemplar.timestamp == newest.timestamp && exemplar.value == newest.value
                    && compareLabelSets(exemplar.labels, newest.labels) < 0)
            {
                return .dropped(.outOfOrder)
            }
        }
        let slot: Int
        if entries.count < capacity {
            slot = entries.count
            entries.append(Entry(series: -1, exemplar: exemplar, next: -1))
        } else {
            slot = nextIndex
            evict(slot)
            entries[slot] = Entry(series: -1, exemplar: exemplar, next: -1)
        }
        nextIndex = (slot + 1) % capacity
        // Looked up after the eviction, which may have removed this very series.
        if let id = seriesIDs[labels] {
            entries[series[id]!.newest].next = slot
            series[id]!.newest = slot
            entries[slot].series = id
        } else {
            let id = nextSeriesID
            nextSeriesID += 1
            seriesIDs[labels] = id
            series[id] = Series(labels: labels, oldest: slot, newest: slot)
            entries[slot].series = id
        }
        return .appended
    }

    /// Unlinks the exemplar in `slot`: the oldest of all, so the oldest of its series.
    private mutating func evict(_ slot: Int) {
        let old = entries[slot]
        guard var owner = series[old.series] else { return }
        if old.next < 0 {
            seriesIDs[owner.labels] = nil
            series[old.series] = nil
        } else {
            owner.oldest = old.next
            series[old.series] = owner
        }
    }
}

// MARK: - WAL encoding

// The exemplars record (type 0x40):
//
//     payload version (uvarint, 1), group count, then per group of consecutive exemplars of one series:
//     series label count, labels, exemplar count, then per exemplar:
//     zigzag(timestamp − previous timestamp), value bits as u64 little-endian, label count, labels
//
// where a label is name length, name UTF-8, value length, value UTF-8, and the timestamp deltas run
// across the whole record, starting from 0.
extension WALRecordCodec {
    static let exemplarsType: UInt8 = 0x40
    static let exemplarsVersion: UInt64 = 1

    static func encodeExemplars(_ list: [WALExemplar], into output: inout [UInt8]) {
        output.append(exemplarsType)
        Varint.append(exemplarsVersion, to: &output)
        var groups: [Range<Int>] = []
        var start = 0
        for index in list.indices.dropFirst() where list[index].series != list[index - 1].series {
            groups.append(start..<index)
            start = index
        }
        if !list.isEmpty { groups.append(start..<list.count) }
        Varint.append(UInt64(groups.count), to: &output)
        var previousTimestamp: Int64 = 0
        for group in groups {
            appendLabels(list[group.lowerBound].series, to: &output)
            Varint.append(UInt64(group.count), to: &output)
            for entry in list[group] {
                Varint.append(zigzag(entry.exemplar.timestamp &- previousTimestamp), to: &output)
                withUnsafeBytes(of: entry.exemplar.value.bitPattern.littleEndian) { output.append(contentsOf: $0) }
                appendLabels(entry.exemplar.labels, to: &output)
                previousTimestamp = entry.exemplar.timestamp
            }
        }
    }

    /// Decodes a whole exemplars record, type byte included; trailing bytes are an error.
    static func decodeExemplars(_ bytes: UnsafeRawBufferPointer) throws(CodecError) -> WALRecord {
        var reader = WALPayloadReader(bytes: bytes, offset: 1)
        let version = try reader.uvarint()
        guard version == exemplarsVersion else {
            throw CodecError(.chunkCorrupt, "WAL exemplars record has unknown version \(version)")
        }
        // A group takes at least an empty label list and a zero count.
        let groups = try reader.count(minimumBytesEach: 2, "exemplar groups")
        var list: [WALExemplar] = []
        var timestamp: Int64 = 0
        for _ in 0..<groups {
            let series = try reader.labels()
            // An exemplar takes at least a delta, eight value bytes and an empty label list.
            let count = try reader.count(minimumBytesEach: 10, "exemplars")
            list.reserveCapacity(list.count + count)
            for _ in 0..<count {
                timestamp &+= unzigzag(try reader.uvarint())
                let value = Double(bitPattern: try reader.uint64LE())
                list.append(WALExemplar(series: series, exemplar: Exemplar(labels: try reader.labels(), value: value, timestamp: timestamp)))
            }
        }
        try reader.finish()
        return .exemplars(list)
    }

    static func appendLabels(_ labels: [Label], to output: inout [UInt8]) {
        Varint.append(UInt64(labels.count), to: &output)
        for label in labels {
            appendUTF8(label.name, to: &output)
            appendUTF8(label.value, to: &output)
        }
    }

    static func appendUTF8(_ string: String, to output: inout [UInt8]) {
        Varint.append(UInt64(string.utf8.count), to: &output)
        output.append(contentsOf: string.utf8)
    }
}
