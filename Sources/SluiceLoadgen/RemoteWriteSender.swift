import NIOSSL
import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import SluiceCodec

/// When to try a request again, as Prometheus' queue manager decides: 2xx is done; 5xx, 429 and
/// transport errors are retried with exponential backoff (a `Retry-After` header overrides the wait);
/// any other status is final. Retries stop after `maxRetryTime`, and the request counts as failed.
public struct RetryPolicy: Sendable {
    public enum Decision: Equatable, Sendable {
        case done(RequestOutcome)
        case retry(afterSeconds: Double)
    }

    public var minBackoff: Double
    public var maxBackoff: Double
    public var maxRetryTime: Double

    public init(minBackoff: Double, maxBackoff: Double, maxRetryTime: Double) {
        self.minBackoff = minBackoff
        self.maxBackoff = maxBackoff
        self.maxRetryTime = maxRetryTime
    }

    /// - Parameters:
    ///   - status: the answer's status, or nil when no answer came (refused, reset, timed out).
    ///   - retryAfter: the `Retry-After` header, if any.
    ///   - attempt: 0 for the first try.
    ///   - elapsed: seconds since the first try started.
    ///   - now: seconds since the epoch, for `Retry-After` given as a date.
    public func decide(status: Int?, retryAfter: String?, attempt: Int, elapsed: Double, now: Double) -> Decision {
        if let status {
            if (200..<300).contains(status) { return .done(.acknowledged) }
            guard status >= 500 || status == 429 else { return .done(.failed) }
        }
        var wait = min(maxBackoff, minBackoff * Double(1 << min(attempt, 30)))
        if let retryAfter, let seconds = Self.parseRetryAfter(retryAfter, now: now) { wait = seconds }
        guard elapsed + wait <= maxRetryTime else { return .done(.failed) }
        return .retry(afterSeconds: wait)
    }

    /// `Retry-After` is either delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
    public static func parseRetryAfter(_ value: String, now: Double) -> Double? {
        let trimmed = String(value.drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
        if let seconds = Int(trimmed) { return seconds >= 0 ? Double(seconds) : nil }
        guard let date = parseIMFFixdate(trimmed) else { return nil }
        return max(0, date - now)
    }

    /// "Sun, 06 Nov 1994 08:49:37 GMT" → seconds since the epoch.
    static func parseIMFFixdate(_ text: String) -> Double? {
        let parts = text.split(separator: " ")
        guard parts.count == 6, parts[5] == "GMT", let day = Int(parts[1]), let year = Int(parts[3]) else { return nil }
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        guard let month = months.firstIndex(of: String(parts[2])) else { return nil }
        let clock = parts[4].split(separator: ":").compactMap { Int($0) }
        guard clock.count == 3 else { return nil }
        // Days from the civil date (Howard Hinnant's algorithm; `month` counts from 0).
        let y = month < 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 10) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        return Double(days * 86400 + clock[0] * 3600 + clock[1] * 60 + clock[2])
    }
}

/// Posts remote-write bodies and answers with what came back. One per run; its connection pool is
/// sized to the run's concurrency so every worker keeps its own connection.
final class RemoteWriteSender: Sendable {
    struct Answer: Sendable {
        var status: Int?
        var retryAfter: String?
        /// The first line of an error body, or the transport error.
        var message: String?
    }

    private let client: HTTPClient
    private let url: String
    private let headers: HTTPHeaders
    private let timeout: TimeAmount

    init(
        url: String, tenant: String?, authorization: String?, tls: TLSConfiguration?, concurrency: Int, timeoutSeconds: Double,
        remoteWriteVersion: Int = 1
    ) {
        var configuration = HTTPClient.Configuration()
        if let tls { configuration.tlsConfiguration = tls }
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: concurrency)
        configuration.timeout = .init(connect: .seconds(5), read: .nanoseconds(Int64(timeoutSeconds * 1e9)))
        configuration.decompression = .disabled
        // A refused connection is an answer the retry policy handles, with its own backoff.
        configuration.connectionPool.retryConnectionEstablishment = false
        self.client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        self.url = url
        self.timeout = .nanoseconds(Int64(timeoutSeconds * 1e9))
        var headers = HTTPHeaders()
        let version: RemoteWriteVersion = remoteWriteVersion == 2 ? .v2 : .v1
        headers.add(name: "Content-Type", value: version.contentType)
        headers.add(name: RemoteWriteVersion.versionHeaderName, value: version.versionHeader)
        headers.add(name: "Content-Encoding", value: "snappy")
        headers.add(name: "User-Agent", value: "sluice-loadgen")
        if let tenant { headers.add(name: "X-Scope-OrgID", value: tenant) }
        if let authorization { headers.add(name: "Authorization", value: authorization) }
        self.headers = headers
    }

    func shutdown() async {
        try? await client.shutdown()
    }

    func post(_ body: ByteBuffer) async -> Answer {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers = headers
        request.body = .bytes(body)
        do {
            let response = try await client.execute(request, timeout: timeout)
            let status = Int(response.status.code)
            if (200..<300).contains(status) {
                for try await _ in response.body {}
                return Answer(status: status)
            }
            var buffer = try await response.body.collect(upTo: 64 * 1024)
            let text = buffer.readString(length: min(buffer.readableBytes, 512)) ?? ""
            let line = text.split(separator: "\n").first.map(String.init) ?? ""
            return Answer(status: status, retryAfter: response.headers.first(name: "Retry-After"), message: line)
        } catch {
            return Answer(status: nil, message: "\(error)")
        }
    }
}
