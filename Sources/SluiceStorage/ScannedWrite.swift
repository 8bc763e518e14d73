import SluiceCodec

/// A float-only write, ready for the head: the scanned series it carries (`ScannedSeries`), and
/// a 2.0 body's metadata. No message is decoded and no `String` built but for that metadata; the
/// head takes it under its lock with one lookup per series.
///
/// It comes from a body this node scans (`scan`, `scanV2`), or from insert in the same process,
/// which scanned the request already and hands over the entries each node holds.
///
/// A body that holds exemplars or native histograms (or a 1.0 body with metadata) needs the whole
/// message: `scan` and `scanV2` say so, and the handler decodes it instead.
struct ScannedWrite {
    var parts: [ScannedSeries.Part]
    /// A 2.0 body's per-series metadata, as the full decode gives it, each entry once.
    var metadata: [MetricMetadata] = []

    init(parts: [ScannedSeries.Part], metadata: [MetricMetadata] = []) {
        self.parts = parts
        self.metadata = metadata
    }

    /// Samples in every part.
    var sampleCount: Int {
        parts.reduce(0) { total, part in
            (0..<part.count).reduce(total) { $0 + part[$1].samples.count }
        }
    }

    /// The outcome of scanning a body.
    enum Scanned {
        /// Floats only: ready for the head.
        case floats(ScannedWrite)
        /// Valid, but it holds exemplars, histograms or metadata.
        case needsDecoding
    }

    /// Validates the decoded 1.0 body in `body` with `scanner` and, when it holds only float samples,
    /// collects them, with each series' label bytes left in place in `body`.
    ///
    /// - Throws: what `WriteRequestScanner.scan` throws; nothing is kept from an invalid body.
    static func scan(_ body: ByteScratch, with scanner: WriteRequestScanner) throws(CodecError) -> Scanned {
        let bytes = body.bytes
        var builder = ScannedSeriesBuilder(keysIn: body)
        var floatsOnly = true
        let summary = try scanner.scan(bytes) { (series) throws(CodecError) in
            guard floatsOnly, series.exemplars == 0, series.histograms == 0 else {
                floatsOnly = false
                return
            }
            guard series.samples > 0 else { return }
            try builder.add(series.labels, message: series.message, in: bytes)
        }
        guard floatsOnly, summary.metadata.isEmpty else { return .needsDecoding }
        return .floats(ScannedWrite(parts: [ScannedSeries.Part(builder.finish())]))
    }

    /// Validates the decoded 2.0 body in `body` with `scanner` and, when it holds only float samples
    /// and metadata, collects them: label bytes from the symbols table, samples from each series'
    /// bytes (2.0's `Sample` has 1.0's fields), and one `MetricMetadata` per distinct metadata.
    ///
    /// - Throws: what `WriteRequestV2Scanner.scan` throws; nothing is kept from an invalid body.
    static func scanV2(_ body: ByteScratch, with scanner: WriteRequestV2Scanner) throws(CodecError) -> Scanned {
        let bytes = body.bytes
        // Every 2.0 key is built from the symbols: into a buffer of its own, not after the body.
        var builder = ScannedSeriesBuilder(expectedBytes: bytes.count)
        var families: [MetricMetadata] = []
        var floatsOnly = true
        // Series of one family carry the same references: strings are built once per distinct set.
        var seenRefs = Set<MetadataRefs>()
        var seen = Set<MetricMetadata>()
        _ = try scanner.scan(bytes) { (series) throws(CodecError) in
            guard floatsOnly, series.exemplars == 0, series.histograms == 0 else {
                floatsOnly = false
                return
            }
            let (metadata, fields) = try WriteRequestV2Scanner.metadata(of: series.message, in: bytes)
            guard fields <= 1 else {
                floatsOnly = false
                return
            }
            if let metadata, let name = series.labels.first(where: { scanner.symbol($0.name, in: bytes).elementsEqual("__name__".utf8) }),
                seenRefs.insert(MetadataRefs(name: name.value, metadata: metadata)).inserted
            {
                let name = scanner.symbol(name.value, in: bytes)
                // As the full decode reads it: the family is the series' name, refs become strings.
                let entry = MetricMetadata(
                    type: .init(rawValue: metadata.type), metricFamilyName: String(decoding: name, as: UTF8.self),
                    help: String(decoding: scanner.symbol(metadata.help, in: bytes), as: UTF8.self),
                    unit: String(decoding: scanner.symbol(metadata.unit, in: bytes), as: UTF8.self)
                )
                if seen.insert(entry).inserted { families.append(entry) }
            }
            guard series.samples > 0 else { return }
            try builder.addRebuilt(samplesIn: series.message, of: bytes) { out in
                for label in series.labels {
                    LabelSetBytes.append(name: scanner.symbol(label.name, in: bytes), value: scanner.symbol(label.value, in: bytes), to: out)
                }
            }
        }
        guard floatsOnly else { return .needsDecoding }
        return .floats(ScannedWrite(parts: [ScannedSeries.Part(builder.finish())], metadata: families))
    }

    /// A series' metadata and family name as symbol references.
    private struct MetadataRefs: Hashable {
        var name: UInt32
        var metadata: WriteRequestV2Scanner.SeriesMetadata
    }
}
