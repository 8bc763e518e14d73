// swift-tools-version: 6.1
//
// Sluice's benchmarks, a package of its own over the main one (like swift-nio's Benchmarks/), so the
// main build never pulls in package-benchmark. Run them with Benchmarks/run.sh.
import Foundation
import PackageDescription

// A path dependency's identity is its directory's name, which depends on where Sluice is cloned.
let sluice = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

let package = Package(
    name: "sluice-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/ordo-one/package-benchmark", from: "1.38.0", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
    ],
    targets: [
        .executableTarget(
            name: "CodecBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "SluiceCodec", package: sluice),
            ],
            path: "Benchmarks/CodecBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        .executableTarget(
            name: "HotPathProfile",
            dependencies: [
                .product(name: "SluiceCodec", package: sluice),
                .product(name: "SluiceInsert", package: sluice),
                .product(name: "SluiceRing", package: sluice),
            ],
            path: "Benchmarks/HotPathProfile"
        ),
        .executableTarget(
            name: "InsertBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "SluiceCodec", package: sluice),
                .product(name: "SluiceInsert", package: sluice),
                .product(name: "SluiceLoadgen", package: sluice),
                .product(name: "SluiceRing", package: sluice),
            ],
            path: "Benchmarks/InsertBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        .executableTarget(
            name: "ReadBench",
            dependencies: [.product(name: "SluiceCodec", package: sluice)],
            path: "Benchmarks/ReadBench"
        ),
        .executableTarget(
            name: "MakeWriteBodies",
            dependencies: [.product(name: "SluiceCodec", package: sluice)],
            path: "Benchmarks/MakeWriteBodies"
        ),
        .executableTarget(
            name: "NullSink",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Benchmarks/NullSink"
        ),
    ]
)
