import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals

/// A ring and the configuration it was built from, replaced whole on reload so a reader never sees a
/// ring from one file and URLs from another.
public final class RingSnapshot: Sendable {
    public let configuration: RingConfiguration
    public let ring: HashRing
    /// 1 for the ring loaded at start, one more for each reload that changed it: a reader caching
    /// per-ring state (connections per node) notices a change with one comparison.
    public let generation: Int

    public init(configuration: RingConfiguration, ring: HashRing, generation: Int) {
        self.configuration = configuration
        self.ring = ring
        self.generation = generation
    }
}

/// The ring in force, shared by the watcher that replaces it and the request path that reads it.
///
/// A read is one uncontended lock and a retain, cheap enough to do once per request; read it once
/// and place the whole request with that snapshot, so a reload mid-request cannot split it.
public final class CurrentRing: Sendable {
    private let current: Mutex<RingSnapshot>

    public init(_ snapshot: RingSnapshot) {
        current = Mutex(snapshot)
    }

    public var snapshot: RingSnapshot {
        current.withLock { $0 }
    }

    func replace(with snapshot: RingSnapshot) {
        current.withLock { $0 = snapshot }
    }
}

/// Reloads the ring file without a restart: when it changes on disk, and at once on SIGHUP.
///
/// The file is polled (a `stat` per `pollInterval`, and a read only when that changed) rather than
/// watched with inotify: a one-second delay does not matter for membership changes, and polling also
/// sees a ConfigMap's symlink swap and files on network mounts. A file that cannot be read, parsed
/// or validated is logged and counted, and the ring in force stays; the same bad file is reported
/// once, not at every poll.
///
/// Replace the file by rename (as editors and ConfigMaps do): a poll may catch a file rewritten in
/// place half-written, reject it, and only take it at the next poll. An in-place rewrite that keeps
/// the size within the filesystem's timestamp granularity is not seen until the next change or
/// SIGHUP.
///
/// Run it in the process's `ServiceGroup`; it returns on graceful shutdown or cancellation.
public final class RingFileWatcher: Service, Sendable {
    public struct Configuration: Sendable {
        /// The ring file. Relative paths are resolved against the working directory at each read.
        public var path: String
        public var pollInterval: Duration
        /// Reload when the process receives SIGHUP, the signal operators expect to mean "reread
        /// your configuration". Only one SIGHUP handler can exist in a process: turn this off if
        /// something else owns it.
        public var reloadOnSIGHUP: Bool
        /// Files larger than this are rejected before they are read.
        public var sizeLimit: Int

        public init(path: String, pollInterval: Duration = .seconds(1), reloadOnSIGHUP: Bool = true, sizeLimit: Int = 4 << 20) {
            self.path = path
            self.pollInterval = pollInterval
            self.reloadOnSIGHUP = reloadOnSIGHUP
            self.sizeLimit = sizeLimit
        }
    }

    /// The ring in force; hand this to whatever places series.
    public let current: CurrentRing

    /// Files accepted since start, whether or not they changed the ring (a reworded comment counts).
    public var reloads: Int { reloadCount.load(ordering: .relaxed) }
    /// Files rejected since start: unreadable, not YAML, or not a valid ring.
    public var failedReloads: Int { failedReloadCount.load(ordering: .relaxed) }

    /// True while `run()` has the SIGHUP handler installed. Before that a SIGHUP still terminates
    /// the process, so tests wait for this before sending one.
    var isTrappingSIGHUP: Bool { trappingSIGHUP.load(ordering: .acquiring) }

    private let configuration: Configuration
    private let logger: Logger
    private let observers = Mutex<[@Sendable (RingSnapshot) -> Void]>([])
    private let initialFile: LoadedFile
    private let reloadCount = Atomic<Int>(0)
    private let failedReloadCount = Atomic<Int>(0)
    private let trappingSIGHUP = Atomic<Bool>(false)

    /// Loads the file once, throwing if it is bad: with no ring yet there is nothing to fall back to.
    public init(configuration: Configuration, logger: Logger) throws(RingError) {
        let (bytes, version) = try RingFile.read(path: configuration.path, limit: configuration.sizeLimit)
        let (ringConfiguration, ring) = try RingConfiguration.parseAndBuild(yaml: String(decoding: bytes, as: UTF8.self))
        self.configuration = configuration
        self.logger = logger
        self.initialFile = LoadedFile(version: version, bytes: bytes)
        self.current = CurrentRing(RingSnapshot(configuration: ringConfiguration, ring: ring, generation: 1))
    }

    /// Calls `body` on the watcher's task after each reload that changed the configuration, with the
    /// new snapshot already in force. A tier that reacts to reloads registers itself, as insert does
    /// for its ring gauges; a tier that only reads the ring follows `current`.
    public func onChange(_ body: @escaping @Sendable (RingSnapshot) -> Void) {
        observers.withLock { $0.append(body) }
    }

    /// A file as last read, whether it was accepted or not.
    private struct LoadedFile: Sendable {
        var version: RingFileVersion
        var bytes: [UInt8]
    }

    private enum Trigger: Sendable {
        case poll
        case signal
    }

    /// What the reload loop remembers between triggers. Only the loop touches it, so it needs no lock.
    private struct WatchState {
        /// The version last stat'ed or read; nil after the file could not be stat'ed.
        var lastVersion: RingFileVersion?
        /// The bytes of the ring in force, and of the last rejected file, so neither is parsed again.
        var acceptedBytes: [UInt8]
        var rejectedBytes: [UInt8]?
        /// The last stat failure reported, so a missing file is logged once, not every poll.
        var reportedStatFailure: RingError?
    }

    public func run() async throws {
        var logger = logger
        logger[metadataKey: "ring.file"] = "\(configuration.path)"
        let (triggers, continuation) = AsyncStream.makeStream(of: Trigger.self, bufferingPolicy: .bufferingNewest(16))
        let signals: UnixSignalsSequence? = configuration.reloadOnSIGHUP ? await UnixSignalsSequence(trapping: .sighup) : nil
        if signals != nil { trappingSIGHUP.store(true, ordering: .releasing) }
        logger.info(
            "watching ring file",
            metadata: ["ring.poll_interval": "\(configuration.pollInterval)", "ring.sighup": "\(signals != nil)"]
        )

        // Both sources feed one loop, so reloads never run concurrently with each other.
        await withDiscardingTaskGroup { group in
            if let signals {
                group.addTask {
                    for await _ in signals { continuation.yield(.signal) }
                }
            }
            group.addTask { [pollInterval = configuration.pollInterval] in
                while !Task.isCancelled {
                    do { try await Task.sleep(for: pollInterval) } catch { return }
                    continuation.yield(.poll)
                }
            }

            var state = WatchState(lastVersion: initialFile.version, acceptedBytes: initialFile.bytes)
            for await trigger in triggers.cancelOnGracefulShutdown() {
                check(trigger, state: &state, logger: logger)
            }
            group.cancelAll()
        }
        trappingSIGHUP.store(false, ordering: .releasing)
        logger.info("stopped watching ring file")
    }

    private func check(_ trigger: Trigger, state: inout WatchState, logger: Logger) {
        var polledVersion: RingFileVersion?
        if trigger == .poll {
            let version: RingFileVersion
            do {
                version = try RingFile.version(path: configuration.path)
            } catch {
                state.lastVersion = nil
                if state.reportedStatFailure != error {
                    state.reportedStatFailure = error
                    reject(error, logger: logger)
                }
                return
            }
            state.reportedStatFailure = nil
            if version == state.lastVersion { return }
            polledVersion = version
        } else {
            logger.info("SIGHUP: rereading ring file")
        }

        let file: (bytes: [UInt8], version: RingFileVersion)
        do {
            file = try RingFile.read(path: configuration.path, limit: configuration.sizeLimit)
        } catch {
            // Stat worked but reading did not (permissions, a directory, too large): retry when the
            // stat changes, not at every poll.
            state.lastVersion = polledVersion
            reject(error, logger: logger)
            return
        }
        state.lastVersion = file.version
        if file.bytes == state.acceptedBytes {
            if trigger == .signal { logger.info("ring file unchanged") }
            return
        }
        // A poll that finds the same bad file again (touched, or rewritten identically) stays quiet;
        // a SIGHUP always reports.
        if trigger == .poll, file.bytes == state.rejectedBytes { return }

        let parsed: (configuration: RingConfiguration, ring: HashRing)
        do {
            parsed = try RingConfiguration.parseAndBuild(yaml: String(decoding: file.bytes, as: UTF8.self))
        } catch {
            state.rejectedBytes = file.bytes
            reject(error, logger: logger)
            return
        }
        state.acceptedBytes = file.bytes
        state.rejectedBytes = nil
        reloadCount.add(1, ordering: .relaxed)

        let old = current.snapshot
        guard parsed.configuration != old.configuration else {
            logger.info("ring file changed but the ring did not", metadata: ["ring.generation": "\(old.generation)"])
            return
        }
        let snapshot = RingSnapshot(configuration: parsed.configuration, ring: parsed.ring, generation: old.generation + 1)
        current.replace(with: snapshot)
        logger.notice(
            "ring reloaded",
            metadata: [
                "ring.generation": "\(snapshot.generation)",
                "ring.nodes": "\(parsed.configuration.nodes.count)",
                "ring.replication_factor": "\(parsed.configuration.replicationFactor)",
                "ring.write_quorum": "\(parsed.configuration.writeQuorum)",
            ]
        )
        for observer in observers.withLock({ $0 }) { observer(snapshot) }
    }

    private func reject(_ error: RingError, logger: Logger) {
        failedReloadCount.add(1, ordering: .relaxed)
        logger.error(
            "ring file rejected; the previous ring stays in force",
            metadata: ["error": "\(error.message)", "error.code": "\(error.code)"]
        )
    }
}
