import Foundation
import HTTPTypes
import Hummingbird
import SluiceCodec
import SluiceLoadgen
import SluiceTestSupport
import Synchronization
import Testing

/// The generator against receivers that answer as a test scripts: what is sent, in what order, and
/// how answers are retried, counted and reported.
@Suite("loadgen runs")
struct LoadGeneratorTests {
    @Test func sendsExactlyTheRequestsAskedForWithEverySeriesInOrder() async throws {
        let receiver = ScriptedReceiver()
        let report = try await withServices([receiver.application()]) { _ in
            let port = try await receiver.port.wait(timeout: .seconds(120))
            let configuration = smallRun(url: "http://127.0.0.1:\(port)/api/v1/write", series: 95, batch: 10, requests: 47) {
                $0.tenant = "team-a"
            }
            return try await LoadGenerator(configuration: configuration).generate()
        }
        let arrivals = receiver.arrivals
        #expect(arrivals.count == 47)
        #expect(report.requests.sent == 47 && report.requests.acknowledged == 47 && report.requests.failed == 0)
        #expect(report.statusCodes == ["204": 47])
        // 95 series in batches of 10: nine full batches and one of 5 per tick; 47 requests = 4 ticks + 7.
        #expect(report.samples.acknowledged == 4 * 95 + 7 * 10)
        #expect(arrivals.map { $0.request.timeseries.count }.reduce(0, +) == report.samples.sent)
        #expect(arrivals.allSatisfy { $0.headers[HTTPField.Name("X-Scope-OrgID")!] == "team-a" })
        #expect(arrivals.allSatisfy { $0.headers[.contentEncoding] == "snappy" && $0.headers[.contentType] == "application/x-protobuf" })
        #expect(arrivals.allSatisfy { $0.headers[HTTPField.Name("X-Prometheus-Remote-Write-Version")!] == "0.1.0" })
        // Each series' samples arrive in timestamp order, one per tick, whatever the concurrency.
        var last: [[Label]: Int64] = [:]
        for arrival in arrivals {
            for series in arrival.request.timeseries {
                #expect(series.samples.count == 1)
                let timestamp = series.samples[0].timestamp
                if let previous = last[series.labels] { #expect(timestamp == previous + 15_000) }
                last[series.labels] = timestamp
            }
        }
        #expect(last.count == 95)
    }

    @Test func retriesFiveHundredsAndTooManyRequestsHonouringRetryAfter() async throws {
        let times = Mutex<[ContinuousClock.Instant]>([])
        let receiver = ScriptedReceiver { number, _ in
            times.withLock { $0.append(.now) }
            switch number {
            case 0: return (.serviceUnavailable, [:])
            case 1: return (.tooManyRequests, [HTTPField.Name("Retry-After")!: "1"])
            default: return (.noContent, [:])
            }
        }
        let report = try await withServices([receiver.application()]) { _ in
            let port = try await receiver.port.wait(timeout: .seconds(120))
            let configuration = smallRun(url: "http://127.0.0.1:\(port)/api/v1/write", series: 10, batch: 10, requests: 3)
            return try await LoadGenerator(configuration: configuration).generate()
        }
        #expect(report.requests.sent == 3 && report.requests.acknowledged == 3 && report.requests.retries == 2)
        #expect(report.statusCodes == ["503": 1, "429": 1, "204": 3])
        #expect(report.firstErrors["503"] == "scripted 503")
        // The same body was sent three times before it was acknowledged.
        let arrivals = receiver.arrivals
        #expect(arrivals.count == 5)
        #expect(arrivals[0].request == arrivals[1].request && arrivals[1].request == arrivals[2].request)
        // The wait after the 429 is Retry-After's second, not the 10 ms backoff.
        let instants = times.withLock { $0 }
        #expect(instants[2] - instants[1] >= .milliseconds(990))
    }

    @Test func rejectionsAreFinalAndCounted() async throws {
        let receiver = ScriptedReceiver { number, _ in number % 2 == 0 ? (.badRequest, [:]) : (.noContent, [:]) }
        let report = try await withServices([receiver.application()]) { _ in
            let port = try await receiver.port.wait(timeout: .seconds(120))
            let configuration = smallRun(url: "http://127.0.0.1:\(port)/api/v1/write", series: 10, batch: 10, requests: 6) {
                $0.concurrency = 1
            }
            return try await LoadGenerator(configuration: configuration).generate()
        }
        #expect(receiver.arrivals.count == 6)
        #expect(report.requests.failed == 3 && report.requests.acknowledged == 3 && report.requests.retries == 0)
        #expect(report.samples.failed == 30 && report.samples.acknowledged == 30)
        #expect(report.statusCodes == ["400": 3, "204": 3])
        #expect(report.firstErrors["400"] == "scripted 400")
    }

    @Test func retriesStopAfterTheMaximumRetryTime() async throws {
        let receiver = ScriptedReceiver { _, _ in (.internalServerError, [:]) }
        let report = try await withServices([receiver.application()]) { _ in
            let port = try await receiver.port.wait(timeout: .seconds(120))
            // 5 s of 10-50 ms backoffs. How many retries fit depends on how busy the machine is (CI
            // once fitted only one into 2 s), so the exact budget arithmetic is RetryPolicyTests' job.
            let configuration = smallRun(url: "http://127.0.0.1:\(port)/api/v1/write", series: 10, batch: 10, requests: 1) {
                $0.maxRetryTime = 5
            }
            return try await LoadGenerator(configuration: configuration).generate()
        }
        #expect(report.requests.failed == 1 && report.requests.acknowledged == 0)
        #expect(report.requests.retries >= 1)
        #expect(report.statusCodes["500"] == report.requests.retries + 1)
    }

    @Test func connectionErrorsAreRetriedThenFail() async throws {
        let port = try freePorts(1)[0]  // nothing listens there
        // Refusals come back in microseconds, so 5 s of 10-50 ms backoffs is many attempts, even on a
        // machine too busy to keep the timing.
        let configuration = smallRun(url: "http://127.0.0.1:\(port)/api/v1/write", series: 10, batch: 10, requests: 2) {
            $0.maxRetryTime = 5
        }
        let report = try await LoadGenerator(configuration: configuration).generate()
        #expect(report.requests.failed == 2 && report.requests.acknowledged == 0)
        #expect(report.requests.retries >= 2)
        #expect((report.statusCodes["transport"] ?? 0) == report.requests.retries + 2)
        #expect(report.firstErrors["transport"] != nil)
    }

    @Test func warmUpTicksAreSentFirstAndLeftOutOfTheFigures() async throws {
        let receiver = ScriptedReceiver()
        let (report, outcomes) = try await withServices([receiver.application()]) { _ in
            let port = try await receiver.port.wait(timeout: .seconds(120))
            let configuration = smallRun(url: "http://127.0.0.1:\(port)/api/v1/write", series: 20, batch: 10, requests: 3) {
                $0.warmupTicks = 2
            }
            let generator = try LoadGenerator(configuration: configuration)
            return (try await generator.generate(), generator.recorder.outcomes)
        }
        // Two ticks of two batches, then the three measured requests, from tick 2 on.
        let arrivals = receiver.arrivals
        #expect(arrivals.count == 7)
        #expect(report.requests.sent == 3 && report.samples.acknowledged == 30 && report.statusCodes == ["204": 3])
        // Verification still expects the warm-up's samples.
        #expect(outcomes == Array(repeating: RequestOutcome.acknowledged.rawValue, count: 7))
        let timestamps = Set(arrivals.flatMap { $0.request.timeseries.map { $0.samples[0].timestamp } }).sorted()
        #expect(timestamps.count == 4 && timestamps[1] - timestamps[0] == 15_000)
        #expect(report.text.contains("2 warm-up ticks not counted"))
    }

    @Test func dryRunRendersWithoutSending() async throws {
        let configuration = smallRun(url: nil, series: 1000, batch: 100, requests: 25) { $0.dryRun = true }
        let report = try await LoadGenerator(configuration: configuration).generate()
        #expect(report.requests.sent == 25 && report.samples.acknowledged == 2500)
        #expect(report.statusCodes.isEmpty)
        #expect(report.text.contains("dry run (nothing sent)"))
    }

    @Test func stopEndsARunEarlyAndTheReportSaysSo() async throws {
        let receiver = ScriptedReceiver()
        let report = try await withServices([receiver.application()]) { _ in
            let port = try await receiver.port.wait(timeout: .seconds(120))
            var configuration = smallRun(url: "http://127.0.0.1:\(port)/api/v1/write", series: 100, batch: 10)
            configuration.requests = nil
            configuration.duration = 60
            configuration.pace = .rate(200)  // 20 requests/s: far from done when stopped
            let generator = try LoadGenerator(configuration: configuration)
            async let run = generator.generate()
            _ = try await eventually(timeout: .seconds(30)) { generator.recorder.totals.requestsAcknowledged >= 3 }
            generator.stop(abandonRetries: true)
            return try await run
        }
        #expect(report.requests.acknowledged >= 3)
        #expect(report.requests.sent == receiver.arrivals.count)
        #expect(report.durationSeconds < 60)
    }

    @Test func theJSONReportHoldsWhatScriptsRead() async throws {
        let configuration = smallRun(url: nil, series: 100, batch: 50, requests: 4) { $0.dryRun = true }
        let report = try await LoadGenerator(configuration: configuration).generate()
        let object = try #require(try JSONSerialization.jsonObject(with: report.json()) as? [String: Any])
        let samples = try #require(object["samples"] as? [String: Any])
        #expect(samples["acknowledged"] as? Int == 200)
        let throughput = try #require(object["throughput"] as? [String: Any])
        #expect((throughput["samplesPerSecond"] as? Double ?? 0) > 0)
        let latency = try #require(object["latencyMs"] as? [String: Any])
        #expect(Set(latency.keys) == ["p50", "p90", "p99", "p999", "max", "mean"])
        #expect(object["durationSeconds"] is Double)
        #expect((object["configuration"] as? [String: Any])?["runID"] as? String == configuration.runID)
    }
}
