import Hummingbird
import SluiceCodec
import SluiceHTTP
import SluiceQuery

/// Prometheus' `/api/v1/metadata` (GET) and `/api/v1/query_exemplars` (GET or form-encoded POST) on a
/// storage node, answered in Prometheus' JSON from the node's `MetadataStore` and `ExemplarStore`.
///
/// Like the node's other query endpoints these know nothing of tenants: select adds the tenant matcher
/// to exemplar queries and keeps to the tenant's metric names in metadata answers.
struct ExemplarMetadataHandlers: Sendable {
    let storage: Storage

    func register<Context: RequestContext>(on router: Router<Context>) {
        router.get("/api/v1/metadata") { request, _ in await answer { try metadata(request) } }
        for method in [HTTPRequest.Method.get, .post] {
            router.on("/api/v1/query_exemplars", method: method) { request, _ in
                await answer { try await exemplars(request) }
            }
        }
    }

    private func metadata(_ request: Request) throws -> String {
        let parameters = try MetadataParameters(request)
        return PromAPIJSON.success(metadata: parameters.limited(storage.metadata.families(metric: parameters.metric)))
    }

    private func exemplars(_ request: Request) async throws -> String {
        let parameters = try await ExemplarQueryParameters(request)
        var compiled: [CompiledMatcher] = []
        for matcher in parameters.matchers { compiled.append(try CompiledMatcher(matcher)) }
        return PromAPIJSON.success(exemplars: storage.exemplars.select(compiled, minTime: parameters.start, maxTime: parameters.end))
    }

    private func answer(_ body: () async throws -> String) async -> Response {
        let status: HTTPResponse.Status
        let json: String
        do {
            json = try await body()
            status = .ok
        } catch let error as APIError {
            (status, json) = (.badRequest, PromAPIJSON.error(type: "bad_data", message: error.message))
        } catch let error as QueryError {
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
