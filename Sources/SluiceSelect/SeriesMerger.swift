import SluiceCodec
import SluiceQuery

/// Merges what several nodes answered for one query into one answer: series joined by label set,
/// replica duplicates removed.
///
/// Replicas usually hold the same chunks, byte for byte; those are sent once and never decoded.
/// Only where chunks from different replicas overlap in time are they decoded, merged one sample
/// per timestamp (the first node's value wins), and re-encoded.
enum SeriesMerger {
    /// One series of the merged answer with every node's part of it.
    struct Group {
        var labels: [Label]
        var parts: [NodeSeries]
    }

    /// Groups the nodes' series by label set, without `strippedLabel` (the tenant label), sorted as the
    /// remote-read protocol requires.
    static func group(_ answers: [[NodeSeries]], strippedLabel: String?) -> [Group] {
        var index: [[Label]: Int] = [:]
        var groups: [Group] = []
        for answer in answers {
            for var series in answer {
                if let strippedLabel { series.labels.removeAll { $0.name == strippedLabel } }
                if let at = index[series.labels] {
                    groups[at].parts.append(series)
                } else {
                    index[series.labels] = groups.count
                    groups.append(Group(labels: series.labels, parts: [series]))
                }
            }
        }
        groups.sort { compareLabelSets($0.labels, $1.labels) < 0 }
        return groups
    }

    /// Every sample of the group inside `[minTime, maxTime]`, one per timestamp, in time order.
    ///
    /// Merged at the chunk level first: replicas usually hold identical chunks, so each is decoded
    /// once and only overlapping runs need merging sample by sample.
    static func samples(_ parts: [NodeSeries], minTime: Int64, maxTime: Int64) throws(CodecError) -> [Sample] {
        var out: [Sample] = []
        for chunk in try chunks(parts) where chunk.maxTimeMs >= minTime && chunk.minTimeMs <= maxTime {
            for sample in try XORChunkDecoder.decodeAll(chunk.data) where sample.timestamp >= minTime && sample.timestamp <= maxTime {
                out.append(Sample(timestamp: sample.timestamp, value: sample.value))
            }
        }
        return out
    }

    /// The group's chunks: identical chunks once, non-overlapping chunks as they came, overlapping
    /// runs decoded, merged and re-encoded in chunks of at most 120 samples.
    static func chunks(_ parts: [NodeSeries]) throws(CodecError) -> [Chunk] {
        // Each chunk with its place in node order (parts come in node order): the chunks are sorted
        // by time to find the overlapping runs, but a run is decoded in node order, so the first
        // node's value wins a conflict even when its chunk starts later than another node's.
        var all: [(chunk: Chunk, order: Int)] = []
        var seen = Set<Chunk>()
        for part in parts {
            var own = part.chunks
            if !part.samples.isEmpty { own += encode(dedupe(part.samples)) }
            for chunk in own where seen.insert(chunk).inserted { all.append((chunk, all.count)) }
        }
        all.sort { ($0.chunk.minTimeMs, $0.chunk.maxTimeMs, $0.order) < ($1.chunk.minTimeMs, $1.chunk.maxTimeMs, $1.order) }
        var out: [Chunk] = []
        var run: [(chunk: Chunk, order: Int)] = []
        var runEnd = Int64.min
        func flush() throws(CodecError) {
            if run.count == 1 {
                out.append(run[0].chunk)
            } else if run.count > 1 {
                var samples: [Sample] = []
                for entry in run.sorted(by: { $0.order < $1.order }) {
                    for sample in try XORChunkDecoder.decodeAll(entry.chunk.data) { samples.append(Sample(timestamp: sample.timestamp, value: sample.value)) }
                }
                out += encode(dedupe(samples))
            }
            run.removeAll(keepingCapacity: true)
        }
        for entry in all {
            if !run.isEmpty && entry.chunk.minTimeMs > runEnd { try flush() }
            runEnd = run.isEmpty ? entry.chunk.maxTimeMs : max(runEnd, entry.chunk.maxTimeMs)
            run.append(entry)
        }
        try flush()
        return out
    }

    /// Sorted by timestamp, the first sample kept where several share one.
    static func dedupe(_ samples: [Sample]) -> [Sample] {
        let sorted = samples.enumerated().sorted { ($0.element.timestamp, $0.offset) < ($1.element.timestamp, $1.offset) }.map(\.element)
        var out: [Sample] = []
        out.reserveCapacity(sorted.count)
        for sample in sorted where out.last?.timestamp != sample.timestamp { out.append(sample) }
        return out
    }

    /// XOR chunks of at most 120 samples, as Prometheus cuts them.
    static func encode(_ samples: [Sample]) -> [Chunk] {
        var out: [Chunk] = []
        var start = 0
        while start < samples.count {
            var encoder = XORChunkEncoder()
            for sample in samples[start..<min(start + 120, samples.count)] { encoder.append(timestamp: sample.timestamp, value: sample.value) }
            out.append(Chunk(minTimeMs: encoder.minTime, maxTimeMs: encoder.maxTime, encoding: .xor, data: encoder.bytes))
            start += 120
        }
        return out
    }
}
