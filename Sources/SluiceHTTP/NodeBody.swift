import NIOCore
import SluiceCodec

/// What insert sends one storage node for one request: a remote-write body, or, for a node in this
/// process (`InProcessNodes`), the series insert already scanned.
///
/// Over HTTP and into the hint queues a body always goes snappy-compressed (`snappy`). A node in
/// this process takes the other two forms as they are: a hop inside one process need not compress
/// only to decompress, nor scan again what insert has validated.
public enum NodeBody: Sendable {
    /// A snappy-compressed remote-write body.
    case snappy(ByteBuffer)
    /// The protobuf bytes of a remote-write body, not compressed.
    case protobuf(ByteBuffer)
    /// Float-only 1.0 series, scanned and hashed (`ScannedSeries`): the parts one or more requests
    /// routed to this node.
    case scanned([ScannedSeries.Part])

    /// The body as it goes over HTTP: snappy-compressed, built here for the other forms.
    public var snappyCompressed: ByteBuffer {
        switch self {
        case .snappy(let buffer):
            return buffer
        case .protobuf(let buffer):
            return buffer.withUnsafeReadableBytes { Self.compress($0) }
        case .scanned(let parts):
            let out = ByteScratch(capacity: parts.reduce(0) { $0 + $1.byteCount } + 64)
            for part in parts {
                for n in 0..<part.count { part.series.appendTimeSeries(part[n], to: out) }
            }
            return Self.compress(out.bytes)
        }
    }

    /// Bytes as sent, for the limits of a batch.
    public var sentBytes: Int {
        switch self {
        case .snappy(let buffer), .protobuf(let buffer): return buffer.readableBytes
        case .scanned(let parts): return parts.reduce(0) { $0 + $1.byteCount }
        }
    }

    /// About the bytes the body decodes to, for the limits of a batch.
    public var decodedBytes: Int {
        switch self {
        case .snappy(let buffer):
            return buffer.withUnsafeReadableBytes { raw in (try? Snappy.elements(of: raw).declaredLength) ?? raw.count }
        case .protobuf, .scanned:
            return sentBytes
        }
    }

    /// `input` snappy-compressed, in a buffer of its own.
    public static func compress(_ input: UnsafeRawBufferPointer) -> ByteBuffer {
        let bound = Snappy.maxCompressedLength(input.count)
        var buffer = ByteBufferAllocator().buffer(capacity: bound)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { output in Snappy.compress(input, into: output) }
        return buffer
    }
}
