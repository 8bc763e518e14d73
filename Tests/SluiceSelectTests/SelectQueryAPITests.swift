import Foundation
import SluiceCodec
import SluiceQuery
import SluiceTestSupport
import Testing

@Suite("Select over real storage nodes: tenancy and the query API")
struct SelectQueryAPITests {
    static let start: Int64 = 1_700_000_000_000
    static let step: Int64 = 15_000
    static let everything = [LabelMatcher(.regex, name: "__name__", value: ".+")]
    static let all = Query(startMs: start, endMs: start + 100 * step, matchers: everything)

    static func series(_ pairs: [(String, String)], from: Double, count: Int = 30) -> TimeSeries {
        TimeSeries(
            labels: pairs.map { Label(name: $0.0, value: $0.1) },
            samples: (0..<count).map { Sample(timestamp: start + Int64($0) * step, value: from + Double($0)) }
        )
    }

    @Test func tenantsSeeOnlyTheirOwnSeries() async throws {
        let directory = try TemporaryDirectory("sluice-select")
        defer { directory.remove() }
        // The same series in both tenants with different values, and one each of their own.
        let sharedA = Self.series([("__name__", "requests_total"), ("job", "api")], from: 1)
        let sharedB = Self.series([("__name__", "requests_total"), ("job", "api")], from: 1000)
        let onlyA = Self.series([("__name__", "a_only"), ("job", "api")], from: 50)
        let onlyB = Self.series([("__name__", "b_only"), ("job", "batch"), ("queue", "q1")], from: 70)
        // A client's own tenant label does not get it into another tenant: insert replaces it.
        let sneaky = Self.series([("__name__", "sneaky"), ("job", "api"), ("tenant_id", "b")], from: 90)
        let sneakyAsStored = TimeSeries(labels: Array(sneaky.labels.dropLast()), samples: sneaky.samples)
        let wantA = expected([sharedA, onlyA, sneakyAsStored])
        let wantB = expected([sharedB, onlyB])

        try await withStorageNodes(3, in: directory) { nodes in
            let ring = try currentRing(nodes.map(\.ringNode), replicationFactor: 2)
            try await withInsert(ring: ring, dataDirectory: try directory.subdirectory("insert")) { insert in
                try await insert.write(WriteRequest(timeseries: [sharedA, onlyA, sneaky]), tenant: "a")
                try await insert.write(WriteRequest(timeseries: [sharedB, onlyB]), tenant: "b")
            }
            try await withSelect(ring: ring) { select in
                // Remote read: each tenant its own series and values, never the tenant label.
                for (tenant, want) in [("a", wantA), ("b", wantB)] {
                    let (samples, streamed) = try await Read.both(select.readURL, [Self.all], tenant: tenant)
                    #expect(samples[0] == want, "tenant \(tenant) SAMPLES: \(describeDifference(want, samples[0]))")
                    #expect(streamed[0] == want, "tenant \(tenant) STREAMED: \(describeDifference(want, streamed[0]))")
                }
                // A matcher on the tenant label cannot reach past the tenant's own.
                let reach = Query(startMs: Self.all.startMs, endMs: Self.all.endMs, matchers: [LabelMatcher(.equal, name: "tenant_id", value: "b")])
                let (reachSamples, reachStreamed) = try await Read.both(select.readURL, [reach, Self.all], tenant: "a")
                #expect(reachSamples[0].isEmpty && reachStreamed[0].isEmpty, "\(reachSamples[0].map(\.labels))")
                #expect(reachSamples[1] == wantA && reachStreamed[1] == wantA)
                let sneakyAsB = Query(startMs: Self.all.startMs, endMs: Self.all.endMs, matchers: [LabelMatcher(.equal, name: "__name__", value: "sneaky")])
                #expect(try await Read.post(select.readURL, [sneakyAsB], tenant: "b").samples()[0].isEmpty)
                // No header: the default tenant, who wrote nothing.
                #expect(try await Read.post(select.readURL, [Self.all]).samples()[0].isEmpty)

                // The query API, the same rules.
                for (tenant, names, values) in [("a", ["__name__", "job"], ["a_only", "requests_total", "sneaky"]), ("b", ["__name__", "job", "queue"], ["b_only", "requests_total"])] {
                    let labels = try await select.api("/api/v1/labels", tenant: tenant)
                    #expect(labels.status == 200)
                    #expect(try decodeJSON(Strings.self, labels) == Strings(status: "success", data: names), "\(labels.body)")
                    let tenantValues = try await select.api("/api/v1/label/tenant_id/values", tenant: tenant)
                    #expect(tenantValues.status == 200)
                    #expect(try decodeJSON(Strings.self, tenantValues).data.isEmpty, "\(tenantValues.body)")
                    let metricNames = try await select.api("/api/v1/label/__name__/values", tenant: tenant)
                    #expect(try decodeJSON(Strings.self, metricNames).data == values, "\(metricNames.body)")
                    let found = try await select.api("/api/v1/series", [("match[]", "{__name__=~\".+\"}")], tenant: tenant)
                    #expect(found.status == 200)
                    let list = try decodeJSON(SeriesList.self, found)
                    let want = tenant == "a" ? wantA : wantB
                    // Every series is on two nodes; each is listed once, in label-set order.
                    #expect(list.data == want.map { LabelSet(uniqueKeysWithValues: $0.labels.map { ($0.name, $0.value) }) }, "\(found.body)")
                }
                let reachLabels = try await select.api("/api/v1/labels", [("match[]", "{tenant_id=\"b\"}")], tenant: "a")
                #expect(try decodeJSON(Strings.self, reachLabels).data.isEmpty, "\(reachLabels.body)")
                let reachSeries = try await select.api("/api/v1/series", [("match[]", "{tenant_id=\"b\"}")], tenant: "a")
                #expect(try decodeJSON(SeriesList.self, reachSeries).data.isEmpty, "\(reachSeries.body)")
                #expect(try await select.api("/api/v1/labels", tenant: "a/b").status == 400)
            }
        }
    }

    @Test func queryAPIMergesNodesInPrometheusJSON() async throws {
        let directory = try TemporaryDirectory("sluice-select")
        defer { directory.remove() }
        let alpha = Self.series([("__name__", "up"), ("job", "alpha"), ("tenant_id", "default"), ("zone", "eu")], from: 1)
        let beta = Self.series([("__name__", "up"), ("job", "beta"), ("rack", "r1"), ("tenant_id", "default")], from: 2)
        let http = Self.series([("__name__", "http_requests_total"), ("code", "200"), ("job", "beta"), ("tenant_id", "default")], from: 3)
        let other = Self.series([("__name__", "up"), ("job", "gamma"), ("secret", "s"), ("tenant_id", "other")], from: 4)
        try await withStorageNodes(3, in: directory) { nodes in
            // Placed by hand: each node holds something the others do not, and one series is on two.
            for (node, series) in [(0, [alpha]), (1, [beta, http]), (2, [http, other])] {
                #expect(try await nodes[node].write(WriteRequest(timeseries: series)).status == 204)
            }
            let ring = try currentRing(nodes.map(\.ringNode), replicationFactor: 2)
            try await withSelect(ring: ring) { select in
                let labels = try await select.api("/api/v1/labels")
                #expect(labels.status == 200)
                #expect(labels.headers.first(name: "Content-Type") == "application/json")
                #expect(labels.body == #"{"status":"success","data":["__name__","code","job","rack","zone"]}"#)
                let posted = try await TestHTTP.send(
                    .POST, select.url + "/api/v1/labels", headers: [("Content-Type", "application/x-www-form-urlencoded")],
                    body: .bytes(Array(TestHTTP.formEncoded([("match[]", "up")]).utf8))
                )
                #expect(posted.body == #"{"status":"success","data":["__name__","job","rack","zone"]}"#)

                let jobs = try await select.api("/api/v1/label/job/values")
                #expect(jobs.body == #"{"status":"success","data":["alpha","beta"]}"#)
                for (match, want) in [(["http_requests_total"], ["beta"]), (["{zone=\"eu\"}"], ["alpha"]), (["{zone=\"eu\"}", "{rack=\"r1\"}"], ["alpha", "beta"])] {
                    let answer = try await select.api("/api/v1/label/job/values", match.map { ("match[]", $0) })
                    #expect(try decodeJSON(Strings.self, answer).data == want, "\(match): \(answer.body)")
                }
                #expect(try decodeJSON(Strings.self, try await select.api("/api/v1/label/__name__/values")).data == ["http_requests_total", "up"])
                // Another tenant's label and values stay out of sight.
                #expect(try await select.api("/api/v1/label/secret/values").body == #"{"status":"success","data":[]}"#)

                let beta = try await select.api("/api/v1/series", [("match[]", "{job=\"beta\"}")])
                #expect(beta.status == 200)
                #expect(beta.body == #"{"status":"success","data":[{"__name__":"http_requests_total","code":"200","job":"beta"},{"__name__":"up","job":"beta","rack":"r1"}]}"#)
                let two = try await select.api("/api/v1/series", [("match[]", "up"), ("match[]", "http_requests_total"), ("start", String(Self.start / 1000)), ("end", String(Self.start / 1000 + 3600))])
                #expect(two.body == #"{"status":"success","data":[{"__name__":"http_requests_total","code":"200","job":"beta"},{"__name__":"up","job":"alpha","zone":"eu"},{"__name__":"up","job":"beta","rack":"r1"}]}"#)
                let later = try await select.api("/api/v1/series", [("match[]", "up"), ("start", "2000000000")])
                #expect(later.body == #"{"status":"success","data":[]}"#)

                let noMatch = try await select.api("/api/v1/series")
                #expect(noMatch.status == 400)
                #expect(noMatch.body == #"{"status":"error","errorType":"bad_data","error":"no match[] parameter provided"}"#)
                let badRegex = try await select.api("/api/v1/series", [("match[]", "{job=~\"(\"}")])
                #expect(badRegex.status == 400)
                #expect(badRegex.body.contains(#""errorType":"bad_data""#), "\(badRegex.body)")
                let backwards = try await select.api("/api/v1/labels", [("start", "2000"), ("end", "1000")])
                #expect(backwards.status == 400)
            }
        }
    }
}
