import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import SluiceCodec

// Remote write 2.0 (`io.prometheus.write.v2.Request`, proto/io/prometheus/write/v2/types.proto)
// encoded by hand for tests. Every field is explicit, the symbol table and the references into it
// included, so a test can write what no well-behaved sender would: references out of range, an odd
// `labels_refs`, a first symbol that is not empty, labels out of order, samples and histograms in one
// series, the pre-rc.4 `created_timestamp` (TimeSeries field 6) beside the rc.4 `start_timestamp`.

/// The remote-write 2.0 message, built and sent by tests.
public enum RemoteWriteV2 {
    /// What a 2.0 sender sends as `Content-Type`.
    public static let contentType = "application/x-protobuf;proto=io.prometheus.write.v2.Request"
    /// What a 1.0 sender may send as `Content-Type` to name its message.
    public static let v1ContentType = "application/x-protobuf;proto=prometheus.WriteRequest"

    public struct BucketSpan: Hashable, Sendable {
        public var offset: Int32
        public var length: UInt32

        public init(offset: Int32, length: UInt32) {
            self.offset = offset
            self.length = length
        }
    }

    public struct Sample: Hashable, Sendable {
        public var value: Double
        public var timestamp: Int64
        /// Sample field 3 (2.0-rc.4); zero leaves it out.
        public var startTimestamp: Int64

        public init(value: Double, timestamp: Int64, startTimestamp: Int64 = 0) {
            self.value = value
            self.timestamp = timestamp
            self.startTimestamp = startTimestamp
        }
    }

    /// A native histogram with every field of the wire message. `count` and `zeroCount` are oneofs:
    /// nil leaves the field out, a value (zero included) writes it.
    public struct Histogram: Hashable, Sendable {
        public enum Count: Hashable, Sendable {
            case int(UInt64)
            case float(Double)
        }

        public var count: Count?
        public var sum: Double
        public var schema: Int32
        public var zeroThreshold: Double
        public var zeroCount: Count?
        public var negativeSpans: [BucketSpan]
        public var negativeDeltas: [Int64]
        public var negativeCounts: [Double]
        public var positiveSpans: [BucketSpan]
        public var positiveDeltas: [Int64]
        public var positiveCounts: [Double]
        public var resetHint: Int32
        public var timestamp: Int64
        public var customValues: [Double]
        /// Histogram field 17 (2.0-rc.4); zero leaves it out.
        public var startTimestamp: Int64

        public init(
            count: Count? = nil, sum: Double = 0, schema: Int32 = 0, zeroThreshold: Double = 0, zeroCount: Count? = nil,
            negativeSpans: [BucketSpan] = [], negativeDeltas: [Int64] = [], negativeCounts: [Double] = [],
            positiveSpans: [BucketSpan] = [], positiveDeltas: [Int64] = [], positiveCounts: [Double] = [],
            resetHint: Int32 = 0, timestamp: Int64 = 0, customValues: [Double] = [], startTimestamp: Int64 = 0
        ) {
            self.count = count
            self.sum = sum
            self.schema = schema
            self.zeroThreshold = zeroThreshold
            self.zeroCount = zeroCount
            self.negativeSpans = negativeSpans
            self.negativeDeltas = negativeDeltas
            self.negativeCounts = negativeCounts
            self.positiveSpans = positiveSpans
            self.positiveDeltas = positiveDeltas
            self.positiveCounts = positiveCounts
            self.resetHint = resetHint
            self.timestamp = timestamp
            self.customValues = customValues
            self.startTimestamp = startTimestamp
        }

        /// The compliance suite's `Histogram(sum, includePositive, includeNegative, includeZero,
        /// useCustomBuckets, badCount)` fixture (prometheus/compliance remotewrite/receiver), integer
        /// counts: positive buckets 1, 3, 4, 7, 8 over two spans (23), negative 1, 2 (3), a zero
        /// bucket of 1; or six custom buckets 2, 3, 5, 8, 7, 5 (30). `badCount` makes the count 99.
        public static func compliance(
            sum: Double, positive: Bool, negative: Bool, zero: Bool, customBuckets: Bool = false, badCount: Bool = false,
            timestamp: Int64 = 0
        ) -> Histogram {
            var histogram = Histogram(sum: sum, timestamp: timestamp)
            var count: UInt64 = 0
            if positive {
                histogram.positiveSpans = [BucketSpan(offset: 0, length: 3), BucketSpan(offset: 2, length: 2)]
                histogram.positiveDeltas = [1, 2, 1, 3, 1]
                count += 23
            }
            if negative {
                histogram.negativeSpans = [BucketSpan(offset: 0, length: 2)]
                histogram.negativeDeltas = [1, 1]
                count += 3
            }
            if zero {
                histogram.zeroCount = .int(1)
                count += 1
            }
            if customBuckets {
                histogram.schema = SluiceCodec.Histogram.customBucketsSchema
                histogram.customValues = [0.1, 0.5, 1.0, 2.5, 5.0, 10.0]
                histogram.positiveSpans = [BucketSpan(offset: 0, length: 6)]
                histogram.positiveDeltas = [2, 1, 2, 3, -1, -2]
                count = 30
            }
            histogram.count = .int(badCount ? 99 : count)
            return histogram
        }

        /// The histogram as the 1.0 model holds it (what remote read answers), without the start
        /// timestamp, which that model has no field for.
        public var model: SluiceCodec.Histogram {
            func convert(_ count: Count?) -> SluiceCodec.Histogram.Count? {
                switch count {
                case .int(let value): .int(value)
                case .float(let value): .float(value)
                case nil: nil
                }
            }
            return SluiceCodec.Histogram(
                count: convert(count), sum: sum, schema: schema, zeroThreshold: zeroThreshold, zeroCount: convert(zeroCount),
                negativeSpans: negativeSpans.map { .init(offset: $0.offset, length: $0.length) },
                negativeDeltas: negativeDeltas, negativeCounts: negativeCounts,
                positiveSpans: positiveSpans.map { .init(offset: $0.offset, length: $0.length) },
                positiveDeltas: positiveDeltas, positiveCounts: positiveCounts,
                resetHint: resetHint, timestamp: timestamp, customValues: customValues
            )
        }
    }

    public struct Exemplar: Hashable, Sendable {
        public var labelsRefs: [UInt32]
        public var value: Double
        public var timestamp: Int64

        public init(labelsRefs: [UInt32] = [], value: Double, timestamp: Int64) {
            self.labelsRefs = labelsRefs
            self.value = value
            self.timestamp = timestamp
        }
    }

    public struct Metadata: Hashable, Sendable {
        /// `Metadata.MetricType`: 0 unspecified, 1 counter, 2 gauge, 3 histogram, 4 gauge
        /// histogram, 5 summary, 6 info, 7 stateset.
        public var type: Int32
        public var helpRef: UInt32
        public var unitRef: UInt32

        public init(type: Int32, helpRef: UInt32 = 0, unitRef: UInt32 = 0) {
            self.type = type
            self.helpRef = helpRef
            self.unitRef = unitRef
        }
    }

    public struct Series: Hashable, Sendable {
        public var labelsRefs: [UInt32]
        public var samples: [Sample]
        public var histograms: [Histogram]
        public var exemplars: [Exemplar]
        /// nil leaves the field out.
        public var metadata: Metadata?
        /// TimeSeries field 6, the created timestamp of the drafts before rc.4; zero leaves it out.
        public var createdTimestamp: Int64

        public init(
            labelsRefs: [UInt32], samples: [Sample] = [], histograms: [Histogram] = [], exemplars: [Exemplar] = [],
            metadata: Metadata? = nil, createdTimestamp: Int64 = 0
        ) {
            self.labelsRefs = labelsRefs
            self.samples = samples
            self.histograms = histograms
            self.exemplars = exemplars
            self.metadata = metadata
            self.createdTimestamp = createdTimestamp
        }
    }

    /// A whole request. `symbols` is written as is: keep `""` first for a valid one.
    public struct Request: Hashable, Sendable {
        public var symbols: [String]
        public var timeseries: [Series]

        public init(symbols: [String] = [""], timeseries: [Series] = []) {
            self.symbols = symbols
            self.timeseries = timeseries
        }

        /// The index of `symbol`, added at the end if it is not there yet.
        public mutating func ref(_ symbol: String) -> UInt32 {
            if let index = symbols.firstIndex(of: symbol) { return UInt32(index) }
            symbols.append(symbol)
            return UInt32(symbols.count - 1)
        }

        /// Name and value references for `labels`, in the order given: sort them first for a
        /// valid series, or don't, for one whose labels are out of order.
        public mutating func refs(_ labels: [(String, String)]) -> [UInt32] {
            labels.flatMap { [ref($0.0), ref($0.1)] }
        }

        /// Appends a series with `labels` and its exemplars' labels (each sorted by name unless
        /// `sorted` is false) and returns its index, for tests that add to it afterwards.
        @discardableResult
        public mutating func add(
            _ labels: [(String, String)], sorted: Bool = true, samples: [Sample] = [], histograms: [Histogram] = [],
            exemplars: [(labels: [(String, String)], value: Double, timestamp: Int64)] = [],
            metadata: (type: Int32, help: String, unit: String)? = nil, createdTimestamp: Int64 = 0
        ) -> Int {
            let ordered = sorted ? labels.sorted { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) } : labels
            let labelsRefs = refs(ordered)
            let encodedExemplars = exemplars.map { exemplar in
                let exemplarLabels = sorted ? exemplar.labels.sorted { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) } : exemplar.labels
                return Exemplar(labelsRefs: refs(exemplarLabels), value: exemplar.value, timestamp: exemplar.timestamp)
            }
            let encodedMetadata = metadata.map { Metadata(type: $0.type, helpRef: ref($0.help), unitRef: ref($0.unit)) }
            timeseries.append(
                Series(
                    labelsRefs: labelsRefs, samples: samples, histograms: histograms, exemplars: encodedExemplars,
                    metadata: encodedMetadata, createdTimestamp: createdTimestamp
                )
            )
            return timeseries.count - 1
        }

        /// The protobuf bytes, before compression.
        public func encoded() -> [UInt8] {
            var out = Writer()
            for symbol in symbols { out.bytes(4, Array(symbol.utf8), always: true) }
            for series in timeseries { out.message(5, Self.encode(series)) }
            return out.bytes
        }

        static func encode(_ series: Series) -> [UInt8] {
            var out = Writer()
            out.packedVarints(1, series.labelsRefs.map { UInt64($0) })
            for sample in series.samples {
                var message = Writer()
                message.double(1, sample.value)
                message.varint(2, UInt64(bitPattern: sample.timestamp))
                message.varint(3, UInt64(bitPattern: sample.startTimestamp))
                out.message(2, message.bytes)
            }
            for histogram in series.histograms { out.message(3, encode(histogram)) }
            for exemplar in series.exemplars {
                var message = Writer()
                message.packedVarints(1, exemplar.labelsRefs.map { UInt64($0) })
                message.double(2, exemplar.value)
                message.varint(3, UInt64(bitPattern: exemplar.timestamp))
                out.message(4, message.bytes)
            }
            if let metadata = series.metadata {
                var message = Writer()
                message.varint(1, UInt64(bitPattern: Int64(metadata.type)))
                message.varint(3, UInt64(metadata.helpRef))
                message.varint(4, UInt64(metadata.unitRef))
                out.message(5, message.bytes, always: true)
            }
            out.varint(6, UInt64(bitPattern: series.createdTimestamp))
            return out.bytes
        }

        static func encode(_ histogram: Histogram) -> [UInt8] {
            var out = Writer()
            switch histogram.count {
            case .int(let value): out.varint(1, value, always: true)
            case .float(let value): out.double(2, value, always: true)
            case nil: break
            }
            out.double(3, histogram.sum)
            out.varint(4, zigzag(Int64(histogram.schema)))
            out.double(5, histogram.zeroThreshold)
            switch histogram.zeroCount {
            case .int(let value): out.varint(6, value, always: true)
            case .float(let value): out.double(7, value, always: true)
            case nil: break
            }
            for span in histogram.negativeSpans { out.message(8, encode(span), always: true) }
            out.packedVarints(9, histogram.negativeDeltas.map(zigzag))
            out.packedDoubles(10, histogram.negativeCounts)
            for span in histogram.positiveSpans { out.message(11, encode(span), always: true) }
            out.packedVarints(12, histogram.positiveDeltas.map(zigzag))
            out.packedDoubles(13, histogram.positiveCounts)
            out.varint(14, UInt64(bitPattern: Int64(histogram.resetHint)))
            out.varint(15, UInt64(bitPattern: histogram.timestamp))
            out.packedDoubles(16, histogram.customValues)
            out.varint(17, UInt64(bitPattern: histogram.startTimestamp))
            return out.bytes
        }

        static func encode(_ span: BucketSpan) -> [UInt8] {
            var out = Writer()
            out.varint(1, zigzag(Int64(span.offset)))
            out.varint(2, UInt64(span.length))
            return out.bytes
        }

        static func zigzag(_ value: Int64) -> UInt64 {
            UInt64(bitPattern: (value << 1) ^ (value >> 63))
        }
    }

    /// Protobuf wire encoding, proto3 style: scalars equal to zero are left out unless `always`.
    struct Writer {
        var bytes: [UInt8] = []

        mutating func key(_ field: Int, _ wireType: UInt64) {
            rawVarint(UInt64(field) << 3 | wireType)
        }

        mutating func rawVarint(_ value: UInt64) {
            var value = value
            while value >= 0x80 {
                bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
                value >>= 7
            }
            bytes.append(UInt8(value))
        }

        mutating func rawDouble(_ value: Double) {
            withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
        }

        mutating func varint(_ field: Int, _ value: UInt64, always: Bool = false) {
            guard value != 0 || always else { return }
            key(field, 0)
            rawVarint(value)
        }

        /// Zero is left out by bit pattern, so -0.0 and every NaN are written.
        mutating func double(_ field: Int, _ value: Double, always: Bool = false) {
            guard value.bitPattern != 0 || always else { return }
            key(field, 1)
            rawDouble(value)
        }

        mutating func bytes(_ field: Int, _ value: [UInt8], always: Bool = false) {
            guard !value.isEmpty || always else { return }
            key(field, 2)
            rawVarint(UInt64(value.count))
            bytes.append(contentsOf: value)
        }

        mutating func message(_ field: Int, _ value: [UInt8], always: Bool = true) {
            bytes(field, value, always: always)
        }

        mutating func packedVarints(_ field: Int, _ values: [UInt64]) {
            guard !values.isEmpty else { return }
            var inner = Writer()
            for value in values { inner.rawVarint(value) }
            bytes(field, inner.bytes)
        }

        mutating func packedDoubles(_ field: Int, _ values: [Double]) {
            guard !values.isEmpty else { return }
            var inner = Writer()
            for value in values { inner.rawDouble(value) }
            bytes(field, inner.bytes)
        }
    }

    /// What a receiver answered to one write.
    public struct Answer: Sendable, CustomStringConvertible {
        public var status: Int
        public var body: String
        public var headers: HTTPHeaders
        /// The `X-Prometheus-Remote-Write-*-Written` headers, nil when absent or not a number.
        public var samplesWritten: Int?
        public var histogramsWritten: Int?
        public var exemplarsWritten: Int?

        /// Whether all three written-count headers are present.
        public var hasWrittenHeaders: Bool { samplesWritten != nil && histogramsWritten != nil && exemplarsWritten != nil }

        public var description: String {
            "\(status) samples=\(samplesWritten.map(String.init) ?? "-") histograms=\(histogramsWritten.map(String.init) ?? "-") "
                + "exemplars=\(exemplarsWritten.map(String.init) ?? "-") body=\(body.prefix(300))"
        }
    }

    /// The headers a 2.0 sender sends (Prometheus 3 with `protobuf_message: io.prometheus.write.v2.Request`).
    public static func headers(contentType: String? = contentType, contentEncoding: String? = "snappy", version: String? = "2.0.0") -> [(String, String)] {
        var headers: [(String, String)] = []
        if let contentType { headers.append(("Content-Type", contentType)) }
        if let contentEncoding { headers.append(("Content-Encoding", contentEncoding)) }
        if let version { headers.append(("X-Prometheus-Remote-Write-Version", version)) }
        headers.append(("User-Agent", "sluice-tests/rw2"))
        return headers
    }

    /// POSTs `body` (uncompressed protobuf, snappy-compressed here unless `compress` is false) to
    /// `url` with `headers`, and returns the status, the body and the written counts.
    public static func post(
        _ body: [UInt8], to url: String, headers: [(String, String)] = headers(), compress: Bool = true
    ) async throws -> Answer {
        let sent = compress ? Snappy.compress(body) : body
        let result = try await TestHTTP.send(.POST, url, headers: headers, body: .bytes(ByteBuffer(bytes: sent)))
        func count(_ kind: String) -> Int? {
            result.headers.first(name: "X-Prometheus-Remote-Write-\(kind)-Written").flatMap { Int($0) }
        }
        return Answer(
            status: result.status, body: result.body, headers: result.headers,
            samplesWritten: count("Samples"), histogramsWritten: count("Histograms"), exemplarsWritten: count("Exemplars")
        )
    }

    /// Sends `request` as a 2.0 sender would.
    public static func post(_ request: Request, to url: String, headers: [(String, String)] = headers()) async throws -> Answer {
        try await post(request.encoded(), to: url, headers: headers)
    }
}
