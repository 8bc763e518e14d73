import Hummingbird
import NIOCore

/// Reading a request body with a size limit, mapping failures to 413 and 400.
public enum BoundedBody {
    public static func collect(_ request: Request, limit: Int) async throws(HTTPFailure) -> ByteBuffer {
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit {
            throw HTTPFailure(.contentTooLarge, "body of \(length) bytes exceeds the limit of \(limit) bytes")
        }
        do {
            return try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw HTTPFailure(.contentTooLarge, "body exceeds the limit of \(limit) bytes")
        } catch {
            throw HTTPFailure(.badRequest, "could not read the body: \(error)")
        }
    }
}
