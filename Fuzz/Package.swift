// swift-tools-version: 6.1
//
// libFuzzer targets over every decoder that reads untrusted bytes, a package of its own over the main
// one (like Benchmarks/), so the main build never sees `-sanitize=fuzzer`. Run them with Fuzz/run.sh.
//
// Each Fuzz* target is one test function handed to libFuzzer's driver (FuzzSupport), built with
// `-sanitize=fuzzer`. FuzzSeeds is an ordinary executable that writes the generated seed corpora.
import Foundation
import PackageDescription

// A path dependency's identity is its directory's name, which depends on where Sluice is cloned.
let sluice = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

let codec: Target.Dependency = .product(name: "SluiceCodec", package: sluice)
let support: Target.Dependency = "FuzzSupport"

let package = Package(
    name: "sluice-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: "..")
    ],
    targets: [
        .target(name: "CFuzzer"),
        .target(name: "FuzzSupport", dependencies: ["CFuzzer"]),
        .executableTarget(name: "FuzzSnappy", dependencies: [support, codec]),
        .executableTarget(name: "FuzzRemoteWrite", dependencies: [support, codec]),
        .executableTarget(
            name: "FuzzReadRequest",
            dependencies: [support, codec, .product(name: "SluiceQuery", package: sluice)]
        ),
        .executableTarget(name: "FuzzXORChunk", dependencies: [support, codec]),
        .executableTarget(
            name: "FuzzWALRecord",
            dependencies: [support, codec, .product(name: "SluiceStorage", package: sluice)]
        ),
        .executableTarget(
            name: "FuzzSeeds",
            dependencies: [codec, .product(name: "SluiceStorage", package: sluice)]
        ),
    ]
)
