import SluiceCodec
import SluiceQuery

/// Merges what several nodes answered for one query into one answer: series joined by label set,
/// replica duplicates removed.
///
/// Replicas usually hold the same chunks, byte for byte; those are sent once and never decoded.
/// Only where chunks from different replicas overlap in time are they decoded, merged one point
/// (float sample or native histogram) per timestamp, the first node's winning, and re-encoded.
enum SeriesMerger {
    /// One series of the merged answer with every node's part of it.
    struct Group {
        /// `LabelSetBytes`, without the stripped label.
        var labelBytes: [UInt8]
        var parts: [NodeSeries]
    }

    /// Groups the nodes' series by label set, without `strippedLabel` (the tenant label), sorted as the
    /// remote-read protocol requires.
    ///
    /// A k-way merge: each node sends its series sorted, so the groups come out in order by taking
    /// the smallest of the nodes' next series and every series equal to it, in node order. Leaving
    /// the tenant label out can reorder a node's series (`{a, tenant_id}` sorts after `{a, b,
    /// tenant_id}`, but `{a}` before `{a, b}`): a node's list is checked in one pass and sorted only
    /// then. A node that lists a label set more than once has every copy joined to the same group.
    static func group(_ answers: [[NodeSeries]], strippedLabel: String?) -> [Group] {
        let stripped = strippedLabel.map { Array($0.utf8) }
        func order(_ a: NodeSeries, _ b: NodeSeries) -> Int { LabelSetBytes.compare(a.labelBytes, b.labelBytes, ignoring: stripped) }
        var lists = answers
        // Whether a node's list may hold one label set twice; a strictly ascending list cannot.
        var repeats = Array(repeating: false, count: lists.count)
        for index in lists.indices {
            let list = lists[index]
            var ascending = true
            for (a, b) in zip(list, list.dropFirst()) {
                let comparison = order(a, b)
                if comparison > 0 { ascending = false }
                if comparison >= 0 { repeats[index] = true }
            }
            if !ascending { lists[index].sort { order($0, $1) < 0 } }
        }
        var next = Array(repeating: 0, count: lists.count)
        var groups: [Group] = []
        groups.reserveCapacity(lists.map(\.count).max() ?? 0)
        // The nodes whose next series is the smallest, in node order: found in one pass, one
        // comparison per node.
        var smallest: [Int] = []
        smallest.reserveCapacity(lists.count)
        while true {
            smallest.removeAll(keepingCapacity: true)
            for node in lists.indices where next[node] < lists[node].count {
                guard let leader = smallest.first else {
                    smallest.append(node)
                    continue
                }
                let comparison = order(lists[node][next[node]], lists[leader][next[leader]])
                if comparison < 0 { smallest.removeAll(keepingCapacity: true) }
                if comparison <= 0 { smallest.append(node) }
            }
            guard let leader = smallest.first else { break }
            let first = lists[leader][next[leader]]
            var parts: [NodeSeries] = []
            parts.reserveCapacity(smallest.count)
            for node in smallest {
                parts.append(lists[node][next[node]])
                next[node] += 1
                while repeats[node], next[node] < lists[node].count, order(lists[node][next[node]], first) == 0 {
                    parts.append(lists[node][next[node]])
                    next[node] += 1
                }
            }
            groups.append(Group(labelBytes: stripped.map { LabelSetBytes.removing($0, from: first.labelBytes) } ?? first.labelBytes, parts: parts))
        }
        return groups
    }

    /// One point of a series' timeline: float samples and native histograms share it, one per timestamp.
    enum Point {
        case float(Sample)
        case histogram(Histogram)

        var timestamp: Int64 {
            switch self {
            case .float(let sample): sample.timestamp
            case .histogram(let histogram): histogram.timestamp
            }
        }

        /// The chunk encoding that holds this point.
        var encoding: Chunk.Encoding {
            switch self {
            case .float: .xor
            case .histogram(let histogram): histogram.isFloat ? .floatHistogram : .histogram
            }
        }
    }

    /// Every float sample of the group inside `[minTime, maxTime]`, one per timestamp, in time order.
    static func samples(_ parts: [NodeSeries], minTime: Int64, maxTime: Int64) throws(CodecError) -> [Sample] {
        try series(parts, minTime: minTime, maxTime: maxTime).samples
    }

    /// Every float sample and native histogram of the group inside `[minTime, maxTime]`, one per
    /// timestamp, each list in time order.
    ///
    /// Merged at the chunk level first: replicas usually hold identical chunks, so each is decoded
    /// once and only overlapping runs need merging point by point.
    static func series(_ parts: [NodeSeries], minTime: Int64, maxTime: Int64) throws(CodecError) -> (samples: [Sample], histograms: [Histogram]) {
        var samples: [Sample] = []
        var histograms: [Histogram] = []
        try series(parts, minTime: minTime, maxTime: maxTime, samples: &samples, histograms: &histograms)
        return (samples, histograms)
    }

    /// `series`, into arrays the caller empties and reuses from group to group.
    static func series(
        _ parts: [NodeSeries], minTime: Int64, maxTime: Int64, samples: inout [Sample], histograms: inout [Histogram]
    ) throws(CodecError) {
        samples.removeAll(keepingCapacity: true)
        histograms.removeAll(keepingCapacity: true)
        for chunk in try chunks(parts) where chunk.maxTimeMs >= minTime && chunk.minTimeMs <= maxTime {
            if chunk.encoding == .xor {
                var decoder = try XORChunkDecoder(chunk.data)
                while let sample = try decoder.next() {
                    if sample.timestamp >= minTime && sample.timestamp <= maxTime {
                        samples.append(Sample(timestamp: sample.timestamp, value: sample.value))
                    }
                }
            } else {
                for histogram in try HistogramChunkDecoder.decode(chunk.data, encoding: chunk.encoding)
                where histogram.timestamp >= minTime && histogram.timestamp <= maxTime {
                    histograms.append(histogram)
                }
            }
        }
    }

    /// The group's chunks: identical chunks once, non-overlapping chunks as they came, overlapping
    /// runs decoded, merged and re-encoded: XOR chunks of at most 120 samples, histogram chunks cut
    /// where the encoder asks, and a new chunk wherever the kind of point changes.
    static func chunks(_ parts: [NodeSeries]) throws(CodecError) -> [Chunk] {
        // The usual case: every replica sent the same chunks, in time order and not overlapping.
        if let first = parts.first, first.samples.isEmpty, Self.ascendingAndDisjoint(first.chunks),
            parts.dropFirst().allSatisfy({ $0.samples.isEmpty && $0.chunks == first.chunks })
        {
            return first.chunks
        }
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
                var points: [Point] = []
                for entry in run.sorted(by: { $0.order < $1.order }) { points += try decode(entry.chunk) }
                out += encode(dedupe(points))
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

    /// Whether each chunk ends before the next begins.
    static func ascendingAndDisjoint(_ chunks: [Chunk]) -> Bool {
        zip(chunks, chunks.dropFirst()).allSatisfy { $0.maxTimeMs < $1.minTimeMs }
    }

    /// A chunk's points, whatever its encoding.
    static func decode(_ chunk: Chunk) throws(CodecError) -> [Point] {
        if chunk.encoding == .histogram || chunk.encoding == .floatHistogram {
            return try HistogramChunkDecoder.decode(chunk.data, encoding: chunk.encoding).map { .histogram($0) }
        }
        return try XORChunkDecoder.decodeAll(chunk.data).map { .float(Sample(timestamp: $0.timestamp, value: $0.value)) }
    }

    /// Sorted by timestamp, the first sample kept where several share one.
    static func dedupe(_ samples: [Sample]) -> [Sample] {
        let sorted = samples.enumerated().sorted { ($0.element.timestamp, $0.offset) < ($1.element.timestamp, $1.offset) }.map(\.element)
        var out: [Sample] = []
        out.reserveCapacity(sorted.count)
        for sample in sorted where out.last?.timestamp != sample.timestamp { out.append(sample) }
        return out
    }

    /// Sorted by timestamp, the first point kept where several share one, whatever their kinds.
    static func dedupe(_ points: [Point]) -> [Point] {
        let sorted = points.enumerated().sorted { ($0.element.timestamp, $0.offset) < ($1.element.timestamp, $1.offset) }.map(\.element)
        var out: [Point] = []
        out.reserveCapacity(sorted.count)
        for point in sorted where out.last?.timestamp != point.timestamp { out.append(point) }
        return out
    }

    /// XOR chunks of at most 120 samples, as Prometheus cuts them.
    static func encode(_ samples: [Sample]) -> [Chunk] {
        encode(samples.map { .float($0) })
    }

    /// Points in time order as chunks: a new chunk when the kind of point changes, after 120 points,
    /// and when the histogram encoder asks for one (a new bucket layout or a counter reset).
    static func encode(_ points: [Point]) -> [Chunk] {
        var out: [Chunk] = []
        var xor: XORChunkEncoder?
        var histogram: HistogramChunkEncoder?
        func cut() {
            if let encoder = xor, encoder.count > 0 {
                out.append(Chunk(minTimeMs: encoder.minTime, maxTimeMs: encoder.maxTime, encoding: .xor, data: encoder.bytes))
            }
            if let encoder = histogram, encoder.count > 0 {
                out.append(Chunk(minTimeMs: encoder.minTime, maxTimeMs: encoder.maxTime, encoding: encoder.encoding, data: encoder.bytes))
            }
            xor = nil
            histogram = nil
        }
        for point in points {
            switch point {
            case .float(let sample):
                if xor == nil || xor!.count >= 120 {
                    cut()
                    xor = XORChunkEncoder()
                }
                xor!.append(timestamp: sample.timestamp, value: sample.value)
            case .histogram(let value):
                if histogram == nil || histogram!.encoding != point.encoding || histogram!.count >= 120 {
                    cut()
                    histogram = HistogramChunkEncoder(float: value.isFloat)
                }
                if histogram!.append(value) == .needsNewChunk {
                    let header = histogram!.lastCut?.nextHeader ?? .unknown
                    cut()
                    histogram = HistogramChunkEncoder(float: value.isFloat, counterResetHeader: header)
                    _ = histogram!.append(value)
                }
            }
        }
        cut()
        return out
    }
}
