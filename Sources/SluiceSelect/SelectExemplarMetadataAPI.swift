import Foundation
import Hummingbird
import Logging
import SluiceCodec
import SluiceHTTP
import SluiceQuery

/// `/api/v1/metadata` and `/api/v1/query_exemplars` across the ring: every node's answer, joined.
///
/// Exemplars are kept with their series, so a tenant's exemplar query gets the tenant matcher, as
/// `/api/v1/series` does, and replicas' copies of a series join into one, each exemplar once. Metadata
/// has no labels and nodes keep it per metric family; a tenant sees the families whose names (or their
/// `_bucket`, `_count`, `_sum`, `_total`... series) it has series for, which one more fan-out of
/// `/api/v1/label/__name__/values` with the tenant matcher tells. Two tenants sending the same family
/// share its entries.
struct SelectExemplarMetadataAPI: Sendable {
    let configuration: SelectConfiguration
    let fanOut: FanOut
    let tenants: TenantResolver
    let metrics: SelectMetrics
    let logger: Logger

    private struct MetadataAnswer: Decodable {
        struct Entry: Decodable { var type: String; var help: String; var unit: String }
        var data: [String: [Entry]]
    }

    private struct ExemplarsAnswer: Decodable {
        struct Series: Decodable { var seriesLabels: [String: String]; var exemplars: [One] }
        struct One: Decodable { var labels: [String: String]; var value: String; var timestamp: Double }
        var data: [Series]
    }

    private struct Strings: Decodable { var data: [String] }

    /// The suffixes of the series a metric family's samples are written as (Prometheus' and
    /// OpenMetrics' naming): a family is a tenant's when the tenant has series named so.
    static let familySuffixes = ["_total", "_bucket", "_count", "_sum", "_created", "_info", "_gcount", "_gsum"]

    func register<Context: RequestContext>(on router: Router<Context>) {
        router.get("/api/v1/metadata") { request, _ in
            await answer(request) { tenant in try await metadata(request, tenant: tenant) }
        }
        for method in [HTTPRequest.Method.get, .post] {
            router.on("/api/v1/query_exemplars", method: method) { request, _ in
                await answer(request) { tenant in try await exemplars(request, tenant: tenant) }
            }
        }
    }

    // MARK: Endpoints

    private func metadata(_ request: Request, tenant: String) async throws -> (String, HTTPFields) {
        let parameters = try MetadataParameters(request)
        let query = parameters.forwardedQueryString
        var families: [String: [MetricMetadata]] = [:]
        let (bodies, headers) = try await gather(query.isEmpty ? "/api/v1/metadata" : "/api/v1/metadata?" + query)
        for body in bodies {
            for (name, entries) in try JSONDecoder().decode(MetadataAnswer.self, from: Data(body)).data {
                for entry in entries {
                    let metadata = MetricMetadata(
                        type: PromAPIJSON.metricType(named: entry.type), metricFamilyName: name, help: entry.help, unit: entry.unit
                    )
                    if !families[name, default: []].contains(metadata) { families[name, default: []].append(metadata) }
                }
            }
        }
        if let label = configuration.tenantLabel, !families.isEmpty {
            let selector = SeriesSelector.format([LabelMatcher(.equal, name: label, value: tenant)])
            let (names, _) = try await gather("/api/v1/label/__name__/values?" + APIParameters.formEncode("match[]") + "=" + APIParameters.formEncode(selector))
            var owned = Set<String>()
            for body in names {
                for name in try JSONDecoder().decode(Strings.self, from: Data(body)).data {
                    owned.insert(name)
                    for suffix in Self.familySuffixes where name.hasSuffix(suffix) { owned.insert(String(name.dropLast(suffix.count))) }
                }
            }
            families = families.filter { owned.contains($0.key) }
        }
        let sorted = families.map { (name: $0.key, entries: $0.value) }.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        return (PromAPIJSON.success(metadata: parameters.limited(sorted)), headers)
    }

    private func exemplars(_ request: Request, tenant: String) async throws -> (String, HTTPFields) {
        let parameters = try await ExemplarQueryParameters(request)
        let extra = configuration.tenantLabel.map { [LabelMatcher(.equal, name: $0, value: tenant)] } ?? []
        let (bodies, headers) = try await gather("/api/v1/query_exemplars?" + parameters.queryString(adding: extra))
        var bySeries: [[Label]: Set<Exemplar>] = [:]
        for body in bodies {
            for series in try JSONDecoder().decode(ExemplarsAnswer.self, from: Data(body)).data {
                let labels = Self.labels(series.seriesLabels.filter { $0.key != configuration.tenantLabel })
                for one in series.exemplars {
                    guard let value = Double(one.value) else { throw NodeAnswerError("exemplar value \(one.value) is not a number") }
                    let exemplar = Exemplar(labels: Self.labels(one.labels), value: value, timestamp: Int64((one.timestamp * 1000).rounded()))
                    bySeries[labels, default: []].insert(exemplar)
                }
            }
        }
        let joined = bySeries.map { labels, exemplars in
            SeriesExemplars(seriesLabels: labels, exemplars: exemplars.sorted { a, b in
                if a.timestamp != b.timestamp { return a.timestamp < b.timestamp }
                if a.value != b.value { return a.value < b.value }
                return compareLabelSets(a.labels, b.labels) < 0
            })
        }
        .sorted { compareLabelSets($0.seriesLabels, $1.seriesLabels) < 0 }
        return (PromAPIJSON.success(exemplars: joined), headers)
    }

    private static func labels(_ map: [String: String]) -> [Label] {
        map.map { Label(name: $0.key, value: $0.value) }.sorted()
    }

    // MARK: Plumbing

    /// A node's answer that is JSON but not the shape Prometheus gives: the node's fault, a 500.
    private struct NodeAnswerError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    private func gather(_ pathAndQuery: String) async throws -> ([[UInt8]], HTTPFields) {
        try await fanOut.gather(pathAndQuery)
    }

    private func answer(_ request: Request, _ body: (String) async throws -> (String, HTTPFields)) async -> Response {
        var status = HTTPResponse.Status.ok
        var headers: HTTPFields = [.contentType: "application/json"]
        let json: String
        do {
            let tenant = try tenants.tenant(of: request)
            let (text, extra) = try await body(tenant)
            json = text
            headers.append(contentsOf: extra)
        } catch {
            (status, json) = SelectQueryAPI.failure(error)
        }
        metrics.request(handler: "api", code: Int(status.code))
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: json)))
    }
}
