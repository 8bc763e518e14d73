import Foundation
import SluiceCodec
import SluiceInsert
import SluiceRing
let dir = "/work/shared/fixtures/prometheus-2.42/remote-write"
let fixtures = (0..<6).map { [UInt8](FileManager.default.contents(atPath: "\(dir)/write-\($0).bin")!) }
let router = RequestRouter()
let ring = try! HashRing(nodes: (0..<3).map { RingNode(name: "store-\($0)") }, replicationFactor: Int(CommandLine.arguments[1])!)
let start = Date()
var n = 0
for _ in 0..<Int(CommandLine.arguments[2])! {
    for body in fixtures {
        body.withUnsafeBytes { try! Snappy.decompress($0, into: router.decompressed, limit: 32 << 20) }
        let routed = try! router.route(tenant: "default", tenantLabel: nil, ring: ring)
        n += routed.summary.samples
    }
}
let t = Date().timeIntervalSince(start)
print("\(n) samples in \(t) s: \(Double(n)/t) samples/s")
