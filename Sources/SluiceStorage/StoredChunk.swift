/// One XOR chunk as the storage keeps it: Prometheus' encoding, bit for bit, with its time range.
///
/// The same bytes go into blocks and out through streamed remote read without re-encoding.
struct StoredChunk: Sendable, Hashable {
    var minTime: Int64
    var maxTime: Int64
    var bytes: [UInt8]
}
