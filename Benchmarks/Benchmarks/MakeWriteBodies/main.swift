// Writes snappy-compressed remote-write 1.0 bodies for Benchmarks/storage-peers.sh.
//
//   MakeWriteBodies <outdir> <sets> <rounds> <seriesPerBody>
//
// Body i (body-000000.bin, …) holds series set i % sets, one sample per series at
// base + (i / sets) × 15 s: round r is one 15 s scrape of every set. Sets are disjoint, so as long as
// fewer than `sets` requests are in flight, sending the bodies in order never reorders one series'
// samples. Series look like node_exporter's (about 8 labels, sorted, __name__ first); counters rise
// by pseudo-random steps and gauges wander, so values compress like real ones rather than like
// constants.
import Foundation
import SluiceCodec

let arguments = CommandLine.arguments
guard arguments.count == 5, let sets = Int(arguments[2]), let rounds = Int(arguments[3]), let seriesPerBody = Int(arguments[4]),
    sets > 0, rounds > 0, seriesPerBody > 0
else {
    FileHandle.standardError.write(Data("usage: MakeWriteBodies <outdir> <sets> <rounds> <seriesPerBody>\n".utf8))
    exit(2)
}
let outputDirectory = arguments[1]

/// 2026-11-01T00:00:00Z: fixed, so runs are comparable, and recent, so no peer's retention drops it.
let baseTimestamp: Int64 = 1_793_491_200_000
let scrapeInterval: Int64 = 15_000

/// splitmix64: deterministic across runs and platforms.
struct SplitMix64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}

enum Kind {
    /// Whole-number counter (bytes, packets, operations): rises by up to `step` per scrape.
    case counter(step: Double)
    /// Counter in seconds with centisecond resolution, as /proc reports CPU time.
    case seconds(step: Double)
    /// Gauge that wanders around its start by up to `step` per scrape.
    case gauge(start: Double, step: Double)
}

struct Metric {
    let name: String
    let kind: Kind
    /// Label sets beyond the per-host ones; one series each.
    let dimensions: [[Label]]
}

func product(_ name: String, _ values: [String]) -> [[Label]] { values.map { [Label(name: name, value: $0)] } }

let cpus = (0..<8).map(String.init)
let modes = ["idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user"]
let disks = ["nvme0n1", "nvme1n1", "sda", "sdb"]
let interfaces = ["eth0", "eth1", "lo"]
let filesystems = [("/dev/nvme0n1p1", "ext4", "/"), ("/dev/nvme0n1p2", "ext4", "/var"), ("/dev/nvme1n1", "xfs", "/data"), ("tmpfs", "tmpfs", "/run")]
    .map { [Label(name: "device", value: $0.0), Label(name: "fstype", value: $0.1), Label(name: "mountpoint", value: $0.2)] }

/// The series one node_exporter host contributes (124 of them).
let hostMetrics: [Metric] = [
    Metric(name: "node_cpu_seconds_total", kind: .seconds(step: 15), dimensions: cpus.flatMap { cpu in
        modes.map { [Label(name: "cpu", value: cpu), Label(name: "mode", value: $0)] }
    }),
    Metric(name: "node_disk_read_bytes_total", kind: .counter(step: 40_000_000), dimensions: product("device", disks)),
    Metric(name: "node_disk_written_bytes_total", kind: .counter(step: 80_000_000), dimensions: product("device", disks)),
    Metric(name: "node_disk_reads_completed_total", kind: .counter(step: 5_000), dimensions: product("device", disks)),
    Metric(name: "node_disk_writes_completed_total", kind: .counter(step: 9_000), dimensions: product("device", disks)),
    Metric(name: "node_disk_io_time_seconds_total", kind: .seconds(step: 3), dimensions: product("device", disks)),
    Metric(name: "node_network_receive_bytes_total", kind: .counter(step: 120_000_000), dimensions: product("device", interfaces)),
    Metric(name: "node_network_transmit_bytes_total", kind: .counter(step: 90_000_000), dimensions: product("device", interfaces)),
    Metric(name: "node_network_receive_packets_total", kind: .counter(step: 90_000), dimensions: product("device", interfaces)),
    Metric(name: "node_network_transmit_packets_total", kind: .counter(step: 70_000), dimensions: product("device", interfaces)),
    Metric(name: "node_network_receive_errs_total", kind: .counter(step: 2), dimensions: product("device", interfaces)),
    Metric(name: "node_filesystem_avail_bytes", kind: .gauge(start: 4e11, step: 5e7), dimensions: filesystems),
    Metric(name: "node_filesystem_size_bytes", kind: .gauge(start: 1e12, step: 0), dimensions: filesystems),
    Metric(name: "node_filesystem_files_free", kind: .gauge(start: 6e7, step: 2_000), dimensions: filesystems),
    Metric(name: "node_memory_MemAvailable_bytes", kind: .gauge(start: 2.4e10, step: 2e8), dimensions: [[]]),
    Metric(name: "node_memory_MemFree_bytes", kind: .gauge(start: 8e9, step: 2e8), dimensions: [[]]),
    Metric(name: "node_memory_Cached_bytes", kind: .gauge(start: 1.2e10, step: 1e8), dimensions: [[]]),
    Metric(name: "node_memory_Buffers_bytes", kind: .gauge(start: 6e8, step: 1e6), dimensions: [[]]),
    Metric(name: "node_load1", kind: .gauge(start: 2, step: 0.4), dimensions: [[]]),
    Metric(name: "node_load5", kind: .gauge(start: 2, step: 0.1), dimensions: [[]]),
    Metric(name: "node_load15", kind: .gauge(start: 2, step: 0.03), dimensions: [[]]),
    Metric(name: "node_context_switches_total", kind: .counter(step: 600_000), dimensions: [[]]),
    Metric(name: "node_intr_total", kind: .counter(step: 400_000), dimensions: [[]]),
    Metric(name: "node_forks_total", kind: .counter(step: 300), dimensions: [[]]),
]
let hostSeries: [(metric: Metric, dimension: [Label])] = hostMetrics.flatMap { m in m.dimensions.map { (m, $0) } }

/// Labels of global series `k`: host k / 124, its (k % 124)th series.
func labels(ofSeries k: Int) -> (labels: [Label], kind: Kind) {
    let host = k / hostSeries.count
    let (metric, dimension) = hostSeries[k % hostSeries.count]
    let regions = ["eu-west-1", "us-east-1", "ap-south-1"]
    var labels = dimension + [
        Label(name: "__name__", value: metric.name),
        Label(name: "cluster", value: "prod-\(host / 250)"),
        Label(name: "env", value: "production"),
        Label(name: "instance", value: "10.\(host / 65_536 % 256).\(host / 256 % 256).\(host % 256):9100"),
        Label(name: "job", value: "node"),
        Label(name: "region", value: regions[host / 1_000 % regions.count]),
    ]
    labels.sort()
    return (labels, metric.kind)
}

let seriesCount = sets * seriesPerBody
var random = SplitMix64(state: 0x5_1C1CE)
var seriesLabels: [[Label]] = []
var kinds: [Kind] = []
var values: [Double] = []
seriesLabels.reserveCapacity(seriesCount)
for k in 0..<seriesCount {
    let (l, kind) = labels(ofSeries: k)
    seriesLabels.append(l)
    kinds.append(kind)
    switch kind {
    case .counter(let step): values.append((random.unit() * step * 10_000).rounded())
    case .seconds(let step): values.append((random.unit() * step * 100_000).rounded() / 100)
    case .gauge(let start, _): values.append((start * (0.5 + random.unit())).rounded())
    }
}

try FileManager.default.createDirectory(atPath: outputDirectory, withIntermediateDirectories: true)
let codec = MessageCodec()
let compressed = ByteScratch(capacity: 1 << 20)
var totalBytes = 0
for i in 0..<(sets * rounds) {
    let set = i % sets
    let timestamp = baseTimestamp + Int64(i / sets) * scrapeInterval
    var timeseries: [TimeSeries] = []
    timeseries.reserveCapacity(seriesPerBody)
    for k in (set * seriesPerBody)..<((set + 1) * seriesPerBody) {
        if i >= sets {  // Round 0 sends the starting values.
            switch kinds[k] {
            case .counter(let step): values[k] += (random.unit() * step).rounded()
            case .seconds(let step): values[k] = ((values[k] + random.unit() * step) * 100).rounded() / 100
            case .gauge(_, let step):
                values[k] = (max(0, values[k] + (random.unit() - 0.5) * 2 * step) * 100).rounded() / 100
            }
        }
        timeseries.append(TimeSeries(labels: seriesLabels[k], samples: [Sample(timestamp: timestamp, value: values[k])]))
    }
    let raw = codec.encoded { codec, out in codec.encode(WriteRequest(timeseries: timeseries), appendingTo: out) }
    compressed.removeAll()
    raw.withUnsafeBytes { Snappy.compress($0, appendingTo: compressed) }
    let path = "\(outputDirectory)/body-\(String(repeating: "0", count: max(0, 6 - String(i).count)))\(i).bin"
    guard FileManager.default.createFile(atPath: path, contents: Data(compressed.bytes)) else {
        FileHandle.standardError.write(Data("MakeWriteBodies: cannot write \(path)\n".utf8))
        exit(1)
    }
    totalBytes += compressed.count
}
print("\(sets * rounds) bodies, \(sets * rounds * seriesPerBody) samples, \(seriesCount) series, \(totalBytes) bytes in \(outputDirectory)")
