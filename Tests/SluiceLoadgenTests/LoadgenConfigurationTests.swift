import Testing

@testable import SluiceLoadgen

/// `validate()` is what a user sees for a bad flag, so each message must name the flag.
@Suite struct LoadgenConfigurationTests {
    static func valid() -> LoadgenConfiguration {
        LoadgenConfiguration(url: "http://127.0.0.1:8480/api/v1/write", runID: "run-1")
    }

    /// One bad setting and the words its message must contain.
    struct Invalid: Sendable, CustomTestStringConvertible {
        var name: String
        var mentions: [String]
        var change: @Sendable (inout LoadgenConfiguration) -> Void

        init(_ name: String, mentions: String..., change: @escaping @Sendable (inout LoadgenConfiguration) -> Void) {
            self.name = name
            self.mentions = mentions
            self.change = change
        }

        var testDescription: String { name }
    }

    static let invalid: [Invalid] = [
        Invalid("no url", mentions: "--url", "--dry-run") { $0.url = nil },
        Invalid("ftp url", mentions: "--url") { $0.url = "ftp://example.com/write" },
        Invalid("bare host", mentions: "--url") { $0.url = "127.0.0.1:8480" },
        Invalid("series 0", mentions: "--series") { $0.series = 0 },
        Invalid("series -1", mentions: "--series") { $0.series = -1 },
        Invalid("metrics 0", mentions: "--metrics") { $0.metrics = 0 },
        Invalid("metrics above series", mentions: "--metrics", "--series") {
            $0.series = 50
            $0.metrics = 100
        },
        Invalid("interval 5 ms", mentions: "--interval") { $0.intervalMs = 5 },
        Invalid("interval 9 ms", mentions: "--interval") { $0.intervalMs = 9 },
        Invalid("rate 0", mentions: "--rate") { $0.pace = .rate(0) },
        Invalid("rate -1", mentions: "--rate") { $0.pace = .rate(-1) },
        Invalid("rate NaN", mentions: "--rate") { $0.pace = .rate(.nan) },
        Invalid("duration 0", mentions: "--duration") { $0.duration = 0 },
        Invalid("duration -5", mentions: "--duration") { $0.duration = -5 },
        Invalid("duration NaN", mentions: "--duration") { $0.duration = .nan },
        Invalid("requests 0", mentions: "--requests") { $0.requests = 0 },
        Invalid("neither duration nor requests", mentions: "--duration", "--requests") {
            $0.duration = nil
            $0.requests = nil
        },
        Invalid("batch 0", mentions: "--batch") { $0.batch = 0 },
        Invalid("concurrency 0", mentions: "--concurrency") { $0.concurrency = 0 },
        Invalid("concurrency 2000", mentions: "--concurrency") { $0.concurrency = 2000 },
        Invalid("churn 150", mentions: "--churn") { $0.churnPercent = 150 },
        Invalid("churn -1", mentions: "--churn") { $0.churnPercent = -1 },
        Invalid("out-of-order 2", mentions: "--out-of-order") { $0.outOfOrder = 2 },
        Invalid("out-of-order -0.1", mentions: "--out-of-order") { $0.outOfOrder = -0.1 },
        Invalid("remote write 3", mentions: "--remote-write-version") { $0.remoteWriteVersion = 3 },
        Invalid("remote write 0", mentions: "--remote-write-version") { $0.remoteWriteVersion = 0 },
        Invalid("verify with dry run", mentions: "--verify", "--dry-run") {
            $0.dryRun = true
            $0.verifyURL = "http://127.0.0.1:8481/api/v1/read"
        },
        Invalid("verify not http", mentions: "--verify") { $0.verifyURL = "127.0.0.1:8481/api/v1/read" },
        Invalid("run ID with a space", mentions: "--run-id") { $0.runID = "my run" },
        Invalid("run ID with a quote", mentions: "--run-id") { $0.runID = "my\"run" },
        Invalid("run ID with a backslash", mentions: "--run-id") { $0.runID = "my\\run" },
        Invalid("run ID empty", mentions: "--run-id") { $0.runID = "" },
        Invalid("run ID not ASCII", mentions: "--run-id") { $0.runID = "läuft" },
        Invalid("run ID with a newline", mentions: "--run-id") { $0.runID = "a\nb" },
        Invalid("min backoff 0", mentions: "backoff") { $0.minBackoff = 0 },
        Invalid("max below min backoff", mentions: "backoff") {
            $0.minBackoff = 1
            $0.maxBackoff = 0.5
        },
        Invalid("start in 1970", mentions: "start") { $0.startMs = 1_000 },
        Invalid("start in 2200", mentions: "start") { $0.startMs = 7_258_118_400_000 },
    ]

    @Test(arguments: invalid)
    func rejects(_ bad: Invalid) {
        var configuration = Self.valid()
        bad.change(&configuration)
        do {
            try configuration.validate()
            Issue.record("\(bad.name) passed validation")
        } catch {
            guard case .invalid(let message) = error else {
                Issue.record("\(bad.name): \(error) is not .invalid")
                return
            }
            for word in bad.mentions {
                #expect(message.contains(word), "\(bad.name): \"\(message)\" does not mention \(word)")
            }
            #expect(error.description == message)
        }
    }

    @Test func defaultsWithAURLPass() throws {
        let configuration = Self.valid()
        try configuration.validate()
        #expect(configuration.pace == .realistic)
        #expect(configuration.remoteWriteVersion == 1)
        #expect(!configuration.dryRun)
    }

    @Test func validVariantsPass() throws {
        var dryRun = LoadgenConfiguration(url: nil, runID: "dry")
        dryRun.dryRun = true
        try dryRun.validate()

        var requestsOnly = Self.valid()
        requestsOnly.duration = nil
        requestsOnly.requests = 10
        try requestsOnly.validate()

        var edges = Self.valid()
        edges.url = "https://example.com/api/v1/write"
        edges.verifyURL = "https://example.com/api/v1/read"
        edges.series = 1
        edges.metrics = 1
        edges.intervalMs = 10
        edges.batch = 1
        edges.concurrency = 1024
        edges.churnPercent = 100
        edges.outOfOrder = 1
        edges.pace = .max
        edges.runID = "a-Z_0.9:~!"
        edges.startMs = 1_700_000_000_000
        try edges.validate()

        var rate = Self.valid()
        rate.pace = .rate(0.5)
        rate.maxRetryTime = 0
        try rate.validate()
    }

    /// `RequestTemplate.render` traps on a timestamp outside its 6-byte varint range, so any start
    /// time `validate()` accepts must give in-range timestamps after the shape aligns it down to the
    /// interval and out-of-order samples step back one interval and 1 ms.
    @Test(arguments: [1 << 35, (1 << 35) + 1, (1 << 35) + 15_000, (1 << 35) + 30_000, 1_700_000_000_000] as [Int64])
    func acceptedStartTimesGiveRenderableTimestamps(startMs: Int64) {
        var configuration = Self.valid()
        configuration.startMs = startMs
        configuration.outOfOrder = 1
        guard (try? configuration.validate()) != nil else { return }  // rejecting is fine too
        let shape = SeriesShape(
            series: configuration.series, metrics: configuration.metrics, intervalMs: configuration.intervalMs,
            startMs: startMs, churnPercent: configuration.churnPercent, outOfOrder: configuration.outOfOrder,
            runID: configuration.runID
        )
        #expect(RequestTemplate.timestampRange.contains(shape.sampleTimestamp(slot: 0, tick: 0)), "tick 0 at \(shape.startMs)")
        #expect(RequestTemplate.timestampRange.contains(shape.sampleTimestamp(slot: 0, tick: 1)), "tick 1 at \(shape.sampleTimestamp(slot: 0, tick: 1))")
    }

    @Test func batchesPerTickRoundsUp() {
        var configuration = Self.valid()
        configuration.series = 10_000
        configuration.batch = 2000
        #expect(configuration.batchesPerTick == 5)
        configuration.series = 10_001
        #expect(configuration.batchesPerTick == 6)
        configuration.series = 1999
        #expect(configuration.batchesPerTick == 1)
        configuration.series = 1
        #expect(configuration.batchesPerTick == 1)
        configuration.series = 7
        configuration.batch = 1
        #expect(configuration.batchesPerTick == 7)
    }

    @Test func targetRate() {
        var configuration = Self.valid()
        configuration.series = 10_000
        configuration.intervalMs = 10_000
        #expect(configuration.targetRate == 1000)
        configuration.intervalMs = 15_000
        #expect(configuration.targetRate == 10_000.0 * 1000 / 15_000)
        configuration.intervalMs = 100
        #expect(configuration.targetRate == 100_000)
        configuration.pace = .rate(2500)
        #expect(configuration.targetRate == 2500)
        configuration.pace = .max
        #expect(configuration.targetRate == nil)
    }
}

// MARK: - LoadRecorder

extension LoadgenConfigurationTests {
    /// Nested so that the `LoadgenConfigurationTests` filter runs it.
    @Suite struct Recorder {
        @Test func outcomesByRequestNumberInAnyOrder() {
            let recorder = LoadRecorder()
            recorder.settle(request: 5, samples: 10, outcome: .acknowledged)
            recorder.settle(request: 2, samples: 20, outcome: .failed)
            recorder.settle(request: 0, samples: 30, outcome: .acknowledged)
            recorder.settle(request: 9, samples: 40, outcome: .unsent)
            #expect(recorder.outcome(request: 5) == .acknowledged)
            #expect(recorder.outcome(request: 2) == .failed)
            #expect(recorder.outcome(request: 0) == .acknowledged)
            #expect(recorder.outcome(request: 9) == .unsent)
            for number in [1, 3, 4, 6, 7, 8, 10, 1000, 1_000_000] {
                #expect(recorder.outcome(request: number) == .unsent, "request \(number)")
            }
            let outcomes = recorder.outcomes
            #expect(outcomes.count >= 10)
            #expect(outcomes[5] == RequestOutcome.acknowledged.rawValue)
            #expect(outcomes[2] == RequestOutcome.failed.rawValue)
            #expect(outcomes[0] == RequestOutcome.acknowledged.rawValue)
            #expect(outcomes.enumerated().filter { $0.element != 0 }.map(\.offset) == [0, 2, 5])
        }

        @Test func outcomesGrowForManyRequests() {
            let recorder = LoadRecorder()
            for number in 0..<5000 {
                recorder.settle(request: number, samples: 1, outcome: number % 3 == 0 ? .failed : .acknowledged)
            }
            // A jump far ahead, then a gap filled in.
            recorder.settle(request: 100_000, samples: 1, outcome: .acknowledged)
            recorder.settle(request: 50_000, samples: 1, outcome: .failed)
            let outcomes = recorder.outcomes
            #expect(outcomes.count > 100_000)
            for number in 0..<5000 {
                #expect(outcomes[number] == (number % 3 == 0 ? RequestOutcome.failed : .acknowledged).rawValue)
            }
            #expect(outcomes[5000..<50_000].allSatisfy { $0 == 0 })
            #expect(recorder.outcome(request: 50_000) == .failed)
            #expect(recorder.outcome(request: 100_000) == .acknowledged)
            #expect(recorder.outcome(request: 100_001) == .unsent)
            #expect(recorder.totals.requestsSent == 5002)
        }

        @Test func totals() {
            let recorder = LoadRecorder()
            recorder.settle(request: 0, samples: 100, outcome: .acknowledged)
            recorder.settle(request: 1, samples: 100, outcome: .acknowledged)
            recorder.settle(request: 2, samples: 50, outcome: .failed)
            recorder.recordAttempt(status: 204, micros: 1_000)
            recorder.recordAttempt(status: 204, micros: 2_000)
            recorder.recordAttempt(status: 503, micros: 3_000)
            recorder.recordAttempt(status: nil, micros: 30_000_000)
            recorder.recordAttempt(status: 400, micros: 500)
            recorder.recordRetry()
            recorder.recordRetry()
            let totals = recorder.totals
            #expect(totals.requestsSent == 3)
            #expect(totals.requestsAcknowledged == 2)
            #expect(totals.requestsFailed == 1)
            #expect(totals.samplesSent == 250)
            #expect(totals.samplesAcknowledged == 200)
            #expect(totals.samplesFailed == 50)
            #expect(totals.retries == 2)
            #expect(totals.statusCounts == ["204": 2, "503": 1, "transport": 1, "400": 1])
        }

        @Test func takeWindowResetsTheWindowButNotTheTotals() {
            let recorder = LoadRecorder()
            recorder.settle(request: 0, samples: 100, outcome: .acknowledged)
            recorder.settle(request: 1, samples: 40, outcome: .failed)
            for _ in 0..<99 { recorder.recordAttempt(status: 204, micros: 1_000) }
            recorder.recordAttempt(status: 204, micros: 100_000)
            let first = recorder.takeWindow()
            #expect(first.acknowledged == 100)
            #expect(first.p50 >= 990 && first.p50 <= 1_010)
            #expect(first.p99 >= 990 && first.p99 <= 101_000)
            #expect(first.totals.requestsSent == 2)

            let empty = recorder.takeWindow()
            #expect(empty.acknowledged == 0)
            #expect(empty.p50 == 0)
            #expect(empty.p99 == 0)
            #expect(empty.totals.requestsSent == 2)
            #expect(empty.totals.samplesAcknowledged == 100)
            #expect(empty.totals.statusCounts == ["204": 100])

            recorder.settle(request: 2, samples: 7, outcome: .acknowledged)
            recorder.recordAttempt(status: 204, micros: 50_000)
            let second = recorder.takeWindow()
            #expect(second.acknowledged == 7)
            #expect(second.p50 >= 49_000 && second.p50 <= 51_000)
            #expect(second.totals.samplesAcknowledged == 107)
            #expect(recorder.totals.requestsSent == 3)
        }

        @Test func latenciesAboveTwoMinutesAreClamped() {
            let recorder = LoadRecorder()
            recorder.recordAttempt(status: nil, micros: UInt64.max)
            let window = recorder.takeWindow()
            #expect(window.p50 >= 119_000_000 && window.p50 <= 121_000_000)
            #expect(window.totals.statusCounts == ["transport": 1])
        }
    }
}

// MARK: - Formatting

extension LoadgenConfigurationTests {
    /// The progress line's number formatting. Nested so that the `LoadgenConfigurationTests` filter
    /// runs it.
    @Suite struct Formatting {
        @Test(arguments: [
            (0, "0"), (7, "7"), (999, "999"), (1000, "1,000"), (12_345, "12,345"), (123_456, "123,456"),
            (1_234_567, "1,234,567"), (-1_234_567, "-1,234,567"), (-5, "-5"),
            (Int.max, "9,223,372,036,854,775,807"), (Int.min, "-9,223,372,036,854,775,808"),
        ])
        func grouped(value: Int, text: String) {
            #expect(SluiceLoadgen.grouped(value) == text)
        }

        @Test(arguments: [
            (1.005, 2, "1.00"),  // 1.005 is 1.00499999999999989… in binary
            (1.5, 0, "2"), (2.5, 0, "3"), (0, 2, "0.00"), (0.05, 1, "0.1"), (3.14159, 3, "3.142"),
            (9.999, 2, "10.00"), (12.0, 1, "12.0"), (0.001, 3, "0.001"), (0.07, 2, "0.07"),
            (-1.25, 1, "-1.3"), (-0.001, 2, "0.00"), (1_234_567.891, 2, "1234567.89"),
        ])
        func fixed(value: Double, digits: Int, text: String) {
            #expect(SluiceLoadgen.fixed(value, digits) == text)
        }

        @Test func fixedOfNonFiniteValues() {
            #expect(SluiceLoadgen.fixed(.infinity, 2) == "inf")
            #expect(SluiceLoadgen.fixed(.nan, 2) == "nan")
        }

        @Test(arguments: [
            (0, "0"), (12.4, "12"), (999, "999"), (1000, "1.0k"), (1_500, "1.5k"), (45_678, "45.7k"),
            (3_590_000, "3.59M"), (1_234_567, "1.23M"), (2_000_000_000, "2.00G"), (12_345_678_901, "12.35G"),
        ])
        func human(value: Double, text: String) {
            #expect(SluiceLoadgen.human(value) == text)
        }

        @Test func milliseconds() {
            #expect(SluiceLoadgen.milliseconds(1_234) == "1.23ms")
            #expect(SluiceLoadgen.milliseconds(12_345) == "12.3ms")
            #expect(SluiceLoadgen.milliseconds(0) == "0.00ms")
        }
    }
}
