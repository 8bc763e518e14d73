import SluiceCodec

/// One chunk as the storage keeps it: Prometheus' encoding, bit for bit, with its time range.
///
/// The same bytes go into blocks and out through streamed remote read without re-encoding. A series'
/// chunks may mix encodings over time (float samples in XOR chunks, native histograms in histogram
/// or float-histogram chunks), so each chunk says which it is.
struct StoredChunk: Sendable, Hashable {
    var minTime: Int64
    var maxTime: Int64
    var bytes: [UInt8]
    var encoding: Chunk.Encoding = .xor

    /// Whether the chunk holds native histograms rather than float samples.
    var isHistogram: Bool { encoding == .histogram || encoding == .floatHistogram }
}

extension StoredChunk {
    /// The chunk's native histograms, oldest first.
    ///
    /// - Precondition: `isHistogram`.
    func histograms() throws(CodecError) -> [Histogram] {
        try HistogramChunkDecoder.decode(bytes, encoding: encoding)
    }

    /// `histograms`, all of `encoding`'s kind and in time order, in as few chunks as the encoder takes:
    /// it asks for a new chunk when the bucket layout changes or a counter resets.
    static func histogramChunks(_ histograms: some Sequence<Histogram>, encoding: Chunk.Encoding) -> [StoredChunk] {
        let float = encoding == .floatHistogram
        var out: [StoredChunk] = []
        var encoder = HistogramChunkEncoder(float: float)
        func cut() {
            out.append(StoredChunk(minTime: encoder.minTime, maxTime: encoder.maxTime, bytes: encoder.bytes, encoding: encoder.encoding))
        }
        for histogram in histograms {
            guard encoder.append(histogram) == .needsNewChunk else { continue }
            cut()
            encoder = HistogramChunkEncoder(float: float, counterResetHeader: encoder.lastCut?.nextHeader ?? .unknown)
            _ = encoder.append(histogram)
        }
        if encoder.count > 0 { cut() }
        return out
    }
}
