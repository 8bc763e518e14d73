import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// The hint sink backed by the on-disk queues. Queue calls block on `fdatasync`, so they run on
/// NIO's blocking-I/O thread pool, never on the concurrency pool's few threads.
struct DiskHints: HintSink {
    let store: HintStore
    let metrics: InsertMetrics

    func enqueue(node: String, body: ByteBuffer) async throws {
        let record = Array(body.readableBytesView)
        let store = self.store
        let result = try await NIOThreadPool.singleton.runIfActive { () throws -> HintQueue.AppendResult in
            try store.queue(for: node).append(record)
        }
        if result.evictedRecords > 0 { metrics.hints(node: node, event: "dropped", count: result.evictedRecords) }
        if result.rejected > 0 { metrics.hints(node: node, event: "dropped", count: result.rejected) }
        // Now, not at the replayer's next round: a reader of the gauge must never see 0 for a queue
        // that holds hints.
        if let queue = store.openQueue(for: node) { metrics.hintQueueBytes(node: node).set(Double(queue.bytes)) }
    }

    func hasPending(node: String) -> Bool {
        (store.openQueue(for: node)?.count ?? 0) > 0
    }
}

/// Replays hinted-handoff queues to their nodes once they answer again, so replicas converge.
///
/// One loop for all queues: each round sends up to `batch` records per node that is not backing
/// off, oldest first, and removes a record only after the node accepted it (or rejected it as
/// invalid, which a retry would not change). Queues of nodes no longer in the ring are kept, and
/// replayed if the node returns.
struct HintReplayer: Service {
    let store: HintStore
    let nodes: StorageNodeDirectory
    let forwarder: WriteForwarder
    let metrics: InsertMetrics
    let logger: Logger
    /// Called every round, so gauges that follow node health stay current.
    var refreshGauges: @Sendable () -> Void = {}
    var idleInterval: Duration = .milliseconds(250)
    var batch = 64

    func run() async throws {
        // Queues left by a previous run are opened now, so their hints count and replay.
        for name in store.storedNodes { _ = try? store.queue(for: name) }
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let delivered = await round()
            updateGauges()
            refreshGauges()
            if delivered == 0 {
                try? await Task.sleep(for: idleInterval)
            }
        }
    }

    /// One pass over the queues; returns how many records were delivered.
    func round() async -> Int {
        var delivered = 0
        let clock = ContinuousClock()
        for (name, queue) in store.openQueues.sorted(by: { $0.key < $1.key }) {
            guard let node = nodes.node(named: name), node.shouldSend(at: clock.now) else { continue }
            for _ in 0..<batch {
                guard !Task.isCancelled, let entry = try? queue.peek() else { break }
                let outcome = await forwarder.send(ByteBuffer(bytes: entry.payload), to: node.url, tenant: nil)
                switch outcome {
                case .accepted:
                    node.record(success: true, at: clock.now)
                    _ = try? queue.commit(entry)
                    metrics.hints(node: name, event: "replayed")
                    delivered += 1
                case .rejected(_, let message):
                    node.record(success: true, at: clock.now)
                    _ = try? queue.commit(entry)
                    metrics.hints(node: name, event: "discarded")
                    logger.warning("node rejected a hint; discarding it", metadata: ["ring.node": "\(name)", "error": "\(message)"])
                case .failed:
                    node.record(success: false, at: clock.now)
                }
                if case .failed = outcome { break }
            }
        }
        return delivered
    }

    func updateGauges() {
        for (name, queue) in store.openQueues {
            metrics.hintQueueBytes(node: name).set(Double(queue.bytes))
        }
    }
}
