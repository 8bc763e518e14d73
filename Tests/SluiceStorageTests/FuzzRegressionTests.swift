import Foundation
import SluiceCodec
import Testing
@testable import SluiceStorage

/// Replays the FuzzWALRecord seeds committed in Fuzz/corpus/ through the same decoders and checks as
/// the fuzz target, so `swift test` keeps them exercised, and holds every input it found as a
/// regression case.
@Suite struct WALFuzzRegressionTests {
    struct Seed: CustomStringConvertible, Sendable {
        let name: String
        let bytes: [UInt8]
        var description: String { name }
    }

    static let corpus: [Seed] = {
        let root = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let folder = root.appendingPathComponent("Fuzz/corpus/FuzzWALRecord")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.sorted().map { name in
            let data = FileManager.default.contents(atPath: folder.appendingPathComponent(name).path) ?? Data()
            return Seed(name: name, bytes: [UInt8](data))
        }
    }()

    @Test func theCorpusIsThere() {
        #expect(!Self.corpus.isEmpty, "Fuzz/corpus/FuzzWALRecord is empty")
    }

    /// As a record payload: what decodes re-encodes to a payload that decodes to the same record.
    @Test(arguments: corpus)
    func record(_ seed: Seed) throws {
        guard let record = try? WALRecordCodec.decode(seed.bytes) else { return }
        #expect(try WALRecordCodec.decode(WALRecordCodec.encode(record)) == record)
    }

    /// As a segment file: replay cuts it at its first damage, and a second replay finds nothing more.
    @Test(arguments: corpus)
    func segment(_ seed: Seed) throws {
        try WALTests.withTemporaryDirectory { directory in
            let path = directory + "/segment"
            _ = FileManager.default.createFile(atPath: path, contents: Data(seed.bytes))
            let first = try WALFuzzing.replaySegment(atPath: path)
            let second = try WALFuzzing.replaySegment(atPath: path)
            #expect(second == first)
            #expect(first.validEnd <= seed.bytes.count)
        }
    }
}
