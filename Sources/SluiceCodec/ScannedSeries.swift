/// Float series scanned once and ready for a storage head: each series' label bytes in canonical
/// form (`LabelSetBytes`), their xxHash64, and its samples.
///
/// A storage node builds one from every float-only body it scans, with the keys left in place in
/// the body. Insert builds one per request for the storage nodes in its own process (`sluice up`):
/// each node's part then names the entries it holds (`Part`), the replicas share one value, and no
/// node scans, hashes or copies again what insert already did. Immutable once built, so the
/// replicas' tasks read it concurrently.
public final class ScannedSeries: @unchecked Sendable {
    public struct Entry: Sendable {
        /// xxHash64 of the label bytes.
        public var hash: UInt64
        /// The label bytes, in `keyBytes`.
        public var key: Range<Int>
        /// The samples, in `samples`.
        public var samples: Range<Int>
    }

    /// The entries of one value that one write carries: all of them, or those `selection` lists.
    public struct Part: Sendable {
        public var series: ScannedSeries
        /// Indices into `series.entries`, in order; nil for every entry.
        public var selection: [Int32]?

        public init(_ series: ScannedSeries, selection: [Int32]? = nil) {
            self.series = series
            self.selection = selection
        }

        /// The entries this part carries.
        @inlinable
        public var count: Int { selection?.count ?? series.entries.count }

        /// The `n`th entry this part carries.
        @inlinable @inline(__always)
        public subscript(_ n: Int) -> Entry {
            series.entries[selection.map { Int($0[n]) } ?? n]
        }

        /// About the bytes this part would take as a protobuf body: its share of the value's.
        public var byteCount: Int {
            let entries = series.entries.count
            return entries == 0 ? 0 : series.byteCount * count / entries
        }
    }

    /// Holds every entry's key; never changed after `init`.
    @usableFromInline let keyBytes: ByteScratch
    public let entries: [Entry]
    public let samples: [Sample]

    init(keyBytes: ByteScratch, entries: [Entry], samples: [Sample]) {
        self.keyBytes = keyBytes
        self.entries = entries
        self.samples = samples
    }

    /// About the bytes every entry would take as a protobuf body.
    var byteCount: Int { keyBytes.count + samples.count * 20 + entries.count * 4 }

    /// The label bytes of `entry`. Valid while this value is alive.
    @inlinable @inline(__always)
    public func key(_ entry: Entry) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: keyBytes.bytes[entry.key])
    }

    /// Appends `entry` as the `timeseries` field of a remote-write 1.0 body: its label fields, then
    /// its samples. The storage reads it back as the same series and samples; insert uses it when a
    /// part must become bytes after all (a hint, a node that left this process).
    public func appendTimeSeries(_ entry: Entry, to out: ByteScratch) {
        let key = self.key(entry)
        var length = key.count
        for sample in samples[entry.samples] { length += 2 + Self.sampleSize(sample) }
        out.reserve(extra: 11 + length)
        out.append(0x0A)
        Varint.append(UInt64(length), to: out)
        out.append(key)
        for sample in samples[entry.samples] {
            let bits = sample.value.bitPattern
            let time = UInt64(bitPattern: sample.timestamp)
            out.append(0x12)
            out.append(UInt8(truncatingIfNeeded: Self.sampleSize(sample)))
            if bits != 0 {
                out.append(0x09)
                withUnsafeBytes(of: bits.littleEndian) { out.append($0) }
            }
            if time != 0 {
                out.append(0x10)
                Varint.append(time, to: out)
            }
        }
    }

    /// The bytes of a `Sample` message holding `sample`, each field left out when zero.
    private static func sampleSize(_ sample: Sample) -> Int {
        let time = UInt64(bitPattern: sample.timestamp)
        return (sample.value.bitPattern == 0 ? 0 : 9) + (time == 0 ? 0 : 1 + Varint.size(time))
    }
}

/// Builds a `ScannedSeries` from a scanned remote-write body, one series at a time.
public struct ScannedSeriesBuilder {
    private let keyBytes: ByteScratch
    /// Whether `keyBytes` is the body being scanned: keys are then left in place, and keys that
    /// must be built wait in `rebuilt` until the scan is over.
    private let inBody: Bool
    private var rebuilt: ByteScratch?
    /// Entries whose key is in `rebuilt` (only with `inBody`).
    private var rebuiltEntries: [Int] = []
    private var entries: [ScannedSeries.Entry] = []
    private var samples: [Sample] = []

    /// Keys stay where they are in `body`, which must hold the bytes being scanned and not change
    /// until `finish`.
    public init(keysIn body: ByteScratch) {
        keyBytes = body
        inBody = true
        // A usual sample field takes about 18 bytes.
        samples.reserveCapacity(body.count / 16)
    }

    /// Keys are copied into a buffer of the value's own: the body being scanned may change after.
    public init(expectedBytes: Int) {
        // Insert's keys are nearly the whole body, plus a tenant label each.
        keyBytes = ByteScratch(capacity: max(1024, expectedBytes + expectedBytes / 4))
        inBody = false
        samples.reserveCapacity(expectedBytes / 64)
    }

    /// Entries added so far.
    public var count: Int { entries.count }

    /// Adds the float-only 1.0 series whose `TimeSeries` message is `message` of `bytes`, with the
    /// label fields the scanner found at `labels`. Returns its entry's index.
    ///
    /// Insert changes a series' labels on the way: `inserted` (the encoded tenant label field) goes
    /// in at offset `insertAt` of `bytes`, where the label fields before it sort first, and the
    /// label fields at `removed` and `alsoRemoved` are left out. Insert copies keys into a buffer of
    /// its own, so only that builder takes them.
    @discardableResult
    public mutating func add(
        _ labels: UnsafeBufferPointer<WriteRequestScanner.LabelRange>, message: Range<Int>, in bytes: UnsafeRawBufferPointer,
        inserting inserted: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0), at insertAt: Int = 0,
        removing removed: Range<Int>? = nil, _ alsoRemoved: Range<Int>? = nil
    ) throws(CodecError) -> Int {
        let edited = inserted.count > 0 || removed != nil || alsoRemoved != nil
        precondition(!edited || !inBody, "an edited key cannot stay in the body")
        guard let key = LabelSetBytes.inPlace(labels, message: message) else {
            return try addRebuilt(samplesIn: message, of: bytes) { out in
                var pending = inserted
                for label in labels where label.field != removed && label.field != alsoRemoved {
                    if pending.count > 0 && label.field.lowerBound >= insertAt {
                        out.append(pending)
                        pending = UnsafeRawBufferPointer(start: nil, count: 0)
                    }
                    LabelSetBytes.append(
                        name: UnsafeRawBufferPointer(rebasing: bytes[label.name]),
                        value: UnsafeRawBufferPointer(rebasing: bytes[label.value]),
                        to: out
                    )
                }
                if pending.count > 0 { out.append(pending) }
            }
        }
        let sampleStart = samples.count
        // Nothing but labels comes before `key.upperBound`, so the samples are all after it.
        try WriteRequestScanner.appendSamples(of: key.upperBound..<message.upperBound, in: bytes, to: &samples)
        var stored = key
        if !inBody {
            let start = keyBytes.count
            if edited {
                // Label fields are whole and in order: copy around the removed ones, with the
                // inserted one at its place. The cuts are ordered without an array: this runs for
                // every series when insert adds its tenant label.
                var first = removed
                var second = alsoRemoved
                if first == nil || (second != nil && second!.lowerBound < first!.lowerBound) { swap(&first, &second) }
                var from = key.lowerBound
                if let first {
                    copy(bytes, from..<first.lowerBound, inserting: inserted, at: insertAt)
                    from = first.upperBound
                }
                if let second {
                    copy(bytes, from..<second.lowerBound, inserting: inserted, at: insertAt)
                    from = second.upperBound
                }
                copy(bytes, from..<key.upperBound, inserting: inserted, at: insertAt)
                if insertAt >= key.upperBound { keyBytes.append(inserted) }
            } else {
                keyBytes.append(UnsafeRawBufferPointer(rebasing: bytes[key]))
            }
            stored = start..<keyBytes.count
        }
        let hash = XXHash64.hash(UnsafeRawBufferPointer(rebasing: (inBody ? bytes : keyBytes.bytes)[stored]))
        entries.append(.init(hash: hash, key: stored, samples: sampleStart..<samples.count))
        return entries.count - 1
    }

    /// Copies `range` of `bytes` to the keys, with `inserted` before offset `insertAt` when it
    /// falls inside the range.
    private func copy(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, inserting inserted: UnsafeRawBufferPointer, at insertAt: Int) {
        guard range.lowerBound <= insertAt && insertAt < range.upperBound else {
            keyBytes.append(UnsafeRawBufferPointer(rebasing: bytes[range]))
            return
        }
        keyBytes.append(UnsafeRawBufferPointer(rebasing: bytes[range.lowerBound..<insertAt]))
        keyBytes.append(inserted)
        keyBytes.append(UnsafeRawBufferPointer(rebasing: bytes[insertAt..<range.upperBound]))
    }

    /// Adds a series whose label bytes `appendLabels` builds, with the samples of `message` of
    /// `bytes`. Returns its entry's index.
    @discardableResult
    public mutating func addRebuilt(
        samplesIn message: Range<Int>, of bytes: UnsafeRawBufferPointer, appendLabels: (ByteScratch) -> Void
    ) throws(CodecError) -> Int {
        let out: ByteScratch
        if inBody {
            out = rebuilt ?? ByteScratch(capacity: 4096)
            rebuilt = out
            rebuiltEntries.append(entries.count)
        } else {
            out = keyBytes
        }
        let keyStart = out.count
        appendLabels(out)
        let key = keyStart..<out.count
        let sampleStart = samples.count
        try WriteRequestScanner.appendSamples(of: message, in: bytes, to: &samples)
        let hash = XXHash64.hash(UnsafeRawBufferPointer(rebasing: out.bytes[key]))
        entries.append(.init(hash: hash, key: key, samples: sampleStart..<samples.count))
        return entries.count - 1
    }

    /// The series added so far, sharing this builder's buffers: valid only until the next `add`.
    /// For a caller that stops adding and turns what it has into bytes.
    public func snapshot() -> ScannedSeries {
        precondition(!inBody, "a snapshot of keys in the body would miss the rebuilt ones")
        return ScannedSeries(keyBytes: keyBytes, entries: entries, samples: samples)
    }

    /// The series added. With keys in the body, the keys that were built join it at its end.
    public consuming func finish() -> ScannedSeries {
        if let rebuilt {
            let shift = keyBytes.count
            keyBytes.append(rebuilt.bytes)
            for index in rebuiltEntries {
                let key = entries[index].key
                entries[index].key = key.lowerBound + shift..<key.upperBound + shift
            }
        }
        return ScannedSeries(keyBytes: keyBytes, entries: entries, samples: samples)
    }
}
