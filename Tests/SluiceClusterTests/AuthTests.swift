import Foundation
import NIOCore
import SluiceTestSupport
import Testing

/// Insert behind a bearer token, select behind basic auth: requests without the right credentials
/// get 401 and store or reveal nothing; `sluice loadgen` with them writes and verifies; the health
/// endpoints stay open.
@Suite("Authentication", .serialized, .enabled(if: PeerProcess.Kind.sluice([]).isInstalled, "needs the sluice binary (swift build)"))
struct AuthTests {
    @Test func credentialsAreRequiredExceptOnHealthChecks() async throws {
        let directory = try TemporaryDirectory("sluice-auth")
        defer { directory.remove() }
        try "s3cret-token\n".write(toFile: directory.path + "/token", atomically: true, encoding: .utf8)
        try "pa55word\n".write(toFile: directory.path + "/password", atomically: true, encoding: .utf8)
        let cluster = try Cluster(
            directory: directory.path + "/cluster",
            insertFlags: ["--auth-bearer-token-file", directory.path + "/token"],
            selectFlags: ["--auth-basic-user", "reader", "--auth-basic-password-file", directory.path + "/password"]
        )
        defer { cluster.killAll() }
        try await cluster.start()  // waits on /-/ready, which needs no credentials

        let body = ByteBuffer(bytes: try #require(BuiltProducts.fixtureBodies("remote-write").first))
        let write = cluster.insert.writeURL
        for authorization in [nil, "Bearer wrong", "Basic cmVhZGVyOnBhNTV3b3Jk"] {
            let headers = TestHTTP.remoteWriteHeaders + (authorization.map { [("Authorization", $0)] } ?? [])
            let answer = try await TestHTTP.send(.POST, write, headers: headers, body: .bytes(body))
            #expect(answer.status == 401, "\(authorization ?? "no credentials"): \(answer.status)")
            #expect(answer.headers.first(name: "WWW-Authenticate") == "Bearer realm=\"sluice\"")
        }
        #expect(try await TestHTTP.get(cluster.insert.baseURL + "/metrics").status == 401)
        #expect(try await TestHTTP.get(cluster.insert.baseURL + "/-/healthy").status == 200)
        let accepted = try await TestHTTP.send(
            .POST, write, headers: TestHTTP.remoteWriteHeaders + [("Authorization", "Bearer s3cret-token")], body: .bytes(body)
        )
        #expect(accepted.status == 204, "\(accepted.body)")

        let series = cluster.select.baseURL + "/api/v1/series?match[]=up"
        #expect(try await TestHTTP.send(.GET, series, headers: [("Authorization", "Bearer s3cret-token")]).status == 401)
        // reader:pa55word
        let read = try await TestHTTP.send(.GET, series, headers: [("Authorization", "Basic cmVhZGVyOnBhNTV3b3Jk")])
        #expect(read.status == 200 && read.body.contains("\"up\""), "\(read.body)")

        // loadgen with both credentials; without them every request is refused and never retried.
        let arguments = [
            "loadgen", "--url", write, "--series", "200", "--metrics", "10", "--batch", "50", "--requests", "8", "--max", "--progress", "none",
        ]
        let refused = try await runSluice(arguments)
        #expect(refused.status == 0 && refused.stdout.contains("8 failed") && refused.stdout.contains("401: 8"), "\(refused.stdout)")
        let verified = try await runSluice(
            arguments + [
                "--bearer-token-file", directory.path + "/token", "--verify", cluster.select.baseURL + "/api/v1/read",
            ]
        )
        // The writes get in; the bearer token goes to select too, which wants basic auth, so the
        // verification is refused and the command fails.
        #expect(verified.stdout.contains("8 acknowledged, 0 failed"), "\(verified.stdout)")
        #expect(verified.status == 1 && verified.stderr.contains("answered 401"), "\(verified.stdout)\n\(verified.stderr)")
    }
}
