import Hummingbird
import NIOCore

/// Reading a request body with a size limit, mapping failures to 413 and 400.
public enum BoundedBody {
    /// 413 when the request's Content-Length passes `limit`: checked before anything is read, and
    /// before any admission (insert's in-flight limits), so an oversized body never waits for a slot.
    public static func checkContentLength(_ request: Request, limit: Int) throws(HTTPFailure) {
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit {
            throw HTTPFailure(.contentTooLarge, "body of \(length) bytes exceeds the limit of \(limit) bytes")
        }
    }

    /// The whole body, at most `limit` bytes whether or not a Content-Length was sent.
    public static func collect(_ request: Request, limit: Int) async throws(HTTPFailure) -> ByteBuffer {
        try checkContentLength(request, limit: limit)
        do {
            return try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw HTTPFailure(.contentTooLarge, "body exceeds the limit of \(limit) bytes")
        } catch {
            throw HTTPFailure(.badRequest, "could not read the body: \(error)")
        }
    }
}

/// A tier that takes remote-write bodies (insert, storage): how large one may be, compressed
/// (`BoundedBody`) and decoded (`Snappy.declaredLength(_:limit:)`).
public protocol WriteBodyLimits {
    /// The tier's defaults.
    init()
    var maxBodyBytes: Int { get set }
    var maxDecodedBytes: Int { get set }
}
