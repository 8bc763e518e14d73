import Hummingbird
import Logging
import SluiceCodec

/// A request that failed, with the status chosen once, at the edge.
///
/// The body is one line of at most 1 KB: Prometheus logs only the first 1 KB of an error body, and
/// one line keeps its log readable.
public struct HTTPFailure: Error, Sendable, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var message: String
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.message = message
        self.headers = headers
    }

    /// 400 for malformed input, 413 for input over a limit.
    public init(_ error: CodecError) {
        switch error.code {
        case .sizeLimitExceeded: self.init(.contentTooLarge, error.message)
        default: self.init(.badRequest, error.message)
        }
    }

    public var description: String { "\(status.code) \(message)" }

    /// What `body` answers, or the response of the failure it throws. A 5xx failure is logged as a
    /// warning with `event`: the server's fault, where a 4xx is the client's.
    public static func answer(
        logger: Logger, event: Logger.Message, _ body: () async throws(HTTPFailure) -> Response
    ) async -> Response {
        do {
            return try await body()
        } catch {
            if error.status.code >= 500 { logger.warning(event, metadata: ["error": "\(error.message)"]) }
            return error.response
        }
    }

    public var response: Response {
        var headers = self.headers
        headers[.contentType] = "text/plain; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: Self.oneLine(message))))
    }

    /// Newlines folded, cut to fit 1 KB with its own newline.
    public static func oneLine(_ message: String) -> String {
        // By scalar: "\r\n" is one Character, which replacing "\r" or "\n" alone would not touch.
        var line = String(String.UnicodeScalarView(message.unicodeScalars.map { $0 == "\r" || $0 == "\n" ? " " : $0 }))
        if line.utf8.count > 1023 {
            var cut = ""
            for character in line {
                if cut.utf8.count + character.utf8.count > 1020 { break }
                cut.append(character)
            }
            line = cut + "..."
        }
        return line + "\n"
    }
}
