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
let start = Date()
var samples = 0
for _ in 0..<rounds {
    for body in bodies {
        body.withUnsafeBytes { try! Snappy.decompress($0, into: router.decompressed, limit: 32 << 20) }
        let routed = try router.route(tenant: "default", tenantLabel: tenantLabel, ring: ring)
        samples += routed.summary.samples
    }
}
let seconds = Date().timeIntervalSince(start)
print("\(samples) samples in \(String(format: "%.3f", seconds)) s: \(Int(Double(samples) / seconds)) samples/s, \(String(format: "%.0f", seconds * 1e9 / Double(samples))) ns per sample")
