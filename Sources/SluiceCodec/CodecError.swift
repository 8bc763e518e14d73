/// Why some bytes could not be decoded.
///
/// Codecs throw this typed error for every malformed or over-limit input, so callers at the edge can
/// map it to one status code (400 or 413) without inspecting messages. The message is short and safe to
/// send back to a client: it names the problem, never echoes the input.
public typealias CodecError = CodedError<CodecErrorDomain>

/// The codes of `CodecError`.
public enum CodecErrorDomain {}

extension ErrorCode where Domain == CodecErrorDomain {
    /// The snappy block is malformed.
    public static var snappyCorrupt: Self { Self("snappyCorrupt") }
    /// A declared or decoded size passes the caller's limit. Maps to 413 at the edge.
    public static var sizeLimitExceeded: Self { Self("sizeLimitExceeded") }
    /// The protobuf message is malformed or violates the schema.
    public static var protobufInvalid: Self { Self("protobufInvalid") }
    /// The input ends in the middle of a value or frame.
    public static var truncated: Self { Self("truncated") }
    /// A frame's CRC32-Castagnoli does not match its payload.
    public static var checksumMismatch: Self { Self("checksumMismatch") }
    /// A TSDB chunk is malformed.
    public static var chunkCorrupt: Self { Self("chunkCorrupt") }
    /// A series breaks the remote-write rules or a per-series limit: bad, unsorted or duplicate
    /// labels, a missing metric name. Maps to 400 at the edge.
    public static var invalidSeries: Self { Self("invalidSeries") }
}
