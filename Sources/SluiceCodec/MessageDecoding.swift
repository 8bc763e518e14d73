import CProtobufC
import CSluiceProto

/// `MessageCodec`'s decoding half: libprotobuf-c's unpacked messages to Swift values.

/// Helpers for reading libprotobuf-c's unpacked messages, shared by the 1.0 and 2.0 decoders.
enum Unpacked {
    static func messages<C, T>(
        _ count: Int, _ pointers: UnsafeMutablePointer<UnsafeMutablePointer<C>?>?, _ convert: (UnsafePointer<C>) -> T
    ) -> [T] {
        guard count > 0, let pointers else { return [] }
        var result: [T] = []
        result.reserveCapacity(count)
        for i in 0..<count { result.append(convert(pointers[i]!)) }
        return result
    }

    static func scalars<T>(_ count: Int, _ pointer: UnsafeMutablePointer<T>?) -> [T] {
        guard count > 0, let pointer else { return [] }
        return Array(UnsafeBufferPointer(start: pointer, count: count))
    }

    static func string(_ pointer: UnsafePointer<CChar>?) -> String {
        guard let pointer else { return "" }
        return String(cString: pointer)
    }
}

extension Histogram.Count {
    /// A histogram's count oneof as libprotobuf-c unpacks it: the arm `selected` names, nil for
    /// neither. Shared by the 1.0 and 2.0 decoders, whose C enums differ.
    init?<Case: Equatable>(_ selected: Case, int: (Case, UInt64), float: (Case, Double)) {
        switch selected {
        case int.0: self = .int(int.1)
        case float.0: self = .float(float.1)
        default: return nil
        }
    }
}

extension Label {
    fileprivate init(_ c: UnsafePointer<Prometheus__Label>) {
        self.init(name: Unpacked.string(c.pointee.name), value: Unpacked.string(c.pointee.value))
    }
}

extension BucketSpan {
    fileprivate init(_ c: UnsafePointer<Prometheus__BucketSpan>) {
        self.init(offset: c.pointee.offset, length: c.pointee.length)
    }
}

extension Histogram {
    fileprivate init(_ c: UnsafePointer<Prometheus__Histogram>) {
        let h = c.pointee
        let count = Count(h.count_case, int: (PROMETHEUS__HISTOGRAM__COUNT_COUNT_INT, h.count_int), float: (PROMETHEUS__HISTOGRAM__COUNT_COUNT_FLOAT, h.count_float))
        let zeroCount = Count(
            h.zero_count_case, int: (PROMETHEUS__HISTOGRAM__ZERO_COUNT_ZERO_COUNT_INT, h.zero_count_int),
            float: (PROMETHEUS__HISTOGRAM__ZERO_COUNT_ZERO_COUNT_FLOAT, h.zero_count_float))
        self.init(
            count: count, sum: h.sum, schema: h.schema, zeroThreshold: h.zero_threshold, zeroCount: zeroCount,
            negativeSpans: Unpacked.messages(h.n_negative_spans, h.negative_spans, BucketSpan.init),
            negativeDeltas: Unpacked.scalars(h.n_negative_deltas, h.negative_deltas),
            negativeCounts: Unpacked.scalars(h.n_negative_counts, h.negative_counts),
            positiveSpans: Unpacked.messages(h.n_positive_spans, h.positive_spans, BucketSpan.init),
            positiveDeltas: Unpacked.scalars(h.n_positive_deltas, h.positive_deltas),
            positiveCounts: Unpacked.scalars(h.n_positive_counts, h.positive_counts),
            resetHint: Int32(bitPattern: h.reset_hint.rawValue), timestamp: h.timestamp,
            customValues: Unpacked.scalars(h.n_custom_values, h.custom_values)
        )
    }
}

extension TimeSeries {
    fileprivate init(_ c: UnsafePointer<Prometheus__TimeSeries>) {
        let ts = c.pointee
        self.init(
            labels: Unpacked.messages(ts.n_labels, ts.labels, Label.init),
            samples: Unpacked.messages(ts.n_samples, ts.samples) { Sample(timestamp: $0.pointee.timestamp, value: $0.pointee.value) },
            exemplars: Unpacked.messages(ts.n_exemplars, ts.exemplars) {
                Exemplar(
                    labels: Unpacked.messages($0.pointee.n_labels, $0.pointee.labels, Label.init),
                    value: $0.pointee.value, timestamp: $0.pointee.timestamp
                )
            },
            histograms: Unpacked.messages(ts.n_histograms, ts.histograms, Histogram.init)
        )
    }
}

extension WriteRequest {
    init(_ c: UnsafePointer<Prometheus__WriteRequest>) {
        self.init(
            timeseries: Unpacked.messages(c.pointee.n_timeseries, c.pointee.timeseries, TimeSeries.init),
            metadata: Unpacked.messages(c.pointee.n_metadata, c.pointee.metadata) {
                MetricMetadata(
                    type: .init(rawValue: Int32(bitPattern: $0.pointee.type.rawValue)),
                    metricFamilyName: Unpacked.string($0.pointee.metric_family_name),
                    help: Unpacked.string($0.pointee.help), unit: Unpacked.string($0.pointee.unit)
                )
            }
        )
    }
}

extension ReadRequest {
    init(_ c: UnsafePointer<Prometheus__ReadRequest>) {
        self.init(
            queries: Unpacked.messages(c.pointee.n_queries, c.pointee.queries) { q in
                Query(
                    startMs: q.pointee.start_timestamp_ms, endMs: q.pointee.end_timestamp_ms,
                    matchers: Unpacked.messages(q.pointee.n_matchers, q.pointee.matchers) {
                        LabelMatcher(
                            .init(rawValue: Int32(bitPattern: $0.pointee.type.rawValue)),
                            name: Unpacked.string($0.pointee.name), value: Unpacked.string($0.pointee.value)
                        )
                    },
                    hints: q.pointee.hints.map { h in
                        ReadHints(
                            stepMs: h.pointee.step_ms, function: Unpacked.string(h.pointee.func),
                            startMs: h.pointee.start_ms, endMs: h.pointee.end_ms,
                            grouping: Unpacked.scalars(h.pointee.n_grouping, h.pointee.grouping).map { Unpacked.string($0) },
                            by: h.pointee.by != 0, rangeMs: h.pointee.range_ms
                        )
                    }
                )
            },
            acceptedResponseTypes: Unpacked.scalars(c.pointee.n_accepted_response_types, c.pointee.accepted_response_types)
                .map { .init(rawValue: Int32(bitPattern: $0.rawValue)) }
        )
    }
}

extension ReadResponse {
    init(_ c: UnsafePointer<Prometheus__ReadResponse>) {
        self.init(results: Unpacked.messages(c.pointee.n_results, c.pointee.results) {
            QueryResult(timeseries: Unpacked.messages($0.pointee.n_timeseries, $0.pointee.timeseries, TimeSeries.init))
        })
    }
}

extension ChunkedReadResponse {
    init(_ c: UnsafePointer<Prometheus__ChunkedReadResponse>) {
        self.init(
            chunkedSeries: Unpacked.messages(c.pointee.n_chunked_series, c.pointee.chunked_series) { s in
                ChunkedSeries(
                    labels: Unpacked.messages(s.pointee.n_labels, s.pointee.labels, Label.init),
                    chunks: Unpacked.messages(s.pointee.n_chunks, s.pointee.chunks) { chunk in
                        Chunk(
                            minTimeMs: chunk.pointee.min_time_ms, maxTimeMs: chunk.pointee.max_time_ms,
                            encoding: .init(rawValue: Int32(bitPattern: chunk.pointee.type.rawValue)),
                            data: Unpacked.scalars(chunk.pointee.data.len, chunk.pointee.data.data)
                        )
                    }
                )
            },
            queryIndex: c.pointee.query_index
        )
    }
}
