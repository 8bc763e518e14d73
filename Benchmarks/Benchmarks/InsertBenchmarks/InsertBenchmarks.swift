import Benchmark
import Foundation
import SluiceCodec
import SluiceInsert
import SluiceLoadgen
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

/// Ten bodies as `sluice loadgen` sends them (`--series 100000 --metrics 100 --batch 2000`, one
/// tick): 2000 node_exporter-like series of ten labels each, one sample each, snappy-compressed.
private let loadgenBodies: [[UInt8]] = {
    let shape = SeriesShape(
        series: 100_000, metrics: 100, intervalMs: 10_000, startMs: 1_796_000_000_000, churnPercent: 0, outOfOrder: 0,
        runID: "bench")
    return (0..<10).map { index in
        var template = RequestTemplate(shape: shape, slots: index * 2000..<(index + 1) * 2000, tick: 1)
        var body = [UInt8](repeating: 0, count: template.compressedSize)
        let written = body.withUnsafeMutableBytes { template.render(shape: shape, tick: 1, into: $0) }
        return Array(body.prefix(written))
    }
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

    // Loadgen's bodies, as the peers benchmark sends them and as `sluice insert` routes them by
    // default (tenant label on). Each iteration routes ten bodies, 20,000 series and samples:
    // throughput × 20,000 = samples/s, and mallocs ÷ 10 = mallocs per request.
    for rf in [1, 3] {
        Benchmark("insert hot path, RF=\(rf) of 3 nodes, tenant label, loadgen bodies") { benchmark in
            let router = RequestRouter()
            let placement = ring(nodes: 3, rf: rf)
            // Building the ring and growing the router's buffers to these bodies happen once per
            // process, not per request: the counts start after them.
            for body in loadgenBodies {
                body.withUnsafeBytes { try! Snappy.decompress($0, into: router.decompressed, limit: 32 << 20) }
                blackHole(try! router.route(tenant: "default", tenantLabel: "tenant_id", ring: placement).parts.count)
            }
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                for body in loadgenBodies {
                    body.withUnsafeBytes { try! Snappy.decompress($0, into: router.decompressed, limit: 32 << 20) }
                    let routed = try! router.route(tenant: "default", tenantLabel: "tenant_id", ring: placement)
                    blackHole(routed.parts.count)
                }
            }
        }
    }

    for (rf, tenantLabel) in [(1, "tenant_id"), (3, "tenant_id"), (1, nil), (3, nil)] as [(Int, String?)] {
        let name = "insert hot path, RF=\(rf) of 3 nodes, \(tenantLabel == nil ? "no tenant label" : "tenant label"), all fixtures"
        Benchmark(name) { benchmark in
            let router = RequestRouter()
            let placement = ring(nodes: 3, rf: rf)
            for body in fixtures {
                body.withUnsafeBytes { try! Snappy.decompress($0, into: router.decompressed, limit: 32 << 20) }
                blackHole(try! router.route(tenant: "default", tenantLabel: tenantLabel, ring: placement).parts.count)
            }
            benchmark.startMeasurement()
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
