import SluiceCodec

#if canImport(Glibc)
import Glibc
#endif

/// What the generator writes, as pure functions of (slot, tick): labels, timestamps and values.
///
/// Nothing here is random at run time. A *slot* is one of `--series` positions; the series in it is
/// replaced (`--churn`) by bumping its *generation*, which changes its `instance` label. Because
/// every label, timestamp and value can be recomputed from (slot, tick), `--verify` needs to
/// remember only which requests were acknowledged, not what they held.
///
/// The shape is node_exporter-like: real metric names, counters that only go up, gauges that
/// wander, and ten labels per series.
public struct SeriesShape: Sendable {
    public let series: Int
    public let metrics: Int
    public let intervalMs: Int64
    /// The timestamp of tick 0, aligned to the interval.
    public let startMs: Int64
    /// Slots replaced per tick (from `--churn` percent).
    public let churnPerTick: Int
    /// Out-of-order samples per 2^32 (from `--out-of-order`).
    private let outOfOrderThreshold: UInt64
    /// `loadgen_run`: keeps one run's series apart from every other run's.
    public let runID: String

    public init(series: Int, metrics: Int, intervalMs: Int64, startMs: Int64, churnPercent: Double, outOfOrder: Double, runID: String) {
        precondition(series > 0 && metrics > 0 && intervalMs >= 2)
        self.series = series
        self.metrics = min(metrics, series)
        self.intervalMs = intervalMs
        self.startMs = startMs - startMs % intervalMs
        self.churnPerTick = Int((Double(series) * churnPercent / 100).rounded())
        self.outOfOrderThreshold = UInt64((outOfOrder * 4_294_967_296).rounded())
        self.runID = runID
    }

    // MARK: Time

    public func timestamp(tick: Int) -> Int64 { startMs + Int64(tick) * intervalMs }

    /// Whether slot's sample at `tick` is sent out of order: 1 ms before the previous tick, which every
    /// TSDB without an out-of-order window rejects. Tick 0 has no previous sample, so never.
    public func isOutOfOrder(slot: Int, tick: Int) -> Bool {
        tick > 0 && outOfOrderThreshold > 0 && (mix(UInt64(slot), UInt64(tick) ^ 0x0_0_5A5A) & 0xFFFF_FFFF) < outOfOrderThreshold
    }

    /// The timestamp slot's sample at `tick` carries.
    public func sampleTimestamp(slot: Int, tick: Int) -> Int64 {
        isOutOfOrder(slot: slot, tick: tick) ? timestamp(tick: tick) - intervalMs - 1 : timestamp(tick: tick)
    }

    /// The tick a stored timestamp belongs to, whether it was sent in order or not.
    public func tick(forTimestamp timestamp: Int64) -> Int? {
        let offset = timestamp - startMs
        if offset >= 0, offset % intervalMs == 0 { return Int(offset / intervalMs) }
        let late = offset + intervalMs + 1
        if late > 0, late % intervalMs == 0 { return Int(late / intervalMs) }
        return nil
    }

    // MARK: Churn

    /// How many times slot has been replaced by `tick`. Tick k ≥ 1 replaces the next `churnPerTick`
    /// slots after the ones tick k−1 replaced, wrapping around, so every slot churns at the same pace.
    public func generation(slot: Int, tick: Int) -> Int {
        let replaced = churnPerTick * tick
        return slot < replaced ? (replaced - 1 - slot) / series + 1 : 0
    }

    // MARK: Labels

    public func metric(slot: Int) -> Int { slot % metrics }
    public func host(slot: Int) -> Int { slot / metrics }

    public func metricName(_ metric: Int) -> String {
        let names = Self.metricNames
        let base = names[metric % names.count].name
        return metric < names.count ? base : "\(base)_\(metric / names.count)"
    }

    public func isCounter(slot: Int) -> Bool { Self.metricNames[metric(slot: slot) % Self.metricNames.count].counter }

    /// Sorted by name, as remote write requires.
    public func labels(slot: Int, generation: Int) -> [Label] {
        let host = host(slot: slot)
        let region = Self.regions[host % Self.regions.count]
        let instance = generation == 0 ? "host-\(host):9100" : "host-\(host)-r\(generation):9100"
        return [
            Label(name: "__name__", value: metricName(metric(slot: slot))),
            Label(name: "cluster", value: "k8s-\(host % 8)"),
            Label(name: "env", value: host % 10 == 9 ? "staging" : "prod"),
            Label(name: "instance", value: instance),
            Label(name: "job", value: "node"),
            Label(name: "loadgen_run", value: runID),
            Label(name: "os", value: "linux"),
            Label(name: "region", value: region),
            Label(name: "team", value: Self.teams[host % Self.teams.count]),
            Label(name: "zone", value: "\(region)\(["a", "b", "c"][(host / Self.regions.count) % 3])"),
        ]
    }

    /// The (slot, generation) a stored series came from, or nil if this run never wrote it.
    public func identify(_ labels: [Label]) -> (slot: Int, generation: Int)? {
        var name: String?
        var instance: String?
        for label in labels {
            if label.name == "__name__" { name = label.value }
            if label.name == "instance" { instance = label.value }
        }
        guard let name, let instance, instance.hasPrefix("host-"), instance.hasSuffix(":9100") else { return nil }
        let middle = instance.dropFirst(5).dropLast(5).split(separator: "-", omittingEmptySubsequences: false)
        guard let host = middle.first.flatMap({ Int($0) }) else { return nil }
        var generation = 0
        if middle.count == 2 {
            guard middle[1].hasPrefix("r"), let parsed = Int(middle[1].dropFirst()), parsed > 0 else { return nil }
            generation = parsed
        } else if middle.count != 1 {
            return nil
        }
        guard host < series, let metric = metricIndex(name) else { return nil }
        let slot = host * metrics + metric
        guard slot < series, self.labels(slot: slot, generation: generation) == labels else { return nil }
        return (slot, generation)
    }

    private func metricIndex(_ name: String) -> Int? {
        for (index, entry) in Self.metricNames.enumerated() {
            if name == entry.name { return index < metrics ? index : nil }
            if name.hasPrefix(entry.name + "_"), let round = Int(name.dropFirst(entry.name.count + 1)), round > 0 {
                let metric = round * Self.metricNames.count + index
                if metric < metrics, metricName(metric) == name { return metric }
            }
        }
        return nil
    }

    // MARK: Values

    /// Counters rise by a per-slot step with jitter below half a step, so they never go down; gauges
    /// swing around a per-slot level with noise. A new generation starts its counter again from 0,
    /// as a restarted process does.
    public func value(slot: Int, tick: Int) -> Double {
        let seed = mix(UInt64(slot), 0x9E37_79B9)
        let jitter = Double(mix(UInt64(slot), UInt64(tick)) >> 11) / Double(1 << 53)  // [0, 1)
        if isCounter(slot: slot) {
            let step = 1 + Double(seed % 1000) / 10
            let since = tick - firstTick(slot: slot, tick: tick)
            return (Double(since) * step + jitter * step / 2).rounded()
        }
        let level = Double(seed % 10_000)
        let swing = level / 4 + 1
        let phase = Double(seed >> 48) / 65_536 * 6.283
        let wave: Double = sin(Double(tick) / 20 + phase)
        return level + swing * wave + jitter * swing / 10
    }

    /// The first tick of the generation slot is in at `tick`.
    private func firstTick(slot: Int, tick: Int) -> Int {
        let generation = generation(slot: slot, tick: tick)
        guard generation > 0, churnPerTick > 0 else { return 0 }
        // Replaced at the tick whose range covers position slot + (generation − 1) × series.
        let position = slot + (generation - 1) * series
        return position / churnPerTick + 1
    }

    // MARK: Data

    static let regions = ["eu-west-1", "us-east-1", "ap-south-1"]
    static let teams = ["platform", "storage", "payments", "search", "ml"]

    /// node_exporter's busiest families; counters end in `_total`.
    static let metricNames: [(name: String, counter: Bool)] = [
        ("node_cpu_seconds_total", true), ("node_memory_MemAvailable_bytes", false),
        ("node_memory_MemFree_bytes", false), ("node_memory_Cached_bytes", false),
        ("node_memory_Buffers_bytes", false), ("node_load1", false), ("node_load5", false), ("node_load15", false),
        ("node_disk_read_bytes_total", true), ("node_disk_written_bytes_total", true),
        ("node_disk_reads_completed_total", true), ("node_disk_writes_completed_total", true),
        ("node_disk_io_time_seconds_total", true), ("node_filesystem_avail_bytes", false),
        ("node_filesystem_size_bytes", false), ("node_filesystem_files_free", false),
        ("node_network_receive_bytes_total", true), ("node_network_transmit_bytes_total", true),
        ("node_network_receive_packets_total", true), ("node_network_transmit_packets_total", true),
        ("node_network_receive_errs_total", true), ("node_network_transmit_drop_total", true),
        ("node_context_switches_total", true), ("node_intr_total", true), ("node_forks_total", true),
        ("node_procs_running", false), ("node_procs_blocked", false), ("node_entropy_available_bits", false),
        ("node_filefd_allocated", false), ("node_sockstat_TCP_inuse", false), ("node_netstat_Tcp_CurrEstab", false),
        ("node_netstat_Tcp_RetransSegs", true), ("node_vmstat_pgfault", true), ("node_vmstat_pgmajfault", true),
        ("node_timex_offset_seconds", false), ("node_hwmon_temp_celsius", false), ("node_boot_time_seconds", false),
        ("node_time_seconds", false), ("process_cpu_seconds_total", true), ("process_resident_memory_bytes", false),
        ("process_open_fds", false), ("go_goroutines", false), ("go_memstats_alloc_bytes_total", true),
        ("go_gc_duration_seconds_sum", true), ("go_gc_duration_seconds_count", true), ("promhttp_metric_handler_requests_total", true),
        ("node_scrape_collector_duration_seconds", false), ("node_textfile_scrape_error", false),
        ("node_pressure_cpu_waiting_seconds_total", true), ("node_schedstat_running_seconds_total", true),
    ]
}

/// SplitMix64's finaliser over two words: cheap, well spread, and the same on every machine.
@inline(__always)
func mix(_ a: UInt64, _ b: UInt64) -> UInt64 {
    var z = a &* 0x9E37_79B9_7F4A_7C15 ^ (b &+ 0xBF58_476D_1CE4_E5B9)
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}
