#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@testable import SluiceRing

/// One million node_exporter-like series keys, hashed once per test process and shared by every
/// balance and movement test: hashing them is the slow part in a debug build.
let millionKeys: [UInt64] = SyntheticSeries().keys(count: 1_000_000)

/// `store-1` … `store-n`, without zones.
func storeNodes(_ count: Int, from first: Int = 1) -> [RingNode] {
    (first..<(first + count)).map { RingNode(name: "store-\($0)") }
}

/// How many of `keys` each node is primary for.
func primaryCounts(_ ring: HashRing, _ keys: [UInt64]) -> [Int] {
    var counts = [Int](repeating: 0, count: ring.nodes.count)
    for key in keys { counts[ring.primary(for: key)] += 1 }
    return counts
}

/// Largest |share / fair share − 1| over the nodes, where `fair[i]` is node i's expected count.
func worstDeviation(_ counts: [Int], fair: [Double]) -> Double {
    zip(counts, fair).map { abs(Double($0) / $1 - 1) }.max() ?? 0
}

/// `x` as a percentage with two decimals, for the figures the tests print.
func percent(_ x: Double) -> String {
    let hundredths = Int((x * 10_000).rounded())
    let fraction = abs(hundredths % 100)
    return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)%"
}

/// Polls `condition` until it holds or `timeout` passes. Every wait in these tests is bounded.
func eventually(timeout: Duration = .seconds(10), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}

enum Environment {
    static func isSet(_ name: String) -> Bool {
        getenv(name) != nil
    }
}
