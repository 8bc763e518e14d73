import Foundation
import Hummingbird
import SluiceCodec
import SluiceRing
import SluiceTestSupport
import Synchronization
import Testing
@testable import SluiceInsert

/// A clock that moves only when told: token-bucket decisions without sleeping.
final class FakeClock: Sendable {
    private let instant = Mutex(ContinuousClock.now)

    var now: ContinuousClock.Instant { instant.withLock { $0 } }
    func advance(by duration: Duration) { instant.withLock { $0 += duration } }
}

@Suite struct TenantLimitsTests {
    static let flags = TenantLimits(flags: .init())

    static let example = """
        defaults:
          ingestion_rate: 100000
          ingestion_burst_size: 200000
          max_label_names_per_series: 25
        overrides:
          team-a: {ingestion_rate: 5000, max_series_per_request: 1000}
          team-b: {ingestion_burst_size: 300000}
          team-c:
        """

    // MARK: Parsing

    @Test func parsesDefaultsAndOverrides() throws {
        let overrides = try TenantOverrides.parse(yaml: Self.example, flags: Self.flags)
        let other = overrides.limits(for: "someone-else")
        #expect(other.ingestionRate == 100_000)
        #expect(other.ingestionBurstSize == 200_000)
        #expect(other.maxLabelNamesPerSeries == 25)
        #expect(other.maxSeriesPerRequest == 0, "unset in defaults: the flag's value")

        let a = overrides.limits(for: "team-a")
        #expect(a.ingestionRate == 5000)
        #expect(a.ingestionBurstSize == 5000, "a tenant that sets its rate and no burst gets its rate as burst")
        #expect(a.maxSeriesPerRequest == 1000)
        #expect(a.maxLabelNamesPerSeries == 25, "unset for the tenant: the defaults' value")

        let b = overrides.limits(for: "team-b")
        #expect(b.ingestionRate == 100_000)
        #expect(b.ingestionBurstSize == 300_000)
        #expect(overrides.limits(for: "team-c") == other, "a tenant with no keys has the defaults")
    }

    @Test func unsetKeysFallBackToTheFlags() throws {
        var scanner = WriteRequestScanner.Limits()
        scanner.maxLabelNamesPerSeries = 12
        scanner.maxSeriesPerRequest = 7
        let flags = TenantLimits(flags: scanner)
        for yaml in ["", "# nothing\n", "overrides:\n", "defaults: {}\n"] {
            let overrides = try TenantOverrides.parse(yaml: yaml, flags: flags)
            #expect(overrides.limits(for: "any") == flags, "\(yaml)")
        }
        #expect(flags.ingestionRate == 0, "no rate limit unless one is configured")

        let limits = try TenantOverrides.parse(yaml: "defaults: {ingestion_rate: 10}\n", flags: flags).limits(for: "any")
        #expect(limits.ingestionBurstSize == 10, "the default burst is the rate")
        #expect(limits.scannerLimits(scanner) == scanner)
        var tight = limits
        tight.maxSeriesPerRequest = 3
        #expect(tight.scannerLimits(scanner).maxSeriesPerRequest == 3)
        #expect(tight.scannerLimits(scanner).maxLabelNameLength == scanner.maxLabelNameLength)
    }

    @Test(arguments: [
        ("defaults: [1, 2]\n", OverridesError.Code.invalidYAML, "defaults"),
        ("- 1\n", .invalidYAML, "not a mapping"),
        ("defaults: {ingestion_rate: 1\n", .invalidYAML, "not YAML"),
        ("default: {ingestion_rate: 1}\n", .invalidYAML, "unknown key default"),
        ("overrides:\n  team-a: {ingestion_rat: 1}\n", .invalidYAML, "unknown key overrides.team-a.ingestion_rat"),
        ("overrides:\n  team-a: {ingestion_rate: 1, ingestion_rate: 2}\n", .invalidYAML, "unique"),
        ("overrides:\n  team-a: {}\n  team-a: {}\n", .invalidYAML, "unique"),
        ("overrides:\n  team-a: {ingestion_rate: -1}\n", .invalidLimit, "overrides.team-a.ingestion_rate"),
        ("overrides:\n  team-a: {ingestion_rate: lots}\n", .invalidLimit, "must be a number"),
        ("overrides:\n  team-a: {ingestion_rate: 10, ingestion_burst_size: 0}\n", .invalidLimit, "at least 1 sample"),
        ("overrides:\n  team-a: {max_series_per_request: 1.5}\n", .invalidLimit, "whole number"),
        ("defaults: {max_label_names_per_series: 0}\n", .invalidLimit, "max_label_names_per_series must be at least 1"),
        ("overrides: 3\n", .invalidYAML, "map tenants"),
    ])
    func rejectsBadFiles(yaml: String, code: OverridesError.Code, message: String) {
        #expect {
            _ = try TenantOverrides.parse(yaml: yaml, flags: Self.flags)
        } throws: { error in
            guard let error = error as? OverridesError else { return false }
            return error.code == code && error.message.contains(message)
        }
    }

    // MARK: Token bucket

    /// The wait a refusal names, in seconds; nil for any other answer.
    static func wait(_ admission: TokenBucket.Admission) -> Double? {
        guard case .rateLimited(let wait) = admission else { return nil }
        return Double(wait.components.seconds) + Double(wait.components.attoseconds) / 1e18
    }

    @Test func bucketStartsFullAndRefillsAtItsRate() {
        let clock = FakeClock()
        var bucket = TokenBucket(rate: 10, burst: 20, at: clock.now)
        #expect(bucket.take(15, at: clock.now) == .admitted)
        #expect(bucket.tokens == 5)
        // Short by 5 tokens at 10/s: half a second, which Retry-After rounds up to 1.
        #expect(Self.wait(bucket.take(10, at: clock.now)) == 0.5)
        #expect(bucket.tokens == 5, "a refused request takes nothing")
        clock.advance(by: .milliseconds(500))
        #expect(bucket.take(10, at: clock.now) == .admitted)
        clock.advance(by: .seconds(60))
        #expect(bucket.take(0, at: clock.now) == .admitted)
        #expect(bucket.tokens == 20, "saving stops at the burst")
        #expect(bucket.take(21, at: clock.now) == .exceedsBurst)
        #expect(bucket.take(20, at: clock.now) == .admitted)
    }

    @Test func retryAfterIsWholeSecondsAndAtLeastOne() {
        #expect(TokenBucket.Admission.retryAfterSeconds(.milliseconds(1)) == 1)
        #expect(TokenBucket.Admission.retryAfterSeconds(.zero) == 1)
        #expect(TokenBucket.Admission.retryAfterSeconds(.milliseconds(2500)) == 3)
        #expect(TokenBucket.Admission.retryAfterSeconds(.seconds(4)) == 4)
    }

    @Test func reconfiguringKeepsTheTokensEarned() {
        let clock = FakeClock()
        var bucket = TokenBucket(rate: 10, burst: 100, at: clock.now)
        #expect(bucket.take(100, at: clock.now) == .admitted)
        clock.advance(by: .seconds(2))
        // 20 tokens earned at the old rate, then the rate goes up: no fresh burst.
        bucket.reconfigure(rate: 1000, burst: 1000, at: clock.now)
        #expect(bucket.tokens == 20)
        clock.advance(by: .milliseconds(100))
        #expect(bucket.take(120, at: clock.now) == .admitted)
        // A smaller burst caps what is saved.
        clock.advance(by: .seconds(10))
        bucket.reconfigure(rate: 1, burst: 5, at: clock.now)
        #expect(bucket.tokens == 5)
    }

    // MARK: The answers

    @Test func shortBucketIs429WithRetryAfterAndTooLargeIs400() throws {
        var limits = Self.flags
        limits.ingestionRate = 2
        limits.ingestionBurstSize = 4
        let limited = try #require(LimitRejection(.rateLimited(retryAfter: .milliseconds(1500)), tenant: "team-a", samples: 3, limits: limits))
        #expect(limited.reason == "rate_limited")
        #expect(limited.failure.status.code == 429)
        #expect(limited.failure.headers[.retryAfter] == "2")
        #expect(limited.failure.message.contains("team-a"))
        #expect(limited.failure.message.contains("ingestion rate of 2 samples/s"))

        let tooLarge = try #require(LimitRejection(.exceedsBurst, tenant: "team-a", samples: 9, limits: limits))
        #expect(tooLarge.reason == "burst_exceeded")
        #expect(tooLarge.failure.status.code == 400)
        #expect(tooLarge.failure.headers[.retryAfter] == nil)
        #expect(tooLarge.failure.message == "request of 9 samples exceeds tenant team-a's burst size 4")
        #expect(LimitRejection(.admitted, tenant: "team-a", samples: 1, limits: limits) == nil)
    }

    @Test func scannerLimitErrorsAreTenantLimits() throws {
        let series = try #require(LimitRejection(CodecError(.invalidSeries, "request has more than 10 series"), tenant: "t"))
        #expect(series.reason == "series_per_request")
        #expect(series.failure.status.code == 400)
        #expect(series.failure.message == "tenant t: request has more than 10 series")
        let labels = try #require(LimitRejection(CodecError(.invalidSeries, "series has 31 labels, more than the limit of 30"), tenant: "t"))
        #expect(labels.reason == "labels_per_series")
        #expect(LimitRejection(CodecError(.invalidSeries, "series has no metric name"), tenant: "t") == nil)
        #expect(LimitRejection(CodecError(.protobufInvalid, "request has more than 10 series"), tenant: "t") == nil)
    }

    /// The scanner enforces the tenant's limits, not only the flags'.
    @Test func routerTakesTheTenantsScannerLimits() throws {
        var limits = Self.flags
        limits.maxSeriesPerRequest = 1
        limits.maxLabelNamesPerSeries = 2
        let ring = try HashRing(nodes: [RingNode(name: "store-0")], replicationFactor: 1)
        func route(_ body: [UInt8], _ limits: TenantLimits) throws -> RoutedRequest {
            let router = RequestRouter(limits: limits.scannerLimits(.init()))
            let compressed = Snappy.compress(body)
            try compressed.withUnsafeBytes { raw in try Snappy.decompress(raw, into: router.decompressed, limit: 1 << 20) }
            return try router.route(tenant: "t", tenantLabel: nil, ring: ring)
        }
        let one = RawProtobuf.writeRequest(labels: [("__name__", "up"), ("job", "a")], timestamp: 1)
        let three = RawProtobuf.writeRequest(labels: [("__name__", "up"), ("instance", "i"), ("job", "a")], timestamp: 1)
        #expect(try route(one, limits).summary.series == 1)
        #expect(try route(one + one, Self.flags).summary.series == 2)
        #expect { try route(one + one, limits) } throws: { error in
            (error as? CodecError).flatMap { LimitRejection($0, tenant: "t") }?.reason == "series_per_request"
        }
        #expect { try route(three, limits) } throws: { error in
            (error as? CodecError).flatMap { LimitRejection($0, tenant: "t") }?.reason == "labels_per_series"
        }
    }

    // MARK: Shared state and reloads

    @Test func tenantsHaveTheirOwnBucketsAndReloadsKeepThem() throws {
        let clock = FakeClock()
        let overrides = try TenantOverrides.parse(yaml: "overrides:\n  team-a: {ingestion_rate: 1, ingestion_burst_size: 10}\n", flags: Self.flags)
        let limiter = TenantLimiter(overrides: overrides, now: { clock.now })
        #expect(limiter.admit(tenant: "team-a", samples: 10) == .admitted)
        #expect(limiter.admit(tenant: "team-a", samples: 1) == .rateLimited(retryAfter: .seconds(1.0)))
        #expect(limiter.admit(tenant: "team-b", samples: 1_000_000) == .admitted, "no rate for team-b")
        #expect(limiter.bucket(of: "team-b") == nil)

        // Reloading the same limits hands out no fresh burst; a higher rate applies to the old bucket.
        limiter.replace(try TenantOverrides.parse(yaml: "overrides:\n  team-a: {ingestion_rate: 1, ingestion_burst_size: 10}\n", flags: Self.flags))
        #expect(limiter.admit(tenant: "team-a", samples: 1) == .rateLimited(retryAfter: .seconds(1.0)))
        limiter.replace(try TenantOverrides.parse(yaml: "overrides:\n  team-a: {ingestion_rate: 100, ingestion_burst_size: 10}\n", flags: Self.flags))
        #expect(Self.wait(limiter.admit(tenant: "team-a", samples: 1)).map { abs($0 - 0.01) < 1e-9 } == true)
        clock.advance(by: .milliseconds(10))
        #expect(limiter.admit(tenant: "team-a", samples: 1) == .admitted)
        #expect(limiter.bucket(of: "team-a")?.rate == 100)
    }

    @Test func watcherAppliesValidFilesAndKeepsTheLimitsOnBadOnes() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/overrides.yaml"
        try "overrides:\n  team-a: {ingestion_rate: 1, ingestion_burst_size: 5}\n".write(toFile: path, atomically: true, encoding: .utf8)
        let clock = FakeClock()
        let limiter = TenantLimiter(overrides: TenantOverrides(defaults: Self.flags), now: { clock.now })
        let results = Mutex<[Bool]>([])
        let watcher = try OverridesWatcher(
            configuration: .init(path: path), limiter: limiter, flags: Self.flags, logger: TestLog.logger("overrides"),
            onReload: { success in results.withLock { $0.append(success) } }
        )
        #expect(limiter.limits(for: "team-a").ingestionRate == 1, "the file is in force once the watcher is built")
        #expect(limiter.admit(tenant: "team-a", samples: 5) == .admitted)

        // A bad file: reported once, however often it is seen, and the limits and bucket stay.
        try "overrides:\n  team-a: {ingestion_rate: -5}\n".write(toFile: path, atomically: true, encoding: .utf8)
        watcher.check()
        watcher.check()
        #expect(results.withLock { $0 } == [false])
        #expect(limiter.limits(for: "team-a").ingestionRate == 1)
        #expect(limiter.admit(tenant: "team-a", samples: 1) != .admitted, "the bucket is still empty")

        // A missing file is a failure too, reported once.
        try FileManager.default.removeItem(atPath: path)
        watcher.check()
        watcher.check()
        #expect(results.withLock { $0 } == [false, false])

        try "overrides:\n  team-a: {ingestion_rate: 1000, ingestion_burst_size: 5}\n".write(toFile: path, atomically: true, encoding: .utf8)
        watcher.check()
        watcher.check()
        #expect(results.withLock { $0 } == [false, false, true])
        #expect(limiter.limits(for: "team-a").ingestionRate == 1000)
        #expect(limiter.bucket(of: "team-a")?.tokens == 0, "the bucket survived the reload")
        clock.advance(by: .milliseconds(5))
        #expect(limiter.admit(tenant: "team-a", samples: 5) == .admitted)
    }

    @Test func watcherRefusesToStartOnABadFile() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/overrides.yaml"
        try "defaults: {ingestion_rate: x}\n".write(toFile: path, atomically: true, encoding: .utf8)
        let limiter = TenantLimiter(overrides: TenantOverrides(defaults: Self.flags))
        #expect(throws: OverridesError.self) {
            _ = try OverridesWatcher(configuration: .init(path: path), limiter: limiter, flags: Self.flags, logger: TestLog.logger("overrides"))
        }
        #expect(throws: OverridesError.self) {
            _ = try OverridesWatcher(
                configuration: .init(path: directory.path + "/missing.yaml"), limiter: limiter, flags: Self.flags, logger: TestLog.logger("overrides")
            )
        }
    }
}

/// The limits over HTTP: a server in this process, fake storage nodes, an overrides file rewritten
/// while it runs.
@Suite("TenantLimitsEndToEnd", .serialized)
struct TenantLimitsEndToEndTests {
    @Test(.timeLimit(.minutes(1)))
    func limitedTenantGets429UntilTheFileRaisesItsRate() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let overridesPath = directory.path + "/overrides.yaml"
        // 0.01 samples/s: after the first request, team-a's bucket refills in 100 s, long after the test.
        let tight = """
            overrides:
              team-a: {ingestion_rate: 0.01, ingestion_burst_size: 1}
              team-c: {max_label_names_per_series: 2, max_series_per_request: 1}
            """
        try tight.write(toFile: overridesPath, atomically: true, encoding: .utf8)
        let node = FakeNode(name: "store-a")
        try await withFakeNodes([node]) { ports in
            let ring = RingConfiguration(replicationFactor: 1, nodes: [.init(name: node.name, url: "http://127.0.0.1:\(ports[0])/api/v1/write")])
            try await withInsert(ring: ring, dataDirectory: directory.path + "/insert", configure: {
                $0.overridesFile = overridesPath
                $0.overridesReloadInterval = .milliseconds(100)
            }) { insert in
                let now = Int64(Date().timeIntervalSince1970 * 1000)
                func body(_ labels: [(String, String)], series: Int = 1) -> [UInt8] {
                    Snappy.compress((0..<series).flatMap { i in RawProtobuf.writeRequest(labels: labels + [("series", "\(i)")], timestamp: now) })
                }
                func write(_ tenant: String, _ body: [UInt8]) async throws -> HTTPResult {
                    try await insert.write(body, headers: TestHTTP.remoteWriteHeaders + [("X-Scope-OrgID", tenant)])
                }
                let up = body([("__name__", "up")])

                #expect(try await write("team-a", up).status == 204)
                let arrived = node.arrivals
                let limited = try await write("team-a", up)
                #expect(limited.status == 429, "\(limited.body)")
                let retryAfter = try #require(limited.headers.first(name: "Retry-After").flatMap { Int($0) })
                #expect(retryAfter >= 1)
                #expect(limited.body.contains("team-a"), "\(limited.body)")
                #expect(node.arrivals == arrived, "a refused request is not forwarded")
                #expect(try await write("team-b", up).status == 204, "other tenants are not limited")

                let tooLarge = try await write("team-a", body([("__name__", "up")], series: 2))
                #expect(tooLarge.status == 400, "\(tooLarge.body)")
                #expect(tooLarge.body.contains("burst size"), "\(tooLarge.body)")
                let manyLabels = try await write("team-c", body([("__name__", "up"), ("job", "x")]))
                #expect(manyLabels.status == 400, "\(manyLabels.body)")
                #expect(manyLabels.body.contains("tenant team-c"), "\(manyLabels.body)")
                #expect(try await write("team-b", body([("__name__", "up"), ("job", "x")], series: 2)).status == 204)

                var metrics = try await insert.metrics()
                #expect(metrics.value("sluice_insert_limited_requests_total", ["tenant": "team-a", "reason": "rate_limited"]) == 1)
                #expect(metrics.value("sluice_insert_limited_requests_total", ["tenant": "team-a", "reason": "burst_exceeded"]) == 1)
                #expect(metrics.value("sluice_insert_limited_requests_total", ["tenant": "team-c", "reason": "labels_per_series"]) == 1)

                // A bad file keeps the limits; a good one raises team-a's rate without a restart.
                try "overrides: [".write(toFile: overridesPath, atomically: true, encoding: .utf8)
                let failed = try await eventually(timeout: .seconds(20)) {
                    try await insert.metrics().value("sluice_insert_overrides_reloads_total", ["result": "failure"]) == 1
                }
                #expect(failed)
                #expect(try await write("team-a", up).status == 429)
                try "overrides:\n  team-a: {ingestion_rate: 1000, ingestion_burst_size: 1000}\n"
                    .write(toFile: overridesPath, atomically: true, encoding: .utf8)
                let accepted = try await eventually(timeout: .seconds(20), every: .milliseconds(100)) {
                    try await write("team-a", up).status == 204
                }
                #expect(accepted, "team-a is still limited after the file raised its rate")
                metrics = try await insert.metrics()
                #expect(metrics.value("sluice_insert_overrides_reloads_total", ["result": "success"]) == 1)
            }
        }
    }
}
