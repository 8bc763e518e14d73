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
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = parsed
        return handler
    }
    return Logger(label: label)
}

/// Runs a server's services in one `ServiceGroup` until SIGTERM or SIGINT, which stops them in
/// reverse order.
func runUntilSignalled(_ services: [any Service], logger: Logger) async throws {
    let group = ServiceGroup(
        configuration: .init(services: services.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
    )
    try await group.run()
}
