import Testing

@testable import SluiceLoadgen

/// The retry policy is a pure decision, as Prometheus' queue manager makes it; no I/O here.
@Suite struct RetryPolicyTests {
    /// Powers of two, so the backoffs are exact.
    static let policy = RetryPolicy(minBackoff: 0.5, maxBackoff: 5, maxRetryTime: 60)
    /// "Sun, 06 Nov 1994 08:49:37 GMT", RFC 9110's example.
    static let rfcExample: Double = 784_111_777

    static func decide(_ status: Int?, retryAfter: String? = nil, attempt: Int = 0, elapsed: Double = 0, now: Double = 1_700_000_000) -> RetryPolicy.Decision {
        policy.decide(status: status, retryAfter: retryAfter, attempt: attempt, elapsed: elapsed, now: now)
    }

    @Test(arguments: [200, 201, 202, 204, 299])
    func successIsAcknowledged(status: Int) {
        #expect(Self.decide(status) == .done(.acknowledged))
        // Even with a Retry-After, and late in the retry budget.
        #expect(Self.decide(status, retryAfter: "10", attempt: 7, elapsed: 59) == .done(.acknowledged))
    }

    @Test(arguments: [400, 401, 403, 404, 409, 413, 422, 499, 100, 301, 304])
    func otherStatusesFailAtOnce(status: Int) {
        #expect(Self.decide(status) == .done(.failed))
        #expect(Self.decide(status, retryAfter: "1") == .done(.failed))
    }

    @Test(arguments: [500, 502, 503, 504, 599, 429])
    func serverErrorsAndThrottlingAreRetried(status: Int) {
        #expect(Self.decide(status) == .retry(afterSeconds: 0.5))
    }

    @Test func transportErrorsAreRetried() {
        #expect(Self.decide(nil) == .retry(afterSeconds: 0.5))
        #expect(Self.decide(nil, attempt: 2) == .retry(afterSeconds: 2))
    }

    @Test func backoffDoublesUpToTheCap() {
        let waits = (0..<8).map { Self.decide(503, attempt: $0) }
        #expect(waits == [0.5, 1, 2, 4, 5, 5, 5, 5].map { RetryPolicy.Decision.retry(afterSeconds: $0) })
        // However many attempts, no overflow.
        #expect(Self.decide(503, attempt: 63) == .retry(afterSeconds: 5))
        #expect(Self.decide(503, attempt: 10_000) == .retry(afterSeconds: 5))
    }

    @Test func backoffWithPrometheusDefaults() {
        let policy = RetryPolicy(minBackoff: 0.03, maxBackoff: 5, maxRetryTime: 60)
        let decision = policy.decide(status: 500, retryAfter: nil, attempt: 3, elapsed: 1, now: 0)
        #expect(decision == .retry(afterSeconds: 0.03 * 8))
    }

    @Test func retryAfterSecondsOverridesTheBackoff() {
        #expect(Self.decide(503, retryAfter: "3") == .retry(afterSeconds: 3))
        #expect(Self.decide(429, retryAfter: "3", attempt: 5) == .retry(afterSeconds: 3))
        #expect(Self.decide(503, retryAfter: " 3 ") == .retry(afterSeconds: 3))
        #expect(Self.decide(503, retryAfter: "0") == .retry(afterSeconds: 0))
        // Above the backoff cap: the receiver knows best, as in Prometheus.
        #expect(Self.decide(503, retryAfter: "30") == .retry(afterSeconds: 30))
    }

    @Test func retryAfterDateOverridesTheBackoff() {
        let date = "Sun, 06 Nov 1994 08:49:37 GMT"
        #expect(Self.decide(503, retryAfter: date, now: Self.rfcExample - 10) == .retry(afterSeconds: 10))
        #expect(Self.decide(429, retryAfter: date, now: Self.rfcExample - 2.5) == .retry(afterSeconds: 2.5))
        // A date already past means now.
        #expect(Self.decide(503, retryAfter: date, now: Self.rfcExample + 100) == .retry(afterSeconds: 0))
    }

    @Test(arguments: ["soon", "", "-1", "1.5", "3s", "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 06 Foo 1994 08:49:37 GMT", "06 Nov 1994 08:49:37 GMT"])
    func unparsableRetryAfterFallsBackToTheBackoff(value: String) {
        #expect(Self.decide(503, retryAfter: value, attempt: 1, now: Self.rfcExample - 10) == .retry(afterSeconds: 1))
    }

    @Test func retriesStopAtTheMaximumRetryTime() {
        // 59.5 + 0.5 = 60 is still within; one step further is not.
        #expect(Self.decide(503, attempt: 0, elapsed: 59.5) == .retry(afterSeconds: 0.5))
        #expect(Self.decide(503, attempt: 1, elapsed: 59.5) == .done(.failed))
        #expect(Self.decide(nil, attempt: 9, elapsed: 56) == .done(.failed))
        #expect(Self.decide(503, retryAfter: "3", elapsed: 57) == .retry(afterSeconds: 3))
        #expect(Self.decide(503, retryAfter: "3", elapsed: 57.5) == .done(.failed))
        #expect(Self.decide(503, retryAfter: "600") == .done(.failed))
        let date = "Sun, 06 Nov 1994 08:49:37 GMT"
        #expect(Self.decide(503, retryAfter: date, elapsed: 55, now: Self.rfcExample - 10) == .done(.failed))
    }

    @Test func zeroRetryTimeMeansOneTry() {
        let policy = RetryPolicy(minBackoff: 0.5, maxBackoff: 5, maxRetryTime: 0)
        #expect(policy.decide(status: 503, retryAfter: nil, attempt: 0, elapsed: 0, now: 0) == .done(.failed))
        #expect(policy.decide(status: 204, retryAfter: nil, attempt: 0, elapsed: 0, now: 0) == .done(.acknowledged))
    }

    // MARK: Dates

    @Test(arguments: [
        ("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_777.0),
        ("Thu, 01 Jan 1970 00:00:00 GMT", 0),
        ("Fri, 31 Dec 1999 23:59:59 GMT", 946_684_799),
        ("Tue, 29 Feb 2000 12:00:00 GMT", 951_825_600),
        ("Wed, 01 Mar 2023 00:00:00 GMT", 1_677_628_800),
        ("Mon, 15 Jan 2024 10:30:00 GMT", 1_705_314_600),
    ])
    func parsesIMFFixdate(text: String, epoch: Double) {
        #expect(RetryPolicy.parseIMFFixdate(text) == epoch)
    }

    @Test func parsesEveryMonth() {
        // The first of each month of 2021, by `date -u +%s`.
        let firsts: [Double] = [
            1_609_459_200, 1_612_137_600, 1_614_556_800, 1_617_235_200, 1_619_827_200, 1_622_505_600,
            1_625_097_600, 1_627_776_000, 1_630_454_400, 1_633_046_400, 1_635_724_800, 1_638_316_800,
        ]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        for (month, epoch) in zip(months, firsts) {
            #expect(RetryPolicy.parseIMFFixdate("Xxx, 01 \(month) 2021 00:00:00 GMT") == epoch, "\(month)")
        }
    }

    @Test(arguments: [
        "", "Sun, 06 Nov 1994 08:49:37", "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 06 November 1994 08:49:37 GMT",
        "Sun, xx Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49 GMT", "Sun, 06 Nov 1994 08:49:xx GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
    ])
    func rejectsOtherDates(text: String) {
        #expect(RetryPolicy.parseIMFFixdate(text) == nil)
    }

    @Test func parseRetryAfter() {
        #expect(RetryPolicy.parseRetryAfter("120", now: 0) == 120)
        #expect(RetryPolicy.parseRetryAfter("\t7 ", now: 0) == 7)
        #expect(RetryPolicy.parseRetryAfter("-5", now: 0) == nil)
        #expect(RetryPolicy.parseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", now: Self.rfcExample - 42) == 42)
        #expect(RetryPolicy.parseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", now: Self.rfcExample + 1) == 0)
    }
}
