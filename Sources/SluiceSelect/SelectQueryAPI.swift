import Foundation
import Hummingbird
import Logging
import SluiceCodec
import SluiceHTTP
import SluiceQuery

/// `/api/v1/labels`, `/api/v1/label/<name>/values` and `/api/v1/series` across the ring: each node's
/// answer for the tenant's series, joined.
struct SelectQueryAPI: Sendable {
    let configuration: SelectConfiguration
    let fanOut: FanOut
    let tenants: TenantResolver
    let metrics: SelectMetrics
    let logger: Logger

    private struct Strings: Decodable { var data: [String] }
    private struct SeriesList: Decodable { var data: [[String: String]] }

    func register<Context: RequestContext>(on router: Router<Context>) {
        for method in [HTTPRequest.Method.get, .post] {
            router.on("/api/v1/labels", method: method) { request, _ in
                await answer(request) { parameters, tenant in
                    var names = Set<String>()
                    let (bodies, headers) = try await gather("/api/v1/labels", parameters, tenant: tenant)
                    for body in bodies { names.formUnion(try JSONDecoder().decode(Strings.self, from: Data(body)).data) }
                    if let label = configuration.tenantLabel { names.remove(label) }
                    return (PromAPIJSON.success(strings: sortedByBytes(names)), headers)
                }
            }
            router.on("/api/v1/label/:name/values", method: method) { request, context in
                let name = context.parameters.get("name") ?? ""
                return await answer(request) { parameters, tenant in
                    let decoded = name.removingPercentEncoding ?? name
                    // The tenant label's values are the tenants: never listed.
                    if decoded == configuration.tenantLabel { return (PromAPIJSON.success(strings: []), [:]) }
                    var values = Set<String>()
                    let (bodies, headers) = try await gather("/api/v1/label/\(APIParameters.formEncode(decoded))/values", parameters, tenant: tenant)
                    for body in bodies { values.formUnion(try JSONDecoder().decode(Strings.self, from: Data(body)).data) }
                    return (PromAPIJSON.success(strings: sortedByBytes(values)), headers)
                }
            }
            router.on("/api/v1/series", method: method) { request, _ in
                await answer(request) { parameters, tenant in
                    guard parameters.matchers != nil else { throw APIError("no match[] parameter provided") }
                    var sets = Set<[Label]>()
                    let (bodies, headers) = try await gather("/api/v1/series", parameters, tenant: tenant)
                    for body in bodies {
                        for series in try JSONDecoder().decode(SeriesList.self, from: Data(body)).data {
                            let labels = series.filter { $0.key != configuration.tenantLabel }
                                .map { Label(name: $0.key, value: $0.value) }
                                .sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
                            sets.insert(labels)
                        }
                    }
                    return (PromAPIJSON.success(series: sets.sorted { compareLabelSets($0, $1) < 0 }), headers)
                }
            }
        }
    }

    /// Every node's 200 body for `path` with the tenant matcher added; a node's 4xx is the client's
    /// error, failures count towards completeness.
    private func gather(_ path: String, _ parameters: APIParameters, tenant: String) async throws -> ([[UInt8]], HTTPFields) {
        let extra = configuration.tenantLabel.map { [LabelMatcher(.equal, name: $0, value: tenant)] } ?? []
        let query = parameters.queryString(adding: extra)
        let pathAndQuery = query.isEmpty ? path : path + "?" + query
        return try await fanOut.gather(pathAndQuery)
    }

    private func answer(_ request: Request, _ body: (APIParameters, String) async throws -> (String, HTTPFields)) async -> Response {
        var status = HTTPResponse.Status.ok
        var headers: HTTPFields = [.contentType: "application/json"]
        let json: String
        do {
            let tenant = try tenants.tenant(of: request)
            let parameters = try await APIParameters(request)
            let (text, extra) = try await body(parameters, tenant)
            json = text
            headers.append(contentsOf: extra)
        } catch {
            (status, json) = Self.failure(error)
        }
        metrics.request(handler: "api", code: Int(status.code))
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: json)))
    }

    /// A failed API request as Prometheus answers it: 400 `bad_data`, 503 `unavailable`, 500 `internal`.
    static func failure(_ error: any Error) -> (HTTPResponse.Status, String) {
        switch error {
        case let error as APIError: (.badRequest, PromAPIJSON.error(type: "bad_data", message: error.message))
        case let error as HTTPFailure:
            (error.status, PromAPIJSON.error(type: error.status == .serviceUnavailable ? "unavailable" : "bad_data", message: error.message))
        default: (.internalServerError, PromAPIJSON.error(type: "internal", message: "\(error)"))
        }
    }

    private func sortedByBytes(_ strings: Set<String>) -> [String] {
        strings.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }
}
