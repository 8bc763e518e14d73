import Logging
import ServiceLifecycle
import SluiceFiles
import Synchronization

/// Reloads the per-tenant overrides file without a restart, as Mimir's runtime config does.
///
/// The file is read at every poll and parsed only when its bytes changed: it is small, and reading
/// it also sees a ConfigMap's symlink swap and files on network mounts. A file that cannot be read
/// or parsed is logged and counted once, and the overrides in force stay. There is no SIGHUP reload:
/// the ring-file watcher owns the process's one SIGHUP handler.
///
/// Run it in the process's `ServiceGroup`; it returns on graceful shutdown or cancellation.
public final class OverridesWatcher: Service, Sendable {
    public struct Configuration: Sendable {
        /// Relative paths are resolved against the working directory at each read.
        public var path: String
        public var pollInterval: Duration
        /// Files larger than this are rejected.
        public var sizeLimit: Int

        public init(path: String, pollInterval: Duration = .seconds(10), sizeLimit: Int = 4 << 20) {
            self.path = path
            self.pollInterval = pollInterval
            self.sizeLimit = sizeLimit
        }
    }

    public let configuration: Configuration
    let limiter: TenantLimiter
    private let flags: TenantLimits
    private let logger: Logger
    private let onReload: @Sendable (_ success: Bool) -> Void
    /// The bytes in force and the last rejected ones, so neither is parsed or reported again.
    private let seen: Mutex<Seen>

    private struct Seen {
        var accepted: [UInt8]
        var rejected: [UInt8]?
        /// The file could not be read at the last poll; reported once until it can.
        var unreadable = false
    }

    /// Loads the file once, throwing if it is bad: a process should not start with limits its
    /// operator did not mean.
    ///
    /// - Parameters:
    ///   - flags: what unset keys fall back to.
    ///   - onReload: called after each changed file, with whether it was taken.
    init(
        configuration: Configuration,
        limiter: TenantLimiter,
        flags: TenantLimits,
        logger: Logger,
        onReload: @escaping @Sendable (_ success: Bool) -> Void = { _ in }
    ) throws(OverridesError) {
        let bytes = try Self.read(configuration)
        limiter.replace(try TenantOverrides.parse(yaml: String(decoding: bytes, as: UTF8.self), flags: flags))
        self.configuration = configuration
        self.limiter = limiter
        self.flags = flags
        self.logger = logger
        self.onReload = onReload
        self.seen = Mutex(Seen(accepted: bytes))
    }

    public func run() async throws {
        var logger = logger
        logger[metadataKey: "overrides.file"] = "\(configuration.path)"
        logger.info("watching overrides file", metadata: ["overrides.poll_interval": "\(configuration.pollInterval)"])
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await cancelWhenGracefulShutdown { [pollInterval = configuration.pollInterval] in
                    try await Task.sleep(for: pollInterval)
                }
            } catch {
                break
            }
            check(logger: logger)
        }
        logger.info("stopped watching overrides file")
    }

    /// Rereads the file and applies it if it changed and is valid. The poll loop calls it; so can tests.
    func check(logger: Logger? = nil) {
        let logger = logger ?? self.logger
        let bytes: [UInt8]
        do {
            bytes = try Self.read(configuration)
        } catch {
            reject(error, bytes: nil, logger: logger)
            return
        }
        let known = seen.withLock { seen in
            seen.unreadable = false
            return bytes == seen.accepted || bytes == seen.rejected
        }
        if known { return }
        let overrides: TenantOverrides
        do {
            overrides = try TenantOverrides.parse(yaml: String(decoding: bytes, as: UTF8.self), flags: flags)
        } catch {
            reject(error, bytes: bytes, logger: logger)
            return
        }
        seen.withLock { $0 = Seen(accepted: bytes) }
        limiter.replace(overrides)
        onReload(true)
        logger.notice("overrides reloaded", metadata: ["overrides.tenants": "\(overrides.tenants.count)"])
    }

    private func reject(_ error: OverridesError, bytes: [UInt8]?, logger: Logger) {
        let repeated = seen.withLock { seen in
            guard let bytes else {
                defer { seen.unreadable = true }
                return seen.unreadable
            }
            defer { seen.rejected = bytes }
            return seen.rejected == bytes
        }
        if repeated { return }
        onReload(false)
        logger.error(
            "overrides file rejected; the previous limits stay in force",
            metadata: ["error": "\(error.message)", "error.code": "\(error.code)"]
        )
    }

    private static func read(_ configuration: Configuration) throws(OverridesError) -> [UInt8] {
        do {
            return try Files<FileError>.readWholeFile(configuration.path, limit: configuration.sizeLimit)
        } catch {
            throw OverridesError(.unreadableFile, "cannot read the overrides file: \(error.message)")
        }
    }
}
