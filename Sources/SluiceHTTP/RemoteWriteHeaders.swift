import Hummingbird
import NIOCore

/// Header checks every remote-write endpoint makes, the same on each tier.
public enum RemoteWriteHeaders {
    /// Remote write 1.0 only: missing headers mean 1.0, as Prometheus takes them.
    public static func check(_ request: Request) throws(HTTPFailure) {
        if let type = request.headers[.contentType] {
            let parts = type.split(separator: ";").map { trimmed($0).lowercased() }
            guard parts.first == "application/x-protobuf" else {
                throw HTTPFailure(.unsupportedMediaType, "unsupported Content-Type \(type): expected application/x-protobuf")
            }
            for parameter in parts.dropFirst() {
                let pair = parameter.split(separator: "=", maxSplits: 1).map { trimmed($0) }
                if pair.first == "proto", pair.count == 2, pair[1] != "prometheus.writerequest" {
                    throw HTTPFailure(.unsupportedMediaType, "unsupported remote-write message \(pair[1]): this endpoint takes prometheus.WriteRequest (remote write 1.0)")
                }
            }
        }
        if let encoding = request.headers[.contentEncoding], encoding.lowercased() != "snappy" {
            throw HTTPFailure(.unsupportedMediaType, "unsupported Content-Encoding \(encoding): expected snappy")
        }
    }

    static func trimmed(_ text: Substring) -> String {
        String(text.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}

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
