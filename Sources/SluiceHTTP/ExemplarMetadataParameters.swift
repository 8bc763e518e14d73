import Hummingbird
import SluiceCodec
import SluiceQuery

/// `query`, `start` and `end` of `/api/v1/query_exemplars`, from the query string and, for POST, the
/// form body, as Prometheus takes them. `query` must be a plain series selector: Sluice has no PromQL
/// engine, and a selector is all Prometheus itself looks at in an exemplar query.
public struct ExemplarQueryParameters: Sendable {
    public var matchers: [LabelMatcher]
    public var start: Int64
    public var end: Int64

    public init(_ request: Request) async throws {
        var pairs = APIParameters.parseForm(request.uri.query ?? "")
        if request.method == .post {
            let body = try await BoundedBody.collect(request, limit: 1 << 20)
            pairs += APIParameters.parseForm(String(buffer: body))
        }
        var query: String?
        var start = APITime.minTime
        var end = APITime.maxTime
        for (key, value) in pairs {
            do {
                switch key {
                case "query": query = value
                case "start": start = try APITime.parse(value)
                case "end": end = try APITime.parse(value)
                default: break
                }
            } catch {
                throw APIError("invalid parameter \(key): \(error)")
            }
        }
        guard start <= end else { throw APIError("end timestamp must not be before start timestamp") }
        do {
            matchers = try SeriesSelector.parse(query ?? "")
        } catch {
            // Prometheus answers a query that does not parse with the parser's message alone.
            throw APIError(error.message)
        }
        self.start = start
        self.end = end
    }

    /// The parameters as a query string for another server, with `extra` matchers added to the selector.
    public func queryString(adding extra: [LabelMatcher] = []) -> String {
        var pairs = [("query", SeriesSelector.format(matchers + extra))]
        if start != APITime.minTime { pairs.append(("start", APIParameters.seconds(start))) }
        if end != APITime.maxTime { pairs.append(("end", APIParameters.seconds(end))) }
        return pairs.map { APIParameters.formEncode($0.0) + "=" + APIParameters.formEncode($0.1) }.joined(separator: "&")
    }
}

/// `metric`, `limit` and `limit_per_metric` of `/api/v1/metadata`, with Prometheus' meanings: a
/// negative `limit` and a `limit_per_metric` of 0 or less mean no limit.
public struct MetadataParameters: Sendable {
    public var metric: String?
    public var limit: Int
    public var limitPerMetric: Int

    public init(_ request: Request) throws {
        var metric: String?
        var limit = -1
        var limitPerMetric = -1
        for (key, value) in APIParameters.parseForm(request.uri.query ?? "") {
            switch key {
            case "metric": metric = value
            case "limit":
                guard let number = Int(value) else { throw APIError("limit must be a number") }
                limit = number
            case "limit_per_metric":
                guard let number = Int(value) else { throw APIError("limit_per_metric must be a number") }
                limitPerMetric = number
            default: break
            }
        }
        self.metric = metric.flatMap { $0.isEmpty ? nil : $0 }
        self.limit = limit
        self.limitPerMetric = limitPerMetric
    }

    /// Applies both limits to families sorted by name. Which families a limit keeps is unspecified in
    /// Prometheus (it walks a map); here it is the first by name, so repeated calls agree.
    public func limited(_ families: [(name: String, entries: [MetricMetadata])]) -> [(name: String, entries: [MetricMetadata])] {
        var out = limit >= 0 ? Array(families.prefix(limit)) : families
        if limitPerMetric > 0 {
            for index in out.indices { out[index].entries = Array(out[index].entries.prefix(limitPerMetric)) }
        }
        return out
    }

    /// `metric` alone as a query string: limits apply after the nodes' answers are joined.
    public var forwardedQueryString: String {
        metric.map { "metric=" + APIParameters.formEncode($0) } ?? ""
    }
}
