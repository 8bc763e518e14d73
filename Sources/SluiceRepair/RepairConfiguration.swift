/// `sluice repair`: what to compare and how fast to copy.
public struct RepairConfiguration: Sendable {
    /// The ring file: its replica sets are what is compared, and it goes to each node for placement.
    public var ringFile: String
    /// Run a pass every this long, as a service; nil runs one pass and returns.
    public var interval: Duration?
    /// Backfill bytes (compressed, on the wire) per second, over all nodes; nil for no bound.
    public var maxBytesPerSecond: Int?
    /// Compare and report, copy nothing.
    public var dryRun = false
    /// Buckets the series of a block window are spread over: more buckets, smaller drill-downs.
    public var buckets = 64
    /// Insert's `--tenant-label` and `--default-tenant`: the nodes need them to place series as
    /// insert did.
    public var tenantLabel: String? = "tenant_id"
    public var defaultTenant = "default"
    /// One request to one node.
    public var timeout: Duration = .seconds(120)
    /// Decoded bytes of one backfill body at most.
    public var maxBackfillBytes = 4 << 20
    /// Series read from one node in one remote-read request at most.
    public var seriesPerRead = 200
    /// With `interval`: where `/metrics` is served.
    public var host = "127.0.0.1"
    public var port = 9204

    public init(ringFile: String) {
        self.ringFile = ringFile
    }
}
