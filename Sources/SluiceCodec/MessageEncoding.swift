import CProtobufC
import CSluiceProto

/// `MessageCodec`'s encoding half: Swift values to libprotobuf-c messages in the codec's arena.

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
    func makeC(in arena: ProtobufArena) -> UnsafeMutablePointer<Prometheus__WriteRequest> {
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
    func makeC(in arena: ProtobufArena) -> UnsafeMutablePointer<Prometheus__ReadRequest> {
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
    func makeC(in arena: ProtobufArena) -> UnsafeMutablePointer<Prometheus__ReadResponse> {
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
    func makeC(in arena: ProtobufArena) -> UnsafeMutablePointer<Prometheus__ChunkedReadResponse> {
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
