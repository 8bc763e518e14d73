/// The placement key of a series: xxHash64 over the tenant and the label pairs in sorted order.
///
/// Each string is followed by 0xFF, a byte UTF-8 never produces, so ("ab","c") and ("a","bc") differ.
/// Labels must be given sorted by name (remote write 1.0 requires it; the 2.0 path sorts first), so
/// the order a request lists them in never changes placement.
public struct SeriesKeyHasher: Sendable {
    private var buffer: [UInt8] = []

    /// An empty hasher that allocates nothing until first used.
    public static var empty: SeriesKeyHasher { SeriesKeyHasher(reserving: 0) }

    private init(reserving: Int) {
        buffer.reserveCapacity(reserving)
    }

    public init() {
        buffer.reserveCapacity(1024)
    }

    /// Starts a key for `tenant`.
    public mutating func start(tenant: UnsafeRawBufferPointer) {
        buffer.removeAll(keepingCapacity: true)
        buffer.append(contentsOf: Self.typed(tenant))
        buffer.append(0xFF)
    }

    public mutating func add(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        buffer.append(contentsOf: Self.typed(name))
        buffer.append(0xFF)
        buffer.append(contentsOf: Self.typed(value))
        buffer.append(0xFF)
    }

    /// A typed view has contiguous storage, so `append(contentsOf:)` is one memcpy rather than a
    /// byte-by-byte generic copy (measured: 6% of the insert hot path before).
    @inline(__always)
    private static func typed(_ raw: UnsafeRawBufferPointer) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: raw.baseAddress?.assumingMemoryBound(to: UInt8.self), count: raw.count)
    }

    public func finish() -> UInt64 {
        buffer.withUnsafeBytes { XXHash64.hash($0) }
    }

    /// Hashes a whole label set, sorting it first. For cold paths and tests.
    ///
    /// Sorts by name, then by value: a valid series never repeats a name, but if one does the key
    /// must still not depend on the order the pairs came in.
    public static func hash(tenant: String, labels: [(name: String, value: String)]) -> UInt64 {
        var hasher = SeriesKeyHasher()
        var tenant = tenant
        tenant.withUTF8 { hasher.start(tenant: UnsafeRawBufferPointer($0)) }
        let sorted = labels.sorted {
            $0.name == $1.name
                ? $0.value.utf8.lexicographicallyPrecedes($1.value.utf8)
                : $0.name.utf8.lexicographicallyPrecedes($1.name.utf8)
        }
        for label in sorted {
            var name = label.name
            var value = label.value
            name.withUTF8 { n in value.withUTF8 { v in hasher.add(name: UnsafeRawBufferPointer(n), value: UnsafeRawBufferPointer(v)) } }
        }
        return hasher.finish()
    }
}
