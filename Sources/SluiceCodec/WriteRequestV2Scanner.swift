/// Walks a remote-write 2.0 body (`io.prometheus.write.v2.Request`) in place, validating it and
/// handing out each series' sorted label references, so insert can route and forward it without
/// building messages.
///
/// What it checks, from the 2.0 spec and Prometheus' receiver:
/// - `symbols[0]` is the empty string, every symbol is UTF-8 without NUL, and every reference
///   (labels, exemplar labels, help and unit) is inside the table;
/// - `labels_refs` has an even length; a `__name__`; names and values non-empty UTF-8 (2.0 allows
///   any UTF-8 in names, where 1.0 allows `[a-zA-Z_:][a-zA-Z0-9_:]*`); no duplicate names; Mimir-style
///   limits; unsorted labels are sorted, not rejected;
/// - a series holds samples or histograms, never both;
/// - every native histogram passes `HistogramValidation` (it is decoded to do that; histograms are rare
///   next to float samples);
/// - the wire structure of everything, down to the last nested field.
///
/// Created timestamps are accepted in both layouts: `TimeSeries.created_timestamp` (field 6, the drafts
/// before 2.0-rc.4) and `start_timestamp` in `Sample` (field 3) and `Histogram` (field 17).
///
/// A request is valid or not as a whole. One scanner per worker: it reuses its buffers and is not
/// `Sendable`.
public final class WriteRequestV2Scanner {
    public typealias Limits = WriteRequestScanner.Limits

    /// A label as two indexes into the symbols table.
    public struct LabelRef: Sendable, Hashable {
        public var name: UInt32
        public var value: UInt32

        public init(name: UInt32, value: UInt32) {
            self.name = name
            self.value = value
        }
    }

    /// One validated series. `labels` and `labelFields` are only valid inside the visitor call.
    public struct Series {
        /// The `TimeSeries` message bytes, without its field tag and length.
        public var message: Range<Int>
        /// The labels, sorted by name.
        public var labels: ArraySlice<LabelRef>
        /// Every `labels_refs` field of the message (tag included); usually one.
        public var labelFields: ArraySlice<Range<Int>>
        /// The labels arrived sorted in a single field: the message can be forwarded as it is.
        public var labelsInOrder: Bool
        public var samples: Int
        public var histograms: Int
        public var exemplars: Int
    }

    /// What a whole body held.
    public struct Summary: Sendable, Hashable {
        public var series = 0
        public var samples = 0
        public var histograms = 0
        public var exemplars = 0

        public init(series: Int = 0, samples: Int = 0, histograms: Int = 0, exemplars: Int = 0) {
            self.series = series
            self.samples = samples
            self.histograms = histograms
            self.exemplars = exemplars
        }
    }

    public var limits: Limits
    /// The symbols table of the last scanned body, as ranges into it.
    public private(set) var symbols: [Range<Int>] = []
    /// Each `symbols` field of the last body, tag included, in body order: a forwarder copies these.
    public private(set) var symbolFields: [Range<Int>] = []
    private var refs: [UInt32] = []
    private var labels: [LabelRef] = []
    private var labelFields: [Range<Int>] = []

    public init(limits: Limits = Limits()) {
        self.limits = limits
        refs.reserveCapacity(64)
        labels.reserveCapacity(32)
    }

    /// The bytes of symbol `ref` of the last scanned `body`.
    @inline(__always)
    public func symbol(_ ref: UInt32, in body: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: body[symbols[Int(ref)]])
    }

    /// Scans `body` (already snappy-decompressed), calling `visit` once per series in order.
    ///
    /// - Throws: `.protobufInvalid` for a malformed body, `.invalidSeries` for the first series that
    ///   breaks a rule.
    public func scan(
        _ body: UnsafeRawBufferPointer,
        _ visit: (borrowing Series) throws(CodecError) -> Void
    ) throws(CodecError) -> Summary {
        try readSymbols(body)
        var summary = Summary()
        var reader = ProtobufReader(body)
        while let (field, wireType) = try reader.nextKey() {
            guard field == 5 else {
                try reader.skip(wireType)
                continue
            }
            guard wireType == .lengthDelimited else {
                throw CodecError(.protobufInvalid, "Request field 5 has the wrong wire type")
            }
            let message = try reader.readLengthDelimited()
            summary.series += 1
            if limits.maxSeriesPerRequest > 0, summary.series > limits.maxSeriesPerRequest {
                throw CodecError(.invalidSeries, "request has more than \(limits.maxSeriesPerRequest) series")
            }
            let series = try scanSeries(body, message)
            summary.samples += series.samples
            summary.histograms += series.histograms
            summary.exemplars += series.exemplars
            try visit(series)
        }
        return summary
    }

    /// First pass: the symbols table, wherever its fields sit in the body.
    private func readSymbols(_ body: UnsafeRawBufferPointer) throws(CodecError) {
        symbols.removeAll(keepingCapacity: true)
        symbolFields.removeAll(keepingCapacity: true)
        var hasSeries = false
        var reader = ProtobufReader(body)
        var fieldStart = reader.offset
        while let (field, wireType) = try reader.nextKey() {
            defer { fieldStart = reader.offset }
            switch (field, wireType) {
            case (4, .lengthDelimited):
                let symbol = try reader.readLengthDelimited()
                let bytes = UnsafeRawBufferPointer(rebasing: body[symbol])
                guard WriteRequestScanner.isValidLabelValue(bytes) else {
                    throw CodecError(.invalidSeries, "symbol \(symbols.count) is not valid UTF-8 or holds a NUL byte")
                }
                symbols.append(symbol)
                symbolFields.append(fieldStart..<symbol.upperBound)
            case (5, .lengthDelimited):
                hasSeries = true
                try reader.skip(wireType)
            case (4...5, _):
                throw CodecError(.protobufInvalid, "Request field \(field) has the wrong wire type")
            case (1...3, _):
                // Reserved in 2.0 because they are 1.0's: skipping them would acknowledge a 1.0 body
                // sent with a 2.0 Content-Type as an empty request, and lose it.
                throw CodecError(.protobufInvalid, "the body holds remote write 1.0 fields (field \(field)) but Content-Type says 2.0")
            default:
                try reader.skip(wireType)
            }
        }
        if let first = symbols.first {
            guard first.isEmpty else { throw CodecError(.invalidSeries, "the first symbol must be the empty string") }
        } else if hasSeries {
            throw CodecError(.invalidSeries, "request has series but an empty symbols table; the first symbol must be the empty string")
        }
    }

    private func scanSeries(_ body: UnsafeRawBufferPointer, _ message: Range<Int>) throws(CodecError) -> Series {
        // Locals, not stored properties, inside the loop: see WriteRequestScanner.scanSeries.
        var refs: [UInt32] = []
        var labels: [LabelRef] = []
        var labelFields: [Range<Int>] = []
        swap(&refs, &self.refs)
        swap(&labels, &self.labels)
        swap(&labelFields, &self.labelFields)
        defer {
            swap(&refs, &self.refs)
            swap(&labels, &self.labels)
            swap(&labelFields, &self.labelFields)
        }
        refs.removeAll(keepingCapacity: true)
        labels.removeAll(keepingCapacity: true)
        labelFields.removeAll(keepingCapacity: true)
        let symbolCount = symbols.count
        var samples = 0
        var histograms = 0
        var exemplars = 0

        var reader = ProtobufReader(body, message)
        var fieldStart = reader.offset
        while let (field, wireType) = try reader.nextKey() {
            defer { fieldStart = reader.offset }
            switch (field, wireType) {
            case (1, .lengthDelimited), (1, .varint):
                try Self.readRefs(&reader, wireType, into: &refs)
                labelFields.append(fieldStart..<reader.offset)
            case (2, .lengthDelimited):
                try Self.validateSample(body, try reader.readLengthDelimited())
                samples += 1
            case (3, .lengthDelimited):
                let histogram = try HistogramMessage.decode(body, try reader.readLengthDelimited())
                try HistogramValidation.validate(histogram)
                histograms += 1
            case (4, .lengthDelimited):
                try validateExemplar(body, try reader.readLengthDelimited(), symbolCount: symbolCount)
                exemplars += 1
            case (5, .lengthDelimited):
                try validateMetadata(body, try reader.readLengthDelimited(), symbolCount: symbolCount)
            case (6, .varint):
                _ = try reader.readVarint()
            case (1...6, _):
                throw CodecError(.protobufInvalid, "TimeSeries field \(field) has the wrong wire type")
            default:
                try reader.skip(wireType)
            }
        }
        guard samples == 0 || histograms == 0 else {
            throw CodecError(.invalidSeries, "series holds both samples and histograms; send them as separate series")
        }
        guard refs.count % 2 == 0 else {
            throw CodecError(.invalidSeries, "labels_refs has an odd length \(refs.count)")
        }
        var inOrder = labelFields.count <= 1
        var i = 0
        while i < refs.count {
            let name = refs[i], value = refs[i + 1]
            guard Int(name) < symbolCount, Int(value) < symbolCount else {
                throw CodecError(.invalidSeries, "label reference \(max(name, value)) is outside the symbols table of \(symbolCount)")
            }
            labels.append(LabelRef(name: name, value: value))
            i += 2
        }
        // Insertion sort: label sets are short and nearly always sorted already.
        if labels.count > 1 {
            for j in 1..<labels.count {
                let label = labels[j]
                let key = UnsafeRawBufferPointer(rebasing: body[symbols[Int(label.name)]])
                var k = j
                while k > 0, WriteRequestScanner.compare(UnsafeRawBufferPointer(rebasing: body[symbols[Int(labels[k - 1].name)]]), key) > 0 {
                    labels[k] = labels[k - 1]
                    k -= 1
                }
                if k != j {
                    labels[k] = label
                    inOrder = false
                }
            }
        }
        try validateLabels(body, labels)
        return Series(
            message: message, labels: labels[...], labelFields: labelFields[...], labelsInOrder: inOrder,
            samples: samples, histograms: histograms, exemplars: exemplars
        )
    }

    /// Labels sorted by name, checked against the limits and the rules of `WriteRequestScanner.checkLabel`.
    private func validateLabels(_ body: UnsafeRawBufferPointer, _ labels: [LabelRef]) throws(CodecError) {
        let limits = self.limits
        guard labels.count <= limits.maxLabelNamesPerSeries else {
            throw CodecError(.invalidSeries, "series has \(labels.count) labels, more than the limit of \(limits.maxLabelNamesPerSeries)")
        }
        var previous: UnsafeRawBufferPointer? = nil
        var hasName = false
        let readableEnd = body.baseAddress.map { UnsafeRawPointer($0) + body.count }
        for label in labels {
            let name = symbol(label.name, in: body)
            let value = symbol(label.value, in: body)
            // 2.0 names are any UTF-8 (the spec's MUST; Prometheus 3's default), unlike 1.0's.
            try WriteRequestScanner.checkLabel(name: name, value: value, limits: limits, utf8Names: true, readableEnd: readableEnd)
            if let previous, WriteRequestScanner.compare(previous, name) == 0 {
                throw CodecError(.invalidSeries, "duplicate label name \(WriteRequestScanner.printable(name))")
            }
            if WriteRequestScanner.isMetricNameLabel(name) { hasName = true }
            previous = name
        }
        guard hasName else { throw CodecError(.invalidSeries, "series has no __name__ label") }
    }

    /// `labels_refs` packed (the normal encoding) or as single varints (which proto3 readers must accept).
    static func readRefs(_ reader: inout ProtobufReader, _ wireType: ProtobufReader.WireType, into refs: inout [UInt32]) throws(CodecError) {
        if wireType == .varint {
            refs.append(try refValue(try reader.readVarint()))
            return
        }
        let packed = try reader.readLengthDelimited()
        var inner = ProtobufReader(reader.bytes, packed)
        while inner.offset < inner.end {
            refs.append(try refValue(try inner.readVarint()))
        }
    }

    @inline(__always)
    private static func refValue(_ raw: UInt64) throws(CodecError) -> UInt32 {
        guard raw <= UInt64(UInt32.max) else { throw CodecError(.invalidSeries, "symbol reference \(raw) does not fit a uint32") }
        return UInt32(raw)
    }

    /// A 2.0 `Sample`: value (double, 1), timestamp (int64, 2), start_timestamp (int64, 3).
    static func validateSample(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) throws(CodecError) {
        var reader = ProtobufReader(bytes, range)
        while let (field, wireType) = try reader.nextKey() {
            switch (field, wireType) {
            case (1, .fixed64), (2, .varint), (3, .varint): try reader.skip(wireType)
            case (1...3, _): throw CodecError(.protobufInvalid, "Sample field \(field) has the wrong wire type")
            default: try reader.skip(wireType)
            }
        }
    }

    private func validateExemplar(_ body: UnsafeRawBufferPointer, _ range: Range<Int>, symbolCount: Int) throws(CodecError) {
        var refs: [UInt32] = []
        var reader = ProtobufReader(body, range)
        while let (field, wireType) = try reader.nextKey() {
            switch (field, wireType) {
            case (1, .lengthDelimited), (1, .varint): try Self.readRefs(&reader, wireType, into: &refs)
            case (2, .fixed64), (3, .varint): try reader.skip(wireType)
            case (1...3, _): throw CodecError(.protobufInvalid, "Exemplar field \(field) has the wrong wire type")
            default: try reader.skip(wireType)
            }
        }
        guard refs.count % 2 == 0 else {
            throw CodecError(.invalidSeries, "exemplar labels_refs has an odd length \(refs.count)")
        }
        for (index, ref) in refs.enumerated() {
            guard Int(ref) < symbolCount else {
                throw CodecError(.invalidSeries, "exemplar label reference \(ref) is outside the symbols table of \(symbolCount)")
            }
            if index % 2 == 0, symbol(ref, in: body).isEmpty {
                throw CodecError(.invalidSeries, "exemplar has a label with an empty name")
            }
        }
    }

    private func validateMetadata(_ body: UnsafeRawBufferPointer, _ range: Range<Int>, symbolCount: Int) throws(CodecError) {
        var reader = ProtobufReader(body, range)
        while let (field, wireType) = try reader.nextKey() {
            switch (field, wireType) {
            case (1, .varint): _ = try reader.readVarint()
            case (3, .varint), (4, .varint):
                let ref = try reader.readVarint()
                guard ref < UInt64(symbolCount) else {
                    throw CodecError(.invalidSeries, "metadata \(field == 3 ? "help" : "unit") reference \(ref) is outside the symbols table of \(symbolCount)")
                }
            case (1, _), (3...4, _): throw CodecError(.protobufInvalid, "Metadata field \(field) has the wrong wire type")
            default: try reader.skip(wireType)
            }
        }
    }
}

/// Decodes one `Histogram` message, 1.0 or 2.0 (their fields 1-16 are the same; 2.0 adds
/// `start_timestamp` as 17), into the model, so scanners can validate it. Bounded by the message: no
/// array grows past what its bytes hold.
enum HistogramMessage {
    static func decode(_ body: UnsafeRawBufferPointer, _ range: Range<Int>) throws(CodecError) -> Histogram {
        var h = Histogram()
        var reader = ProtobufReader(body, range)
        while let (field, wireType) = try reader.nextKey() {
            switch (field, wireType) {
            case (1, .varint): h.count = .int(try reader.readVarint())
            case (2, .fixed64): h.count = .float(try readDouble(&reader))
            case (3, .fixed64): h.sum = try readDouble(&reader)
            case (4, .varint): h.schema = Int32(truncatingIfNeeded: zigzag(try reader.readVarint()))
            case (5, .fixed64): h.zeroThreshold = try readDouble(&reader)
            case (6, .varint): h.zeroCount = .int(try reader.readVarint())
            case (7, .fixed64): h.zeroCount = .float(try readDouble(&reader))
            case (8, .lengthDelimited): h.negativeSpans.append(try span(body, try reader.readLengthDelimited()))
            case (9, _): try sint64s(&reader, wireType, into: &h.negativeDeltas)
            case (10, _): try doubles(&reader, wireType, into: &h.negativeCounts)
            case (11, .lengthDelimited): h.positiveSpans.append(try span(body, try reader.readLengthDelimited()))
            case (12, _): try sint64s(&reader, wireType, into: &h.positiveDeltas)
            case (13, _): try doubles(&reader, wireType, into: &h.positiveCounts)
            case (14, .varint): h.resetHint = Int32(truncatingIfNeeded: try reader.readVarint())
            case (15, .varint): h.timestamp = Int64(bitPattern: try reader.readVarint())
            case (16, _): try doubles(&reader, wireType, into: &h.customValues)
            case (17, .varint): _ = try reader.readVarint()
            case (1...8, _), (11, _), (14...15, _), (17, _):
                throw CodecError(.protobufInvalid, "Histogram field \(field) has the wrong wire type")
            default: try reader.skip(wireType)
            }
        }
        return h
    }

    @inline(__always)
    private static func zigzag(_ raw: UInt64) -> Int64 {
        Int64(bitPattern: raw >> 1) ^ -Int64(bitPattern: raw & 1)
    }

    private static func readDouble(_ reader: inout ProtobufReader) throws(CodecError) -> Double {
        try reader.advance(8)
        return Double(bitPattern: UInt64(littleEndian: reader.bytes.loadUnaligned(fromByteOffset: reader.offset - 8, as: UInt64.self)))
    }

    private static func span(_ body: UnsafeRawBufferPointer, _ range: Range<Int>) throws(CodecError) -> BucketSpan {
        var span = BucketSpan(offset: 0, length: 0)
        var reader = ProtobufReader(body, range)
        while let (field, wireType) = try reader.nextKey() {
            switch (field, wireType) {
            case (1, .varint): span.offset = Int32(truncatingIfNeeded: zigzag(try reader.readVarint()))
            case (2, .varint): span.length = UInt32(truncatingIfNeeded: try reader.readVarint())
            case (1...2, _): throw CodecError(.protobufInvalid, "BucketSpan field \(field) has the wrong wire type")
            default: try reader.skip(wireType)
            }
        }
        return span
    }

    private static func sint64s(_ reader: inout ProtobufReader, _ wireType: ProtobufReader.WireType, into out: inout [Int64]) throws(CodecError) {
        switch wireType {
        case .varint: out.append(zigzag(try reader.readVarint()))
        case .lengthDelimited:
            let packed = try reader.readLengthDelimited()
            var inner = ProtobufReader(reader.bytes, packed)
            while inner.offset < inner.end { out.append(zigzag(try inner.readVarint())) }
        default: throw CodecError(.protobufInvalid, "histogram deltas have the wrong wire type")
        }
    }

    private static func doubles(_ reader: inout ProtobufReader, _ wireType: ProtobufReader.WireType, into out: inout [Double]) throws(CodecError) {
        switch wireType {
        case .fixed64: out.append(try readDouble(&reader))
        case .lengthDelimited:
            let packed = try reader.readLengthDelimited()
            guard packed.count % 8 == 0 else { throw CodecError(.protobufInvalid, "packed doubles are not a multiple of 8 bytes") }
            var inner = ProtobufReader(reader.bytes, packed)
            while inner.offset < inner.end { out.append(try readDouble(&inner)) }
        default: throw CodecError(.protobufInvalid, "histogram counts have the wrong wire type")
        }
    }
}

extension WriteRequestV2Scanner {
    /// A series' `Metadata` as references into the symbols table.
    public struct SeriesMetadata: Sendable, Hashable {
        public var type: Int32
        public var help: UInt32
        public var unit: UInt32
    }

    /// The metadata of a series `scan` validated, read from its bytes, and how many `metadata`
    /// fields it has: with more than one, only the full decode merges them as protobuf does.
    ///
    /// - Precondition: `message` is a `Series.message` that `scan` handed out for `body`.
    public static func metadata(
        of message: Range<Int>, in body: UnsafeRawBufferPointer
    ) throws(CodecError) -> (metadata: SeriesMetadata?, fields: Int) {
        var reader = ProtobufReader(body, message)
        var found: SeriesMetadata?
        var fields = 0
        while let (field, wireType) = try reader.nextKey() {
            guard field == 5, wireType == .lengthDelimited else {
                try reader.skip(wireType)
                continue
            }
            fields += 1
            var metadata = SeriesMetadata(type: 0, help: 0, unit: 0)
            var inner = ProtobufReader(body, try reader.readLengthDelimited())
            while let (innerField, innerType) = try inner.nextKey() {
                switch (innerField, innerType) {
                case (1, .varint): metadata.type = Int32(truncatingIfNeeded: try inner.readVarint())
                case (3, .varint): metadata.help = UInt32(truncatingIfNeeded: try inner.readVarint())
                case (4, .varint): metadata.unit = UInt32(truncatingIfNeeded: try inner.readVarint())
                default: try inner.skip(innerType)
                }
            }
            found = metadata
        }
        return (found, fields)
    }
}
