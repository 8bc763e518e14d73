import CProtobufC
import CSluiceProto

/// Decodes and encodes whole remote-write 1.0 and remote-read messages through libprotobuf-c.
///
/// This builds every label and sample as a Swift value, which is right for cold paths, tests and the
/// read path, and too slow for the insert hot path (see `WriteRequestScanner`). One codec per worker:
/// it reuses its arena between messages and is not `Sendable`.
public final class MessageCodec {
    /// libprotobuf-c's in-memory form of a message may be this many times its wire size, at most.
    /// Real bodies stay near 4×; only a crafted body of empty sub-messages gets close to this.
    public static let expansionFactor = 64

    private let arena: ProtobufArena
    private let memoryLimit: Int

    /// - Parameter memoryLimit: the most the decoder may allocate for one message, whatever its size.
    public init(memoryLimit: Int = 1 << 30) {
        self.memoryLimit = memoryLimit
        self.arena = ProtobufArena(budget: memoryLimit)
    }

    // MARK: Remote write

    public func decodeWriteRequest(_ bytes: UnsafeRawBufferPointer) throws(CodecError) -> WriteRequest {
        try unpack(bytes, prometheus__write_request__unpack) { WriteRequest($0) }
    }

    public func decodeWriteRequest(_ bytes: [UInt8]) throws(CodecError) -> WriteRequest {
        try bytes.withBytes { (raw) throws(CodecError) in try decodeWriteRequest(raw) }
    }

    public func encode(_ request: WriteRequest, appendingTo output: ByteScratch) {
        pack(output, prometheus__write_request__get_packed_size, prometheus__write_request__pack) {
            request.makeC(in: arena)
        }
    }

    // MARK: Remote read

    public func decodeReadRequest(_ bytes: UnsafeRawBufferPointer) throws(CodecError) -> ReadRequest {
        try unpack(bytes, prometheus__read_request__unpack) { ReadRequest($0) }
    }

    public func decodeReadRequest(_ bytes: [UInt8]) throws(CodecError) -> ReadRequest {
        try bytes.withBytes { (raw) throws(CodecError) in try decodeReadRequest(raw) }
    }

    public func encode(_ request: ReadRequest, appendingTo output: ByteScratch) {
        pack(output, prometheus__read_request__get_packed_size, prometheus__read_request__pack) {
            request.makeC(in: arena)
        }
    }

    public func decodeReadResponse(_ bytes: UnsafeRawBufferPointer) throws(CodecError) -> ReadResponse {
        try unpack(bytes, prometheus__read_response__unpack) { ReadResponse($0) }
    }

    public func encode(_ response: ReadResponse, appendingTo output: ByteScratch) {
        pack(output, prometheus__read_response__get_packed_size, prometheus__read_response__pack) {
            response.makeC(in: arena)
        }
    }

    public func decodeChunkedReadResponse(_ bytes: UnsafeRawBufferPointer) throws(CodecError) -> ChunkedReadResponse {
        try unpack(bytes, prometheus__chunked_read_response__unpack) { ChunkedReadResponse($0) }
    }

    public func encode(_ response: ChunkedReadResponse, appendingTo output: ByteScratch) {
        pack(
            output, prometheus__chunked_read_response__get_packed_size, prometheus__chunked_read_response__pack
        ) {
            response.makeC(in: arena)
        }
    }

    /// Encodes into a fresh array. For tests and cold paths.
    public func encoded(_ body: (MessageCodec, ByteScratch) -> Void) -> [UInt8] {
        let scratch = ByteScratch(capacity: 4096)
        body(self, scratch)
        return scratch.toArray()
    }

    // MARK: libprotobuf-c plumbing

    private func unpack<C, T>(
        _ bytes: UnsafeRawBufferPointer,
        _ unpackFunction: (UnsafeMutablePointer<ProtobufCAllocator>?, Int, UnsafePointer<UInt8>?) -> UnsafeMutablePointer<C>?,
        _ convert: (UnsafePointer<C>) -> T
    ) throws(CodecError) -> T {
        arena.reset()
        defer { arena.reset() }
        arena.budget = min(memoryLimit, bytes.count &* Self.expansionFactor &+ 64 * 1024)
        var allocator = arena.allocator
        let empty: UInt8 = 0
        let message = withUnsafePointer(to: empty) { emptyPointer in
            unpackFunction(
                &allocator, bytes.count,
                bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? emptyPointer
            )
        }
        guard let message else {
            if arena.budgetExceeded {
                throw CodecError(.sizeLimitExceeded, "protobuf message expands past the decoder's memory limit")
            }
            throw CodecError(.protobufInvalid, "malformed protobuf message")
        }
        return convert(message)
    }

    private func pack<C>(
        _ output: ByteScratch,
        _ sizeFunction: (UnsafePointer<C>?) -> Int,
        _ packFunction: (UnsafePointer<C>?, UnsafeMutablePointer<UInt8>?) -> Int,
        _ build: () -> UnsafeMutablePointer<C>
    ) {
        arena.reset()
        arena.budget = .max
        defer { arena.reset() }
        let message = build()
        let size = sizeFunction(message)
        output.reserve(extra: size)
        output.appendUnsafe { tail in
            packFunction(message, tail.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
    }
}

// MARK: - C to Swift

private func messages<C, T>(
    _ count: Int, _ pointers: UnsafeMutablePointer<UnsafeMutablePointer<C>?>?, _ convert: (UnsafePointer<C>) -> T
) -> [T] {
    guard count > 0, let pointers else { return [] }
    var result: [T] = []
    result.reserveCapacity(count)
    for i in 0..<count { result.append(convert(pointers[i]!)) }
    return result
}

private func scalars<T>(_ count: Int, _ pointer: UnsafeMutablePointer<T>?) -> [T] {
    guard count > 0, let pointer else { return [] }
    return Array(UnsafeBufferPointer(start: pointer, count: count))
}

private func string(_ pointer: UnsafePointer<CChar>?) -> String {
    guard let pointer else { return "" }
    return String(cString: pointer)
}

extension Label {
    fileprivate init(_ c: UnsafePointer<Prometheus__Label>) {
        self.init(name: string(c.pointee.name), value: string(c.pointee.value))
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
        let count: Count? = switch h.count_case {
        case PROMETHEUS__HISTOGRAM__COUNT_COUNT_INT: .int(h.count_int)
        case PROMETHEUS__HISTOGRAM__COUNT_COUNT_FLOAT: .float(h.count_float)
        default: nil
        }
        let zeroCount: Count? = switch h.zero_count_case {
        case PROMETHEUS__HISTOGRAM__ZERO_COUNT_ZERO_COUNT_INT: .int(h.zero_count_int)
        case PROMETHEUS__HISTOGRAM__ZERO_COUNT_ZERO_COUNT_FLOAT: .float(h.zero_count_float)
        default: nil
        }
        self.init(
            count: count, sum: h.sum, schema: h.schema, zeroThreshold: h.zero_threshold, zeroCount: zeroCount,
            negativeSpans: messages(h.n_negative_spans, h.negative_spans, BucketSpan.init),
            negativeDeltas: scalars(h.n_negative_deltas, h.negative_deltas),
            negativeCounts: scalars(h.n_negative_counts, h.negative_counts),
            positiveSpans: messages(h.n_positive_spans, h.positive_spans, BucketSpan.init),
            positiveDeltas: scalars(h.n_positive_deltas, h.positive_deltas),
            positiveCounts: scalars(h.n_positive_counts, h.positive_counts),
            resetHint: Int32(bitPattern: h.reset_hint.rawValue), timestamp: h.timestamp,
            customValues: scalars(h.n_custom_values, h.custom_values)
        )
    }
}

extension TimeSeries {
    fileprivate init(_ c: UnsafePointer<Prometheus__TimeSeries>) {
        let ts = c.pointee
        self.init(
            labels: messages(ts.n_labels, ts.labels, Label.init),
            samples: messages(ts.n_samples, ts.samples) { Sample(timestamp: $0.pointee.timestamp, value: $0.pointee.value) },
            exemplars: messages(ts.n_exemplars, ts.exemplars) {
                Exemplar(
                    labels: messages($0.pointee.n_labels, $0.pointee.labels, Label.init),
                    value: $0.pointee.value, timestamp: $0.pointee.timestamp
                )
            },
            histograms: messages(ts.n_histograms, ts.histograms, Histogram.init)
        )
    }
}

extension WriteRequest {
    fileprivate init(_ c: UnsafePointer<Prometheus__WriteRequest>) {
        self.init(
            timeseries: messages(c.pointee.n_timeseries, c.pointee.timeseries, TimeSeries.init),
            metadata: messages(c.pointee.n_metadata, c.pointee.metadata) {
                MetricMetadata(
                    type: .init(rawValue: Int32(bitPattern: $0.pointee.type.rawValue)),
                    metricFamilyName: string($0.pointee.metric_family_name),
                    help: string($0.pointee.help), unit: string($0.pointee.unit)
                )
            }
        )
    }
}

extension ReadRequest {
    fileprivate init(_ c: UnsafePointer<Prometheus__ReadRequest>) {
        self.init(
            queries: messages(c.pointee.n_queries, c.pointee.queries) { q in
                Query(
                    startMs: q.pointee.start_timestamp_ms, endMs: q.pointee.end_timestamp_ms,
                    matchers: messages(q.pointee.n_matchers, q.pointee.matchers) {
                        LabelMatcher(
                            .init(rawValue: Int32(bitPattern: $0.pointee.type.rawValue)),
                            name: string($0.pointee.name), value: string($0.pointee.value)
                        )
                    },
                    hints: q.pointee.hints.map { h in
                        ReadHints(
                            stepMs: h.pointee.step_ms, function: string(h.pointee.func),
                            startMs: h.pointee.start_ms, endMs: h.pointee.end_ms,
                            grouping: scalars(h.pointee.n_grouping, h.pointee.grouping).map { string($0) },
                            by: h.pointee.by != 0, rangeMs: h.pointee.range_ms
                        )
                    }
                )
            },
            acceptedResponseTypes: scalars(c.pointee.n_accepted_response_types, c.pointee.accepted_response_types)
                .map { .init(rawValue: Int32(bitPattern: $0.rawValue)) }
        )
    }
}

extension ReadResponse {
    fileprivate init(_ c: UnsafePointer<Prometheus__ReadResponse>) {
        self.init(results: messages(c.pointee.n_results, c.pointee.results) {
            QueryResult(timeseries: messages($0.pointee.n_timeseries, $0.pointee.timeseries, TimeSeries.init))
        })
    }
}

extension ChunkedReadResponse {
    fileprivate init(_ c: UnsafePointer<Prometheus__ChunkedReadResponse>) {
        self.init(
            chunkedSeries: messages(c.pointee.n_chunked_series, c.pointee.chunked_series) { s in
                ChunkedSeries(
                    labels: messages(s.pointee.n_labels, s.pointee.labels, Label.init),
                    chunks: messages(s.pointee.n_chunks, s.pointee.chunks) { chunk in
                        Chunk(
                            minTimeMs: chunk.pointee.min_time_ms, maxTimeMs: chunk.pointee.max_time_ms,
                            encoding: .init(rawValue: Int32(bitPattern: chunk.pointee.type.rawValue)),
                            data: scalars(chunk.pointee.data.len, chunk.pointee.data.data)
                        )
                    }
                )
            },
            queryIndex: c.pointee.query_index
        )
    }
}

// MARK: - Swift to C

extension ProtobufArena {
    fileprivate func message<C>(_ initialize: (UnsafeMutablePointer<C>) -> Void) -> UnsafeMutablePointer<C> {
        let pointer = array(of: C.self, count: 1)
        initialize(pointer)
        return pointer
    }

    fileprivate func messages<T, C>(
        _ items: [T], _ make: (T) -> UnsafeMutablePointer<C>
    ) -> (Int, UnsafeMutablePointer<UnsafeMutablePointer<C>?>?) {
        guard !items.isEmpty else { return (0, nil) }
        let pointers = array(of: UnsafeMutablePointer<C>?.self, count: items.count)
        for (i, item) in items.enumerated() { pointers[i] = make(item) }
        return (items.count, pointers)
    }

    fileprivate func scalars<T>(_ items: [T]) -> (Int, UnsafeMutablePointer<T>?) {
        guard !items.isEmpty else { return (0, nil) }
        let pointer = array(of: T.self, count: items.count)
        _ = UnsafeMutableBufferPointer(start: pointer, count: items.count).initialize(from: items)
        return (items.count, pointer)
    }

    fileprivate func labels(_ labels: [Label]) -> (Int, UnsafeMutablePointer<UnsafeMutablePointer<Prometheus__Label>?>?) {
        messages(labels) { label in
            message { (p: UnsafeMutablePointer<Prometheus__Label>) in
                prometheus__label__init(p)
                p.pointee.name = cString(label.name)
                p.pointee.value = cString(label.value)
            }
        }
    }

    fileprivate func spans(_ spans: [BucketSpan]) -> (Int, UnsafeMutablePointer<UnsafeMutablePointer<Prometheus__BucketSpan>?>?) {
        messages(spans) { span in
            message { (p: UnsafeMutablePointer<Prometheus__BucketSpan>) in
                prometheus__bucket_span__init(p)
                p.pointee.offset = span.offset
                p.pointee.length = span.length
            }
        }
    }

    fileprivate func timeSeries(_ series: TimeSeries) -> UnsafeMutablePointer<Prometheus__TimeSeries> {
        message { (p: UnsafeMutablePointer<Prometheus__TimeSeries>) in
            prometheus__time_series__init(p)
            (p.pointee.n_labels, p.pointee.labels) = labels(series.labels)
            (p.pointee.n_samples, p.pointee.samples) = messages(series.samples) { sample in
                message { (s: UnsafeMutablePointer<Prometheus__Sample>) in
                    prometheus__sample__init(s)
                    s.pointee.value = sample.value
                    s.pointee.timestamp = sample.timestamp
                }
            }
            (p.pointee.n_exemplars, p.pointee.exemplars) = messages(series.exemplars) { exemplar in
                message { (e: UnsafeMutablePointer<Prometheus__Exemplar>) in
                    prometheus__exemplar__init(e)
                    (e.pointee.n_labels, e.pointee.labels) = labels(exemplar.labels)
                    e.pointee.value = exemplar.value
                    e.pointee.timestamp = exemplar.timestamp
                }
            }
            (p.pointee.n_histograms, p.pointee.histograms) = messages(series.histograms) { histogram($0) }
        }
    }

    fileprivate func histogram(_ h: Histogram) -> UnsafeMutablePointer<Prometheus__Histogram> {
        message { (p: UnsafeMutablePointer<Prometheus__Histogram>) in
            prometheus__histogram__init(p)
            switch h.count {
            case .int(let v): p.pointee.count_case = PROMETHEUS__HISTOGRAM__COUNT_COUNT_INT; p.pointee.count_int = v
            case .float(let v): p.pointee.count_case = PROMETHEUS__HISTOGRAM__COUNT_COUNT_FLOAT; p.pointee.count_float = v
            case nil: break
            }
            switch h.zeroCount {
            case .int(let v):
                p.pointee.zero_count_case = PROMETHEUS__HISTOGRAM__ZERO_COUNT_ZERO_COUNT_INT
                p.pointee.zero_count_int = v
            case .float(let v):
                p.pointee.zero_count_case = PROMETHEUS__HISTOGRAM__ZERO_COUNT_ZERO_COUNT_FLOAT
                p.pointee.zero_count_float = v
            case nil: break
            }
            p.pointee.sum = h.sum
            p.pointee.schema = h.schema
            p.pointee.zero_threshold = h.zeroThreshold
            (p.pointee.n_negative_spans, p.pointee.negative_spans) = spans(h.negativeSpans)
            (p.pointee.n_negative_deltas, p.pointee.negative_deltas) = scalars(h.negativeDeltas)
            (p.pointee.n_negative_counts, p.pointee.negative_counts) = scalars(h.negativeCounts)
            (p.pointee.n_positive_spans, p.pointee.positive_spans) = spans(h.positiveSpans)
            (p.pointee.n_positive_deltas, p.pointee.positive_deltas) = scalars(h.positiveDeltas)
            (p.pointee.n_positive_counts, p.pointee.positive_counts) = scalars(h.positiveCounts)
            p.pointee.reset_hint = .init(rawValue: UInt32(bitPattern: h.resetHint))
            p.pointee.timestamp = h.timestamp
            (p.pointee.n_custom_values, p.pointee.custom_values) = scalars(h.customValues)
        }
    }
}

extension WriteRequest {
    fileprivate func makeC(in arena: ProtobufArena) -> UnsafeMutablePointer<Prometheus__WriteRequest> {
        arena.message { (p: UnsafeMutablePointer<Prometheus__WriteRequest>) in
            prometheus__write_request__init(p)
            (p.pointee.n_timeseries, p.pointee.timeseries) = arena.messages(timeseries) { arena.timeSeries($0) }
            (p.pointee.n_metadata, p.pointee.metadata) = arena.messages(metadata) { m in
                arena.message { (c: UnsafeMutablePointer<Prometheus__MetricMetadata>) in
                    prometheus__metric_metadata__init(c)
                    c.pointee.type = .init(rawValue: UInt32(bitPattern: m.type.rawValue))
                    c.pointee.metric_family_name = arena.cString(m.metricFamilyName)
                    c.pointee.help = arena.cString(m.help)
                    c.pointee.unit = arena.cString(m.unit)
                }
            }
        }
    }
}

extension ReadRequest {
    fileprivate func makeC(in arena: ProtobufArena) -> UnsafeMutablePointer<Prometheus__ReadRequest> {
        arena.message { (p: UnsafeMutablePointer<Prometheus__ReadRequest>) in
            prometheus__read_request__init(p)
            (p.pointee.n_queries, p.pointee.queries) = arena.messages(queries) { query in
                arena.message { (q: UnsafeMutablePointer<Prometheus__Query>) in
                    prometheus__query__init(q)
                    q.pointee.start_timestamp_ms = query.startMs
                    q.pointee.end_timestamp_ms = query.endMs
                    (q.pointee.n_matchers, q.pointee.matchers) = arena.messages(query.matchers) { matcher in
                        arena.message { (m: UnsafeMutablePointer<Prometheus__LabelMatcher>) in
                            prometheus__label_matcher__init(m)
                            m.pointee.type = .init(rawValue: UInt32(bitPattern: matcher.kind.rawValue))
                            m.pointee.name = arena.cString(matcher.name)
                            m.pointee.value = arena.cString(matcher.value)
                        }
                    }
                    if let hints = query.hints {
                        q.pointee.hints = arena.message { (h: UnsafeMutablePointer<Prometheus__ReadHints>) in
                            prometheus__read_hints__init(h)
                            h.pointee.step_ms = hints.stepMs
                            h.pointee.func = arena.cString(hints.function)
                            h.pointee.start_ms = hints.startMs
                            h.pointee.end_ms = hints.endMs
                            (h.pointee.n_grouping, h.pointee.grouping) = arena.scalars(
                                hints.grouping.map { Optional(arena.cString($0)) }
                            )
                            h.pointee.by = hints.by ? 1 : 0
                            h.pointee.range_ms = hints.rangeMs
                        }
                    }
                }
            }
            (p.pointee.n_accepted_response_types, p.pointee.accepted_response_types) = arena.scalars(
                acceptedResponseTypes.map { .init(rawValue: UInt32(bitPattern: $0.rawValue)) }
            )
        }
    }
}

extension ReadResponse {
    fileprivate func makeC(in arena: ProtobufArena) -> UnsafeMutablePointer<Prometheus__ReadResponse> {
        arena.message { (p: UnsafeMutablePointer<Prometheus__ReadResponse>) in
            prometheus__read_response__init(p)
            (p.pointee.n_results, p.pointee.results) = arena.messages(results) { result in
                arena.message { (r: UnsafeMutablePointer<Prometheus__QueryResult>) in
                    prometheus__query_result__init(r)
                    (r.pointee.n_timeseries, r.pointee.timeseries) = arena.messages(result.timeseries) {
                        arena.timeSeries($0)
                    }
                }
            }
        }
    }
}

extension ChunkedReadResponse {
    fileprivate func makeC(in arena: ProtobufArena) -> UnsafeMutablePointer<Prometheus__ChunkedReadResponse> {
        arena.message { (p: UnsafeMutablePointer<Prometheus__ChunkedReadResponse>) in
            prometheus__chunked_read_response__init(p)
            p.pointee.query_index = queryIndex
            (p.pointee.n_chunked_series, p.pointee.chunked_series) = arena.messages(chunkedSeries) { series in
                arena.message { (s: UnsafeMutablePointer<Prometheus__ChunkedSeries>) in
                    prometheus__chunked_series__init(s)
                    (s.pointee.n_labels, s.pointee.labels) = arena.labels(series.labels)
                    (s.pointee.n_chunks, s.pointee.chunks) = arena.messages(series.chunks) { chunk in
                        arena.message { (c: UnsafeMutablePointer<Prometheus__Chunk>) in
                            prometheus__chunk__init(c)
                            c.pointee.min_time_ms = chunk.minTimeMs
                            c.pointee.max_time_ms = chunk.maxTimeMs
                            c.pointee.type = .init(rawValue: UInt32(bitPattern: chunk.encoding.rawValue))
                            let (count, data) = arena.scalars(chunk.data)
                            c.pointee.data = ProtobufCBinaryData(len: count, data: data)
                        }
                    }
                }
            }
        }
    }
}

// MARK: - Remote write 2.0

extension MessageCodec {
    /// Decodes a remote-write 2.0 request into the 1.0 model: labels resolved from the symbols table
    /// and sorted, each series' metadata as a `MetricMetadata` named after its `__name__`.
    ///
    /// Run `WriteRequestV2Scanner` over the bytes first: this trusts that every reference is inside the
    /// symbols table (an out-of-range one becomes the empty string rather than a trap). Created and
    /// start timestamps are not part of the model and are dropped.
    public func decodeWriteRequestV2(_ bytes: UnsafeRawBufferPointer) throws(CodecError) -> WriteRequest {
        try unpackV2(bytes) { c in
            let symbols = (0..<c.pointee.n_symbols).map { string(c.pointee.symbols?[$0]) }
            func symbol(_ ref: UInt32) -> String { Int(ref) < symbols.count ? symbols[Int(ref)] : "" }
            func labels(_ count: Int, _ refs: UnsafeMutablePointer<UInt32>?) -> [Label] {
                guard let refs else { return [] }
                return stride(from: 0, to: count - 1, by: 2).map { Label(name: symbol(refs[$0]), value: symbol(refs[$0 + 1])) }
            }
            var request = WriteRequest()
            request.timeseries = messages(c.pointee.n_timeseries, c.pointee.timeseries) { ts in
                let t = ts.pointee
                let series = TimeSeries(
                    labels: labels(t.n_labels_refs, t.labels_refs).sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) },
                    samples: messages(t.n_samples, t.samples) { Sample(timestamp: $0.pointee.timestamp, value: $0.pointee.value) },
                    exemplars: messages(t.n_exemplars, t.exemplars) {
                        Exemplar(labels: labels($0.pointee.n_labels_refs, $0.pointee.labels_refs), value: $0.pointee.value, timestamp: $0.pointee.timestamp)
                    },
                    histograms: messages(t.n_histograms, t.histograms, Histogram.init)
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
        let count: Count? = switch h.count_case {
        case IO__PROMETHEUS__WRITE__V2__HISTOGRAM__COUNT_COUNT_INT: .int(h.count_int)
        case IO__PROMETHEUS__WRITE__V2__HISTOGRAM__COUNT_COUNT_FLOAT: .float(h.count_float)
        default: nil
        }
        let zeroCount: Count? = switch h.zero_count_case {
        case IO__PROMETHEUS__WRITE__V2__HISTOGRAM__ZERO_COUNT_ZERO_COUNT_INT: .int(h.zero_count_int)
        case IO__PROMETHEUS__WRITE__V2__HISTOGRAM__ZERO_COUNT_ZERO_COUNT_FLOAT: .float(h.zero_count_float)
        default: nil
        }
        func spans(_ n: Int, _ p: UnsafeMutablePointer<UnsafeMutablePointer<Io__Prometheus__Write__V2__BucketSpan>?>?) -> [BucketSpan] {
            messages(n, p) { BucketSpan(offset: $0.pointee.offset, length: $0.pointee.length) }
        }
        self.init(
            count: count, sum: h.sum, schema: h.schema, zeroThreshold: h.zero_threshold, zeroCount: zeroCount,
            negativeSpans: spans(h.n_negative_spans, h.negative_spans),
            negativeDeltas: scalars(h.n_negative_deltas, h.negative_deltas),
            negativeCounts: scalars(h.n_negative_counts, h.negative_counts),
            positiveSpans: spans(h.n_positive_spans, h.positive_spans),
            positiveDeltas: scalars(h.n_positive_deltas, h.positive_deltas),
            positiveCounts: scalars(h.n_positive_counts, h.positive_counts),
            resetHint: Int32(bitPattern: h.reset_hint.rawValue), timestamp: h.timestamp,
            customValues: scalars(h.n_custom_values, h.custom_values)
        )
    }
}
