import Hummingbird
import Prometheus

/// `/metrics`, `/-/healthy` and `/-/ready`, the same on every tier.
public enum OperationalRoutes {
    /// - Parameter ready: whether the process can serve traffic yet (storage: after WAL replay).
    public static func add<Context: RequestContext>(
        to router: Router<Context>,
        registry: PrometheusCollectorRegistry,
        ready: @escaping @Sendable () -> Bool = { true }
    ) {
        router.get("/metrics") { _, _ -> Response in
            var buffer: [UInt8] = []
            buffer.reserveCapacity(16 * 1024)
            registry.emit(into: &buffer)
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: buffer))
            )
        }
        router.get("/-/healthy") { _, _ in "OK\n" }
        router.get("/-/ready") { _, _ -> Response in
            ready()
                ? Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "OK\n")))
                : HTTPFailure(.serviceUnavailable, "not ready").response
        }
    }

    /// Answers 405 for every method but POST on `paths`, as the remote-write and remote-read specs
    /// expect of their endpoints.
    public static func postOnly<Context: RequestContext>(_ paths: [RouterPath], on router: Router<Context>) {
        for path in paths {
            for method in [HTTPRequest.Method.get, .put, .delete, .patch, .head, .options] {
                router.on(path, method: method) { _, _ -> Response in
                    HTTPFailure(.methodNotAllowed, "method not allowed: use POST", headers: [.allow: "POST"]).response
                }
            }
        }
    }
}

/// A metric name with its help text, as every tier registers its metrics (swift-prometheus wants
/// both in a descriptor).
public func metricDescriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
    MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
}
