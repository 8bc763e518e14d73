import Benchmark
import Foundation
import SluiceCodec
import SluiceInsert
import SluiceRing

/// The Prometheus 2.42 captures beside the checkout (`../shared`), or `SLUICE_FIXTURES`.
private let fixtures: [[UInt8]] = {
    let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    let directory = ProcessInfo.processInfo.environment["SLUICE_FIXTURES"].map { URL(fileURLWithPath: $0) }
        ?? root.appendingPathComponent("shared/fixtures/prometheus-2.42")
    let folder = directory.appendingPathComponent("remote-write")
    let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [])
        .filter { $0.hasSuffix(".bin") }.sorted()
    precondition(!names.isEmpty, "no fixtures in \(folder.path)")
    return names.map { [UInt8](FileManager.default.contents(atPath: folder.appendingPathComponent($0).path)!) }
}()

private func ring(nodes: Int, rf: Int) -> HashRing {
    try! HashRing(nodes: (0..<nodes).map { RingNode(name: "store-\($0)") }, replicationFactor: rf)
}

/// The insert hot path without the network: snappy-decompress, scan and validate, place each
/// series on the ring, splice the tenant label, and build and snappy-compress one body per node.
/// Each iteration routes all six fixtures (2784 samples): throughput × 2784 = samples/s.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.throughput, .wallClock, .mallocCountTotal],
        maxDuration: .seconds(3),
        maxIterations: 100_000
    )

    for (rf, tenantLabel) in [(1, "tenant_id"), (3, "tenant_id"), (1, nil), (3, nil)] as [(Int, String?)] {
        let name = "insert hot path, RF=\(rf) of 3 nodes, \(tenantLabel == nil ? "no tenant label" : "tenant label"), all fixtures"
        Benchmark(name) { benchmark in
            let router = RequestRouter()
            let placement = ring(nodes: 3, rf: rf)
            for _ in benchmark.scaledIterations {
                for body in fixtures {
                    body.withUnsafeBytes { try! Snappy.decompress($0, into: router.decompressed, limit: 32 << 20) }
                    let routed = try! router.route(tenant: "default", tenantLabel: tenantLabel, ring: placement)
                    blackHole(routed.parts.count)
                }
            }
        }
    }
}
