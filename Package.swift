// swift-tools-version: 6.1
//
// Layers, bottom to top (STYLE.md): C libraries → SluiceCodec → ring → tiers → the thin `sluice` CLI.
// A tier never imports another tier.
import PackageDescription

let package = Package(
    name: "sluice",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "sluice", targets: ["sluice"]),
        .library(name: "SluiceCodec", targets: ["SluiceCodec"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // MARK: C libraries from Debian's -dev packages.
        .systemLibrary(
            name: "CSnappy",
            pkgConfig: "snappy",
            providers: [.apt(["libsnappy-dev"])]
        ),
        .systemLibrary(
            name: "CProtobufC",
            pkgConfig: "libprotobuf-c",
            providers: [.apt(["libprotobuf-c-dev"])]
        ),
        // protoc-c output for proto/, committed; scripts/generate-proto.sh regenerates it.
        .target(
            name: "CSluiceProto",
            dependencies: ["CProtobufC"]
        ),

        // MARK: Wire formats. No networking.
        .target(
            name: "SluiceCodec",
            dependencies: ["CSnappy", "CProtobufC", "CSluiceProto"]
        ),

        // MARK: The command line.
        .executableTarget(
            name: "sluice",
            dependencies: [
                "SluiceCodec",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // MARK: Tests.
        .testTarget(
            name: "SluiceCodecTests",
            dependencies: ["SluiceCodec"]
        ),
    ]
)
