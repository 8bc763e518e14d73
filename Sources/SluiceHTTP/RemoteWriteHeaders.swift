import HTTPTypes
import Hummingbird
import NIOCore
import SluiceCodec

/// Header checks every remote-write endpoint makes, the same on each tier.
public enum RemoteWriteHeaders {
    public static let samplesWritten = HTTPField.Name(RemoteWriteVersion.samplesWrittenHeader)!
    public static let histogramsWritten = HTTPField.Name(RemoteWriteVersion.histogramsWrittenHeader)!
    public static let exemplarsWritten = HTTPField.Name(RemoteWriteVersion.exemplarsWrittenHeader)!

    /// Which protocol the request speaks, as Prometheus' receiver decides it:
    /// - no `Content-Type`, `application/x-protobuf`, or `proto=prometheus.WriteRequest` → 1.0;
    /// - `proto=io.prometheus.write.v2.Request` → 2.0;
    /// - any other media type or `proto` → 415, as is any `Content-Encoding` but snappy.
    ///
    /// Parameters are read leniently: whitespace around `;` and `=` is ignored, names and values
    /// compare case-insensitively, a quoted value is unquoted, and empty or nameless parameters
    /// (`;;`, `;=x`) are skipped.
    public static func negotiate(_ request: Request) throws(HTTPFailure) -> RemoteWriteVersion {
        let type = request.headers[.contentType]
        let encoding = request.headers[.contentEncoding]
        // What Prometheus 1.0 senders put there, byte for byte: no parsing, no lowercased copies.
        if type == nil || type == "application/x-protobuf", encoding == nil || encoding == "snappy" { return .v1 }
        var version = RemoteWriteVersion.v1
        if let type {
            let parts = type.split(separator: ";", omittingEmptySubsequences: false).map { trimmed($0).lowercased() }
            guard parts.first == "application/x-protobuf" else {
                throw HTTPFailure(.unsupportedMediaType, "unsupported Content-Type \(type): expected application/x-protobuf")
            }
            for parameter in parts.dropFirst() {
                let pair = parameter.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map { trimmed($0) }
                guard pair.count == 2, pair[0] == "proto" else { continue }
                var value = pair[1]
                if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
                switch value {
                case "prometheus.writerequest": version = .v1
                case "io.prometheus.write.v2.request": version = .v2
                default:
                    throw HTTPFailure(
                        .unsupportedMediaType,
                        "unsupported remote-write message \(pair[1]): expected prometheus.WriteRequest (1.0) or io.prometheus.write.v2.Request (2.0)"
                    )
                }
            }
        }
        if let encoding, trimmed(Substring(encoding)).lowercased() != "snappy" {
            throw HTTPFailure(.unsupportedMediaType, "unsupported Content-Encoding \(encoding): expected snappy")
        }
        return version
    }

    /// Remote write 1.0 only: 415 for 2.0 as for anything else unknown.
    public static func check(_ request: Request) throws(HTTPFailure) {
        guard try negotiate(request) == .v1 else {
            throw HTTPFailure(.unsupportedMediaType, "this endpoint takes remote write 1.0 (prometheus.WriteRequest) only")
        }
    }

    /// The three counts a 2.0 response carries, on success and failure alike.
    public static func written(samples: Int, histograms: Int, exemplars: Int) -> HTTPFields {
        var fields = HTTPFields()
        fields[samplesWritten] = String(samples)
        fields[histogramsWritten] = String(histograms)
        fields[exemplarsWritten] = String(exemplars)
        return fields
    }

    static func trimmed(_ text: Substring) -> String {
        String(text.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
