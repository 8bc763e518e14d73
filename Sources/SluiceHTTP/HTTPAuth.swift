import Hummingbird

/// Optional client authentication for insert and select: HTTP basic auth or a bearer token, the two
/// Prometheus' `remote_write` and `remote_read` can send (`basic_auth`, `authorization`). The
/// health endpoints stay open, so load balancers and orchestrators need no secret.
public enum HTTPAuth: Sendable, Equatable {
    case none
    case basic(username: String, password: String)
    case bearer(token: String)

    /// The `Authorization` value a client sends.
    public var authorization: String? {
        switch self {
        case .none: nil
        case .basic(let username, let password): "Basic " + base64(Array("\(username):\(password)".utf8))
        case .bearer(let token): "Bearer " + token
        }
    }

    /// Whether a request's `Authorization` header is the expected one. Compares in time independent
    /// of where the first difference is.
    public func permits(_ header: String?) -> Bool {
        guard let expected = authorization else { return true }
        guard let header else { return false }
        let a = Array(header.utf8)
        let b = Array(expected.utf8)
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for index in 0..<max(a.count, b.count) {
            difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
        }
        return difference == 0
    }

    var challenge: String {
        switch self {
        case .none: ""
        case .basic: "Basic realm=\"sluice\""
        case .bearer: "Bearer realm=\"sluice\""
        }
    }
}

/// Answers 401 to requests without the configured credentials, except on the health endpoints.
public struct AuthMiddleware<Context: RequestContext>: RouterMiddleware {
    public static var openPaths: Set<String> { ["/-/healthy", "/-/ready"] }

    let auth: HTTPAuth

    public init(_ auth: HTTPAuth) {
        self.auth = auth
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard auth != .none, !Self.openPaths.contains(request.uri.path) else { return try await next(request, context) }
        guard auth.permits(request.headers[.authorization]) else {
            return Response(
                status: .unauthorized,
                headers: [.wwwAuthenticate: auth.challenge, .contentType: "text/plain; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: "missing or wrong credentials\n"))
            )
        }
        return try await next(request, context)
    }
}

/// RFC 4648 base64, for the basic-auth header.
func base64(_ bytes: [UInt8]) -> String {
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    var out: [UInt8] = []
    var index = 0
    while index < bytes.count {
        let chunk = bytes[index..<min(index + 3, bytes.count)]
        let value = chunk.enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (16 - 8 * UInt32($1.offset)) }
        for position in 0..<4 {
            out.append(position <= chunk.count ? alphabet[Int((value >> (18 - 6 * UInt32(position))) & 63)] : UInt8(ascii: "="))
        }
        index += 3
    }
    return String(decoding: out, as: UTF8.self)
}
