import ArgumentParser
import Logging
import ServiceLifecycle

func parseListen(_ listen: String) throws -> (String, Int) {
    guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), (0...65535).contains(port) else {
        throw ValidationError("--listen must be host:port, got \(listen)")
    }
    let host = String(listen[..<colon])
    return (host.isEmpty ? "0.0.0.0" : host, port)
}

/// Logs to standard error at `level`: swift-log's names, or Prometheus' `warn`.
func bootstrapLogging(label: String, level: String) throws -> Logger {
    guard let parsed = Logger.Level(rawValue: level == "warn" ? "warning" : level) else {
        throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical; got \(level)")
    }
    LoggingSystem.bootstrap { label in
        var handler = DeferredMetadataLogHandler(StreamLogHandler.standardError(label: label))
        handler.logLevel = parsed
        return handler
    }
    return Logger(label: label)
}

/// `StreamLogHandler`, with the logger's metadata formatted only when a message is written.
/// `StreamLogHandler` formats all of it again at every change, and Hummingbird gives every
/// request's logger a request id: a `String` built per request that, at the default level, no
/// message ever shows. The output is the same: the metadata goes to `StreamLogHandler` with each
/// message.
struct DeferredMetadataLogHandler: LogHandler {
    private var stream: StreamLogHandler
    var metadata: Logger.Metadata = [:]

    init(_ stream: StreamLogHandler) { self.stream = stream }

    var logLevel: Logger.Level {
        get { stream.logLevel }
        set { stream.logLevel = newValue }
    }

    var metadataProvider: Logger.MetadataProvider? {
        get { stream.metadataProvider }
        set { stream.metadataProvider = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var event = event
        event.metadata = event.metadata.map { metadata.merging($0) { $1 } } ?? metadata
        stream.log(event: event)
    }
}

/// Runs a server's services in one `ServiceGroup` until SIGTERM or SIGINT, which stops them in
/// reverse order.
func runUntilSignalled(_ services: [any Service], logger: Logger) async throws {
    let group = ServiceGroup(
        configuration: .init(services: services.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
    )
    try await group.run()
}
