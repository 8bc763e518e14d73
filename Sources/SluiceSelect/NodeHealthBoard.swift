import SluiceRing
import Synchronization

/// Each storage node's health as select sees it (`NodeHealth`), shared by every request.
///
/// A node that fails a read is down for a backoff (the first failure counts: select's threshold is
/// one, so a hung node costs one timeout, not one per request). While fewer than RF nodes are down,
/// the rest hold a replica of every series and requests leave the down ones out; once a node's
/// backoff has passed, one probe at a time (`GET /-/ready`) runs beside the requests, never in
/// their way, and a success brings it back. With RF or more down, requests ask every node, since
/// skipping would make the answer incomplete.
final class NodeHealthBoard: Sendable {
    private struct Entry {
        var health: NodeHealth
        var probing = false
    }

    private let configuration: NodeHealth.Configuration
    private let entries = Mutex<[String: Entry]>([:])

    init(configuration: NodeHealth.Configuration) {
        self.configuration = configuration
    }

    /// Whether `name` has failed recently and not recovered since.
    func isDown(_ name: String) -> Bool {
        entries.withLock { $0[name]?.health.isHealthy == false }
    }

    /// Notes the outcome of a read or probe of `name`; returns whether its state changed.
    @discardableResult
    func record(_ name: String, success: Bool, at now: ContinuousClock.Instant = .now) -> Bool {
        entries.withLock { entries in
            var entry = entries[name] ?? Entry(health: NodeHealth(configuration: configuration))
            let wasHealthy = entry.health.isHealthy
            if success { entry.health.recordSuccess() } else { entry.health.recordFailure(at: now) }
            entries[name] = entry
            return wasHealthy != entry.health.isHealthy
        }
    }

    /// Whether the caller should probe `name` now: it is down, its backoff has passed and no probe
    /// is running. A true answer reserves the probe; `finishProbe` ends it.
    func startProbe(_ name: String, at now: ContinuousClock.Instant = .now) -> Bool {
        entries.withLock { entries in
            guard var entry = entries[name], !entry.health.isHealthy, !entry.probing, entry.health.shouldSend(at: now) else { return false }
            entry.probing = true
            entries[name] = entry
            return true
        }
    }

    @discardableResult
    func finishProbe(_ name: String, success: Bool, at now: ContinuousClock.Instant = .now) -> Bool {
        let changed = record(name, success: success, at: now)
        entries.withLock { $0[name]?.probing = false }
        return changed
    }
}
