import Foundation
import Hummingbird
import NIOPosix
import SluiceCodec
import SluiceHTTP
import SluiceRing
import Synchronization

extension Storage {
    /// The digests `sluice repair` compares replicas by (`SeriesDigest`): over the series in blocks
    /// that `request.series` names, per block window and bucket.
    ///
    /// A series' digest hashes its samples (timestamp and value bits) in the window, in time order,
    /// and a histogram chunk's bytes as they are; a cell's digest adds up a hash of each series' label
    /// set and digest, so two replicas agree on a cell exactly when they hold the same series with the
    /// same samples there, whatever chunks they cut them into.
    ///
    /// Blocks never change once written (a rewrite is a new block), so each block's cells are kept
    /// per request shape (`DigestCache`): a pass over replicas that agree reads a block's chunks
    /// once, not on every pass. A request that lists cells in `detail` reads the blocks again.
    ///
    /// - Throws: `.invalidQuery` for a ring that does not parse, names outside it, a replica set not
    ///   of `replication_factor` nodes, or a bucket count outside 1...65536.
    func digest(_ request: SeriesDigest.Request) throws(StorageError) -> SeriesDigest.Response {
        guard (1...65536).contains(request.buckets) else {
            throw StorageError(code: .invalidQuery, message: "buckets must be 1 to 65536, not \(request.buckets)")
        }
        let placed = try PlacementFilter(request.series)
        let detail = Set(request.detail)
        let shape = DigestCache.shape(request)
        let blocks = blockList
        digestCache.keep(blocks)
        var cells: [SeriesDigest.Cell: DigestCache.Sum] = [:]
        var entries: [SeriesDigest.SeriesEntry] = []
        for block in blocks {
            if detail.isEmpty, let kept = digestCache.cells(of: block, shape: shape) {
                cells.merge(kept) { $0 + $1 }
                continue
            }
            let own = try Self.digest(block, placed: placed, buckets: request.buckets, window: configuration.blockDuration, detail: detail, entries: &entries)
            digestCache.store(own, of: block, shape: shape)
            cells.merge(own) { $0 + $1 }
        }
        return SeriesDigest.Response(
            backfillBoundary: head.backfillBoundary(now: configuration.now()),
            blockDuration: configuration.blockDuration,
            cells: cells.sorted { $0.key < $1.key }.map {
                SeriesDigest.CellDigest(cell: $0.key, series: $0.value.series, samples: $0.value.samples, digest: String($0.value.digest, radix: 16))
            },
            series: entries
        )
    }

    /// One block's cells, and the entries of the series in `detail`'s cells.
    private static func digest(
        _ block: Block, placed: PlacementFilter, buckets: Int, window: Int64, detail: Set<SeriesDigest.Cell>,
        entries: inout [SeriesDigest.SeriesEntry]
    ) throws(StorageError) -> [SeriesDigest.Cell: DigestCache.Sum] {
        var cells: [SeriesDigest.Cell: DigestCache.Sum] = [:]
        var bytes: [UInt8] = []
        for id in 0..<block.seriesCount {
            let labels = block.labels(of: id)
            guard placed.contains(labels) else { continue }
            let identity = SeriesKeyHasher.hash(tenant: "", labels: labels.map { ($0.name, $0.value) })
            let bucket = Int(identity % UInt64(buckets))
            // The series' samples per window (a merged block spans several), hashed as one run.
            var perWindow: [(start: Int64, samples: Int, bytes: [UInt8])] = []
            func add(_ time: Int64, samples: Int, _ append: (inout [UInt8]) -> Void) {
                let start = alignDown(time, window)
                if perWindow.last?.start != start { perWindow.append((start, 0, [])) }
                perWindow[perWindow.count - 1].samples += samples
                append(&perWindow[perWindow.count - 1].bytes)
            }
            for ref in block.chunks(of: id) {
                let chunk: StoredChunk
                do {
                    chunk = try block.chunk(ref)
                } catch {
                    throw StorageError(code: .blockFailed, message: "block \(block.path): \(error)")
                }
                if chunk.isHistogram {
                    add(chunk.minTime, samples: BlockFormat.sampleCount(chunk.bytes)) { $0 += [0xFF] + chunk.bytes }
                    continue
                }
                let samples: [(timestamp: Int64, value: Double)]
                do {
                    samples = try XORChunkDecoder.decodeAll(chunk.bytes)
                } catch {
                    throw StorageError(code: .blockFailed, message: "block \(block.path): \(error)")
                }
                for sample in samples {
                    add(sample.timestamp, samples: 1) { bytes in
                        withUnsafeBytes(of: sample.timestamp.littleEndian) { bytes += $0 }
                        withUnsafeBytes(of: sample.value.bitPattern.littleEndian) { bytes += $0 }
                    }
                }
            }
            for part in perWindow {
                let cell = SeriesDigest.Cell(window: part.start, bucket: bucket)
                let digest = XXHash64.hash(part.bytes)
                bytes.removeAll(keepingCapacity: true)
                withUnsafeBytes(of: identity.littleEndian) { bytes += $0 }
                withUnsafeBytes(of: digest.littleEndian) { bytes += $0 }
                cells[cell, default: DigestCache.Sum()] += DigestCache.Sum(series: 1, samples: part.samples, digest: XXHash64.hash(bytes))
                if detail.contains(cell) {
                    entries.append(SeriesDigest.SeriesEntry(
                        cell: cell, labels: labels.map { [$0.name, $0.value] }, samples: part.samples, digest: String(digest, radix: 16)
                    ))
                }
            }
        }
        return cells
    }
}

/// Each block's digest cells, per request shape (ring, replica set, buckets, tenancy), kept while
/// the block is in the block list. A block is never changed in place, so what was computed for it
/// stays true; a rewritten block is another block, at another path.
final class DigestCache: Sendable {
    /// A cell's sums: series, samples, and the wrapping sum of the series' mixed digests.
    struct Sum: Sendable {
        var series = 0
        var samples = 0
        var digest: UInt64 = 0

        static func + (a: Sum, b: Sum) -> Sum {
            Sum(series: a.series + b.series, samples: a.samples + b.samples, digest: a.digest &+ b.digest)
        }

        static func += (a: inout Sum, b: Sum) { a = a + b }
    }

    /// Shapes kept per block at most: one per replica set a repair asks about, and a few more.
    static let shapesPerBlock = 64

    /// By block path, then by request shape.
    private let entries = Mutex<[String: [UInt64: [SeriesDigest.Cell: Sum]]]>([:])
    /// Blocks whose cells came from here rather than from their chunks. For tests and metrics.
    let hits = Atomic<Int>(0)

    /// What makes two requests' cells of one block the same: everything but `detail`.
    static func shape(_ request: SeriesDigest.Request) -> UInt64 {
        var text = request.series.ring
        text += "\u{0}" + request.series.replicaSet.joined(separator: "\u{0}")
        text += "\u{0}\(request.series.tenantLabel ?? "\u{1}")\u{0}\(request.series.defaultTenant)\u{0}\(request.buckets)"
        return XXHash64.hash(Array(text.utf8))
    }

    func cells(of block: Block, shape: UInt64) -> [SeriesDigest.Cell: Sum]? {
        let found = entries.withLock { $0[block.path]?[shape] }
        if found != nil { hits.add(1, ordering: .relaxed) }
        return found
    }

    func store(_ cells: [SeriesDigest.Cell: Sum], of block: Block, shape: UInt64) {
        entries.withLock { entries in
            guard entries[block.path, default: [:]].count < Self.shapesPerBlock else { return }
            entries[block.path, default: [:]][shape] = cells
        }
    }

    /// Forgets the blocks no longer in `blocks`: deleted, merged or rewritten.
    func keep(_ blocks: [Block]) {
        let paths = Set(blocks.map(\.path))
        entries.withLock { entries in
            for path in entries.keys where !paths.contains(path) { entries[path] = nil }
        }
    }
}

/// Recognises a `ReplicaSetSeries`' series by their stored labels, hashing them as `RequestRouter`
/// places them.
struct PlacementFilter {
    let ring: HashRing
    let target: ReplicaSet
    let tenantLabel: String?
    let defaultTenant: String

    /// - Throws: `.invalidQuery` for a ring that does not parse, names outside it, or a replica set
    ///   not of `replication_factor` nodes.
    init(_ series: ReplicaSetSeries) throws(StorageError) {
        do {
            ring = try RingConfiguration.parse(yaml: series.ring).makeRing()
        } catch {
            throw StorageError(code: .invalidQuery, message: "ring: \(error)")
        }
        var target = ReplicaSet()
        for name in series.replicaSet {
            guard let index = ring.nodes.firstIndex(where: { $0.name == name }) else {
                throw StorageError(code: .invalidQuery, message: "replica set names \(name), which is not a node of the ring")
            }
            target.insert(index)
        }
        guard target.count == ring.replicationFactor else {
            throw StorageError(code: .invalidQuery, message: "a replica set has replication_factor (\(ring.replicationFactor)) distinct nodes, not \(target.count)")
        }
        self.target = target
        self.tenantLabel = series.tenantLabel
        self.defaultTenant = series.defaultTenant
    }

    func contains(_ labels: [Label]) -> Bool {
        var tenant = defaultTenant
        var own: [(name: String, value: String)] = []
        own.reserveCapacity(labels.count)
        for label in labels {
            if label.name == tenantLabel { tenant = label.value } else { own.append((label.name, label.value)) }
        }
        return ReplicaSet(ring.replicas(for: SeriesKeyHasher.hash(tenant: tenant, labels: own))) == target
    }
}

/// The JSON endpoints of repair and rebalance on a storage node: `POST /api/v1/digest`
/// (`Storage.digest`) and `POST /api/v1/delete_placed` (`Storage.deletePlaced`).
struct RepairHandlers: Sendable {
    let storage: Storage

    func digest(_ request: Request) async -> Response {
        await answer(request, handler: "digest") { (digestRequest: SeriesDigest.Request) throws(StorageError) in
            let storage = self.storage
            // Reads and decodes every chunk: off the cooperative pool.
            let result = try? await NIOThreadPool.singleton.runIfActive { () -> Result<SeriesDigest.Response, StorageError> in
                Result { () throws(StorageError) in try storage.digest(digestRequest) }
            }
            guard let result else { throw StorageError(code: .notReady, message: "shutting down") }
            return try result.get()
        }
    }

    func deletePlaced(_ request: Request) async -> Response {
        await answer(request, handler: "delete_placed") { (deletion: PlacedSeriesDeletion.Request) throws(StorageError) in
            try await storage.deletePlaced(PlacementFilter(deletion.series), before: deletion.before)
        }
    }

    /// Decodes the JSON body, runs `body`, and answers its result as JSON: 400 for a body that does
    /// not decode or an invalid request, 503 while not ready, 500 when a block fails.
    private func answer<In: Decodable, Out: Encodable>(
        _ request: Request, handler: String, _ body: (In) async throws(StorageError) -> Out
    ) async -> Response {
        let response: Response
        do throws(HTTPFailure) {
            guard storage.isReady else { throw HTTPFailure(.serviceUnavailable, storage.notReadyReason + "; retry later") }
            let bytes = try await BoundedBody.collect(request, limit: 16 << 20)
            let decoded: In
            do {
                decoded = try JSONDecoder().decode(In.self, from: Data(buffer: bytes))
            } catch {
                throw HTTPFailure(.badRequest, "\(handler) request is not valid JSON: \(error)")
            }
            let result: Out
            do {
                result = try await body(decoded)
            } catch {
                switch error.code {
                case .invalidQuery, .invalidBackfill: throw HTTPFailure(.badRequest, error.message)
                case .notReady: throw HTTPFailure(.serviceUnavailable, error.message)
                case .notSealed: throw HTTPFailure(.conflict, error.message)
                case .walFailed, .blockFailed: throw HTTPFailure(.internalServerError, error.message)
                }
            }
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            response = Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(data: (try? JSONEncoder().encode(result)) ?? Data())))
        } catch {
            response = error.response
        }
        storage.metrics.request(handler: handler, code: Int(response.status.code))
        return response
    }
}
