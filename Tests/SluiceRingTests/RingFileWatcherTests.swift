#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import ServiceLifecycle
import Synchronization
import Testing

@testable import SluiceRing

/// "Reloaded without a restart when the file changes and on SIGHUP. A bad file is rejected with a
/// logged error, and the old ring stays in force."
///
/// Serialized: one test sends SIGHUP to the whole process. Every wait is bounded by `eventually`,
/// and the suite by a time limit.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct RingFileWatcherTests {
    static func ringFile(_ nodeCount: Int, rf: Int = 1, comment: String = "") -> String {
        var text = "# \(comment)\nreplication_factor: \(rf)\nnodes:\n"
        for index in 1...nodeCount {
            text += "  - {name: store-\(index), url: http://127.0.0.1:\(9300 + index)/api/v1/write}\n"
        }
        return text
    }

    @Test("a changed file is picked up by polling; bad files are rejected and the old ring kept")
    func polling() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/ring.yml"
        try writeFile(Self.ringFile(3), to: path)

        let logs = LogCapture()
        let changes = Mutex<[Int]>([])
        let watcher = try RingFileWatcher(
            configuration: .init(path: path, pollInterval: .milliseconds(20), reloadOnSIGHUP: false),
            logger: logs.logger
        )
        watcher.onChange { snapshot in changes.withLock { $0.append(snapshot.generation) } }
        #expect(watcher.current.snapshot.generation == 1)
        #expect(watcher.current.snapshot.ring.nodes.count == 3)

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await watcher.run() }

            // A new membership is visible within a bounded wait.
            try writeFile(Self.ringFile(4), to: path)
            #expect(await eventually { watcher.current.snapshot.generation == 2 })
            #expect(watcher.current.snapshot.ring.nodes.count == 4)
            #expect(watcher.current.snapshot.configuration.nodes.last?.name == "store-4")
            #expect(watcher.reloads == 1)
            // The snapshot is published before onChange runs, so the callback is waited for too.
            #expect(await eventually { changes.withLock { $0 } == [2] })

            // Garbage: rejected, logged with the file name, counted once however many polls see it.
            try writeFile("nodes: [{name: store-1, url: http://x\n", to: path)
            #expect(await eventually { watcher.failedReloads == 1 })
            try await Task.sleep(for: .milliseconds(200))
            #expect(watcher.failedReloads == 1)
            #expect(watcher.current.snapshot.generation == 2)
            #expect(watcher.current.snapshot.ring.nodes.count == 4)
            let rejection = logs.entries.first { $0.level == .error }
            #expect(rejection?.metadata["ring.file"] == "\(path)")
            #expect(rejection?.metadata["error"] != nil)

            // Valid YAML but an invalid ring (RF above the node count): rejected too.
            try writeFile(Self.ringFile(2, rf: 3), to: path)
            #expect(await eventually { watcher.failedReloads == 2 })
            #expect(watcher.current.snapshot.ring.nodes.count == 4)

            // A missing file: rejected once, old ring kept.
            #expect(unlink(path) == 0)
            #expect(await eventually { watcher.failedReloads == 3 })
            try await Task.sleep(for: .milliseconds(200))
            #expect(watcher.failedReloads == 3)
            #expect(watcher.current.snapshot.generation == 2)

            // The file in force comes back unchanged: nothing to reload, nothing to report.
            try writeFile(Self.ringFile(4), to: path)
            try await Task.sleep(for: .milliseconds(200))
            #expect(watcher.current.snapshot.generation == 2)
            #expect(watcher.reloads == 1)
            #expect(watcher.failedReloads == 3)

            // Only a comment changes: the file is accepted but the ring is not replaced.
            try writeFile(Self.ringFile(4, comment: "reviewed"), to: path)
            #expect(await eventually { watcher.reloads == 2 })
            #expect(watcher.current.snapshot.generation == 2)

            // And a real change still goes through after all that.
            try writeFile(Self.ringFile(5, rf: 2), to: path)
            #expect(await eventually { watcher.current.snapshot.generation == 3 })
            #expect(watcher.current.snapshot.ring.replicationFactor == 2)
            #expect(await eventually { changes.withLock { $0 } == [2, 3] })

            group.cancelAll()
        }
    }

    /// Rewriting in place (same inode) is seen too, not only replacement by rename.
    @Test("an in-place rewrite is picked up")
    func inPlace() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/ring.yml"
        try writeFile(Self.ringFile(3), to: path)
        let watcher = try RingFileWatcher(
            configuration: .init(path: path, pollInterval: .milliseconds(20), reloadOnSIGHUP: false),
            logger: LogCapture().logger
        )
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await watcher.run() }
            try writeFile(Self.ringFile(6), to: path, inPlace: true)
            #expect(await eventually { watcher.current.snapshot.ring.nodes.count == 6 })
            group.cancelAll()
        }
    }

    @Test("a bad file at start is an error: there is no old ring to keep")
    func badAtStart() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/ring.yml"
        #expect(throws: RingError.self) {
            try RingFileWatcher(configuration: .init(path: path), logger: LogCapture().logger)
        }
        try writeFile("replication_factor: [", to: path)
        #expect(throws: RingError.self) {
            try RingFileWatcher(configuration: .init(path: path), logger: LogCapture().logger)
        }
        #expect(throws: RingError.self) {
            try RingFileWatcher(configuration: .init(path: directory.path), logger: LogCapture().logger)
        }
        try writeFile(Self.ringFile(3), to: path)
        #expect(throws: RingError.self) {
            try RingFileWatcher(configuration: .init(path: path, sizeLimit: 16), logger: LogCapture().logger)
        }
    }

    /// With an hour between polls only the signal can explain a reload. The watcher installs the
    /// SIGHUP handler, so the signal must not terminate the test process.
    @Test("SIGHUP reloads at once, in a ServiceGroup, and does not kill the process")
    func sighup() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/ring.yml"
        try writeFile(Self.ringFile(3), to: path)
        let logs = LogCapture()
        let watcher = try RingFileWatcher(
            configuration: .init(path: path, pollInterval: .seconds(3600)),
            logger: logs.logger
        )
        let serviceGroup = ServiceGroup(services: [watcher], logger: logs.logger)

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await serviceGroup.run() }
            #expect(await eventually { watcher.isTrappingSIGHUP })
            // SIGHUP's default action terminates the process; the watcher must have replaced it.
            // (libdispatch installs its handler once per process and never removes it, so this
            // only inspects the action: resetting it here would break any other watcher's.)
            var action = sigaction()
            #expect(sigaction(SIGHUP, nil, &action) == 0)
            #expect(unsafeBitCast(action.__sigaction_handler, to: Int.self) != 0, "SIGHUP would terminate the process")

            try writeFile(Self.ringFile(4), to: path)
            try await Task.sleep(for: .milliseconds(100))
            #expect(watcher.current.snapshot.generation == 1)

            #expect(kill(getpid(), SIGHUP) == 0)
            #expect(await eventually { watcher.current.snapshot.generation == 2 })
            #expect(watcher.current.snapshot.ring.nodes.count == 4)

            // A second signal with nothing changed rereads and reports, without a new ring.
            #expect(kill(getpid(), SIGHUP) == 0)
            #expect(await eventually { logs.entries.contains { $0.message == "ring file unchanged" } })
            #expect(watcher.current.snapshot.generation == 2)

            // A bad file on SIGHUP: rejected, old ring kept.
            try writeFile("not: [a, ring", to: path)
            #expect(kill(getpid(), SIGHUP) == 0)
            #expect(await eventually { watcher.failedReloads == 1 })
            #expect(watcher.current.snapshot.ring.nodes.count == 4)

            // Graceful shutdown ends the watcher and so the group.
            await serviceGroup.triggerGracefulShutdown()
            try await group.waitForAll()
        }
        #expect(logs.entries.contains { $0.message == "stopped watching ring file" })
    }
}

// MARK: - Helpers

/// Collects log entries so tests can check what an operator would see.
final class LogCapture: Sendable {
    struct Entry: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: Logger.Metadata
    }

    private let store = Mutex<[Entry]>([])

    var entries: [Entry] { store.withLock { $0 } }

    var logger: Logger {
        Logger(label: "ring-test") { _ in Handler(capture: self) }
    }

    fileprivate func append(_ entry: Entry) {
        store.withLock { $0.append(entry) }
    }

    private struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            var merged = metadata
            if let extra = event.metadata { merged.merge(extra) { $1 } }
            capture.append(Entry(level: event.level, message: "\(event.message)", metadata: merged))
        }
    }
}

struct TemporaryDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/sluice-ring-XXXXXX".utf8CString)
        guard let result = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw RingError("mkdtemp failed")
        }
        path = String(cString: result)
    }

    func remove() {
        if let directory = opendir(path) {
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if name != "." && name != ".." { unlink(path + "/" + name) }
            }
            closedir(directory)
        }
        rmdir(path)
    }
}

/// Writes `text` to `path`: by default through a temporary file and rename, as editors and
/// configuration tools do; `inPlace` truncates and rewrites the existing file instead.
func writeFile(_ text: String, to path: String, inPlace: Bool = false) throws {
    let target = inPlace ? path : path + ".tmp"
    let fd = open(target, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw RingError("cannot open \(target)") }
    let bytes = Array(text.utf8)
    let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    close(fd)
    guard written == bytes.count else { throw RingError("short write to \(target)") }
    if !inPlace {
        guard rename(target, path) == 0 else { throw RingError("cannot rename \(target)") }
    }
}
