import Benchmark
import Foundation
import SluiceCodec

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

private let decompressed: [[UInt8]] = fixtures.map { try! Snappy.decompress($0, limit: 32 << 20) }
private let samplesPerPass: Int = {
    let codec = MessageCodec()
    return decompressed.reduce(0) { $0 + (try! codec.decodeWriteRequest($1)).sampleCount }
}()

/// Every benchmark processes all fixtures once per iteration, and counts one "item" per sample, so
/// throughput reads as samples per second and malloc counts divide by samples.
private func configuration() -> Benchmark.Configuration {
    .init(
        metrics: [.throughput, .wallClock, .cpuTotal, .mallocCountTotal],
        scalingFactor: .one,
        maxDuration: .seconds(3),
        maxIterations: 100_000
    )
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = configuration()
    print("fixtures: \(fixtures.count) bodies, \(samplesPerPass) samples per iteration")

    Benchmark("snappy decompress, all fixtures") { benchmark in
        let scratch = ByteScratch(capacity: 1 << 20)
        for _ in benchmark.scaledIterations {
            for body in fixtures {
                body.withUnsafeBytes { try! Snappy.decompress($0, into: scratch, limit: 32 << 20) }
                blackHole(scratch.count)
            }
        }
    }

    Benchmark("snappy compress, all fixtures") { benchmark in
        let scratch = ByteScratch(capacity: 1 << 20)
        for _ in benchmark.scaledIterations {
            for body in decompressed {
                scratch.removeAll()
                body.withUnsafeBytes { Snappy.compress($0, appendingTo: scratch) }
                blackHole(scratch.count)
            }
        }
    }

    Benchmark("protobuf decode to Swift values (libprotobuf-c, arena), all fixtures") { benchmark in
        let codec = MessageCodec()
        for _ in benchmark.scaledIterations {
            for body in decompressed {
                blackHole(try! codec.decodeWriteRequest(body).timeseries.count)
            }
        }
    }

    Benchmark("snappy + protobuf decode, all fixtures") { benchmark in
        let codec = MessageCodec()
        let scratch = ByteScratch(capacity: 1 << 20)
        for _ in benchmark.scaledIterations {
            for body in fixtures {
                body.withUnsafeBytes { try! Snappy.decompress($0, into: scratch, limit: 32 << 20) }
                blackHole(try! codec.decodeWriteRequest(scratch.bytes).timeseries.count)
            }
        }
    }

    let requests = decompressed.map { try! MessageCodec().decodeWriteRequest($0) }
    Benchmark("protobuf encode from Swift values (libprotobuf-c), all fixtures") { benchmark in
        let codec = MessageCodec()
        let scratch = ByteScratch(capacity: 1 << 20)
        for _ in benchmark.scaledIterations {
            for request in requests {
                scratch.removeAll()
                codec.encode(request, appendingTo: scratch)
                blackHole(scratch.count)
            }
        }
    }

    // 120-sample chunks, as a storage head cuts them: a counter scraped every 15 s with jitter.
    var counterSamples: [(Int64, Double)] = []
    for i in 0..<120 {
        let timestamp: Int64 = 1_700_000_000_000 + Int64(i) * 15_000 + Int64(i % 3)
        counterSamples.append((timestamp, Double(i * 37)))
    }
    let counterChunk: [UInt8] = {
        var encoder = XORChunkEncoder()
        for (t, v) in counterSamples { encoder.append(timestamp: t, value: v) }
        return encoder.bytes
    }()

    Benchmark("XOR chunk encode, 120 samples", configuration: .init(scalingFactor: .one)) { benchmark in
        for _ in benchmark.scaledIterations {
            var encoder = XORChunkEncoder()
            for (t, v) in counterSamples { encoder.append(timestamp: t, value: v) }
            blackHole(encoder.count)
        }
    }

    Benchmark("XOR chunk decode, 120 samples", configuration: .init(scalingFactor: .one)) { benchmark in
        for _ in benchmark.scaledIterations {
            var decoder = try! XORChunkDecoder(counterChunk)
            var sum: Int64 = 0
            while let sample = try! decoder.next() { sum &+= sample.timestamp }
            blackHole(sum)
        }
    }
}
