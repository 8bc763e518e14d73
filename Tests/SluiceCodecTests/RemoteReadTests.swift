import Testing
@testable import SluiceCodec

@Suite struct RemoteReadTests {
    @Test func fixturesArePresent() {
        #expect(Fixtures.remoteRead.count == 2, "fixtures not found in \(Fixtures.directory.path)")
    }

    /// Prometheus 2.42 answering `up` and `rate(node_cpu_seconds_total{mode!~"idle|iowait"}[1m])`.
    @Test func fixturesDecode() throws {
        let codec = MessageCodec()
        let requests = try Fixtures.remoteRead.map { body in
            try codec.decodeReadRequest(try Snappy.decompress(body.bytes, limit: 1 << 20))
        }
        for request in requests {
            #expect(request.queries.count == 1)
            // Prometheus 2.42's client lists no response types, which means SAMPLES.
            #expect(request.acceptedResponseTypes.isEmpty)
            #expect(request.negotiate() == .samples)
            let query = try #require(request.queries.first)
            #expect(query.startMs < query.endMs)
            #expect(query.hints != nil)
            #expect(query.hints?.startMs == query.startMs)
        }
        let matchers = requests.map { $0.queries[0].matchers }
        // The client adds its external labels as equality matchers.
        let external = [LabelMatcher(.equal, name: "__replica__", value: "replica-a"), LabelMatcher(.equal, name: "cluster", value: "capture")]
        #expect(matchers.contains([LabelMatcher(.equal, name: "__name__", value: "up")] + external))
        let cpu = try #require(matchers.first { $0.contains { $0.value == "node_cpu_seconds_total" } })
        #expect(cpu.contains(LabelMatcher(.notRegex, name: "mode", value: "idle|iowait")))
        let rate = try #require(requests.first { $0.queries[0].hints?.function == "rate" })
        #expect(rate.queries[0].hints?.rangeMs == 60_000)
    }

    @Test(arguments: Fixtures.remoteRead)
    func fixtureReencodesToTheSameBytes(_ body: Fixtures.Body) throws {
        let protobuf = try Snappy.decompress(body.bytes, limit: 1 << 20)
        let codec = MessageCodec()
        let request = try codec.decodeReadRequest(protobuf)
        #expect(codec.encoded { $0.encode(request, appendingTo: $1) } == protobuf)
    }

    @Test(arguments: Fixtures.remoteRead)
    func everyTruncationIsATypedError(_ body: Fixtures.Body) {
        let codec = MessageCodec()
        for cut in 0..<body.bytes.count {
            #expect(throws: CodecError.self) {
                _ = try codec.decodeReadRequest(try Snappy.decompress(Array(body.bytes[..<cut]), limit: 1 << 20))
            }
        }
    }

    @Test func negotiationFollowsTheClientsOrder() {
        #expect(ReadRequest(queries: []).negotiate() == .samples)
        #expect(ReadRequest(queries: [], acceptedResponseTypes: [.samples, .streamedXORChunks]).negotiate() == .samples)
        #expect(ReadRequest(queries: [], acceptedResponseTypes: [.init(rawValue: 9), .streamedXORChunks]).negotiate() == .streamedXORChunks)
        #expect(ReadRequest(queries: [], acceptedResponseTypes: [.init(rawValue: 9)]).negotiate() == nil)
        #expect(ReadRequest(queries: [], acceptedResponseTypes: [.streamedXORChunks]).negotiate(supported: [.samples]) == nil)
    }

    @Test func readResponseRoundTrips() throws {
        let response = ReadResponse(results: [
            QueryResult(timeseries: [
                TimeSeries(
                    labels: [Label(name: "__name__", value: "up"), Label(name: "job", value: "node")],
                    samples: [Sample(timestamp: 1000, value: 1), Sample(timestamp: 2000, value: StaleMarker.value)]
                )
            ]),
            QueryResult(timeseries: []),
        ])
        let codec = MessageCodec()
        let bytes = codec.encoded { $0.encode(response, appendingTo: $1) }
        let decoded = try bytes.withBytes { (raw) throws(CodecError) in try codec.decodeReadResponse(raw) }
        // An empty QueryResult is still present, so results stay aligned with queries.
        #expect(decoded == response)
    }

    @Test func chunkedFramesRoundTrip() throws {
        let codec = MessageCodec()
        let frames = ByteScratch()
        var sent: [ChunkedReadResponse] = []
        for i in 0..<3 {
            let response = ChunkedReadResponse(
                chunkedSeries: [
                    ChunkedSeries(
                        labels: [Label(name: "__name__", value: "m\(i)")],
                        chunks: [Chunk(minTimeMs: 0, maxTimeMs: 10, encoding: .xor, data: [0, 1, 2, UInt8(i)])]
                    )
                ],
                queryIndex: Int64(i)
            )
            sent.append(response)
            let message = codec.encoded { $0.encode(response, appendingTo: $1) }
            message.withUnsafeBytes { ChunkedFrame.append(message: $0, to: frames) }
        }
        let body = frames.toArray()
        let received = try body.withBytes { (raw) throws(CodecError) in
            try ChunkedFrame.messages(in: raw).map { (range) throws(CodecError) in
                try codec.decodeChunkedReadResponse(UnsafeRawBufferPointer(rebasing: raw[range]))
            }
        }
        #expect(received == sent)

        // Incomplete input asks for more; a flipped message bit fails the checksum.
        try body.withBytes { (raw) throws(CodecError) in
            #expect(try ChunkedFrame.parse(UnsafeRawBufferPointer(rebasing: raw[..<5])) == nil)
        }
        var corrupt = body
        corrupt[8] ^= 0x01
        #expect(throws: CodecError.self) {
            try corrupt.withBytes { (raw) throws(CodecError) in _ = try ChunkedFrame.messages(in: raw) }
        }
        #expect(throws: CodecError.self) {
            try body.withBytes { (raw) throws(CodecError) in _ = try ChunkedFrame.messages(in: UnsafeRawBufferPointer(rebasing: raw[..<(raw.count - 1)])) }
        }
    }

    @Test func frameSizeIsCheckedBeforeTheBodyArrives() {
        let header = ByteScratch()
        Varint.append(1 << 40, to: header)
        #expect(throws: CodecError.self) { _ = try ChunkedFrame.parse(header.bytes) }
    }
}
