/// Walks a remote-write 1.0 body in place, validating each series and handing out byte ranges, so the
/// insert hot path never builds messages: a forwarded request is assembled from the original
/// `TimeSeries` bytes.
///
/// It checks what the remote-write spec and Prometheus' receiver require of every series (a metric
/// name, non-empty label names and values, names sorted and unique, valid characters) plus Mimir-style
/// limits, and the wire structure of everything it skips. It agrees with `MessageCodec` on every body
/// that decodes (see WriteRequestScannerTests); it is stricter in two ways: a label containing a NUL
/// byte is rejected, because libprotobuf-c's C strings would silently truncate it, and a native
/// histogram must pass `HistogramValidation`, as Prometheus' appender requires. Exemplars, histograms
/// and metadata are checked down to their last nested field.
///
/// One scanner per worker: it reuses its label buffer and is not `Sendable`.
public final class WriteRequestScanner {
    /// Mimir's defaults.
    public struct Limits: Sendable, Hashable {
        public var maxLabelNamesPerSeries: Int = 30
        public var maxLabelNameLength: Int = 1024
        public var maxLabelValueLength: Int = 2048
        /// 0 means no limit.
        public var maxSeriesPerRequest: Int = 0

        public init() {}
    }

    /// One label pair, as ranges into the body.
    public struct LabelRange: Sendable, Hashable {
        /// The whole `labels` field inside the series: tag, length and message. Lets a forwarder
        /// splice a label in or out without re-encoding the rest.
        public var field: Range<Int>
        public var name: Range<Int>
        public var value: Range<Int>
    }

    /// One validated series. `labels` is only valid inside the visitor call.
    public struct Series {
        /// The `TimeSeries` message bytes, without its field tag and length.
        public var message: Range<Int>
        /// Points into the scanner's own buffer: read it, never keep it.
        public var labels: UnsafeBufferPointer<LabelRange>
        public var samples: Int
        public var exemplars: Int
        public var histograms: Int
        /// Bit i: label i's field is byte for byte the previous series' label i (the series this
        /// scan visited just before), so its name and value are too. Labels past 63 read as not.
        public var adopted: UInt64
    }

    /// What a whole body held.
    public struct Summary: Sendable, Hashable {
        public var series = 0
        public var samples = 0
        public var exemplars = 0
        public var histograms = 0
        /// `MetricMetadata` messages, without tag and length, in body order.
        public var metadata: [Range<Int>] = []

        public init(series: Int = 0, samples: Int = 0, exemplars: Int = 0, histograms: Int = 0) {
            self.series = series
            self.samples = samples
            self.exemplars = exemplars
            self.histograms = histograms
        }
    }

    public var limits: Limits
    /// For bodies that a writer in this process built from bodies it had scanned (insert's parts, in
    /// `sluice up`): the label rules (names, order, UTF-8, `__name__`, limits) are not checked again.
    /// Every wire-structure check stays, so no length reaches past the body and every range handed
    /// out is inside it.
    public var trustsLabels = false
    private var labels = LabelBuffer()
    /// The labels of the series scanned before the current one (`validateLabels`).
    private var previousLabels = LabelBuffer()

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    deinit {
        labels.deallocate()
        previousLabels.deallocate()
    }

    /// One series' labels: a growable buffer the scanner owns and frees, reused for every series, so
    /// adding a label is a store and a count, with no uniqueness check or reference count as with an
    /// array.
    struct LabelBuffer {
        private(set) var base: UnsafeMutablePointer<LabelRange>
        private(set) var count = 0
        private var capacity: Int

        init(capacity: Int = 32) {
            self.capacity = capacity
            base = .allocate(capacity: capacity)
        }

        func deallocate() { base.deallocate() }

        var elements: UnsafeBufferPointer<LabelRange> { UnsafeBufferPointer(start: base, count: count) }

        @inline(__always)
        mutating func removeAll() { count = 0 }

        @inline(__always)
        mutating func append(_ label: LabelRange) {
            if count == capacity { grow() }
            (base + count).initialize(to: label)
            count += 1
        }

        private mutating func grow() {
            let bigger = UnsafeMutablePointer<LabelRange>.allocate(capacity: capacity * 2)
            bigger.moveInitialize(from: base, count: count)
            base.deallocate()
            base = bigger
            capacity *= 2
        }
    }

    /// Scans `body` (already snappy-decompressed), calling `visit` once per series in order.
    ///
    /// - Throws: `.protobufInvalid` for a malformed body, `.invalidSeries` for the first series that
    ///   breaks a rule; nothing is partially valid.
    public func scan(
        _ body: UnsafeRawBufferPointer,
        _ visit: (borrowing Series) throws(CodecError) -> Void
    ) throws(CodecError) -> Summary {
        var summary = Summary()
        var reader = ProtobufReader(body)
        // The label buffer and limits are locals for the whole request: every access to a class's
        // stored property is a dynamic exclusivity check, which cost more than the parsing itself.
        let limits = self.limits
        let trustsLabels = self.trustsLabels
        var labels = self.labels
        var previousLabels = self.previousLabels
        defer {
            // Both buffers go back, whichever of them each local holds after the swaps below.
            self.labels = labels
            self.previousLabels = previousLabels
        }
        // Both hold ranges into the last body scanned: the first series of this one has no previous.
        labels.removeAll()
        previousLabels.removeAll()
        // Where the previous series had `__name__`, for `validateLabels`.
        var nameIndex = -1
        while let (field, wireType) = try reader.nextKey() {
            switch (field, wireType) {
            case (1, .lengthDelimited):
                let message = try reader.readLengthDelimited()
                summary.series += 1
                if limits.maxSeriesPerRequest > 0, summary.series > limits.maxSeriesPerRequest {
                    throw CodecError(.invalidSeries, "request has more than \(limits.maxSeriesPerRequest) series")
                }
                swap(&labels, &previousLabels)
                let series = try Self.scanSeries(
                    body, message, labels: &labels, previous: previousLabels.elements, nameIndex: &nameIndex, limits: limits,
                    trustsLabels: trustsLabels)
                summary.samples += series.samples
                summary.exemplars += series.exemplars
                summary.histograms += series.histograms
                try visit(series)
            case (3, .lengthDelimited):
                let message = try reader.readLengthDelimited()
                try Self.validateMetadata(body, message)
                summary.metadata.append(message)
            case (4...5, .lengthDelimited):
                // 2.0's symbols and series: skipping them would acknowledge a 2.0 body sent with a
                // 1.0 Content-Type as an empty request, and lose it.
                throw CodecError(.protobufInvalid, "the body holds remote write 2.0 fields (field \(field)) but Content-Type says 1.0")
            default:
                try reader.skip(wireType)
            }
        }
        return summary
    }

    @inline(__always)
    private static func scanSeries(
        _ body: UnsafeRawBufferPointer, _ message: Range<Int>, labels: inout LabelBuffer,
        previous: UnsafeBufferPointer<LabelRange>, nameIndex: inout Int, limits: Limits, trustsLabels: Bool
    ) throws(CodecError) -> Series {
        labels.removeAll()
        // A local copy, written back on every exit: through `inout`, each append loaded and stored
        // the count in memory, since the stores of the labels themselves might have aliased it.
        var found = labels
        defer { labels = found }
        var samples = 0
        var exemplars = 0
        var histograms = 0
        // Bit i: label i's field is byte for byte the previous series' label i (`adoptLabels`).
        var adopted: UInt64 = 0
        var reader = ProtobufReader(body, message)
        var fieldStart = reader.offset
        let end = message.upperBound
        while fieldStart < end {
            // The usual fields, a label (key 0x0A) or a sample (key 0x12) shorter than 128 bytes, are
            // read without the general key and length decoding below, which would take them the same way.
            // Offsets are inside the body plus at most 129, so `&+` cannot overflow, and each range
            // is built only once its bounds are known to be in order and inside the message.
            let key = body[fieldStart]
            if key == 0x0A || key == 0x12, fieldStart &+ 2 <= end {
                if key == 0x0A, found.count < previous.count, found.count < 64 {
                    let index = found.count
                    let (count, bytes) = Self.adoptLabels(body, previous, at: index, to: fieldStart, end: end, into: &found)
                    if count > 0 {
                        adopted |= (count >= 64 ? UInt64.max : (1 &<< UInt64(count)) &- 1) &<< UInt64(index)
                        fieldStart &+= bytes
                        continue
                    }
                }
                let length = body[fieldStart &+ 1]
                let innerEnd = fieldStart &+ 2 &+ Int(length)
                if length < 0x80, innerEnd <= end {
                    let inner = Range(uncheckedBounds: (fieldStart &+ 2, innerEnd))
                    if key == 0x0A {
                        var label = try Self.scanLabel(body, inner)
                        label.field = Range(uncheckedBounds: (fieldStart, innerEnd))
                        found.append(label)
                    } else {
                        try ProtobufReader.validateSample(body, inner)
                        samples += 1
                    }
                    fieldStart = innerEnd
                    continue
                }
            }
            reader.offset = fieldStart
            guard let (field, wireType) = try reader.nextKey() else { break }
            defer { fieldStart = reader.offset }
            switch (field, wireType) {
            case (1, .lengthDelimited):
                let labelMessage = try reader.readLengthDelimited()
                var label = try Self.scanLabel(body, labelMessage)
                label.field = fieldStart..<labelMessage.upperBound
                found.append(label)
            case (2, .lengthDelimited):
                try ProtobufReader.validateSample(body, try reader.readLengthDelimited())
                samples += 1
            case (3, .lengthDelimited):
                try Self.validateExemplar(body, try reader.readLengthDelimited())
                exemplars += 1
            case (4, .lengthDelimited):
                try HistogramValidation.validate(try HistogramMessage.decode(body, try reader.readLengthDelimited()))
                histograms += 1
            case (1...4, _):
                throw CodecError(.protobufInvalid, "TimeSeries field \(field) has the wrong wire type")
            default:
                try reader.skip(wireType)
            }
        }
        nameIndex = trustsLabels
            ? -1 : try validateLabels(body, found.elements, adopted: adopted, previousNameIndex: nameIndex, limits: limits)
        return Series(message: message, labels: found.elements, samples: samples, exemplars: exemplars, histograms: histograms, adopted: adopted)
    }

    /// Consecutive series mostly share a run of labels (a target's `job`, `instance` and external
    /// labels, after a `__name__` that changes): where the fields at `fieldStart` repeat the previous
    /// series' labels from `index` on byte for byte, they are taken over as that series parsed them,
    /// shifted to here, in one comparison rather than a parse and a check per label. Only a run of
    /// the previous series' labels that lie back to back is taken, so no other field is skipped
    /// unseen. Returns how many labels were taken and their bytes; (0, 0) if the label here differs.
    @inline(__always)
    private static func adoptLabels(
        _ body: UnsafeRawBufferPointer, _ previous: UnsafeBufferPointer<LabelRange>, at index: Int, to fieldStart: Int,
        end: Int, into found: inout LabelBuffer
    ) -> (count: Int, bytes: Int) {
        // The previous series lies before this one in the body, and its labels in field order.
        let start = previous[index].field.lowerBound
        let limit = min(previous[previous.count &- 1].field.upperBound &- start, end &- fieldStart)
        guard limit > 0, let base = body.baseAddress else { return (0, 0) }
        let common = commonPrefix(UnsafeRawPointer(base + start), UnsafeRawPointer(base + fieldStart), limit)
        var next = index
        var runEnd = start
        while next < previous.count {
            let field = previous[next].field
            guard field.lowerBound == runEnd, field.upperBound &- start <= common else { break }
            runEnd = field.upperBound
            next &+= 1
        }
        guard next > index else { return (0, 0) }
        let shift = fieldStart &- start
        @inline(__always) func moved(_ range: Range<Int>) -> Range<Int> {
            Range(uncheckedBounds: (range.lowerBound &+ shift, range.upperBound &+ shift))
        }
        for label in previous[index..<next] {
            found.append(LabelRange(field: moved(label.field), name: moved(label.name), value: moved(label.value)))
        }
        return (next &- index, runEnd &- start)
    }

    /// How many bytes `x` and `y` share from their start, up to `limit`: eight at a time.
    @inline(__always)
    static func commonPrefix(_ x: UnsafeRawPointer, _ y: UnsafeRawPointer, _ limit: Int) -> Int {
        var i = 0
        while i &+ 8 <= limit {
            let difference = UInt64(littleEndian: x.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                ^ UInt64(littleEndian: y.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            if difference != 0 { return i &+ difference.trailingZeroBitCount &>> 3 }
            i &+= 8
        }
        while i < limit, x.load(fromByteOffset: i, as: UInt8.self) == y.load(fromByteOffset: i, as: UInt8.self) { i &+= 1 }
        return i
    }

    /// An `Exemplar`: labels (1), value (double, 2), timestamp (int64, 3), every wire type as
    /// libprotobuf-c requires it, and no NUL in a label (its C strings would cut there).
    static func validateExemplar(_ body: UnsafeRawBufferPointer, _ message: Range<Int>) throws(CodecError) {
        var reader = ProtobufReader(body, message)
        while let (field, wireType) = try reader.nextKey() {
            switch (field, wireType) {
            case (1, .lengthDelimited):
                var label = ProtobufReader(body, try reader.readLengthDelimited())
                while let (labelField, labelWireType) = try label.nextKey() {
                    switch (labelField, labelWireType) {
                    case (1...2, .lengthDelimited):
                        let text = UnsafeRawBufferPointer(rebasing: body[try label.readLengthDelimited()])
                        guard isValidLabelValue(text) else {
                            throw CodecError(.invalidSeries, "exemplar label is not valid UTF-8 or holds a NUL byte")
                        }
                    case (1...2, _): throw CodecError(.protobufInvalid, "exemplar Label field \(labelField) has the wrong wire type")
                    default: try label.skip(labelWireType)
                    }
                }
            case (2, .fixed64), (3, .varint): try reader.skip(wireType)
            case (1...3, _): throw CodecError(.protobufInvalid, "Exemplar field \(field) has the wrong wire type")
            default: try reader.skip(wireType)
            }
        }
    }

    /// A `MetricMetadata`: type (1), metric_family_name (2), help (4), unit (5).
    static func validateMetadata(_ body: UnsafeRawBufferPointer, _ message: Range<Int>) throws(CodecError) {
        var reader = ProtobufReader(body, message)
        while let (field, wireType) = try reader.nextKey() {
            switch (field, wireType) {
            case (1, .varint): try reader.skip(wireType)
            case (2, .lengthDelimited), (4, .lengthDelimited), (5, .lengthDelimited):
                guard isValidLabelValue(UnsafeRawBufferPointer(rebasing: body[try reader.readLengthDelimited()])) else {
                    throw CodecError(.invalidSeries, "metadata field \(field) is not valid UTF-8 or holds a NUL byte")
                }
            case (1...2, _), (4...5, _): throw CodecError(.protobufInvalid, "MetricMetadata field \(field) has the wrong wire type")
            default: try reader.skip(wireType)
            }
        }
    }

    @inline(__always)
    private static func scanLabel(_ body: UnsafeRawBufferPointer, _ message: Range<Int>) throws(CodecError) -> LabelRange {
        // The shape every encoder writes: name (field 1), then value (field 2), each shorter than 128
        // bytes, and nothing else. Anything different takes the general walk below.
        // `message` lies inside the body, so these sums of an offset and a few bytes cannot overflow.
        let start = message.lowerBound
        let end = message.upperBound
        if end &- start >= 4, body[start] == 0x0A {
            let nameLength = Int(body[start &+ 1])
            let valueKey = start &+ 2 &+ nameLength
            if nameLength < 0x80, valueKey &+ 2 <= end, body[valueKey] == 0x12 {
                let valueLength = Int(body[valueKey &+ 1])
                if valueLength < 0x80, valueKey &+ 2 &+ valueLength == end {
                    return LabelRange(
                        field: message,
                        name: Range(uncheckedBounds: (start &+ 2, valueKey)),
                        value: Range(uncheckedBounds: (valueKey &+ 2, end)))
                }
            }
        }
        return try scanUnusualLabel(body, message)
    }

    /// A label in any other shape: the general walk, kept out of line so the usual shape inlines.
    @inline(never)
    private static func scanUnusualLabel(_ body: UnsafeRawBufferPointer, _ message: Range<Int>) throws(CodecError) -> LabelRange {
        var name = message.lowerBound..<message.lowerBound
        var value = message.lowerBound..<message.lowerBound
        var reader = ProtobufReader(body, message)
        while let (field, wireType) = try reader.nextKey() {
            switch (field, wireType) {
            case (1, .lengthDelimited): name = try reader.readLengthDelimited()
            case (2, .lengthDelimited): value = try reader.readLengthDelimited()
            case (1...2, _): throw CodecError(.protobufInvalid, "Label field \(field) has the wrong wire type")
            default: try reader.skip(wireType)
            }
        }
        return LabelRange(field: message, name: name, value: value)
    }

    /// The label rules, for labels found anew; a run of labels that repeat the previous series' (bit
    /// i of `adopted`, `adoptLabels`) passed them there, since they depend on the bytes and the limits
    /// alone, and were in order among themselves: only the run's first is ordered against the label
    /// before it. `previousNameIndex` is where the previous series had `__name__` (-1 for none): a
    /// run that repeats it has it at the same place. Returns where this series has `__name__`.
    @inline(__always)
    private static func validateLabels(
        _ body: UnsafeRawBufferPointer, _ labels: UnsafeBufferPointer<LabelRange>, adopted: UInt64,
        previousNameIndex: Int, limits: Limits
    ) throws(CodecError) -> Int {
        guard labels.count <= limits.maxLabelNamesPerSeries else {
            throw CodecError(.invalidSeries, "series has \(labels.count) labels, more than the limit of \(limits.maxLabelNamesPerSeries)")
        }
        @inline(__always) func isAdopted(_ index: Int) -> Bool { index < 64 && (adopted &>> UInt64(index)) & 1 != 0 }
        var nameIndex = previousNameIndex >= 0 && isAdopted(previousNameIndex) ? previousNameIndex : -1
        let readableEnd = body.baseAddress.map { UnsafeRawPointer($0) + body.count }
        // Every range lies inside `body` (the scanner made them): `uncheckedSlice`, with no overflow
        // or bounds checks, which cost more than the work in this loop.
        @inline(__always) func bytes(_ range: Range<Int>) -> UnsafeRawBufferPointer { body.uncheckedSlice(range) }
        @inline(__always) func checkOrder(_ index: Int) throws(CodecError) {
            guard index > 0 else { return }
            let name = bytes(labels[index].name)
            let order = Self.compare(bytes(labels[index &- 1].name), name)
            if order == 0 { throw CodecError(.invalidSeries, "duplicate label name \(Self.printable(name))") }
            if order > 0 { throw CodecError(.invalidSeries, "labels are not sorted by name at \(Self.printable(name))") }
        }
        var index = 0
        while index < labels.count {
            if isAdopted(index) {
                try checkOrder(index)
                // The run ends at the first label not adopted (bits past 63 read as not adopted).
                index &+= (~(adopted &>> UInt64(index))).trailingZeroBitCount
                continue
            }
            let label = labels[index]
            let name = bytes(label.name)
            let isMetricName = isMetricNameLabel(name)
            try Self.checkLabel(
                name: name, value: bytes(label.value), limits: limits, utf8Names: false, metricName: isMetricName, readableEnd: readableEnd)
            try checkOrder(index)
            if isMetricName { nameIndex = index }
            index &+= 1
        }
        guard nameIndex >= 0 else { throw CodecError(.invalidSeries, "series has no __name__ label") }
        return nameIndex
    }

    /// The checks every label gets in both versions: a name and a value, non-empty, within the
    /// limits, the value UTF-8 without NUL. Names follow 1.0's `[a-zA-Z_][a-zA-Z0-9_]*`, or with
    /// `utf8Names` (2.0) any UTF-8 without NUL: libprotobuf-c's C strings would cut at a NUL. With
    /// `metricName` (the label is `__name__`, 1.0) the value must be a metric name
    /// (`isValidMetricName`), which is plain ASCII without NUL: the UTF-8 check is then that one.
    ///
    /// `readableEnd` is the end of the buffer `name` and `value` lie in: a name or value shorter than
    /// eight bytes is then checked as one word read past its end (`shortWord`), not byte by byte.
    @inline(__always)
    static func checkLabel(
        name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, limits: Limits, utf8Names: Bool, metricName: Bool = false,
        readableEnd: UnsafeRawPointer? = nil
    ) throws(CodecError) {
        guard !name.isEmpty else { throw CodecError(.invalidSeries, "series has a label with an empty name") }
        guard name.count <= limits.maxLabelNameLength else {
            throw CodecError(.invalidSeries, "label name longer than \(limits.maxLabelNameLength) bytes")
        }
        // `__name__` itself is a valid name.
        guard metricName || (utf8Names
            ? isValidLabelValue(name, readableEnd: readableEnd)
            : isValidLabelName(name, readableEnd: readableEnd))
        else {
            throw CodecError(.invalidSeries, "invalid label name \"\(printable(name))\"")
        }
        guard !value.isEmpty else {
            throw CodecError(.invalidSeries, "label \(printable(name)) has an empty value")
        }
        guard value.count <= limits.maxLabelValueLength else {
            throw CodecError(.invalidSeries, "value of label \(printable(name)) longer than \(limits.maxLabelValueLength) bytes")
        }
        if metricName {
            guard isValidMetricName(value) else { throw CodecError(.invalidSeries, "invalid metric name \"\(printable(value))\"") }
            return
        }
        guard isValidLabelValue(value, readableEnd: readableEnd) else {
            throw CodecError(.invalidSeries, "value of label \(printable(name)) is not valid UTF-8 or holds a NUL byte")
        }
    }

    static let metricNameLabel: [UInt8] = Array("__name__".utf8)

    /// Whether `name` is `__name__`: eight bytes compared as one word.
    @inline(__always)
    static func isMetricNameLabel(_ name: UnsafeRawBufferPointer) -> Bool {
        name.count == 8 && name.loadUnaligned(as: UInt64.self) == UInt64(littleEndian: 0x5F5F_656D_616E_5F5F)
    }

    static let letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"

    /// Whether `byte` may start a name: `[a-zA-Z_]`, and `:` too with `colon`. Decided by arithmetic
    /// on the byte, with no table to load: `byte | 0x20` folds upper-case letters onto lower-case
    /// ones and sends every other byte outside `a...z`.
    @inline(__always)
    static func isNameStart(_ byte: UInt8, colon: Bool) -> Bool {
        (byte | 0x20) &- 0x61 < 26 || byte == 0x5F || (colon && byte == 0x3A)
    }

    /// Whether `byte` may follow in a name: `[a-zA-Z0-9_]`, and `:` too with `colon`.
    @inline(__always)
    static func isNameCharacter(_ byte: UInt8, colon: Bool) -> Bool {
        (byte | 0x20) &- 0x61 < 26 || byte &- 0x30 < 10 || byte == 0x5F || (colon && byte == 0x3A)
    }

    /// Prometheus' legacy rule: `[a-zA-Z_][a-zA-Z0-9_]*`.
    @inline(__always)
    static func isValidLabelName(_ bytes: UnsafeRawBufferPointer) -> Bool {
        isName(bytes, colon: false)
    }

    /// `isValidLabelName`, with a name shorter than eight bytes tested as one word when eight bytes
    /// from its start lie before `readableEnd`. Most label names are that short (`job`, `instance`).
    @inline(__always)
    static func isValidLabelName(_ bytes: UnsafeRawBufferPointer, readableEnd: UnsafeRawPointer?) -> Bool {
        // The bytes past the name are made `a`, a name character, so only the name's own bytes decide.
        if let word = shortWord(bytes, fill: 0x6161_6161_6161_6161, readableEnd: readableEnd) {
            return isNameStart(UInt8(truncatingIfNeeded: word), colon: false) && isNameWord(word, colon: false)
        }
        return isName(bytes, colon: false)
    }

    /// `bytes`, if there are 1 to 7 of them and eight bytes from their start lie before `readableEnd`,
    /// as one little-endian word read in a single load, with the bytes past them replaced by `fill`'s.
    @inline(__always)
    static func shortWord(_ bytes: UnsafeRawBufferPointer, fill: UInt64, readableEnd: UnsafeRawPointer?) -> UInt64? {
        guard let readableEnd, let base = bytes.baseAddress, bytes.count > 0, bytes.count < 8,
              UnsafeRawPointer(base) + 8 <= readableEnd
        else { return nil }
        let keep: UInt64 = (1 &<< UInt64(truncatingIfNeeded: bytes.count &* 8)) &- 1
        return UInt64(littleEndian: base.loadUnaligned(as: UInt64.self)) & keep | fill & ~keep
    }

    /// Prometheus' legacy rule: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    @inline(__always)
    static func isValidMetricName(_ bytes: UnsafeRawBufferPointer) -> Bool {
        isName(bytes, colon: true)
    }

    @inline(__always)
    static func isName(_ bytes: UnsafeRawBufferPointer, colon: Bool) -> Bool {
        guard let first = bytes.first, isNameStart(first, colon: colon) else { return false }
        // Eight bytes at a time, the last word overlapping the one before; shorter names byte by byte.
        let count = bytes.count
        if count >= 8 {
            var i = 0
            while i + 8 <= count {
                guard isNameWord(bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self), colon: colon) else { return false }
                i += 8
            }
            return i == count || isNameWord(bytes.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self), colon: colon)
        }
        var i = 1
        while i < count {
            guard isNameCharacter(bytes[i], colon: colon) else { return false }
            i += 1
        }
        return true
    }

    /// Whether all eight bytes of `word` are name characters (`isNameCharacter`), tested at once.
    ///
    /// For bytes below 128, `(127 + n − b)` has its top bit set exactly when b < n, and
    /// `(b + 127 − m)` exactly when b > m; neither carries into the next byte. So each byte's top
    /// bit says whether it lies strictly between m and n (the "hasbetween" bit trick), and the
    /// classes are ORed: letters (with case folded by `| 0x20`), digits, `_`, and `:` when allowed.
    @inline(__always)
    static func isNameWord(_ word: UInt64, colon: Bool) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let high: UInt64 = 0x8080_8080_8080_8080
        guard word & high == 0 else { return false }
        @inline(__always) func between(_ x: UInt64, _ m: UInt64, _ n: UInt64) -> UInt64 {
            (ones &* (127 + n) &- x) & ~x & (x &+ ones &* (127 - m)) & high
        }
        var found = between(word | ones &* 0x20, 0x60, 0x7B)   // a-z, A-Z
        found |= between(word, 0x2F, 0x3A)                        // 0-9
        found |= between(word, 0x5E, 0x60)                        // _
        if colon { found |= between(word, 0x39, 0x3B) }           // :
        return found == high
    }

    /// `isValidLabelValue`, with a value shorter than eight bytes tested as one word when eight bytes
    /// from its start lie before `readableEnd`.
    @inline(__always)
    static func isValidLabelValue(_ bytes: UnsafeRawBufferPointer, readableEnd: UnsafeRawPointer?) -> Bool {
        // The bytes past the value are made `a`: plain ASCII, so only the value's own bytes decide.
        if let word = shortWord(bytes, fill: 0x6161_6161_6161_6161, readableEnd: readableEnd), isPlainASCII(word) {
            return true
        }
        return isValidLabelValue(bytes)
    }

    /// Whether no byte of `word` has its top bit set and none is zero.
    @inline(__always)
    static func isPlainASCII(_ word: UInt64) -> Bool {
        let high: UInt64 = 0x8080_8080_8080_8080
        return word & high == 0 && (word &- 0x0101_0101_0101_0101) & ~word & high == 0
    }

    /// UTF-8 without NUL. ASCII, the common case, is checked without decoding.
    @inline(__always)
    static func isValidLabelValue(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var ascii = true
        var i = 0
        // Eight bytes at a time: no byte with the top bit set, and no zero byte. A value of eight
        // bytes or more ends with one word that overlaps the one before.
        @inline(__always) func plain(_ word: UInt64) -> Bool { isPlainASCII(word) }
        if bytes.count >= 8 {
            while i + 8 <= bytes.count {
                guard plain(bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)) else { break }
                i += 8
            }
            if i + 8 > bytes.count, plain(bytes.loadUnaligned(fromByteOffset: bytes.count - 8, as: UInt64.self)) { return true }
        }
        while i < bytes.count {
            let byte = bytes[i]
            if byte == 0 { return false }
            if byte >= 0x80 { ascii = false }
            i += 1
        }
        if ascii { return true }
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue: continue
            case .emptyInput: return true
            case .error: return false
            }
        }
    }

    /// The byte order of two label names (negative, zero, positive), as UTF-8 sorts them. The
    /// routers use it too, against the tenant and HA labels.
    @inlinable @inline(__always)
    public static func compare(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
        let n = min(a.count, b.count)
        // Label names are short: eight bytes at a time, as big-endian words, beats a call to memcmp.
        var i = 0
        while i &+ 8 <= n {
            let x = UInt64(bigEndian: a.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            let y = UInt64(bigEndian: b.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            if x != y { return x < y ? -1 : 1 }
            i &+= 8
        }
        while i < n {
            if a[i] != b[i] { return Int(a[i]) - Int(b[i]) }
            i &+= 1
        }
        return a.count - b.count
    }

    /// A label for an error message: at most 64 bytes, invalid UTF-8 replaced, quotes escaped.
    static func printable(_ bytes: UnsafeRawBufferPointer) -> String {
        let text = String(decoding: bytes.prefix(64), as: UTF8.self)
        return text.unicodeScalars.map { $0.value < 0x20 || $0 == "\"" ? "?" : String($0) }.joined()
    }
}
