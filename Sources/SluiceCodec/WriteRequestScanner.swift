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
        public var labels: ArraySlice<LabelRange>
        public var samples: Int
        public var exemplars: Int
        public var histograms: Int
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
    private var labels: [LabelRange] = []

    public init(limits: Limits = Limits()) {
        self.limits = limits
        labels.reserveCapacity(64)
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
        while let (field, wireType) = try reader.nextKey() {
            switch (field, wireType) {
            case (1, .lengthDelimited):
                let message = try reader.readLengthDelimited()
                summary.series += 1
                if limits.maxSeriesPerRequest > 0, summary.series > limits.maxSeriesPerRequest {
                    throw CodecError(.invalidSeries, "request has more than \(limits.maxSeriesPerRequest) series")
                }
                let series = try scanSeries(body, message)
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

    private func scanSeries(_ body: UnsafeRawBufferPointer, _ message: Range<Int>) throws(CodecError) -> Series {
        // Work on a local array: every access to a class's stored property is a dynamic
        // exclusivity check, which cost more than the parsing itself.
        var labels: [LabelRange] = []
        swap(&labels, &self.labels)
        defer { swap(&labels, &self.labels) }
        labels.removeAll(keepingCapacity: true)
        var samples = 0
        var exemplars = 0
        var histograms = 0
        var reader = ProtobufReader(body, message)
        var fieldStart = reader.offset
        while let (field, wireType) = try reader.nextKey() {
            defer { fieldStart = reader.offset }
            switch (field, wireType) {
            case (1, .lengthDelimited):
                let labelMessage = try reader.readLengthDelimited()
                var label = try scanLabel(body, labelMessage)
                label.field = fieldStart..<labelMessage.upperBound
                labels.append(label)
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
        try validateLabels(body, labels)
        return Series(message: message, labels: labels[...], samples: samples, exemplars: exemplars, histograms: histograms)
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

    private func scanLabel(_ body: UnsafeRawBufferPointer, _ message: Range<Int>) throws(CodecError) -> LabelRange {
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

    private func validateLabels(_ body: UnsafeRawBufferPointer, _ labels: [LabelRange]) throws(CodecError) {
        let limits = self.limits
        guard labels.count <= limits.maxLabelNamesPerSeries else {
            throw CodecError(.invalidSeries, "series has \(labels.count) labels, more than the limit of \(limits.maxLabelNamesPerSeries)")
        }
        var previous: Range<Int>? = nil
        var hasName = false
        for label in labels {
            let name = UnsafeRawBufferPointer(rebasing: body[label.name])
            let value = UnsafeRawBufferPointer(rebasing: body[label.value])
            try Self.checkLabel(name: name, value: value, limits: limits, utf8Names: false)
            if let previous {
                let order = Self.compare(UnsafeRawBufferPointer(rebasing: body[previous]), name)
                if order == 0 { throw CodecError(.invalidSeries, "duplicate label name \(Self.printable(name))") }
                if order > 0 { throw CodecError(.invalidSeries, "labels are not sorted by name at \(Self.printable(name))") }
            }
            if name.elementsEqual(Self.metricNameLabel) {
                guard Self.isValidMetricName(value) else {
                    throw CodecError(.invalidSeries, "invalid metric name \"\(Self.printable(value))\"")
                }
                hasName = true
            }
            previous = label.name
        }
        guard hasName else { throw CodecError(.invalidSeries, "series has no __name__ label") }
    }

    /// The checks every label gets in both versions: a name and a value, non-empty, within the
    /// limits, the value UTF-8 without NUL. Names follow 1.0's `[a-zA-Z_][a-zA-Z0-9_]*`, or with
    /// `utf8Names` (2.0) any UTF-8 without NUL: libprotobuf-c's C strings would cut at a NUL.
    @inline(__always)
    static func checkLabel(
        name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, limits: Limits, utf8Names: Bool
    ) throws(CodecError) {
        guard !name.isEmpty else { throw CodecError(.invalidSeries, "series has a label with an empty name") }
        guard name.count <= limits.maxLabelNameLength else {
            throw CodecError(.invalidSeries, "label name longer than \(limits.maxLabelNameLength) bytes")
        }
        guard utf8Names ? isValidLabelValue(name) : isValidLabelName(name) else {
            throw CodecError(.invalidSeries, "invalid label name \"\(printable(name))\"")
        }
        guard !value.isEmpty else {
            throw CodecError(.invalidSeries, "label \(printable(name)) has an empty value")
        }
        guard value.count <= limits.maxLabelValueLength else {
            throw CodecError(.invalidSeries, "value of label \(printable(name)) longer than \(limits.maxLabelValueLength) bytes")
        }
        guard isValidLabelValue(value) else {
            throw CodecError(.invalidSeries, "value of label \(printable(name)) is not valid UTF-8 or holds a NUL byte")
        }
    }

    static let metricNameLabel: [UInt8] = Array("__name__".utf8)

    /// Bit b of the mask is set when ASCII byte b is allowed; bytes >= 128 never are.
    @usableFromInline
    struct ASCIISet: Sendable {
        let low: UInt64
        let high: UInt64

        init(_ characters: String) {
            var low: UInt64 = 0
            var high: UInt64 = 0
            for byte in characters.utf8 {
                if byte < 64 { low |= 1 << UInt64(byte) } else { high |= 1 << UInt64(byte - 64) }
            }
            self.low = low
            self.high = high
        }

        @inline(__always)
        func contains(_ byte: UInt8) -> Bool {
            byte < 64 ? (low >> UInt64(byte)) & 1 != 0 : byte < 128 && (high >> UInt64(byte &- 64)) & 1 != 0
        }
    }

    static let letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"
    static let labelNameStart = ASCIISet(letters)
    static let labelNameRest = ASCIISet(letters + "0123456789")
    static let metricNameStart = ASCIISet(letters + ":")
    static let metricNameRest = ASCIISet(letters + "0123456789:")

    /// Prometheus' legacy rule: `[a-zA-Z_][a-zA-Z0-9_]*`.
    @inline(__always)
    static func isValidLabelName(_ bytes: UnsafeRawBufferPointer) -> Bool {
        matches(bytes, start: labelNameStart, rest: labelNameRest)
    }

    /// Prometheus' legacy rule: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    static func isValidMetricName(_ bytes: UnsafeRawBufferPointer) -> Bool {
        matches(bytes, start: metricNameStart, rest: metricNameRest)
    }

    @inline(__always)
    static func matches(_ bytes: UnsafeRawBufferPointer, start: ASCIISet, rest: ASCIISet) -> Bool {
        guard let first = bytes.first, start.contains(first) else { return false }
        var i = 1
        while i < bytes.count {
            guard rest.contains(bytes[i]) else { return false }
            i += 1
        }
        return true
    }

    /// UTF-8 without NUL. ASCII, the common case, is checked without decoding.
    @inline(__always)
    static func isValidLabelValue(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var ascii = true
        var i = 0
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

    @inline(__always)
    static func compare(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
        let n = min(a.count, b.count)
        if n > 0 {
            let c = memcmp(a.baseAddress!, b.baseAddress!, n)
            if c != 0 { return Int(c) }
        }
        return a.count - b.count
    }

    /// A label for an error message: at most 64 bytes, invalid UTF-8 replaced, quotes escaped.
    static func printable(_ bytes: UnsafeRawBufferPointer) -> String {
        let text = String(decoding: bytes.prefix(64), as: UTF8.self)
        return text.unicodeScalars.map { $0.value < 0x20 || $0 == "\"" ? "?" : String($0) }.joined()
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A cursor over protobuf wire format that trusts no length prefix.
struct ProtobufReader {
    enum WireType: UInt8 {
        case varint = 0, fixed64 = 1, lengthDelimited = 2, startGroup = 3, endGroup = 4, fixed32 = 5
    }

    let bytes: UnsafeRawBufferPointer
    var offset: Int
    let end: Int

    init(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>? = nil) {
        self.bytes = bytes
        self.offset = range?.lowerBound ?? 0
        self.end = range?.upperBound ?? bytes.count
    }

    /// The next field number and wire type, or nil at the end of the message.
    @inline(__always)
    mutating func nextKey() throws(CodecError) -> (UInt64, WireType)? {
        guard offset < end else { return nil }
        let start = offset
        let key = try readVarint()
        // Field numbers run from 1 to 2^29 - 1, and libprotobuf-c reads a key in at most 5 bytes
        // (a padded, longer encoding of a small key included): it rejects anything else.
        guard let wireType = WireType(rawValue: UInt8(key & 7)), key >> 3 != 0, key >> 3 <= 0x1FFF_FFFF, offset - start <= 5 else {
            throw CodecError(.protobufInvalid, "invalid field key \(key)")
        }
        return (key >> 3, wireType)
    }

    @inline(__always)
    mutating func readVarint() throws(CodecError) -> UInt64 {
        // Fast path: one byte.
        if offset < end, bytes[offset] < 0x80 {
            defer { offset += 1 }
            return UInt64(bytes[offset])
        }
        let window = UnsafeRawBufferPointer(rebasing: bytes[..<end])
        guard let value = try Varint.read(window, at: &offset) else {
            throw CodecError(.protobufInvalid, "message ends inside a varint")
        }
        return value
    }

    @inline(__always)
    mutating func readLengthDelimited() throws(CodecError) -> Range<Int> {
        let prefixStart = offset
        let length = try readVarint()
        // libprotobuf-c reads a length prefix in at most 5 bytes, as it does a key.
        guard offset - prefixStart <= 5 else { throw CodecError(.protobufInvalid, "length prefix longer than 5 bytes") }
        guard length <= UInt64(end - offset) else {
            throw CodecError(.protobufInvalid, "length \(length) runs past the end of the message")
        }
        let start = offset
        offset += Int(length)
        return start..<offset
    }

    mutating func skip(_ wireType: WireType) throws(CodecError) {
        switch wireType {
        case .varint: _ = try readVarint()
        case .fixed64: try advance(8)
        case .fixed32: try advance(4)
        case .lengthDelimited: _ = try readLengthDelimited()
        case .startGroup, .endGroup: throw CodecError(.protobufInvalid, "groups are not allowed in proto3")
        }
    }

    @inline(__always)
    mutating func advance(_ n: Int) throws(CodecError) {
        guard end - offset >= n else { throw CodecError(.protobufInvalid, "message ends inside a fixed-width field") }
        offset += n
    }

    /// A `Sample`: value (double, field 1) and timestamp (int64, field 2), checked as libprotobuf-c would.
    static func validateSample(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) throws(CodecError) {
        var reader = ProtobufReader(bytes, range)
        while let (field, wireType) = try reader.nextKey() {
            switch (field, wireType) {
            case (1, .fixed64), (2, .varint): try reader.skip(wireType)
            case (1...2, _): throw CodecError(.protobufInvalid, "Sample field \(field) has the wrong wire type")
            default: try reader.skip(wireType)
            }
        }
    }

    /// Checks that `range` parses as a message one level deep: every key valid, every length inside.
    static func validateMessage(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) throws(CodecError) {
        var reader = ProtobufReader(bytes, range)
        while let (_, wireType) = try reader.nextKey() {
            try reader.skip(wireType)
        }
    }
}
