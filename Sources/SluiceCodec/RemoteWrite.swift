// The remote-write 1.0 data model (proto/types.proto, proto/remote.proto) as Swift values.
//
// Floating-point fields compare by bit pattern: the stale marker is a NaN with bits
// 0x7ff0000000000002, and a decode-encode round trip must keep it and every other NaN payload exact.
// Nothing in this module does arithmetic on sample values. The one value the wire format itself
// cannot carry is -0.0: proto3 omits a double equal to zero, in gogoproto (`m.Value != 0`) as in
// libprotobuf-c, so it arrives as +0.0, exactly as Prometheus' own encoder sends it.

/// One label pair.
public struct Label: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }

    /// Orders by name then value, by UTF-8 bytes, as Prometheus sorts label sets.
    public static func < (lhs: Label, rhs: Label) -> Bool {
        if lhs.name != rhs.name { return lhs.name.utf8.lexicographicallyPrecedes(rhs.name.utf8) }
        return lhs.value.utf8.lexicographicallyPrecedes(rhs.value.utf8)
    }

    public var description: String { "\(name)=\"\(value)\"" }
}

/// The stale marker Prometheus writes when a series disappears.
public enum StaleMarker {
    public static let bitPattern: UInt64 = 0x7ff0_0000_0000_0002
    public static let value = Double(bitPattern: bitPattern)

    @inlinable
    public static func isStale(_ value: Double) -> Bool { value.bitPattern == bitPattern }
}

/// A float sample. Equality is bit-exact on the value.
public struct Sample: Hashable, Sendable {
    public var timestamp: Int64
    public var value: Double

    public init(timestamp: Int64, value: Double) {
        self.timestamp = timestamp
        self.value = value
    }

    public static func == (lhs: Sample, rhs: Sample) -> Bool {
        lhs.timestamp == rhs.timestamp && lhs.value.bitPattern == rhs.value.bitPattern
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(timestamp)
        hasher.combine(value.bitPattern)
    }
}

public struct Exemplar: Hashable, Sendable {
    public var labels: [Label]
    public var value: Double
    public var timestamp: Int64

    public init(labels: [Label], value: Double, timestamp: Int64) {
        self.labels = labels
        self.value = value
        self.timestamp = timestamp
    }

    public static func == (lhs: Exemplar, rhs: Exemplar) -> Bool {
        lhs.labels == rhs.labels && lhs.value.bitPattern == rhs.value.bitPattern && lhs.timestamp == rhs.timestamp
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(labels)
        hasher.combine(value.bitPattern)
        hasher.combine(timestamp)
    }
}

public struct BucketSpan: Hashable, Sendable {
    public var offset: Int32
    public var length: UInt32

    public init(offset: Int32, length: UInt32) {
        self.offset = offset
        self.length = length
    }
}

/// A native histogram sample, integer or float.
public struct Histogram: Hashable, Sendable {
    /// An observation count: integer histograms use `.int`, float histograms `.float`.
    public enum Count: Hashable, Sendable {
        case int(UInt64)
        case float(Double)

        public static func == (lhs: Count, rhs: Count) -> Bool {
            switch (lhs, rhs) {
            case (.int(let a), .int(let b)): a == b
            case (.float(let a), .float(let b)): a.bitPattern == b.bitPattern
            default: false
            }
        }

        public func hash(into hasher: inout Hasher) {
            switch self {
            case .int(let v): hasher.combine(0); hasher.combine(v)
            case .float(let v): hasher.combine(1); hasher.combine(v.bitPattern)
            }
        }
    }

    public enum ResetHint: Int32, Hashable, Sendable {
        case unknown = 0, yes = 1, no = 2, gauge = 3
    }

    /// nil when the sender set neither oneof member.
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
    /// Kept as the raw enum number so unknown future hints survive a round trip.
    public var resetHint: Int32
    public var timestamp: Int64
    /// Upper inclusive bucket bounds when `schema` is `Histogram.customBucketsSchema` (-53).
    public var customValues: [Double]

    /// The schema of histograms with custom bucket bounds (NHCB).
    public static let customBucketsSchema: Int32 = -53
    /// A float histogram: its counts are `.float`.
    public var isFloat: Bool { if case .float = count { true } else { false } }

    public init(
        count: Count? = nil, sum: Double = 0, schema: Int32 = 0, zeroThreshold: Double = 0,
        zeroCount: Count? = nil,
        negativeSpans: [BucketSpan] = [], negativeDeltas: [Int64] = [], negativeCounts: [Double] = [],
        positiveSpans: [BucketSpan] = [], positiveDeltas: [Int64] = [], positiveCounts: [Double] = [],
        resetHint: Int32 = 0, timestamp: Int64 = 0, customValues: [Double] = []
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
    }

    public static func == (lhs: Histogram, rhs: Histogram) -> Bool {
        func same(_ a: [Double], _ b: [Double]) -> Bool {
            a.elementsEqual(b) { $0.bitPattern == $1.bitPattern }
        }
        return lhs.count == rhs.count && lhs.sum.bitPattern == rhs.sum.bitPattern && lhs.schema == rhs.schema
            && lhs.zeroThreshold.bitPattern == rhs.zeroThreshold.bitPattern && lhs.zeroCount == rhs.zeroCount
            && lhs.negativeSpans == rhs.negativeSpans && lhs.negativeDeltas == rhs.negativeDeltas
            && same(lhs.negativeCounts, rhs.negativeCounts)
            && lhs.positiveSpans == rhs.positiveSpans && lhs.positiveDeltas == rhs.positiveDeltas
            && same(lhs.positiveCounts, rhs.positiveCounts)
            && lhs.resetHint == rhs.resetHint && lhs.timestamp == rhs.timestamp
            && same(lhs.customValues, rhs.customValues)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(count)
        hasher.combine(sum.bitPattern)
        hasher.combine(schema)
        hasher.combine(timestamp)
    }
}

public struct TimeSeries: Hashable, Sendable {
    public var labels: [Label]
    public var samples: [Sample]
    public var exemplars: [Exemplar]
    public var histograms: [Histogram]

    public init(labels: [Label], samples: [Sample] = [], exemplars: [Exemplar] = [], histograms: [Histogram] = []) {
        self.labels = labels
        self.samples = samples
        self.exemplars = exemplars
        self.histograms = histograms
    }
}

public struct MetricMetadata: Hashable, Sendable {
    /// Prometheus' metric types. Kept open: an unknown number from a newer sender is preserved.
    public typealias MetricType = ProtoEnum<MetricTypes>

    public var type: MetricType
    public var metricFamilyName: String
    public var help: String
    public var unit: String

    public init(type: MetricType, metricFamilyName: String, help: String = "", unit: String = "") {
        self.type = type
        self.metricFamilyName = metricFamilyName
        self.help = help
        self.unit = unit
    }
}

/// A remote-write 1.0 request body, after snappy decompression.
public struct WriteRequest: Hashable, Sendable {
    public var timeseries: [TimeSeries]
    public var metadata: [MetricMetadata]

    public init(timeseries: [TimeSeries] = [], metadata: [MetricMetadata] = []) {
        self.timeseries = timeseries
        self.metadata = metadata
    }

    public var sampleCount: Int { timeseries.reduce(0) { $0 + $1.samples.count } }
    public var histogramCount: Int { timeseries.reduce(0) { $0 + $1.histograms.count } }
    public var exemplarCount: Int { timeseries.reduce(0) { $0 + $1.exemplars.count } }
}

/// The known values of `MetricMetadata.MetricType`.
public enum MetricTypes {}

extension ProtoEnum where Values == MetricTypes {
    public static var unknown: Self { Self(rawValue: 0) }
    public static var counter: Self { Self(rawValue: 1) }
    public static var gauge: Self { Self(rawValue: 2) }
    public static var histogram: Self { Self(rawValue: 3) }
    public static var gaugeHistogram: Self { Self(rawValue: 4) }
    public static var summary: Self { Self(rawValue: 5) }
    public static var info: Self { Self(rawValue: 6) }
    public static var stateset: Self { Self(rawValue: 7) }
}
