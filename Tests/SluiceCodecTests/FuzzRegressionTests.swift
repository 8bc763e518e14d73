import Foundation
import Testing
@testable import SluiceCodec

/// Replays what the libFuzzer targets in Fuzz/ start from (the committed seeds in Fuzz/corpus/ and the
/// Prometheus captures) through the same decoders and checks, so `swift test` keeps them exercised, and
/// holds every input the fuzzers found as a regression case.
@Suite struct FuzzRegressionTests {
    static func corpus(_ target: String) -> [Fixtures.Body] {
        let folder = Fixtures.packageRoot.appendingPathComponent("Fuzz/corpus/\(target)")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.sorted().map { name in
            let data = FileManager.default.contents(atPath: folder.appendingPathComponent(name).path) ?? Data()
            return Fixtures.Body(name: "\(target)/\(name)", bytes: [UInt8](data))
        }
    }

    @Test func theCorpusIsThere() {
        for target in ["FuzzSnappy", "FuzzRemoteWrite", "FuzzReadRequest", "FuzzXORChunk"] {
            #expect(!Self.corpus(target).isEmpty, "Fuzz/corpus/\(target) is empty")
        }
    }

    @Test(arguments: corpus("FuzzSnappy") + corpus("FuzzRemoteWrite") + Fixtures.remoteWrite)
    func snappy(_ body: Fixtures.Body) throws {
        guard let decoded = try? Snappy.decompress(body.bytes, limit: 16 << 20) else { return }
        #expect(try Snappy.decompress(Snappy.compress(decoded), limit: 16 << 20) == decoded)
    }

    /// As FuzzRemoteWrite: each input as a snappy block and as a bare body.
    @Test(arguments: corpus("FuzzRemoteWrite") + Fixtures.remoteWrite)
    func remoteWrite(_ body: Fixtures.Body) throws {
        var bodies = [body.bytes]
        if let decoded = try? Snappy.decompress(body.bytes, limit: 16 << 20) { bodies.append(decoded) }
        for bytes in bodies {
            let decoded = try? MessageCodec(memoryLimit: max(1 << 20, bytes.count * MessageCodec.expansionFactor))
                .decodeWriteRequest(bytes)
            let scanned = try? WriteRequestScannerTests.scan(bytes)
            if let decoded, let (summary, labelSets) = scanned {
                #expect(summary.series == decoded.timeseries.count)
                #expect(summary.samples == decoded.sampleCount)
                #expect(summary.exemplars == decoded.exemplarCount)
                #expect(summary.histograms == decoded.histogramCount)
                #expect(labelSets == decoded.timeseries.map(\.labels))
            }
        }
    }

    @Test(arguments: corpus("FuzzReadRequest") + Fixtures.remoteRead)
    func readRequest(_ body: Fixtures.Body) throws {
        var bodies = [body.bytes]
        if let decoded = try? Snappy.decompress(body.bytes, limit: 16 << 20) { bodies.append(decoded) }
        for bytes in bodies {
            let codec = MessageCodec(memoryLimit: max(1 << 20, bytes.count * MessageCodec.expansionFactor))
            guard let request = try? codec.decodeReadRequest(bytes) else { continue }
            let encoded = codec.encoded { $0.encode(request, appendingTo: $1) }
            #expect(try MessageCodec().decodeReadRequest(encoded) == request)
        }
    }

    @Test(arguments: corpus("FuzzXORChunk"))
    func xorChunk(_ body: Fixtures.Body) throws {
        guard let samples = try? XORChunkDecoder.decodeAll(body.bytes) else { return }
        var encoder = XORChunkEncoder()
        for sample in samples { encoder.append(timestamp: sample.timestamp, value: sample.value) }
        let again = try XORChunkDecoder.decodeAll(encoder.bytes)
        #expect(again.map { $0.timestamp } == samples.map { $0.timestamp })
        #expect(again.map { $0.value.bitPattern } == samples.map { $0.value.bitPattern })
    }

    /// Found by FuzzRemoteWrite with SLUICE_FUZZ_SCANNER_IMPLIES_DECODER=1: the scanner checks an
    /// exemplar only one level deep, so it accepts a series whose exemplar holds a `Label` with its
    /// name as a varint, which libprotobuf-c, and so the storage node, rejects. The insert tier then
    /// forwards a series that storage answers with a 400.
    @Test func scannerRejectsAnExemplarLabelTheDecoderRejects() throws {
        let label: [UInt8] = [0x0A, 0x08] + Array("__name__".utf8) + [0x12, 0x02] + Array("up".utf8)
        // An exemplar (TimeSeries field 3) holding one label (field 1) whose bytes are `08 01`.
        let series: [UInt8] = [0x0A, UInt8(label.count)] + label + [0x1A, 0x04, 0x0A, 0x02, 0x08, 0x01]
        let body: [UInt8] = [0x0A, UInt8(series.count)] + series
        #expect(throws: CodecError.self) { try MessageCodec().decodeWriteRequest(body) }
        // Fixed: the scanner now checks exemplars, histograms and metadata to their last field.
        #expect(throws: CodecError.self) { try WriteRequestScannerTests.scan(body) }
    }

    /// Found by FuzzRemoteWrite's 2.0 check within 100 runs: a field key whose number is past
    /// 2^29 - 1 (here `d0 d0 d0 d0 d0 d0 21`), which libprotobuf-c rejects and the scanners skipped.
    @Test func aFieldNumberPastTheProtobufMaximumIsRejected() throws {
        let body: [UInt8] = [0xD0, 0xD0, 0xD0, 0xD0, 0xD0, 0xD0, 0x21, 0xD0, 0xD0, 0xD0, 0xD0, 0xD2, 0xAC, 0x00]
        #expect(throws: CodecError.self) { try MessageCodec().decodeWriteRequestV2(body) }
        #expect(throws: CodecError.self) { try body.withUnsafeBytes { raw in try WriteRequestV2Scanner().scan(raw) { _ in } } }
        #expect(throws: CodecError.self) { try WriteRequestScannerTests.scan(body) }
    }

    /// Found by the same check after 585,000 runs: a key written in 7 bytes (`f1 80 80 80 80 80 00`, a
    /// padded 113). libprotobuf-c reads keys in at most 5 bytes and rejects it.
    @Test func aFieldKeyLongerThanFiveBytesIsRejected() throws {
        let body: [UInt8] = [0x80, 0x04, 0x22, 0xF1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0x0E]
        #expect(throws: CodecError.self) { try MessageCodec().decodeWriteRequestV2(body) }
        #expect(throws: CodecError.self) { try body.withUnsafeBytes { raw in try WriteRequestV2Scanner().scan(raw) { _ in } } }
        #expect(throws: CodecError.self) { try WriteRequestScannerTests.scan(body) }
    }
}
