import Foundation
import SluiceCodec
import SluiceLoadgen
import SluiceTestSupport
import Testing

/// `--verify` against a real `sluice storage` process: it finds everything acknowledged, and it
/// notices when a proxy in between drops, alters or adds a single sample while still answering 204.
@Suite("loadgen --verify", .serialized, .enabled(if: PeerProcess.Kind.sluice([]).isInstalled, "needs the sluice binary (swift build)"))
struct VerifyTests {
    /// Runs `body` with a fresh storage node.
    private func withStorage<T: Sendable>(_ body: (PeerProcess) async throws -> T) async throws -> T {
        let directory = try TemporaryDirectory("sluice-loadgen")
        defer { directory.remove() }
        let storage = PeerProcess(.sluiceStorage([]), name: "storage", port: try freePorts(1)[0], directory: directory.path)
        defer { storage.kill() }
        try await storage.start(timeout: .seconds(120))
        return try await body(storage)
    }

    /// A run through a tampering proxy (or straight to the node), then verification against the node.
    private func runAndVerify(
        _ storage: PeerProcess, tamper: TamperingProxy.Tamper? = nil,
        configure: (inout LoadgenConfiguration) -> Void = { _ in }
    ) async throws -> LoadReport {
        let template = smallRun(url: nil, series: 200, batch: 50, requests: 20, configure)
        let run: @Sendable (String) async throws -> LoadReport = { url in
            var configuration = template
            configuration.url = url
            let generator = try LoadGenerator(configuration: configuration)
            var report = try await generator.generate()
            report.verify = try await Verifier(
                url: storage.baseURL + "/api/v1/read", tenant: nil, shape: generator.shape, batch: configuration.batch,
                outcomes: generator.recorder.outcomes
            ).verify()
            return report
        }
        guard let tamper else { return try await run(storage.writeURL) }
        let proxy = TamperingProxy(forwardingTo: storage.writeURL, tamper: tamper)
        return try await withServices([proxy.application()]) { _ in
            try await run("http://127.0.0.1:\(try await proxy.port.wait(timeout: .seconds(120)))/api/v1/write")
        }
    }

    @Test func everythingAcknowledgedIsReadBack() async throws {
        let report = try await withStorage { storage in try await runAndVerify(storage, configure: { $0.churnPercent = 10 }) }
        let verify = try #require(report.verify)
        #expect(report.samples.acknowledged == 1000)
        #expect(verify.ok, "\(verify.examples)")
        #expect(verify.acknowledgedSamples == 1000 && verify.matched == 1000 && verify.samplesRead == 1000)
        #expect(verify.missing == 0 && verify.mismatched == 0 && verify.extra == 0)
        // 10 % churn over 5 ticks: series were replaced, so more label sets than slots were stored.
        #expect(verify.seriesRead > 200)
    }

    @Test func aDroppedSampleIsReportedMissing() async throws {
        let report = try await withStorage { storage in
            try await runAndVerify(storage, tamper: { number, request in
                if number == 3 { request.timeseries.remove(at: 7) }
            })
        }
        let verify = try #require(report.verify)
        #expect(report.requests.acknowledged == 20)
        #expect(!verify.ok)
        #expect(verify.missing == 1 && verify.mismatched == 0 && verify.extra == 0)
        #expect(verify.matched == 999)
        #expect(verify.examples.first?.hasPrefix("missing {__name__=") == true, "\(verify.examples)")
        #expect(report.text.contains("FAILED"))
    }

    @Test func anAlteredValueIsReportedMismatched() async throws {
        let report = try await withStorage { storage in
            try await runAndVerify(storage, tamper: { number, request in
                if number == 2 { request.timeseries[0].samples[0].value += 1 }
            })
        }
        let verify = try #require(report.verify)
        #expect(!verify.ok)
        #expect(verify.mismatched == 1 && verify.missing == 0 && verify.extra == 0)
        #expect(verify.examples.first?.hasPrefix("mismatched") == true, "\(verify.examples)")
    }

    @Test func aSampleNeverSentIsReportedExtra() async throws {
        let report = try await withStorage { storage in
            try await runAndVerify(storage, tamper: { number, request in
                if number == 5 {
                    let sample = request.timeseries[3].samples[0]
                    request.timeseries[3].samples.append(Sample(timestamp: sample.timestamp + 7, value: 42))
                }
            })
        }
        let verify = try #require(report.verify)
        #expect(!verify.ok)
        #expect(verify.extra == 1 && verify.missing == 0 && verify.mismatched == 0)
    }

    @Test func outOfOrderSamplesAreRejectedAndNothingAcknowledgedIsLost() async throws {
        let report = try await withStorage { storage in
            try await runAndVerify(storage, configure: {
                $0.outOfOrder = 0.02
                $0.requests = 40
            })
        }
        let verify = try #require(report.verify)
        // 2 % of 1,800 samples after tick 0: some requests carry one and get a 400 naming it.
        #expect(report.requests.failed > 0)
        #expect(report.statusCodes["400"] == report.requests.failed)
        #expect(report.firstErrors["400"]?.contains("out of order") == true, "\(report.firstErrors)")
        #expect(verify.ok, "\(verify.examples)")
        // The storage node keeps a rejected request's good samples, as Prometheus does.
        #expect(verify.unacknowledgedStored > 0)
        #expect(verify.matched == report.samples.acknowledged)
    }

    // MARK: The command

    @Test func theCommandExitsNonZeroOnLossAndWritesTheReport() async throws {
        let directory = try TemporaryDirectory("sluice-loadgen-cli")
        defer { directory.remove() }
        try await withStorage { storage in
            let proxy = TamperingProxy(forwardingTo: storage.writeURL) { number, request in
                if number == 1 { request.timeseries.removeLast() }
            }
            try await withServices([proxy.application()]) { _ in
                let url = "http://127.0.0.1:\(try await proxy.port.wait(timeout: .seconds(120)))/api/v1/write"
                let rest = [
                    "--series", "100", "--metrics", "5", "--batch", "25", "--requests", "8", "--max",
                    "--verify", storage.baseURL + "/api/v1/read", "--report", directory.path + "/report.json", "--progress", "plain",
                ]
                let lossy = try await runSluice(["loadgen", "--url", url] + rest)
                #expect(lossy.status == 1, "\(lossy.stdout)\n\(lossy.stderr)")
                #expect(lossy.stdout.contains("1 missing"), "\(lossy.stdout)")
                #expect(lossy.stdout.contains("verify     FAILED"))
                let json = try #require(FileManager.default.contents(atPath: directory.path + "/report.json"))
                let object = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any])
                let verify = try #require(object["verify"] as? [String: Any])
                #expect(verify["missing"] as? Int == 1 && verify["acknowledgedSamples"] as? Int == 200)
                #expect((object["requests"] as? [String: Any])?["acknowledged"] as? Int == 8)

                let clean = try await runSluice(["loadgen", "--url", storage.writeURL] + rest)
                #expect(clean.status == 0, "\(clean.stdout)\n\(clean.stderr)")
                #expect(clean.stdout.contains("verify     OK: nothing acknowledged was lost"))
                #expect(clean.stdout.contains("200 matched, 0 missing, 0 mismatched, 0 extra"))
            }
        }
    }

    @Test func progressIsOneRewrittenLineOnATerminalAndPlainLinesOtherwise() async throws {
        // A paced dry run of about 2 s: 1,000 samples at 500 samples/s.
        let run = ["loadgen", "--dry-run", "--series", "100", "--metrics", "10", "--batch", "10", "--requests", "100", "--rate", "500"]
        let tty = try await runSluice(run + ["--progress", "tty"])
        #expect(tty.status == 0, "\(tty.stderr)")
        #expect(tty.stderr.hasPrefix("\r\u{1B}[2K["), "\(tty.stderr.debugDescription)")
        #expect(!tty.stderr.contains("\n"), "\(tty.stderr.debugDescription)")
        #expect(tty.stderr.contains("samples/s  p50"))
        #expect(tty.stdout.contains("1,000 sent, 1,000 acknowledged"), "\(tty.stdout)")

        let plain = try await runSluice(run + ["--progress", "plain", "--progress-interval", "0.5"])
        #expect(plain.status == 0, "\(plain.stderr)")
        let lines = plain.stderr.split(separator: "\n")
        #expect(lines.count >= 2, "\(plain.stderr)")
        #expect(lines.allSatisfy { $0.hasPrefix("[") && $0.contains("samples/s") && !$0.contains("\u{1B}") })
    }

    @Test(arguments: [
        (["--url", "http://127.0.0.1:1/api/v1/write", "--rate", "10", "--max"], "give --rate or --max, not both"),
        (["--url", "http://127.0.0.1:1/api/v1/write", "--remote-write-version", "3"], "--remote-write-version must be 1 or 2"),
        (["--series", "10"], "--url is required"),
        (["--url", "127.0.0.1:9201"], "--url must be an http:// or https:// URL"),
        (["--url", "http://127.0.0.1:1/api/v1/write", "--churn", "150"], "--churn is a percentage"),
        (["--url", "http://127.0.0.1:1/api/v1/write", "--interval", "fast"], "--interval: invalid duration"),
        (["--url", "http://127.0.0.1:1/api/v1/write", "--progress", "loud"], "--progress must be"),
    ])
    func badFlagsAreRefusedWithTheirName(arguments: [String], message: String) async throws {
        let result = try await runSluice(["loadgen"] + arguments)
        #expect(result.status == 64, "\(result.stderr)")
        #expect(result.stderr.contains(message), "\(result.stderr)")
    }
}
