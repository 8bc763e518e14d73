/// A protobuf enum kept open: any number a newer sender uses survives decoding and re-encoding, and
/// reaches validation instead of being read as a known value.
///
/// `Values` is a caseless enum that names the set, in the manner of `ErrorCode`'s domains; the
/// known numbers are static properties of `extension ProtoEnum where Values == ThatSet`:
///
///     public typealias Encoding = ProtoEnum<ChunkEncodings>
///     public enum ChunkEncodings {}
///     extension ProtoEnum where Values == ChunkEncodings {
///         public static var xor: Self { Self(rawValue: 1) }
///     }
public struct ProtoEnum<Values>: RawRepresentable, Hashable, Sendable {
    public var rawValue: Int32

    public init(rawValue: Int32) { self.rawValue = rawValue }
}
