/// Why some bytes could not be decoded.
///
/// Codecs throw this typed error for every malformed or over-limit input, so callers at the edge can
/// map it to one status code (400 or 413) without inspecting messages. The message is short and safe to
/// send back to a client: it names the problem, never echoes the input.
public struct CodecError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case snappyCorrupt
            case sizeLimitExceeded
            case protobufInvalid
            case truncated
            case checksumMismatch
            case chunkCorrupt
            case invalidSeries
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The snappy block is malformed.
        public static let snappyCorrupt = Code(.snappyCorrupt)
        /// A declared or decoded size passes the caller's limit. Maps to 413 at the edge.
        public static let sizeLimitExceeded = Code(.sizeLimitExceeded)
        /// The protobuf message is malformed or violates the schema.
        public static let protobufInvalid = Code(.protobufInvalid)
        /// The input ends in the middle of a value or frame.
        public static let truncated = Code(.truncated)
        /// A frame's CRC32-Castagnoli does not match its payload.
        public static let checksumMismatch = Code(.checksumMismatch)
        /// A TSDB chunk is malformed.
        public static let chunkCorrupt = Code(.chunkCorrupt)
        /// A series breaks the remote-write rules or a per-series limit: bad, unsorted or duplicate
        /// labels, a missing metric name. Maps to 400 at the edge.
        public static let invalidSeries = Code(.invalidSeries)

        public var description: String { base.rawValue }
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
