import HTTPTypes

/// What a Sluice storage node answers `sluice repair` with, and what the repair sends it: the
/// storage tier serves these, the repair tool calls them, and neither imports the other.
///
/// - `POST /api/v1/digest` (`SeriesDigest`): per block window and per bucket of series, a digest of
///   the series a replica set holds there, so that equal replicas cost one small answer each; and,
///   for the cells asked about, each series with its own digest.
/// - `POST /api/v1/backfill` (`BackfillHeaders`): a remote-write 1.0 body written into blocks,
///   however old its samples are against the series' newest.
/// The series a ring places on exactly one replica set, as a node recognises them from their stored
/// labels: placement hashes the tenant (the value of insert's tenant label, else the default tenant)
/// and every other label.
public struct ReplicaSetSeries: Codable, Hashable, Sendable {
    /// The ring file, as YAML.
    public var ring: String
    /// Names of ring nodes: `replication_factor` of them.
    public var replicaSet: [String]
    /// Insert's `--tenant-label`, nil for none, and `--default-tenant`.
    public var tenantLabel: String?
    public var defaultTenant: String

    public init(ring: String, replicaSet: [String], tenantLabel: String?, defaultTenant: String) {
        self.ring = ring
        self.replicaSet = replicaSet
        self.tenantLabel = tenantLabel
        self.defaultTenant = defaultTenant
    }
}

public enum SeriesDigest {
    public static let path = "/api/v1/digest"

    /// One block window's bucket of series.
    public struct Cell: Codable, Hashable, Sendable, Comparable {
        /// The window's start, a multiple of the node's block duration, in milliseconds.
        public var window: Int64
        public var bucket: Int

        public init(window: Int64, bucket: Int) {
            self.window = window
            self.bucket = bucket
        }

        public static func < (a: Cell, b: Cell) -> Bool { (a.window, a.bucket) < (b.window, b.bucket) }
    }

    public struct Request: Codable, Sendable {
        /// Whose series are digested.
        public var series: ReplicaSetSeries
        /// How many buckets the series of a window are spread over, by a hash of their labels.
        public var buckets: Int
        /// Cells to list series by series in the answer.
        public var detail: [Cell]

        public init(series: ReplicaSetSeries, buckets: Int, detail: [Cell] = []) {
            self.series = series
            self.buckets = buckets
            self.detail = detail
        }

        public init(ring: String, replicaSet: [String], buckets: Int, tenantLabel: String?, defaultTenant: String, detail: [Cell] = []) {
            self.init(
                series: ReplicaSetSeries(ring: ring, replicaSet: replicaSet, tenantLabel: tenantLabel, defaultTenant: defaultTenant),
                buckets: buckets, detail: detail
            )
        }
    }

    /// The digest of one cell: how many series and samples, and a hash of them all.
    public struct CellDigest: Codable, Hashable, Sendable {
        public var cell: Cell
        public var series: Int
        public var samples: Int
        /// Independent of the order series are met in; hex, as JSON numbers lose 64-bit precision.
        public var digest: String

        public init(cell: Cell, series: Int, samples: Int, digest: String) {
            self.cell = cell
            self.series = series
            self.samples = samples
            self.digest = digest
        }
    }

    /// One series of a cell asked about in `Request.detail`.
    public struct SeriesEntry: Codable, Hashable, Sendable {
        public var cell: Cell
        /// Name and value pairs, sorted by name.
        public var labels: [[String]]
        public var samples: Int
        public var digest: String

        public init(cell: Cell, labels: [[String]], samples: Int, digest: String) {
            self.cell = cell
            self.labels = labels
            self.samples = samples
            self.digest = digest
        }
    }

    public struct Response: Codable, Sendable {
        /// Windows that end at or before this are in blocks and stay there: compare only those, and
        /// backfill only those (`Head.backfillBoundary` on the node).
        public var backfillBoundary: Int64
        /// The node's block duration: the length of a window.
        public var blockDuration: Int64
        /// Every cell that holds a series of the replica set, in blocks; the head's windows are not
        /// digested.
        public var cells: [CellDigest]
        public var series: [SeriesEntry]

        public init(backfillBoundary: Int64, blockDuration: Int64, cells: [CellDigest], series: [SeriesEntry]) {
            self.backfillBoundary = backfillBoundary
            self.blockDuration = blockDuration
            self.cells = cells
            self.series = series
        }
    }
}

/// `POST /api/v1/delete_placed`: what `sluice ring rebalance --delete-moved` asks of a node that no
/// longer owns a replica set's series, once their new owners hold everything it has of them.
public enum PlacedSeriesDeletion {
    public static let path = "/api/v1/delete_placed"

    public struct Request: Codable, Sendable {
        /// Whose series go.
        public var series: ReplicaSetSeries
        /// Only from blocks that end at or before this, in milliseconds: the windows that were checked.
        public var before: Int64

        public init(series: ReplicaSetSeries, before: Int64) {
            self.series = series
            self.before = before
        }
    }

    public struct Response: Codable, Sendable, Equatable {
        public var blocksRewritten: Int
        public var seriesDeleted: Int
        public var samplesDeleted: Int

        public init(blocksRewritten: Int = 0, seriesDeleted: Int = 0, samplesDeleted: Int = 0) {
            self.blocksRewritten = blocksRewritten
            self.seriesDeleted = seriesDeleted
            self.samplesDeleted = samplesDeleted
        }
    }
}

/// The headers of a storage node's answer to `POST /api/v1/backfill`.
public enum BackfillHeaders {
    public static let path = "/api/v1/backfill"
    /// Samples written that the node did not hold.
    public static let added = "X-Sluice-Backfill-Added"
    /// Samples it already held at their timestamps; the stored value stays.
    public static let present = "X-Sluice-Backfill-Present"
    /// Samples past the node's retention, dropped.
    public static let expired = "X-Sluice-Backfill-Expired"

    /// The three counts as header fields.
    public static func fields(added: Int, present: Int, expired: Int) -> HTTPFields {
        var fields = HTTPFields()
        for (name, value) in [(Self.added, added), (Self.present, present), (Self.expired, expired)] {
            fields.append(HTTPField(name: HTTPField.Name(name)!, value: String(value)))
        }
        return fields
    }
}
