#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// The remote-read data model (proto/remote.proto) as Swift values.

public struct LabelMatcher: Hashable, Sendable, CustomStringConvertible {
    /// Kept open so an unknown matcher type from a newer client reaches validation instead of being
    /// silently read as `=`.
    public typealias Kind = ProtoEnum<LabelMatcherKinds>

    public var kind: Kind
    public var name: String
    public var value: String

    public init(_ kind: Kind, name: String, value: String) {
        self.kind = kind
        self.name = name
        self.value = value
    }

    public var description: String {
        let op = switch kind {
        case .equal: "="
        case .notEqual: "!="
        case .regex: "=~"
        case .notRegex: "!~"
        default: "?\(kind.rawValue)?"
        }
        return "\(name)\(op)\"\(value)\""
    }
}

public struct ReadHints: Hashable, Sendable {
    public var stepMs: Int64
    public var function: String
    public var startMs: Int64
    public var endMs: Int64
    public var grouping: [String]
    public var by: Bool
    public var rangeMs: Int64

    public init(
        stepMs: Int64 = 0, function: String = "", startMs: Int64 = 0, endMs: Int64 = 0,
        grouping: [String] = [], by: Bool = false, rangeMs: Int64 = 0
    ) {
        self.stepMs = stepMs
        self.function = function
        self.startMs = startMs
        self.endMs = endMs
        self.grouping = grouping
        self.by = by
        self.rangeMs = rangeMs
    }
}

public struct Query: Hashable, Sendable {
    public var startMs: Int64
    public var endMs: Int64
    public var matchers: [LabelMatcher]
    public var hints: ReadHints?

    public init(startMs: Int64, endMs: Int64, matchers: [LabelMatcher], hints: ReadHints? = nil) {
        self.startMs = startMs
        self.endMs = endMs
        self.matchers = matchers
        self.hints = hints
    }
}

public struct ReadRequest: Hashable, Sendable {
    public typealias ResponseType = ProtoEnum<ReadResponseTypes>

    public var queries: [Query]
    /// In the client's order of preference. Empty means SAMPLES.
    public var acceptedResponseTypes: [ResponseType]

    public init(queries: [Query], acceptedResponseTypes: [ResponseType] = []) {
        self.queries = queries
        self.acceptedResponseTypes = acceptedResponseTypes
    }

    /// The first response type the client accepts that the server supports, per the protocol.
    /// Returns nil when the client listed types and none is supported.
    public func negotiate(supported: [ResponseType] = [.samples, .streamedXORChunks]) -> ResponseType? {
        if acceptedResponseTypes.isEmpty { return .samples }
        return acceptedResponseTypes.first { supported.contains($0) }
    }
}

public struct QueryResult: Hashable, Sendable {
    public var timeseries: [TimeSeries]
    public init(timeseries: [TimeSeries]) { self.timeseries = timeseries }
}

/// The SAMPLES response: one result per query, in request order.
public struct ReadResponse: Hashable, Sendable {
    public var results: [QueryResult]
    public init(results: [QueryResult]) { self.results = results }
}

/// A TSDB chunk as remote read carries it. The time range is inclusive.
public struct Chunk: Hashable, Sendable {
    public typealias Encoding = ProtoEnum<ChunkEncodings>

    public var minTimeMs: Int64
    public var maxTimeMs: Int64
    public var encoding: Encoding
    public var data: [UInt8]

    public init(minTimeMs: Int64, maxTimeMs: Int64, encoding: Encoding, data: [UInt8]) {
        self.minTimeMs = minTimeMs
        self.maxTimeMs = maxTimeMs
        self.encoding = encoding
        self.data = data
    }

    /// Hashes the time range and size only; equality compares the bytes. The synthesized hash fed
    /// `Hasher` a byte at a time, which made deduplicating a replica merge cost more than the merge.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(minTimeMs)
        hasher.combine(maxTimeMs)
        hasher.combine(encoding)
        hasher.combine(data.count)
    }

    public static func == (lhs: Chunk, rhs: Chunk) -> Bool {
        guard lhs.minTimeMs == rhs.minTimeMs, lhs.maxTimeMs == rhs.maxTimeMs, lhs.encoding == rhs.encoding,
              lhs.data.count == rhs.data.count else { return false }
        return lhs.data.withUnsafeBytes { a in
            rhs.data.withUnsafeBytes { b in a.isEmpty || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0 }
        }
    }
}

public struct ChunkedSeries: Hashable, Sendable {
    public var labels: [Label]
    public var chunks: [Chunk]

    public init(labels: [Label], chunks: [Chunk]) {
        self.labels = labels
        self.chunks = chunks
    }
}

/// One frame of the STREAMED_XOR_CHUNKS response.
public struct ChunkedReadResponse: Hashable, Sendable {
    public var chunkedSeries: [ChunkedSeries]
    public var queryIndex: Int64

    public init(chunkedSeries: [ChunkedSeries], queryIndex: Int64) {
        self.chunkedSeries = chunkedSeries
        self.queryIndex = queryIndex
    }
}

/// The known values of `LabelMatcher.Kind`.
public enum LabelMatcherKinds {}

extension ProtoEnum where Values == LabelMatcherKinds {
    public static var equal: Self { Self(rawValue: 0) }
    public static var notEqual: Self { Self(rawValue: 1) }
    public static var regex: Self { Self(rawValue: 2) }
    public static var notRegex: Self { Self(rawValue: 3) }
}

/// The known values of `ReadRequest.ResponseType`.
public enum ReadResponseTypes {}

extension ProtoEnum where Values == ReadResponseTypes {
    public static var samples: Self { Self(rawValue: 0) }
    public static var streamedXORChunks: Self { Self(rawValue: 1) }
}

/// The known values of `Chunk.Encoding`.
public enum ChunkEncodings {}

extension ProtoEnum where Values == ChunkEncodings {
    public static var unknown: Self { Self(rawValue: 0) }
    public static var xor: Self { Self(rawValue: 1) }
    public static var histogram: Self { Self(rawValue: 2) }
    public static var floatHistogram: Self { Self(rawValue: 3) }
}
