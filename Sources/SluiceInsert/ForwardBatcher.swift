import NIOCore
import NIOPosix
import SluiceCodec
import SluiceHTTP
import Synchronization

/// Group commit toward storage nodes: the 1.0 parts that concurrent requests send to one node go
/// as one forward while the node is busy.
///
/// A part for a node with nothing in flight goes at once, alone. While a forward to the node is in
/// flight, the parts that arrive wait together, and go as one body when that forward finishes,
/// when they reach `maxBytes`, or after `maxWait`, whichever comes first. Compressed parts join
/// without recompressing (`Snappy.elements(of:)`), 1.0 bodies join by concatenation (every field
/// of a `WriteRequest` repeats), and scanned series by listing them, so the joined body carries
/// each part's series unchanged.
///
/// Every part gets the answer its batch got: a 2xx means the node stored the whole body, so every
/// part in it, and the request the part belongs to still judges its own quorum. A batch the node
/// rejects with a 4xx goes again part by part, so that only the parts at fault are rejected: a
/// node that stored some of a batch takes those samples again as duplicates. A 2.0 part (each has
/// its own symbol table) always goes alone, as does everything when `maxWait` is zero.
public final class ForwardBatcher: Sendable {
    public struct Configuration: Sendable {
        /// The longest a part waits for its node's forward in flight before it goes anyway; zero
        /// sends every part alone (`--forward-batch-wait`).
        public var maxWait: Duration = .milliseconds(2)
        /// A batch goes as soon as its parts hold this many bytes as sent (`NodeBody.sentBytes`).
        public var maxBytes = 4 << 20
        /// ... or this many bytes decoded, so the joined body stays well within a node's decoded
        /// limit (32 MiB by default for Sluice and VictoriaMetrics).
        public var maxDecodedBytes = 16 << 20

        public init() {}
    }

    /// One node's answer to one part.
    typealias Answer = (outcome: NodeOutcome, written: WriteForwarder.Written?)

    /// Parts that may share a forward: same node, same tenant header, same form of body.
    private struct Key: Hashable {
        var url: String
        var tenant: String?
        var form: Form
    }

    /// `NodeBody`'s cases: only bodies of one form join.
    enum Form: Hashable {
        case snappy, protobuf, scanned

        init(_ body: NodeBody) {
            switch body {
            case .snappy: self = .snappy
            case .protobuf: self = .protobuf
            case .scanned: self = .scanned
            }
        }
    }

    private struct Waiting {
        var body: NodeBody
        var decodedBytes: Int
        var continuation: CheckedContinuation<Answer, Never>
    }

    /// One key's state: forwards in flight, and the batch that waits for them.
    private struct Lane {
        var inFlight = 0
        var waiting: [Waiting] = []
        var bytes = 0
        var decodedBytes = 0
        /// Counts batches taken, so a timer armed for an earlier batch does nothing.
        var epoch = 0
    }

    let configuration: Configuration
    private let forwarder: WriteForwarder
    private let metrics: InsertMetrics
    private let lanes = Mutex<[Key: Lane]>([:])

    init(configuration: Configuration, forwarder: WriteForwarder, metrics: InsertMetrics) {
        self.configuration = configuration
        self.forwarder = forwarder
        self.metrics = metrics
    }

    /// Sends `body` to `url` as `forwarder.send` would, sharing the forward with other parts for the
    /// same node when it is busy; `node` names it in the metrics.
    func send(_ body: NodeBody, version: RemoteWriteVersion, to url: String, node: String, tenant: String?) async -> Answer {
        guard version == .v1, configuration.maxWait > .zero else {
            return await forwarder.send(body, version: version, to: url, tenant: tenant)
        }
        let key = Key(url: url, tenant: tenant, form: Form(body))
        let alone = lanes.withLock { lanes -> Bool in
            if lanes[key] == nil {
                lanes[key] = Lane(inFlight: 1)
                return true
            }
            return false
        }
        if alone {
            metrics.forwardBatch(node: node, parts: 1)
            let answer = await forwarder.send(body, version: .v1, to: url, tenant: tenant)
            finished(key, node: node)
            return answer
        }
        let decodedBytes = body.decodedBytes
        let sentBytes = body.sentBytes
        return await withCheckedContinuation { continuation in
            let waiting = Waiting(body: body, decodedBytes: decodedBytes, continuation: continuation)
            enum Next { case nothing, arm(Int), go([Waiting]) }
            let next = lanes.withLock { lanes -> Next in
                var lane = lanes[key] ?? Lane()
                defer { lanes[key] = lane }
                if lane.inFlight == 0 && lane.waiting.isEmpty {
                    // The node went idle meanwhile: go now.
                    lane.inFlight = 1
                    return .go([waiting])
                }
                lane.waiting.append(waiting)
                lane.bytes += sentBytes
                lane.decodedBytes += decodedBytes
                if lane.bytes >= configuration.maxBytes || lane.decodedBytes >= configuration.maxDecodedBytes {
                    return .go(Self.take(&lane))
                }
                return lane.waiting.count == 1 ? .arm(lane.epoch) : .nothing
            }
            switch next {
            case .nothing:
                break
            case .arm(let epoch):
                MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: .init(configuration.maxWait)) {
                    self.timerFired(key, epoch: epoch, node: node)
                }
            case .go(let batch):
                Task { await self.forward(batch, key: key, node: node) }
            }
        }
    }

    /// The waiting parts, as one batch in flight.
    private static func take(_ lane: inout Lane) -> [Waiting] {
        let batch = lane.waiting
        lane.waiting = []
        lane.bytes = 0
        lane.decodedBytes = 0
        lane.epoch &+= 1
        lane.inFlight += 1
        return batch
    }

    private func timerFired(_ key: Key, epoch: Int, node: String) {
        let batch = lanes.withLock { lanes -> [Waiting] in
            guard var lane = lanes[key], lane.epoch == epoch, !lane.waiting.isEmpty else { return [] }
            defer { lanes[key] = lane }
            return Self.take(&lane)
        }
        if !batch.isEmpty { Task { await self.forward(batch, key: key, node: node) } }
    }

    /// A forward to `key` ended: the batch that waited for it goes now, or the lane closes.
    private func finished(_ key: Key, node: String) {
        let batch = lanes.withLock { lanes -> [Waiting] in
            guard var lane = lanes[key] else { return [] }
            lane.inFlight -= 1
            if lane.inFlight == 0 && lane.waiting.isEmpty {
                lanes[key] = nil
                return []
            }
            defer { lanes[key] = lane }
            return lane.inFlight == 0 ? Self.take(&lane) : []
        }
        if !batch.isEmpty { Task { await self.forward(batch, key: key, node: node) } }
    }

    /// Sends one batch as one body and answers each part.
    private func forward(_ batch: [Waiting], key: Key, node: String) async {
        metrics.forwardBatch(node: node, parts: batch.count)
        if batch.count == 1 {
            let answer = await forwarder.send(batch[0].body, version: .v1, to: key.url, tenant: key.tenant)
            batch[0].continuation.resume(returning: answer)
        } else if let joined = Self.join(batch.map(\.body)) {
            let answer = await forwarder.send(joined, version: .v1, to: key.url, tenant: key.tenant)
            if case .rejected = answer.outcome {
                // Which parts are at fault: each goes again alone.
                await withTaskGroup(of: Void.self) { group in
                    for part in batch {
                        group.addTask {
                            let own = await self.forwarder.send(part.body, version: .v1, to: key.url, tenant: key.tenant)
                            part.continuation.resume(returning: own)
                        }
                    }
                }
            } else {
                // The node's counts are for the whole body, not for any one part.
                for part in batch { part.continuation.resume(returning: (answer.outcome, nil)) }
            }
        } else {
            // Not a snappy block this process made: cannot happen; send the parts alone.
            await withTaskGroup(of: Void.self) { group in
                for part in batch {
                    group.addTask {
                        part.continuation.resume(returning: await self.forwarder.send(part.body, version: .v1, to: key.url, tenant: key.tenant))
                    }
                }
            }
        }
        finished(key, node: node)
    }

    /// One body carrying `bodies`, all of one form, one after another: raw 1.0 bodies concatenated,
    /// snappy blocks joined under one length header, scanned parts listed. Nil if the forms differ
    /// or a block has no valid header.
    static func join(_ bodies: [NodeBody]) -> NodeBody? {
        guard let first = bodies.first.map(Form.init), bodies.allSatisfy({ Form($0) == first }) else { return nil }
        var buffers: [ByteBuffer] = []
        var parts: [ScannedSeries.Part] = []
        var compressed = false
        for body in bodies {
            switch body {
            case .scanned(let more): parts += more
            case .protobuf(let buffer): buffers.append(buffer)
            case .snappy(let buffer):
                buffers.append(buffer)
                compressed = true
            }
        }
        if first == .scanned { return .scanned(parts) }
        let bytes = buffers.reduce(0) { $0 + $1.readableBytes }
        var joined = ByteBufferAllocator().buffer(capacity: bytes + 10)
        guard compressed else {
            for buffer in buffers { joined.writeImmutableBuffer(buffer) }
            return .protobuf(joined)
        }
        var total = 0
        for buffer in buffers {
            guard let length = declaredLength(buffer) else { return nil }
            total += length
        }
        guard total <= Int(UInt32.max) else { return nil }
        var header = UInt64(total)
        while header >= 0x80 {
            joined.writeInteger(UInt8(truncatingIfNeeded: header) | 0x80)
            header >>= 7
        }
        joined.writeInteger(UInt8(header))
        for buffer in buffers {
            let ok = buffer.withUnsafeReadableBytes { raw -> Bool in
                guard let elements = try? Snappy.elements(of: raw).elements else { return false }
                joined.writeBytes(elements)
                return true
            }
            guard ok else { return nil }
        }
        return .snappy(joined)
    }

    private static func declaredLength(_ block: ByteBuffer) -> Int? {
        block.withUnsafeReadableBytes { raw in try? Snappy.elements(of: raw).declaredLength }
    }
}
