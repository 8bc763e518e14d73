import HTTPTypes
import Hummingbird
import NIOCore
import SluiceCodec
import SluiceHTTP
import Testing

/// A request as Hummingbird hands it to a route: these headers, this body.
func request(_ headers: [(String, String)], body: [UInt8] = []) -> Request {
    var fields = HTTPFields()
    for (name, value) in headers { fields.append(HTTPField(name: HTTPField.Name(name)!, value: value)) }
    return Request(
        head: HTTPRequest(method: .post, scheme: "http", authority: "127.0.0.1", path: "/api/v1/write", headerFields: fields),
        body: RequestBody(buffer: ByteBuffer(bytes: body))
    )
}

/// Remote-write headers: which protocol a request speaks, as Prometheus' receiver decides it.
@Suite struct RemoteWriteHeadersTests {
    @Test(arguments: [
        ([], RemoteWriteVersion.v1),
        ([("Content-Type", "application/x-protobuf"), ("Content-Encoding", "snappy")], .v1),
        ([("Content-Type", "application/x-protobuf;proto=prometheus.WriteRequest")], .v1),
        ([("Content-Type", "application/x-protobuf;proto=io.prometheus.write.v2.Request")], .v2),
        // Lenient reading: case, whitespace, quotes, empty and nameless parameters.
        ([("Content-Type", "Application/X-Protobuf ; PROTO = \"io.prometheus.write.v2.Request\" ;; ;=x")], .v2),
        ([("Content-Type", "application/x-protobuf; charset=utf-8")], .v1),
        ([("Content-Encoding", " Snappy ")], .v1),
    ])
    func negotiates(_ headers: [(String, String)], _ version: RemoteWriteVersion) throws {
        #expect(try RemoteWriteHeaders.negotiate(request(headers)) == version)
    }

    @Test(arguments: [
        [("Content-Type", "application/json")],
        [("Content-Type", "application/x-protobuf;proto=io.prometheus.write.v3.Request")],
        [("Content-Type", "application/x-protobuf"), ("Content-Encoding", "gzip")],
    ])
    func refusesWith415(_ headers: [(String, String)]) {
        let failure = #expect(throws: HTTPFailure.self) { try RemoteWriteHeaders.negotiate(request(headers)) }
        #expect(failure?.status == .unsupportedMediaType)
    }

    @Test func oneDotZeroOnlyEndpointsRefuse2() {
        let v2 = request([("Content-Type", RemoteWriteVersion.v2.contentType)])
        #expect(throws: HTTPFailure.self) { try RemoteWriteHeaders.check(v2) }
        #expect(throws: Never.self) { try RemoteWriteHeaders.check(request([])) }
    }

    @Test func writtenCountsUseTheSpecNames() {
        let fields = RemoteWriteHeaders.written(samples: 3, histograms: 2, exemplars: 1)
        #expect(fields[HTTPField.Name("X-Prometheus-Remote-Write-Samples-Written")!] == "3")
        #expect(fields[HTTPField.Name("X-Prometheus-Remote-Write-Histograms-Written")!] == "2")
        #expect(fields[HTTPField.Name("X-Prometheus-Remote-Write-Exemplars-Written")!] == "1")
    }
}

@Suite struct TenantResolverTests {
    let resolver = TenantResolver(headerNames: ["X-Scope-OrgID", "X-Tenant"], defaultTenant: "anonymous")

    @Test func firstHeaderPresentWinsElseTheDefault() throws {
        #expect(try resolver.tenant(of: request([])) == "anonymous")
        #expect(try resolver.tenant(of: request([("X-Tenant", "b")])) == "b")
        #expect(try resolver.tenant(of: request([("X-Tenant", "b"), ("X-Scope-OrgID", "a")])) == "a")
    }

    @Test(arguments: ["", ".", "..", "a/b", "a b", "ä", String(repeating: "x", count: 151)])
    func unsafeTenantsAre400(_ tenant: String) {
        let failure = #expect(throws: HTTPFailure.self) { try resolver.tenant(of: request([("X-Scope-OrgID", tenant)])) }
        #expect(failure?.status == .badRequest)
    }

    @Test func mimirsCharactersAreAllowed() {
        #expect(TenantResolver.isValid("Team-1_a.b*'(x)!"))
        #expect(TenantResolver.isValid(String(repeating: "x", count: 150)))
    }
}

@Suite struct HTTPAuthTests {
    @Test func basicAndBearerAsPrometheusSendsThem() {
        let basic = HTTPAuth.basic(username: "prometheus", password: "s3cret")
        // base64("prometheus:s3cret")
        #expect(basic.authorization == "Basic cHJvbWV0aGV1czpzM2NyZXQ=")
        #expect(basic.permits("Basic cHJvbWV0aGV1czpzM2NyZXQ="))
        #expect(!basic.permits("Basic cHJvbWV0aGV1czpzM2NyZXQ"))
        #expect(!basic.permits(nil))
        let bearer = HTTPAuth.bearer(token: "t")
        #expect(bearer.permits("Bearer t") && !bearer.permits("Bearer u") && !bearer.permits("Bearer tt"))
        #expect(HTTPAuth.none.permits(nil) && HTTPAuth.none.authorization == nil)
    }
}

@Suite struct HTTPFailureTests {
    @Test func codecErrorsMapTo400Or413() {
        #expect(HTTPFailure(CodecError(.sizeLimitExceeded, "big")).status == .contentTooLarge)
        #expect(HTTPFailure(CodecError(.protobufInvalid, "bad")).status == .badRequest)
    }

    @Test func answersAreOneLineOfAtMost1KB() {
        #expect(HTTPFailure.oneLine("a\nb\r\nc") == "a b  c\n")
        let long = HTTPFailure.oneLine(String(repeating: "é", count: 2000))
        #expect(long.utf8.count <= 1024 && long.hasSuffix("\n"))
        #expect(HTTPFailure(.badRequest, "x").response.headers[.contentType] == "text/plain; charset=utf-8")
    }
}

@Suite struct BoundedBodyTests {
    @Test func aDeclaredLengthOverTheLimitIs413BeforeReading() async {
        let declared = request([("Content-Length", "2000")], body: [1, 2, 3])
        let failure = await #expect(throws: HTTPFailure.self) { try await BoundedBody.collect(declared, limit: 1000) }
        #expect(failure?.status == .contentTooLarge)
        #expect(failure?.message.contains("2000 bytes") == true)
    }

    @Test func aBodyOverTheLimitIs413AndOneWithinComesWhole() async throws {
        let failure = await #expect(throws: HTTPFailure.self) {
            try await BoundedBody.collect(request([], body: [UInt8](repeating: 7, count: 1001)), limit: 1000)
        }
        #expect(failure?.status == .contentTooLarge)
        let body = try await BoundedBody.collect(request([], body: [UInt8](repeating: 7, count: 1000)), limit: 1000)
        #expect(body.readableBytes == 1000)
    }
}

@Suite struct InProcessNodesTests {
    @Test func nodesAreFoundByTheirRingURL() async {
        let nodes = InProcessNodes()
        #expect(!nodes.serves("http://a/api/v1/write") && nodes.writer(for: "http://a/api/v1/write") == nil)
        nodes.register("http://a/api/v1/write") { body, version in
            guard case .protobuf(let bytes) = body else { return InProcessNodes.Answer(status: 400, message: "") }
            return InProcessNodes.Answer(status: 204, message: "\(version.rawValue) \(bytes.readableBytes)")
        }
        #expect(nodes.serves("http://a/api/v1/write") && !nodes.serves("http://b/api/v1/write"))
        let answer = await nodes.writer(for: "http://a/api/v1/write")?(.protobuf(ByteBuffer(bytes: [1, 2])), .v2)
        #expect(answer?.status == 204 && answer?.message == "2.0 2")
        #expect(nodes.reader(for: "http://a/api/v1/write") == nil)
    }
}
