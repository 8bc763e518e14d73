/// Deterministic label sets shaped like a fleet of node_exporter targets, for measuring placement
/// before real traffic exists: `sluice ring plan` and the balance tests.
///
/// Real keys share long prefixes (`__name__`, `job`, most of `instance`) and differ in a few bytes,
/// which is exactly what a weak hash spreads badly; counters from 0 would not show that. Series `i`
/// is template `i % templates.count` on host `i / templates.count`, so any count is reproducible
/// without a random generator.
public struct SyntheticSeries: Sendable {
    /// One series of a host, labels sorted by name, with the host-specific values left as markers.
    private struct Template: Sendable {
        var labels: [(name: [UInt8], value: Value)]
    }

    private enum Value: Sendable {
        case fixed([UInt8])
        case instance
        case cluster
    }

    private let templates: [Template]
    public let tenant: String

    /// Series per host: one node_exporter scrape's worth.
    public var seriesPerHost: Int { templates.count }

    public init(tenant: String = "default") {
        self.tenant = tenant
        self.templates = Self.makeTemplates()
    }

    /// The label set of series `index`, for printing and for checking the fast path against
    /// `SeriesKeyHasher.hash(tenant:labels:)`.
    public func labels(at index: Int) -> [(name: String, value: String)] {
        let host = index / templates.count
        return templates[index % templates.count].labels.map { label in
            let value: [UInt8]
            switch label.value {
            case .fixed(let bytes): value = bytes
            case .instance: value = Self.instance(host)
            case .cluster: value = Self.cluster(host)
            }
            return (String(decoding: label.name, as: UTF8.self), String(decoding: value, as: UTF8.self))
        }
    }

    /// The placement keys of series `0..<count`, hashed as the insert path hashes them.
    public func keys(count: Int) -> [UInt64] {
        var keys: [UInt64] = []
        keys.reserveCapacity(count)
        var hasher = SeriesKeyHasher()
        let tenant = Array(tenant.utf8)
        var host = -1
        var instance: [UInt8] = []
        var cluster: [UInt8] = []
        for index in 0..<count {
            if index / templates.count != host {
                host = index / templates.count
                instance = Self.instance(host)
                cluster = Self.cluster(host)
            }
            tenant.withUnsafeBytes { hasher.start(tenant: $0) }
            for label in templates[index % templates.count].labels {
                label.name.withUnsafeBytes { name in
                    switch label.value {
                    case .fixed(let value): value.withUnsafeBytes { hasher.add(name: name, value: $0) }
                    case .instance: instance.withUnsafeBytes { hasher.add(name: name, value: $0) }
                    case .cluster: cluster.withUnsafeBytes { hasher.add(name: name, value: $0) }
                    }
                }
            }
            keys.append(hasher.finish())
        }
        return keys
    }

    /// `10.a.b.c:9100`, unique per host up to 16M hosts.
    private static func instance(_ host: Int) -> [UInt8] {
        Array("10.\((host >> 16) & 255).\((host >> 8) & 255).\(host & 255):9100".utf8)
    }

    private static func cluster(_ host: Int) -> [UInt8] {
        Array("prod-\(host % 7)".utf8)
    }

    private static func makeTemplates() -> [Template] {
        var series: [[(String, Value)]] = []
        func add(_ name: String, _ labels: [(String, String)] = []) {
            series.append([("__name__", .fixed(Array(name.utf8)))] + labels.map { ($0.0, .fixed(Array($0.1.utf8))) })
        }
        for cpu in 0..<8 {
            for mode in ["idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user"] {
                add("node_cpu_seconds_total", [("cpu", "\(cpu)"), ("mode", mode)])
            }
            for mode in ["nice", "user"] {
                add("node_cpu_guest_seconds_total", [("cpu", "\(cpu)"), ("mode", mode)])
            }
        }
        let mounts = [("/dev/sda1", "ext4", "/"), ("/dev/sdb1", "xfs", "/var/lib/data"), ("tmpfs", "tmpfs", "/run")]
        for metric in ["avail_bytes", "size_bytes", "free_bytes", "files", "files_free", "readonly", "device_error"] {
            for (device, fstype, mountpoint) in mounts {
                add("node_filesystem_\(metric)", [("device", device), ("fstype", fstype), ("mountpoint", mountpoint)])
            }
        }
        for direction in ["receive", "transmit"] {
            for metric in ["bytes_total", "packets_total", "errs_total", "drop_total"] {
                for device in ["eth0", "eth1", "lo"] {
                    add("node_network_\(direction)_\(metric)", [("device", device)])
                }
            }
        }
        let diskMetrics = [
            "read_bytes_total", "written_bytes_total", "reads_completed_total", "writes_completed_total",
            "io_time_seconds_total", "read_time_seconds_total", "write_time_seconds_total",
        ]
        for metric in diskMetrics {
            for device in ["sda", "sdb", "nvme0n1"] {
                add("node_disk_\(metric)", [("device", device)])
            }
        }
        let memory = [
            "MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached", "SwapTotal", "SwapFree", "Active",
            "Inactive", "Dirty", "Writeback", "Slab", "SReclaimable", "SUnreclaim", "Shmem", "Mapped",
            "PageTables", "KernelStack", "Committed_AS", "HugePages_Total",
        ]
        for field in memory { add("node_memory_\(field)_bytes") }
        let misc = [
            "node_load1", "node_load5", "node_load15", "node_boot_time_seconds", "node_time_seconds",
            "node_context_switches_total", "node_intr_total", "node_forks_total", "node_procs_running",
            "node_procs_blocked", "node_entropy_available_bits", "node_filefd_allocated", "node_filefd_maximum",
            "up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_series_added",
        ]
        for name in misc { add(name) }

        return series.map { labels in
            let all = labels + [("instance", .instance), ("job", .fixed(Array("node".utf8))), ("cluster", .cluster)]
            let sorted = all.sorted { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }
            return Template(labels: sorted.map { (Array($0.0.utf8), $0.1) })
        }
    }
}
