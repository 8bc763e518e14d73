import SluiceCodec
import Synchronization

/// The latest metadata (type, help, unit) of every metric family, for `/api/v1/metadata`.
///
/// A family may have several distinct entries, as in Prometheus, where targets disagree about a
/// family's help or type and the API lists each; the `entriesPerFamily` most recently received are
/// kept. At most `maxFamilies` families are kept; past that the one received least recently goes.
///
/// Senders repeat metadata constantly (remote-write 1.0 sends every family each minute, 2.0 with every
/// series), so only a new distinct entry changes the store and is logged to the WAL; a repeat only marks
/// its family as recently seen.
final class MetadataStore: Sendable {
    /// What one append did.
    struct Outcome: Sendable {
        /// New distinct entries stored.
        var stored = 0
        var ticket: WAL.Ticket?
    }

    let entriesPerFamily: Int
    let maxFamilies: Int
    private let state: Mutex<MetadataState>

    init(entriesPerFamily: Int = 4, maxFamilies: Int = 100_000) {
        self.entriesPerFamily = max(1, entriesPerFamily)
        self.maxFamilies = max(0, maxFamilies)
        self.state = Mutex(MetadataState())
    }

    /// Stores `metadata`, logging new distinct entries to `wal` (nil in tests).
    func append(_ metadata: [MetricMetadata], wal: WAL?) -> Outcome {
        guard !metadata.isEmpty, maxFamilies > 0 else { return Outcome() }
        return state.withLock { state in
            var outcome = Outcome()
            var logged: [MetricMetadata] = []
            var seen = Set<MetricMetadata>()
            for entry in metadata where !entry.metricFamilyName.isEmpty && seen.insert(entry).inserted {
                if state.add(entry, perFamily: entriesPerFamily, maxFamilies: maxFamilies) {
                    outcome.stored += 1
                    logged.append(entry)
                }
            }
            if let wal, !logged.isEmpty { outcome.ticket = wal.log([.metadata(logged)]) }
            return outcome
        }
    }

    func replay(_ list: [MetricMetadata]) {
        guard maxFamilies > 0 else { return }
        state.withLock { state in
            for entry in list where !entry.metricFamilyName.isEmpty {
                _ = state.add(entry, perFamily: entriesPerFamily, maxFamilies: maxFamilies)
            }
        }
    }

    var familyCount: Int { state.withLock { $0.families.count } }

    /// Families sorted by name (all, or only `metric`), each with its entries, most recent first.
    func families(metric: String? = nil) -> [(name: String, entries: [MetricMetadata])] {
        state.withLock { state -> [(name: String, entries: [MetricMetadata])] in
            if let metric {
                return state.families[metric].map { [(metric, Array($0.entries.reversed()))] } ?? []
            }
            return state.families.map { ($0.key, Array($0.value.entries.reversed())) }
        }
        .sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
    }

    /// Every entry, families least recently received first, as WAL records for a checkpoint.
    func checkpointRecords() -> [WALRecord] {
        let all: [MetricMetadata] = state.withLock { state in
            state.families.sorted { $0.value.touched < $1.value.touched }.flatMap(\.value.entries)
        }
        return stride(from: 0, to: all.count, by: 10_000).map { .metadata(Array(all[$0..<min($0 + 10_000, all.count)])) }
    }
}

/// The families and their recency, under `MetadataStore`'s lock.
struct MetadataState {
    struct Family {
        /// Distinct entries, least recently received first.
        var entries: [MetricMetadata]
        /// When the family last received metadata, on `clock`.
        var touched: UInt64
    }

    var families: [String: Family] = [:]
    var clock: UInt64 = 0
    /// Families in the order they were touched, with the touch's time; an element is stale when its
    /// family was touched again since. Eviction pops from the front, skipping stale elements.
    var recency: [(name: String, touched: UInt64)] = []
    var recencyStart = 0

    /// Records `entry` as the family's most recent; true when it is new to the family.
    mutating func add(_ entry: MetricMetadata, perFamily: Int, maxFamilies: Int) -> Bool {
        clock += 1
        let name = entry.metricFamilyName
        var isNew = false
        if var family = families[name] {
            family.touched = clock
            if family.entries.last != entry {
                if let index = family.entries.firstIndex(of: entry) {
                    family.entries.remove(at: index)
                } else {
                    isNew = true
                }
                family.entries.append(entry)
                if family.entries.count > perFamily { family.entries.removeFirst(family.entries.count - perFamily) }
            }
            families[name] = family
        } else {
            isNew = true
            families[name] = Family(entries: [entry], touched: clock)
        }
        recency.append((name, clock))
        while families.count > maxFamilies, recencyStart < recency.count {
            let oldest = recency[recencyStart]
            recencyStart += 1
            if families[oldest.name]?.touched == oldest.touched { families[oldest.name] = nil }
        }
        // Stale elements pile up as families are touched again; drop them once they dominate.
        if recency.count > 2 * families.count + 1024 {
            recency = families.map { ($0.key, $0.value.touched) }.sorted { $0.1 < $1.1 }
            recencyStart = 0
        }
        return isNew
    }
}

// MARK: - WAL encoding

// The metadata record (type 0x41):
//
//     payload version (uvarint, 1), count, then per entry: zigzag(type), family name, help, unit
//
// where a string is its length then its UTF-8.
extension WALRecordCodec {
    static let metadataType: UInt8 = 0x41
    static let metadataVersion: UInt64 = 1

    static func encodeMetadata(_ list: [MetricMetadata], into output: inout [UInt8]) {
        output.append(metadataType)
        Varint.append(metadataVersion, to: &output)
        Varint.append(UInt64(list.count), to: &output)
        for entry in list {
            Varint.append(zigzag(Int64(entry.type.rawValue)), to: &output)
            appendUTF8(entry.metricFamilyName, to: &output)
            appendUTF8(entry.help, to: &output)
            appendUTF8(entry.unit, to: &output)
        }
    }

    /// Decodes a whole metadata record, type byte included; trailing bytes are an error.
    static func decodeMetadata(_ bytes: UnsafeRawBufferPointer) throws(CodecError) -> WALRecord {
        var reader = WALPayloadReader(bytes: bytes, offset: 1)
        let version = try reader.uvarint()
        guard version == metadataVersion else {
            throw CodecError(.chunkCorrupt, "WAL metadata record has unknown version \(version)")
        }
        // An entry takes at least a type and three empty strings.
        let count = try reader.count(minimumBytesEach: 4, "metadata entries")
        var list: [MetricMetadata] = []
        list.reserveCapacity(count)
        for _ in 0..<count {
            guard let type = Int32(exactly: unzigzag(try reader.uvarint())) else {
                throw CodecError(.chunkCorrupt, "WAL metadata type overflows 32 bits")
            }
            let name = try reader.string()
            let help = try reader.string()
            list.append(MetricMetadata(type: .init(rawValue: type), metricFamilyName: name, help: help, unit: try reader.string()))
        }
        try reader.finish()
        return .metadata(list)
    }
}
