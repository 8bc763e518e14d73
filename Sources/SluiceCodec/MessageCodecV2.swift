import CProtobufC
import CSluiceProto

extension MessageCodec {
    /// Decodes a remote-write 2.0 request into the 1.0 model: labels resolved from the symbols table
    /// and sorted, each series' metadata as a `MetricMetadata` named after its `__name__`.
    ///
    /// Run `WriteRequestV2Scanner` over the bytes first: this trusts that every reference is inside the
    /// symbols table (an out-of-range one becomes the empty string rather than a trap). Created and
    /// start timestamps are not part of the model and are dropped.
    public func decodeWriteRequestV2(_ bytes: UnsafeRawBufferPointer) throws(CodecError) -> WriteRequest {
        try unpackV2(bytes) { c in
            let symbols = (0..<c.pointee.n_symbols).map { Unpacked.string(c.pointee.symbols?[$0]) }
            func symbol(_ ref: UInt32) -> String { Int(ref) < symbols.count ? symbols[Int(ref)] : "" }
            func labels(_ count: Int, _ refs: UnsafeMutablePointer<UInt32>?) -> [Label] {
                guard let refs else { return [] }
                return stride(from: 0, to: count - 1, by: 2).map { Label(name: symbol(refs[$0]), value: symbol(refs[$0 + 1])) }
            }
            var request = WriteRequest()
            request.timeseries = Unpacked.messages(c.pointee.n_timeseries, c.pointee.timeseries) { ts in
                let t = ts.pointee
                let series = TimeSeries(
                    labels: labels(t.n_labels_refs, t.labels_refs).sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) },
                    samples: Unpacked.messages(t.n_samples, t.samples) { Sample(timestamp: $0.pointee.timestamp, value: $0.pointee.value) },
                    exemplars: Unpacked.messages(t.n_exemplars, t.exemplars) {
                        Exemplar(labels: labels($0.pointee.n_labels_refs, $0.pointee.labels_refs), value: $0.pointee.value, timestamp: $0.pointee.timestamp)
                    },
                    histograms: Unpacked.messages(t.n_histograms, t.histograms, Histogram.init)
                )
                if let m = t.metadata, let name = series.labels.first(where: { $0.name == "__name__" })?.value {
                    request.metadata.append(MetricMetadata(
                        type: .init(rawValue: Int32(bitPattern: m.pointee.type.rawValue)), metricFamilyName: name,
                        help: symbol(m.pointee.help_ref), unit: symbol(m.pointee.unit_ref)
                    ))
                }
                return series
            }
            return request
        }
    }

    public func decodeWriteRequestV2(_ bytes: [UInt8]) throws(CodecError) -> WriteRequest {
        try bytes.withBytes { (raw) throws(CodecError) in try decodeWriteRequestV2(raw) }
    }

    private func unpackV2<T>(
        _ bytes: UnsafeRawBufferPointer, _ convert: (UnsafePointer<Io__Prometheus__Write__V2__Request>) -> T
    ) throws(CodecError) -> T {
        try unpack(bytes, io__prometheus__write__v2__request__unpack, convert)
    }
}

extension Histogram {
    fileprivate init(_ c: UnsafePointer<Io__Prometheus__Write__V2__Histogram>) {
        let h = c.pointee
        let count = Count(h.count_case, int: (IO__PROMETHEUS__WRITE__V2__HISTOGRAM__COUNT_COUNT_INT, h.count_int), float: (IO__PROMETHEUS__WRITE__V2__HISTOGRAM__COUNT_COUNT_FLOAT, h.count_float))
        let zeroCount = Count(
            h.zero_count_case, int: (IO__PROMETHEUS__WRITE__V2__HISTOGRAM__ZERO_COUNT_ZERO_COUNT_INT, h.zero_count_int),
            float: (IO__PROMETHEUS__WRITE__V2__HISTOGRAM__ZERO_COUNT_ZERO_COUNT_FLOAT, h.zero_count_float))
        func spans(_ n: Int, _ p: UnsafeMutablePointer<UnsafeMutablePointer<Io__Prometheus__Write__V2__BucketSpan>?>?) -> [BucketSpan] {
            Unpacked.messages(n, p) { BucketSpan(offset: $0.pointee.offset, length: $0.pointee.length) }
        }
        self.init(
            count: count, sum: h.sum, schema: h.schema, zeroThreshold: h.zero_threshold, zeroCount: zeroCount,
            negativeSpans: spans(h.n_negative_spans, h.negative_spans),
            negativeDeltas: Unpacked.scalars(h.n_negative_deltas, h.negative_deltas),
            negativeCounts: Unpacked.scalars(h.n_negative_counts, h.negative_counts),
            positiveSpans: spans(h.n_positive_spans, h.positive_spans),
            positiveDeltas: Unpacked.scalars(h.n_positive_deltas, h.positive_deltas),
            positiveCounts: Unpacked.scalars(h.n_positive_counts, h.positive_counts),
            resetHint: Int32(bitPattern: h.reset_hint.rawValue), timestamp: h.timestamp,
            customValues: Unpacked.scalars(h.n_custom_values, h.custom_values)
        )
    }
}
