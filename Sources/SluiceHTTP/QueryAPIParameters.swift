import Foundation
import Hummingbird
import SluiceCodec
import SluiceQuery

/// A bad query-API request: 400 with `errorType` `bad_data`.
public struct APIError: Error {
    public var message: String
    public init(_ message: String) { self.message = message }
}

/// `match[]`, `start` and `end` from the query string and, for POST, the form body, as
/// Prometheus' query API takes them.
public struct APIParameters: Sendable {
    /// One matcher list per `match[]`, nil when none was given.
    public var matchers: [[LabelMatcher]]?
    public var start: Int64
    public var end: Int64

    public init(matchers: [[LabelMatcher]]?, start: Int64, end: Int64) {
        self.matchers = matchers
        self.start = start
        self.end = end
    }

    public init(_ request: Request) async throws {
        var pairs = Self.parseForm(request.uri.query ?? "")
        if request.method == .post {
            let body = try await BoundedBody.collect(request, limit: 1 << 20)
            pairs += Self.parseForm(String(buffer: body))
        }
        var matchers: [[LabelMatcher]] = []
        var start = APITime.minTime
        var end = APITime.maxTime
        for (key, value) in pairs {
            do {
                switch key {
                case "match[]": matchers.append(try SeriesSelector.parse(value))
                case "start": start = try APITime.parse(value)
                case "end": end = try APITime.parse(value)
                default: break
                }
            } catch {
                throw APIError("invalid parameter \(key): \(error)")
            }
        }
        guard start <= end else { throw APIError("end timestamp must not be before start time") }
        self.matchers = matchers.isEmpty ? nil : matchers
        self.start = start
        self.end = end
    }

    /// `application/x-www-form-urlencoded`: `+` is a space, then percent-decoding, keys included.
    public static func parseForm(_ text: String) -> [(String, String)] {
        text.split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ part: Substring) -> String {
                let spaced = part.replacingOccurrences(of: "+", with: " ")
                return spaced.removingPercentEncoding ?? spaced
            }
            return (decode(parts[0]), parts.count > 1 ? decode(parts[1]) : "")
        }
    }

    /// The parameters as a query string for another server's query API, with `extra` matchers added to
    /// every selector (or as the only selector when there is none).
    public func queryString(adding extra: [LabelMatcher] = []) -> String {
        var pairs: [(String, String)] = []
        if let matchers {
            for set in matchers { pairs.append(("match[]", SeriesSelector.format(set + extra))) }
        } else if !extra.isEmpty {
            pairs.append(("match[]", SeriesSelector.format(extra)))
        }
        if start != APITime.minTime { pairs.append(("start", Self.seconds(start))) }
        if end != APITime.maxTime { pairs.append(("end", Self.seconds(end))) }
        return pairs.map { Self.formEncode($0.0) + "=" + Self.formEncode($0.1) }.joined(separator: "&")
    }

    static func seconds(_ milliseconds: Int64) -> String {
        let sign = milliseconds < 0 ? "-" : ""
        let magnitude = milliseconds.magnitude
        let fraction = String(magnitude % 1000)
        return sign + String(magnitude / 1000) + "." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }

    /// Everything but unreserved characters percent-encoded.
    public static func formEncode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += "%" + String(byte >> 4, radix: 16, uppercase: true) + String(byte & 0xF, radix: 16, uppercase: true)
            }
        }
        return out
    }
}
