// swift-tools-version: 6.1
//
// Layers, bottom to top (STYLE.md): C libraries → SluiceCodec → SluiceRing, SluiceQuery, SluiceFiles →
// SluiceHTTP → tiers (insert, storage, select) → the thin `sluice` CLI. A tier never imports another
// tier; what they share lives in the modules below them.
import PackageDescription

let package = Package(
    name: "sluice",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "sluice", targets: ["sluice"]),
        .library(name: "SluiceCodec", targets: ["SluiceCodec"]),
        .library(name: "SluiceRing", targets: ["SluiceRing"]),
        .library(name: "SluiceQuery", targets: ["SluiceQuery"]),
        .library(name: "SluiceRelabel", targets: ["SluiceRelabel"]),
        .library(name: "SluiceFiles", targets: ["SluiceFiles"]),
        .library(name: "SluiceInsert", targets: ["SluiceInsert"]),
        .library(name: "SluiceStorage", targets: ["SluiceStorage"]),
        .library(name: "SluiceSelect", targets: ["SluiceSelect"]),
        .library(name: "SluiceLoadgen", targets: ["SluiceLoadgen"]),
        .library(name: "SluiceRepair", targets: ["SluiceRepair"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.29.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.1.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.10.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.25.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.1.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
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
        // A cache prefetch hint for the storage head and placement (header-only C: Swift has no way to say it).
        .target(name: "CSluicePrefetch"),
        // glibc's mallopt for the executable (header-only C: Swift's Glibc module lacks malloc.h).
        .target(name: "CSluiceMalloc"),
        // protoc-c output for proto/, committed; scripts/generate-proto.sh regenerates it.
        .target(
            name: "CSluiceProto",
            dependencies: ["CProtobufC"]
        ),

        // MARK: Wire formats. No networking.
        // Exclusivity is checked statically only: the scanners and `ByteScratch` are owned by one
        // worker each and never shared (none is `Sendable`), and the dynamic checks on their class
        // properties cost about a tenth of insert's CPU (BENCHMARKS.md, "Insert hot path").
        .target(
            name: "SluiceCodec",
            dependencies: ["CSnappy", "CProtobufC", "CSluiceProto", "CSluicePrefetch"],
            swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"])]
        ),

        // MARK: Placement. No networking.
        .target(
            name: "SluiceRing",
            dependencies: [
                "SluiceCodec",
                "CSluicePrefetch",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),

        // MARK: Series selection with Prometheus semantics: matchers, selectors, postings, label
        // order, the query API's JSON. Shared by storage and select; no networking.
        .target(
            name: "SluiceQuery",
            dependencies: ["SluiceCodec"]
        ),

        // MARK: Prometheus' relabel_config: the YAML rules, their application to a label set, and
        // their regexes (Go syntax, shared with SluiceQuery's matchers). Used by insert.
        .target(
            name: "SluiceRelabel",
            dependencies: ["SluiceCodec", "SluiceQuery", .product(name: "Yams", package: "Yams")]
        ),

        // MARK: Plumbing the tiers share: HTTP serving, status mapping, self-metrics, auth, tenancy,
        // the in-process node transport.
        .target(
            name: "SluiceHTTP",
            dependencies: [
                "SluiceCodec",
                "SluiceQuery",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),

        // MARK: Plumbing for the tiers that keep files: POSIX calls with EINTR retried, short
        // transfers finished and directories synced, and the CRC-framed records of the WAL and the
        // hint queues. No Foundation.
        .target(name: "SluiceFiles", dependencies: ["SluiceCodec"]),

        // MARK: Tiers.
        .target(
            name: "SluiceInsert",
            dependencies: [
                "SluiceCodec",
                "SluiceRing",
                "SluiceQuery",
                "SluiceRelabel",
                "SluiceHTTP",
                "SluiceFiles",
                .product(name: "Yams", package: "Yams"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        .target(
            name: "SluiceStorage",
            dependencies: [
                "CSluicePrefetch",
                "SluiceCodec",
                "SluiceQuery",
                "SluiceRing",
                "SluiceHTTP",
                "SluiceFiles",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        .target(
            name: "SluiceSelect",
            dependencies: [
                "SluiceCodec",
                "SluiceRing",
                "SluiceQuery",
                "SluiceHTTP",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        // The bundled load generator: a client of the tiers, never linked into them.
        .target(
            name: "SluiceRepair",
            dependencies: [
                "SluiceCodec",
                "SluiceRing",
                "SluiceHTTP",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "SluiceLoadgen",
            dependencies: [
                "SluiceCodec",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        // MARK: The command line.
        .executableTarget(
            name: "sluice",
            dependencies: [
                "CSluiceMalloc",
                "SluiceRing",
                "SluiceHTTP",
                "SluiceInsert",
                "SluiceStorage",
                "SluiceSelect",
                "SluiceLoadgen",
                "SluiceRepair",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        // MARK: Tests.
        // What the end-to-end tests of every tier share: loopback servers, real peers as child
        // processes, the fixtures.
        .target(
            name: "SluiceTestSupport",
            dependencies: [
                "SluiceCodec",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Tests/SluiceTestSupport"
        ),
        .testTarget(
            name: "SluiceCodecTests",
            dependencies: ["SluiceCodec", "SluiceTestSupport"]
        ),
        .testTarget(
            name: "SluiceRingTests",
            dependencies: [
                "SluiceRing",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "SluiceInsertTests",
            dependencies: [
                "SluiceInsert",
                "SluiceQuery",
                "SluiceCodec",
                "SluiceRing",
                "SluiceHTTP",
                "SluiceTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "SluiceQueryTests",
            dependencies: ["SluiceQuery", "SluiceCodec"]
        ),
        .testTarget(
            name: "SluiceRelabelTests",
            dependencies: ["SluiceRelabel", "SluiceCodec"]
        ),
        .testTarget(
            name: "SluiceRepairTests",
            dependencies: [
                "SluiceRepair",
                "SluiceStorage",
                "SluiceRing",
                "SluiceCodec",
                "SluiceHTTP",
                "SluiceTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "SluiceFilesTests",
            dependencies: ["SluiceFiles"]
        ),
        .testTarget(
            name: "SluiceHTTPTests",
            dependencies: [
                "SluiceHTTP",
                "SluiceCodec",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "SluiceStorageTests",
            dependencies: [
                "SluiceStorage",
                "SluiceQuery",
                "SluiceCodec",
                "SluiceFiles",
                "SluiceHTTP",
                "SluiceRing",
                "SluiceTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
            .testTarget(
            name: "SluiceSelectTests",
            dependencies: [
                "SluiceSelect",
                "SluiceInsert",
                "SluiceStorage",
                "SluiceQuery",
                "SluiceCodec",
                "SluiceRing",
                "SluiceHTTP",
                "SluiceTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "SluiceLoadgenTests",
            dependencies: [
                "SluiceLoadgen",
                "SluiceCodec",
                "SluiceTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // Whole clusters as users run them: `sluice up`, and the tiers as separate processes between
        // real Prometheus servers.
        .testTarget(
            name: "SluiceClusterTests",
            dependencies: [
                "SluiceCodec",
                "SluiceLoadgen",
                "SluiceRing",
                "SluiceTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
    ]
)
