import Foundation

/// The real Prometheus 2.42 captures in `../shared/fixtures`, beside the checkout as in CI.
/// `SLUICE_FIXTURES` points elsewhere when the checkout lives somewhere else.
enum Fixtures {
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let directory: URL = {
        if let path = ProcessInfo.processInfo.environment["SLUICE_FIXTURES"] {
            return URL(fileURLWithPath: path)
        }
        return packageRoot.deletingLastPathComponent().appendingPathComponent("shared/fixtures/prometheus-2.42")
    }()

    struct Body: CustomStringConvertible, Sendable {
        let name: String
        let bytes: [UInt8]
        var description: String { name }
    }

    static func bodies(_ kind: String, prefix: String) -> [Body] {
        let folder = directory.appendingPathComponent(kind)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.filter { $0.hasPrefix(prefix) && $0.hasSuffix(".bin") }.sorted().map { name in
            let data = FileManager.default.contents(atPath: folder.appendingPathComponent(name).path) ?? Data()
            return Body(name: name, bytes: [UInt8](data))
        }
    }

    static let remoteWrite = bodies("remote-write", prefix: "write-")
    static let remoteRead = bodies("remote-read", prefix: "read-")
}

/// SplitMix64: random test cases that are the same on every run and platform, so a failure replays.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
