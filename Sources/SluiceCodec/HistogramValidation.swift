// The checks Prometheus 3.x runs on every native histogram before appending it
// (`model/histogram/histogram.go` and `float_histogram.go` `Validate`, with `checkHistogramSpans`,
// `checkHistogramBuckets` and `checkHistogramCustomBounds` of `generic.go`), in the same order, plus the
// remote-write level checks that only exist because the protobuf message can say things the Go types
// cannot (an unset count oneof, integer and float fields mixed).
//
// Schemas: Prometheus' `Validate` accepts -4...8 (exponential) and -53 (custom buckets) only. Newer
// Prometheus reads schemas 9...52 from chunks and remote-read by first reducing them to schema 8, but
// that is a conversion before validation, not a relaxation of it; a receiver that wants to accept them
// must reduce them itself. So this validator rejects 9...52 like every other schema outside the range,
// with a message saying so.
//
// Beyond Prometheus: a negative or NaN zero threshold is rejected. Prometheus does not check it (custom
// bucket histograms aside), but no exposition format can produce one and it breaks chunk cutting (NaN
// never equals the chunk's threshold).

/// Checks native histograms the way Prometheus does before it stores them.
public enum HistogramValidation {
    /// Throws CodecError(.invalidSeries, "<clear message>") for a histogram Prometheus would reject.
    ///
    /// Each message starts with the name of the rule it broke, in Prometheus' words where Prometheus
    /// has them, so a sender can find the cause in Prometheus' documentation and code.
    public static func validate(_ h: Histogram) throws(CodecError) {
        guard let count = h.count else {
            throw invalid("histogram count unset: neither count_int nor count_float is set")
        }
        switch count {
        case .int:
            if case .float = h.zeroCount {
                throw invalid("histogram mixes integer and float fields: integer count with a float zero count")
            }
            if !h.positiveCounts.isEmpty || !h.negativeCounts.isEmpty {
                throw invalid("histogram mixes integer and float fields: integer count with float bucket counts")
            }
        case .float:
            if case .int = h.zeroCount {
                throw invalid("histogram mixes integer and float fields: float count with an integer zero count")
            }
            if !h.positiveDeltas.isEmpty || !h.negativeDeltas.isEmpty {
                throw invalid("histogram mixes integer and float fields: float count with integer bucket deltas")
            }
        }
        if h.zeroThreshold.isNaN || h.zeroThreshold < 0 {
            throw invalid("histogram zero threshold must be a non-negative number, got \(h.zeroThreshold)")
        }

        switch count {
        case .int(let total): try validateInteger(h, count: total)
        case .float(let total): try validateFloat(h, count: total)
        }
    }

    // MARK: Histogram.Validate

    private static func validateInteger(_ h: Histogram, count: UInt64) throws(CodecError) {
        var negativeSum: UInt64 = 0
        var positiveSum: UInt64 = 0
        let zeroCount: UInt64
        if case .int(let v) = h.zeroCount { zeroCount = v } else { zeroCount = 0 }
        if h.schema == Histogram.customBucketsSchema {
            try checkCustomBuckets(h, positiveBuckets: h.positiveDeltas.count, zeroCount: zeroCount == 0)
            if !h.negativeDeltas.isEmpty {
                throw invalid("custom buckets: must not have negative buckets")
            }
        } else if isExponentialSchema(h.schema) {
            try checkSpans(h.positiveSpans, buckets: h.positiveDeltas.count, side: "positive side")
            try checkSpans(h.negativeSpans, buckets: h.negativeDeltas.count, side: "negative side")
            try checkDeltaBuckets(h.negativeDeltas, sum: &negativeSum, side: "negative side")
            if !h.customValues.isEmpty {
                throw invalid("histogram with exponential schema must not have custom bounds")
            }
        } else {
            throw invalidSchema(h.schema)
        }
        try checkDeltaBuckets(h.positiveDeltas, sum: &positiveSum, side: "positive side")

        // Go's uint64 sum wraps; so does this one.
        let observed = negativeSum &+ positiveSum &+ zeroCount
        if h.sum.isNaN {
            if observed > count {
                throw invalid(
                    "histogram's observation count should be at least the number of observations found in the buckets: \(observed) observations found in buckets, but the Count field is \(count)"
                )
            }
        } else if observed != count {
            throw invalid(
                "histogram's observation count should equal the number of observations found in the buckets (in absence of NaN): \(observed) observations found in buckets, but the Count field is \(count)"
            )
        }
    }

    // MARK: FloatHistogram.Validate

    private static func validateFloat(_ h: Histogram, count: Double) throws(CodecError) {
        let zeroCount: Double
        if case .float(let v) = h.zeroCount { zeroCount = v } else { zeroCount = 0 }
        if h.schema == Histogram.customBucketsSchema {
            try checkCustomBuckets(h, positiveBuckets: h.positiveCounts.count, zeroCount: zeroCount == 0)
            if !h.negativeCounts.isEmpty {
                throw invalid("custom buckets: must not have negative buckets")
            }
        } else if isExponentialSchema(h.schema) {
            try checkSpans(h.positiveSpans, buckets: h.positiveCounts.count, side: "positive side")
            try checkSpans(h.negativeSpans, buckets: h.negativeCounts.count, side: "negative side")
            try checkAbsoluteBuckets(h.negativeCounts, side: "negative side")
            if zeroCount < 0 {
                throw invalid(
                    "histogram has a bucket whose observation count is negative: zero bucket has observation count of \(zeroCount)"
                )
            }
            if !h.customValues.isEmpty {
                throw invalid("histogram with exponential schema must not have custom bounds")
            }
        } else {
            throw invalidSchema(h.schema)
        }
        // Prometheus deliberately does not compare a float count with the bucket sum: rounding would
        // reject good histograms. It only rejects a negative count (NaN passes, as in Go).
        if count < 0 {
            throw invalid("histogram's observation count is negative: observation count is \(count)")
        }
        try checkAbsoluteBuckets(h.positiveCounts, side: "positive side")
    }

    // MARK: generic.go

    private static func isExponentialSchema(_ schema: Int32) -> Bool {
        (-4...8).contains(schema)
    }

    /// `checkHistogramSpans`: spans after the first must not have negative offsets, and the span
    /// lengths must add up to the number of buckets.
    private static func checkSpans(_ spans: [BucketSpan], buckets: Int, side: String) throws(CodecError) {
        var needed = 0
        for (n, span) in spans.enumerated() {
            if n > 0 && span.offset < 0 {
                throw invalid(
                    "histogram has a span whose offset is negative: \(side): span number \(n + 1) with offset \(span.offset)")
            }
            needed &+= Int(span.length)
        }
        if needed != buckets {
            throw invalid(
                "histogram spans specify different number of buckets than provided: \(side): spans need \(needed) buckets, have \(buckets) buckets"
            )
        }
    }

    /// `checkHistogramBuckets` for delta-encoded integer buckets: no absolute count may be negative.
    /// Adds the absolute counts to `sum` (wrapping, as Go's uint64 does).
    private static func checkDeltaBuckets(_ deltas: [Int64], sum: inout UInt64, side: String) throws(CodecError) {
        var last: Int64 = 0
        for (i, delta) in deltas.enumerated() {
            let current = last &+ delta
            if current < 0 {
                throw invalid(
                    "histogram has a bucket whose observation count is negative: \(side): bucket number \(i + 1) has observation count of \(current)"
                )
            }
            last = current
            sum &+= UInt64(current)
        }
    }

    /// `checkHistogramBuckets` for absolute float counts: none may be negative (NaN passes, as in Go).
    private static func checkAbsoluteBuckets(_ counts: [Double], side: String) throws(CodecError) {
        for (i, value) in counts.enumerated() where value < 0 {
            throw invalid(
                "histogram has a bucket whose observation count is negative: \(side): bucket number \(i + 1) has observation count of \(value)"
            )
        }
    }

    /// `checkHistogramCustomBounds` and the other custom-bucket rules of `Validate` (negative buckets
    /// are checked by the caller, which knows the kind).
    private static func checkCustomBuckets(_ h: Histogram, positiveBuckets: Int, zeroCount isZero: Bool) throws(CodecError) {
        var previous = -Double.infinity
        for (i, bound) in h.customValues.enumerated() {
            if bound.isNaN {
                throw invalid("custom buckets: histogram custom bounds must not be NaN")
            }
            if i > 0 && bound <= previous {
                throw invalid(
                    "custom buckets: histogram custom bounds must be in strictly increasing order: previous bound is \(previous) and current is \(bound)"
                )
            }
            previous = bound
        }
        if previous == .infinity {
            throw invalid("custom buckets: histogram custom bounds must be finite: last +Inf bound must not be explicitly defined")
        }
        var needed = 0
        var covered = 0
        for (n, span) in h.positiveSpans.enumerated() {
            // Unlike exponential spans, even the first offset must not be negative: indexes start at 0.
            if span.offset < 0 {
                throw invalid(
                    "custom buckets: histogram has a span whose offset is negative: span number \(n + 1) with offset \(span.offset)")
            }
            needed &+= Int(span.length)
            covered &+= Int(span.length) &+ Int(span.offset)
        }
        if needed != positiveBuckets {
            throw invalid(
                "custom buckets: histogram spans specify different number of buckets than provided: spans need \(needed) buckets, have \(positiveBuckets) buckets"
            )
        }
        // Bucket i is (bound[i-1], bound[i]]; the bucket after the last bound is the +Inf bucket.
        if h.customValues.count &+ 1 < covered {
            throw invalid(
                "custom buckets: histogram custom bounds are too few: only \(h.customValues.count) custom bounds defined which is insufficient to cover total span length of \(covered)"
            )
        }
        if !isZero {
            throw invalid("custom buckets: must have zero count of 0")
        }
        if h.zeroThreshold != 0 {
            throw invalid("custom buckets: must have zero threshold of 0")
        }
        if !h.negativeSpans.isEmpty {
            throw invalid("custom buckets: must not have negative spans")
        }
    }

    private static func invalidSchema(_ schema: Int32) -> CodecError {
        if schema > 8 && schema <= 52 {
            return invalid(
                "histogram has an invalid schema, which must be between -4 and 8 for exponential buckets, or -53 for custom buckets, got schema \(schema) (reduce it to 8 first)"
            )
        }
        return invalid(
            "histogram has an invalid schema, which must be between -4 and 8 for exponential buckets, or -53 for custom buckets, got schema \(schema)"
        )
    }

    private static func invalid(_ message: String) -> CodecError {
        CodecError(.invalidSeries, message)
    }
}
