import Testing
@testable import SluiceCodec

/// One test per rule of Prometheus' `Histogram.Validate`/`FloatHistogram.Validate` (and the
/// remote-write level rules), each with a valid and an invalid case. Each invalid case checks that the
/// message names the rule.
@Suite struct HistogramValidationTests {
    private static let valid = Histogram(
        count: .int(11), sum: 12.5, schema: 3, zeroThreshold: 0.001, zeroCount: .int(2),
        negativeSpans: [BucketSpan(offset: -2, length: 2)], negativeDeltas: [1, 1],
        positiveSpans: [BucketSpan(offset: 0, length: 2), BucketSpan(offset: 3, length: 1)],
        positiveDeltas: [2, -1, 2])

    private static let validFloat = Histogram(
        count: .float(10.5), sum: 3, schema: -4, zeroThreshold: 0, zeroCount: .float(0.5),
        negativeSpans: [BucketSpan(offset: 1, length: 1)], negativeCounts: [4],
        positiveSpans: [BucketSpan(offset: -3, length: 2)], positiveCounts: [1, 5])

    private static let validCustom = Histogram(
        count: .int(6), sum: 1, schema: -53, zeroCount: .int(0),
        positiveSpans: [BucketSpan(offset: 0, length: 2), BucketSpan(offset: 1, length: 1)],
        positiveDeltas: [1, 2, -1], customValues: [0.1, 0.5, 1])

    private func expectValid(_ h: Histogram, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(throws: Never.self, sourceLocation: sourceLocation) { try HistogramValidation.validate(h) }
    }

    private func expectInvalid(
        _ h: Histogram, _ rule: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        do {
            try HistogramValidation.validate(h)
            Issue.record("expected \"\(rule)\"", sourceLocation: sourceLocation)
        } catch {
            #expect(error.code == .invalidSeries, sourceLocation: sourceLocation)
            #expect(error.message.contains(rule), "\(error.message)", sourceLocation: sourceLocation)
        }
    }

    @Test func baseHistogramsAreValid() {
        expectValid(Self.valid)
        expectValid(Self.validFloat)
        expectValid(Self.validCustom)
        expectValid(Histogram(count: .int(0), zeroCount: .int(0)))
        expectValid(Histogram(count: .float(0)))
    }

    @Test func countOneofMustBeSet() {
        var h = Self.valid
        h.count = nil
        expectInvalid(h, "histogram count unset")
    }

    @Test func integerAndFloatFieldsMustNotMix() {
        var floatZero = Self.valid
        floatZero.zeroCount = .float(2)
        expectInvalid(floatZero, "mixes integer and float fields")
        var floatBuckets = Self.valid
        floatBuckets.positiveCounts = [1]
        expectInvalid(floatBuckets, "mixes integer and float fields")
        var intZero = Self.validFloat
        intZero.zeroCount = .int(0)
        expectInvalid(intZero, "mixes integer and float fields")
        var intBuckets = Self.validFloat
        intBuckets.negativeDeltas = [1]
        expectInvalid(intBuckets, "mixes integer and float fields")
        // An unset zero count is 0 of either kind.
        var unsetZero = Self.validFloat
        unsetZero.zeroCount = nil
        unsetZero.count = .float(10)
        expectValid(unsetZero)
    }

    @Test func schemaMustBeExponentialOrCustom() {
        for schema: Int32 in [-4, 0, 8] {
            var h = Self.valid
            h.schema = schema
            expectValid(h)
        }
        for schema: Int32 in [-5, -9, 9, 52, 53, -52, -54, .max, .min] {
            var h = Self.valid
            h.schema = schema
            expectInvalid(h, "histogram has an invalid schema")
            var f = Self.validFloat
            f.schema = schema
            expectInvalid(f, "histogram has an invalid schema")
        }
        var high = Self.valid
        high.schema = 9
        expectInvalid(high, "reduce it to 8 first")
    }

    @Test func zeroThresholdMustBeANonNegativeNumber() {
        var h = Self.valid
        h.zeroThreshold = -0.001
        expectInvalid(h, "zero threshold must be a non-negative number")
        h.zeroThreshold = .nan
        expectInvalid(h, "zero threshold must be a non-negative number")
        h.zeroThreshold = .infinity
        expectValid(h)
    }

    @Test func spansAfterTheFirstMustNotHaveNegativeOffsets() {
        var h = Self.valid
        h.positiveSpans = [BucketSpan(offset: -5, length: 2), BucketSpan(offset: 0, length: 1)]
        expectValid(h)
        h.positiveSpans = [BucketSpan(offset: 0, length: 2), BucketSpan(offset: -1, length: 1)]
        expectInvalid(h, "histogram has a span whose offset is negative: positive side: span number 2")
        var f = Self.validFloat
        f.negativeSpans = [BucketSpan(offset: 0, length: 0), BucketSpan(offset: -1, length: 1)]
        expectInvalid(f, "histogram has a span whose offset is negative: negative side")
    }

    @Test func spanLengthsMustMatchTheBuckets() {
        var h = Self.valid
        h.positiveSpans.append(BucketSpan(offset: 0, length: 0))  // zero-length spans are allowed
        expectValid(h)
        h.positiveDeltas.append(0)
        expectInvalid(h, "histogram spans specify different number of buckets than provided: positive side: spans need 3 buckets, have 4")
        var f = Self.validFloat
        f.negativeCounts = []
        expectInvalid(f, "histogram spans specify different number of buckets than provided: negative side")
    }

    @Test func integerBucketCountsFromDeltasMustNotBeNegative() {
        var h = Self.valid
        h.positiveDeltas = [2, -2, 4]  // 2, 0, 4: with 3 negative and 2 zero, 11 in all
        expectValid(h)
        h.positiveDeltas = [2, -3, 5]  // 2, -1, 4
        expectInvalid(h, "histogram has a bucket whose observation count is negative: positive side: bucket number 2")
        h = Self.valid
        h.negativeDeltas = [-1, 3]
        expectInvalid(h, "histogram has a bucket whose observation count is negative: negative side: bucket number 1")
    }

    @Test func floatBucketAndZeroCountsMustNotBeNegative() {
        var f = Self.validFloat
        f.positiveCounts = [0, -0.5]
        expectInvalid(f, "histogram has a bucket whose observation count is negative: positive side: bucket number 2")
        f = Self.validFloat
        f.zeroCount = .float(-1)
        expectInvalid(f, "zero bucket has observation count of -1")
        f = Self.validFloat
        f.positiveCounts = [.nan, 1]  // NaN is not negative, as in Go
        expectValid(f)
    }

    @Test func integerCountMustEqualTheBucketsUnlessTheSumIsNaN() {
        var h = Self.valid
        h.count = .int(12)
        expectInvalid(h, "should equal the number of observations found in the buckets (in absence of NaN): 11 observations found in buckets, but the Count field is 12")
        h.sum = .nan
        expectValid(h)  // NaN observations count but land in no bucket
        h.count = .int(10)
        expectInvalid(h, "should be at least the number of observations found in the buckets: 11 observations")
    }

    @Test func floatCountIsOnlyCheckedForSign() {
        var f = Self.validFloat
        f.count = .float(1)  // below the bucket sum: rounding makes Prometheus skip that check
        expectValid(f)
        f.count = .float(.nan)
        expectValid(f)
        f.count = .float(-1)
        expectInvalid(f, "histogram's observation count is negative")
    }

    @Test func customBoundsMustBeStrictlyIncreasingAndNotNaN() {
        var h = Self.validCustom
        h.customValues = [-.infinity, 0.5, 1]  // only a last +Inf is rejected
        expectValid(h)
        h.customValues = [0.1, 0.1, 1]
        expectInvalid(h, "custom buckets: histogram custom bounds must be in strictly increasing order")
        h.customValues = [0.1, .nan, 1]
        expectInvalid(h, "custom buckets: histogram custom bounds must not be NaN")
        h.customValues = [0.1, 0.5, .infinity]
        expectInvalid(h, "custom buckets: histogram custom bounds must be finite")
    }

    @Test func customBucketIndexesMustBeWithinTheBounds() {
        var h = Self.validCustom
        // Spans cover indexes 0, 1 and 3; three bounds give buckets 0...3 (3 is the +Inf bucket).
        expectValid(h)
        h.customValues = [0.1, 0.5]
        expectInvalid(h, "custom buckets: histogram custom bounds are too few")
        h = Self.validCustom
        h.positiveSpans = [BucketSpan(offset: -1, length: 2), BucketSpan(offset: 1, length: 1)]
        expectInvalid(h, "custom buckets: histogram has a span whose offset is negative: span number 1")
        h = Self.validCustom
        h.positiveDeltas = [1, 2]
        expectInvalid(h, "custom buckets: histogram spans specify different number of buckets than provided")
    }

    @Test func customBucketsHaveNoZeroBucketAndNoNegativeSide() {
        var h = Self.validCustom
        h.zeroCount = .int(1)
        h.count = .int(7)
        expectInvalid(h, "custom buckets: must have zero count of 0")
        h = Self.validCustom
        h.zeroThreshold = 0.001
        expectInvalid(h, "custom buckets: must have zero threshold of 0")
        h = Self.validCustom
        h.negativeSpans = [BucketSpan(offset: 0, length: 0)]
        expectInvalid(h, "custom buckets: must not have negative spans")
        h = Self.validCustom
        h.negativeDeltas = [1]
        expectInvalid(h, "custom buckets: must not have negative buckets")
        var f = Histogram(
            count: .float(1), schema: -53, positiveSpans: [BucketSpan(offset: 0, length: 1)], positiveCounts: [1],
            customValues: [1])
        expectValid(f)
        f.negativeCounts = [1]
        expectInvalid(f, "custom buckets: must not have negative buckets")
    }

    @Test func exponentialSchemasMustNotHaveCustomBounds() {
        var h = Self.valid
        h.customValues = [1]
        expectInvalid(h, "histogram with exponential schema must not have custom bounds")
        var f = Self.validFloat
        f.customValues = [1]
        expectInvalid(f, "histogram with exponential schema must not have custom bounds")
    }

    /// Go's uint64 and int64 arithmetic wraps; so does this validator, rather than trapping.
    @Test func hugeCountsDoNotTrap() {
        let h = Histogram(
            count: .int(.max), zeroCount: .int(.max),
            positiveSpans: [BucketSpan(offset: 0, length: 2)], positiveDeltas: [.max, .max])
        expectInvalid(h, "histogram has a bucket whose observation count is negative")
        let big = Histogram(
            count: .int(UInt64(Int64.max) - 1), zeroCount: .int(.max),
            positiveSpans: [BucketSpan(offset: 0, length: 1)], positiveDeltas: [.max])
        expectValid(big)  // UInt64.max + Int64.max wraps to Int64.max - 1, as in Go
    }
}
