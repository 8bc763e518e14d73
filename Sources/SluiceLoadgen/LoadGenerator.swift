import NIOSSL
import NIOCore
import ServiceLifecycle
import SluiceCodec
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One load run: workers render requests from templates and send them, a progress task reports,
/// and the run ends at `--duration` or `--requests`, or on SIGINT/SIGTERM through `ServiceGroup`.
///
/// Series are split into batches of `--batch` consecutive slots; request `n` is batch
/// `n % batchesPerTick` at tick `n / batchesPerTick`. Worker `w` owns the batches with
/// `batch % workers == w` and sends each one's ticks in order, retrying until settled before moving
/// on, so a series is never sent out of order by the generator itself: Prometheus' shards do the
/// same. More workers than batches would idle, so there are at most `batchesPerTick` workers.
public final class LoadGenerator: Service, Sendable {
    public let configuration: LoadgenConfiguration
    public let shape: SeriesShape
    public let recorder = LoadRecorder()
    private let policy: RetryPolicy
    private let sender: RemoteWriteSender?
    /// No new requests: the deadline passed or a signal came.
    private let stopIssuing = Atomic<Bool>(false)
    /// Also give up on retries: a signal came.
    private let abandonRetries = Atomic<Bool>(false)
    private let firstErrors = Mutex<[String: String]>([:])
    private let result = Mutex<LoadReport?>(nil)

    public init(configuration: LoadgenConfiguration) throws(LoadgenError) {
        try configuration.validate()
        self.configuration = configuration
        let start = configuration.startMs ?? Int64(wallClockSeconds() * 1000)
        self.shape = SeriesShape(
            series: configuration.series, metrics: configuration.metrics, intervalMs: configuration.intervalMs,
            startMs: start, churnPercent: configuration.churnPercent, outOfOrder: configuration.outOfOrder,
            runID: configuration.runID
        )
        self.policy = RetryPolicy(
            minBackoff: configuration.minBackoff, maxBackoff: configuration.maxBackoff, maxRetryTime: configuration.maxRetryTime
        )
        self.sender = configuration.dryRun ? nil : RemoteWriteSender(
            url: configuration.url!, tenant: configuration.tenant, authorization: configuration.authorization,
            tls: try clientTLS(caFile: configuration.tlsCAFile),
            concurrency: min(configuration.concurrency, configuration.batchesPerTick),
            timeoutSeconds: configuration.requestTimeout, remoteWriteVersion: configuration.remoteWriteVersion
        )
    }

    public var workers: Int { min(configuration.concurrency, configuration.batchesPerTick) }

    /// The report, once `run()` has returned.
    public var report: LoadReport? { result.withLock { $0 } }

    /// Stops issuing requests; in-flight ones finish, and retries stop too when `abandon` is set.
    public func stop(abandonRetries abandon: Bool) {
        stopIssuing.store(true, ordering: .relaxed)
        if abandon { abandonRetries.store(true, ordering: .relaxed) }
    }

    public func run() async throws {
        try await withGracefulShutdownHandler {
            _ = try await generate()
        } onGracefulShutdown: {
            self.stop(abandonRetries: true)
        }
    }

    /// Runs the load and returns the report; verification, when asked for, is the caller's next step.
    @discardableResult
    public func generate() async throws -> LoadReport {
        let clock = ContinuousClock()
        if configuration.warmupTicks > 0 {
            // Series creation, unmeasured: the receivers' first sight of a series costs far more than
            // a sample, and would otherwise weigh on a short run's figures.
            await withTaskGroup(of: Void.self) { group in
                for worker in 0..<workers {
                    group.addTask {
                        await self.work(
                            worker: worker, templates: self.templates(worker: worker), from: 0, to: self.configuration.warmupTicks,
                            started: clock.now, counted: false)
                    }
                }
            }
        }
        // Built before the clock starts: for 100,000 series that takes about 0.2 s, and a paced run
        // whose clock started first began that far behind and sent its first requests all at once.
        let templates = (0..<workers).map { self.templates(worker: $0) }
        let started = clock.now
        let startedAtSeconds = wallClockSeconds()
        let progress = ProgressPrinter(configuration: configuration, recorder: recorder, started: started)
        let timer = configuration.duration.map { duration in
            Task {
                do {
                    try await Task.sleep(until: started.advanced(by: .nanoseconds(Int64(duration * 1e9))), clock: clock)
                    self.stop(abandonRetries: false)
                } catch {}  // cancelled: the workers finished first
            }
        }
        let printer = Task { await progress.run() }
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<workers {
                group.addTask {
                    await self.work(
                        worker: worker, templates: templates[worker], from: self.configuration.warmupTicks, to: nil,
                        started: started, counted: true)
                }
            }
        }
        timer?.cancel()
        printer.cancel()
        await printer.value
        let elapsed = clock.now - started
        progress.finish()
        await sender?.shutdown()
        let report = LoadReport(
            configuration: configuration, shape: shape, totals: recorder.totals, workers: workers,
            durationSeconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18,
            startedAtSeconds: startedAtSeconds, firstErrors: firstErrors.withLock { $0 }
        )
        result.withLock { $0 = report }
        return report
    }

    /// The batches worker `worker` owns: `batch % workers == worker`.
    private func batches(worker: Int) -> StrideTo<Int> {
        stride(from: worker, to: configuration.batchesPerTick, by: workers)
    }

    /// A template for each of worker `worker`'s batches, in `batches(worker:)` order.
    private func templates(worker: Int) -> [RequestTemplate] {
        let batch = configuration.batch
        return batches(worker: worker).map { index in
            RequestTemplate(
                shape: shape, slots: index * batch..<min(shape.series, (index + 1) * batch), tick: 0,
                remoteWriteVersion: configuration.remoteWriteVersion
            )
        }
    }

    /// Sends ticks `from..<to` of worker's batches, from `templates(worker:)`. Uncounted requests (the
    /// warm-up) are kept for `--verify` but left out of the totals, and are neither paced nor limited.
    private func work(
        worker: Int, templates: [RequestTemplate], from firstTick: Int, to endTick: Int?, started: ContinuousClock.Instant,
        counted: Bool
    ) async {
        let batchesPerTick = configuration.batchesPerTick
        let batch = configuration.batch
        let mine = Array(batches(worker: worker))
        var templates = templates
        let allocator = ByteBufferAllocator()
        let rate = counted ? configuration.targetRate : nil
        let limit = counted ? configuration.requests.map { $0 + firstTick * batchesPerTick } : nil
        var tick = firstTick
        while tick != endTick {
            for (position, index) in mine.enumerated() {
                let number = tick * batchesPerTick + index
                if let limit, number >= limit { return }
                if let rate {
                    let due = Double((tick - firstTick) * shape.series + index * batch) / rate
                    let when = started.advanced(by: .nanoseconds(Int64(due * 1e9)))
                    while ContinuousClock.now < when, !stopIssuing.load(ordering: .relaxed) {
                        try? await Task.sleep(until: min(when, ContinuousClock.now.advanced(by: .milliseconds(200))))
                    }
                }
                if stopIssuing.load(ordering: .relaxed) { return }
                templates[position].refresh(shape: shape, tick: tick)
                let capacity = templates[position].compressedSize
                var body = allocator.buffer(capacity: capacity)
                body.writeWithUnsafeMutableBytes(minimumWritableBytes: capacity) { output in
                    templates[position].render(shape: shape, tick: tick, into: output)
                }
                let outcome = await deliver(body, counted: counted)
                recorder.settle(request: number, samples: templates[position].sampleCount, outcome: outcome, counted: counted)
                if configuration.dryRun { await Task.yield() }
            }
            tick += 1
        }
    }

    /// Sends one body until it is settled.
    private func deliver(_ body: ByteBuffer, counted: Bool) async -> RequestOutcome {
        guard let sender else { return .acknowledged }
        let clock = ContinuousClock()
        let first = clock.now
        var attempt = 0
        while true {
            let sent = clock.now
            let answer = await sender.post(body)
            let took = clock.now - sent
            let micros = UInt64(max(0, took.components.seconds)) * 1_000_000 + UInt64(max(0, took.components.attoseconds)) / 1_000_000_000_000
            if counted { recorder.recordAttempt(status: answer.status, micros: micros) }
            if let message = answer.message {
                let key = answer.status.map(String.init) ?? "transport"
                firstErrors.withLock { errors in
                    if errors[key] == nil, errors.count < 16 { errors[key] = message }
                }
            }
            let elapsed = clock.now - first
            let decision = policy.decide(
                status: answer.status, retryAfter: answer.retryAfter, attempt: attempt,
                elapsed: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18,
                now: wallClockSeconds()
            )
            switch decision {
            case .done(let outcome):
                return outcome
            case .retry(let seconds):
                if abandonRetries.load(ordering: .relaxed) { return .failed }
                if counted { recorder.recordRetry() }
                let until = clock.now.advanced(by: .nanoseconds(Int64(seconds * 1e9)))
                while clock.now < until, !abandonRetries.load(ordering: .relaxed) {
                    try? await Task.sleep(until: min(until, clock.now.advanced(by: .milliseconds(200))), clock: clock)
                }
                attempt += 1
            }
        }
    }
}

func wallClockSeconds() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_REALTIME, &spec)
    return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
}

/// The system's roots, plus `caFile`'s certificates; nil (AHC's default) without one.
func clientTLS(caFile: String?) throws(LoadgenError) -> TLSConfiguration? {
    guard let caFile else { return nil }
    do {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.additionalTrustRoots = [.certificates(try NIOSSLCertificate.fromPEMFile(caFile))]
        return configuration
    } catch {
        throw .invalid("--tls-ca-file \(caFile): \(error)")
    }
}
