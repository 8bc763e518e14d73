import Foundation
import Hummingbird
import SluiceCodec
import SluiceHTTP
import SluiceQuery

/// Prometheus' metadata API: `/api/v1/labels`, `/api/v1/label/<name>/values` and `/api/v1/series`,
/// GET or form-encoded POST, answered in Prometheus' JSON.
struct QueryAPIHandler: Sendable {
    let storage: Storage

    func register<Context: RequestContext>(on router: Router<Context>) {
        for method in [HTTPRequest.Method.get, .post] {
            router.on("/api/v1/labels", method: method) { request, _ in await answer(request) { try labels($0) } }
            router.on("/api/v1/label/:name/values", method: method) { request, context in
                let name = context.parameters.get("name") ?? ""
                return await answer(request) { try values(of: name, $0) }
            }
            router.on("/api/v1/series", method: method) { request, _ in await answer(request) { try series($0) } }
        }
    }

    // MARK: Endpoints

    private func labels(_ parameters: APIParameters) throws -> String {
        let sets = try storage.labelSets(parameters.matchers, minTime: parameters.start, maxTime: parameters.end)
        let names = Set(sets.flatMap { $0.map(\.name) })
        return PromAPIJSON.success(strings: names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
    }

    private func values(of name: String, _ parameters: APIParameters) throws -> String {
        let decoded = name.removingPercentEncoding ?? name
        let sets = try storage.labelSets(parameters.matchers, minTime: parameters.start, maxTime: parameters.end)
        let values = Set(sets.compactMap { $0.first { $0.name == decoded }?.value })
        return PromAPIJSON.success(strings: values.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
    }

    private func series(_ parameters: APIParameters) throws -> String {
        guard let matchers = parameters.matchers else { throw APIError("no match[] parameter provided") }
        return PromAPIJSON.success(series: try storage.labelSets(matchers, minTime: parameters.start, maxTime: parameters.end))
    }

    // MARK: Plumbing

    private func answer(_ request: Request, _ body: (APIParameters) throws -> String) async -> Response {
        let status: HTTPResponse.Status
        let json: String
        do {
            let parameters = try await APIParameters(request)
            json = try body(parameters)
            status = .ok
        } catch let error as APIError {
            (status, json) = (.badRequest, PromAPIJSON.error(type: "bad_data", message: error.message))
        } catch let error as StorageError where error.code == .invalidQuery {
            (status, json) = (.badRequest, PromAPIJSON.error(type: "bad_data", message: error.message))
        } catch let error as HTTPFailure {
            (status, json) = (error.status, PromAPIJSON.error(type: "bad_data", message: error.message))
        } catch {
            (status, json) = (.internalServerError, PromAPIJSON.error(type: "internal", message: "\(error)"))
        }
        storage.metrics.request(handler: "api", code: Int(status.code))
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: json)))
    }
}

