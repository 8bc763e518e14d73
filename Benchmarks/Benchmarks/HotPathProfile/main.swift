// The insert route step alone, for profilers (perf, valgrind --tool=callgrind): decompress, scan and
// validate, place, copy and compress, with no HTTP.
//
//   HotPathProfile <rf> <rounds> [bodies-dir]
//
// Routes as `sluice insert` does by default: tenant "default", spliced in as the label `tenant_id`
// (SLUICE_TENANT_LABEL= with an empty value routes without the label, the zero-copy branch).
// Routes every `.bin` body in `bodies-dir` (default: the Prometheus 2.42 fixtures beside the
// checkout) `rounds` times over three nodes at replication factor `rf`, and prints samples/s.
// `MakeWriteBodies` writes loadgen-like bodies to route.
//
// SLUICE_PACE_MICROS=N sleeps N µs after each body, as a server at part load idles between
// requests, and prints how steady the core was: each body's route step timed, and the share of
// 100 ms windows whose mean step took 1.2× the median or more. The work is the same in every
// window, so a slow window is the machine's (another tenant, the host), not the code's.
import Foundation
import SluiceCodec
import SluiceInsert
import SluiceRing

let arguments = CommandLine.arguments
guard arguments.count >= 3, let rf = Int(arguments[1]), let rounds = Int(arguments[2]) else {
    FileHandle.standardError.write(Data("usage: HotPathProfile <rf> <rounds> [bodies-dir]\n".utf8))
    exit(2)
}
let directory = arguments.count > 3
    ? arguments[3]
    : URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/fixtures/prometheus-2.42/remote-write").path
let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".bin") }.sorted()
guard !names.isEmpty else {
    FileHandle.standardError.write(Data("no .bin bodies in \(directory)\n".utf8))
    exit(2)
}
let bodies = names.map { [UInt8](FileManager.default.contents(atPath: "\(directory)/\($0)")!) }
let tenantLabel: String? = ProcessInfo.processInfo.environment["SLUICE_TENANT_LABEL"].map { $0.isEmpty ? nil : $0 }
    ?? InsertConfiguration().tenantLabel
let router = RequestRouter()
let ring = try HashRing(nodes: (0..<3).map { RingNode(name: "store-\($0)") }, replicationFactor: rf)
let pace = ProcessInfo.processInfo.environment["SLUICE_PACE_MICROS"].flatMap { Int($0) }
var steps: [(at: ContinuousClock.Instant, took: Duration)] = []
let clock = ContinuousClock()
let start = Date()
var samples = 0
for _ in 0..<rounds {
    for body in bodies {
        let began = clock.now
        body.withUnsafeBytes { try! Snappy.decompress($0, into: router.decompressed, limit: 32 << 20) }
        let routed = try router.route(tenant: "default", tenantLabel: tenantLabel, ring: ring)
        samples += routed.summary.samples
        if let pace {
            steps.append((began, clock.now - began))
            usleep(UInt32(pace))
        }
    }
}
if pace == nil {
    let seconds = Date().timeIntervalSince(start)
    print("\(samples) samples in \(String(format: "%.3f", seconds)) s: \(Int(Double(samples) / seconds)) samples/s, \(String(format: "%.0f", seconds * 1e9 / Double(samples))) ns per sample")
} else {
    printSteadiness(steps)
}

func printSteadiness(_ steps: [(at: ContinuousClock.Instant, took: Duration)]) {
    func micros(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1e6 + Double(duration.components.attoseconds) / 1e12
    }
    let sorted = steps.map { micros($0.took) }.sorted()
    guard let first = steps.first, !sorted.isEmpty else { return }
    let median = sorted[sorted.count / 2]
    // Windows of 100 ms by start time; a window's mean against the whole run's median.
    var windows: [Int: (sum: Double, count: Int)] = [:]
    for step in steps {
        let index = Int(micros(step.at - first.at) / 100_000)
        windows[index, default: (0, 0)].sum += micros(step.took)
        windows[index, default: (0, 0)].count += 1
    }
    let ratios = windows.values.filter { $0.count >= 10 }.map { $0.sum / Double($0.count) / median }
    let slow = ratios.filter { $0 >= 1.2 }.count
    print(String(
        format: "%d route steps: median %.0f µs, p99 %.0f µs, max %.0f µs; 100 ms windows at 1.2× the median or slower: %d of %d (%.1f%%), the slowest %.2f×",
        sorted.count, median, sorted[sorted.count * 99 / 100], sorted[sorted.count - 1],
        slow, ratios.count, 100 * Double(slow) / Double(max(1, ratios.count)), ratios.max() ?? 0
    ))
}
