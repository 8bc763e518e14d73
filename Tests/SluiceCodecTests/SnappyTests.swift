import Testing
@testable import SluiceCodec

@Suite struct SnappyTests {
    @Test func roundTrip() throws {
        let input = Array("hello hello hello hello".utf8)
        let block = Snappy.compress(input)
        #expect(try Snappy.decompress(block, limit: 1 << 20) == input)
        #expect(try Snappy.decompress(Snappy.compress([]), limit: 0) == [])
    }

    @Test func limitIsInclusive() throws {
        let block = Snappy.compress([UInt8](repeating: 1, count: 100))
        #expect(try Snappy.decompress(block, limit: 100).count == 100)
        #expect(throws: CodecError.self) { try Snappy.decompress(block, limit: 99) }
    }

    @Test func lengthBombIsRejectedBeforeAllocating() {
        // A 6-byte block that declares 3.75 GiB of output.
        var block: [UInt8] = [0x80, 0x80, 0x80, 0x80, 0x0f]
        block.append(0x00)
        do {
            _ = try Snappy.decompress(block, limit: 32 << 20)
            Issue.record("length bomb decoded")
        } catch {
            #expect(error.code == .sizeLimitExceeded)
        }
        let scratch = ByteScratch(capacity: 16)
        #expect(throws: CodecError.self) {
            try block.withBytes { (raw) throws(CodecError) in try Snappy.decompress(raw, into: scratch, limit: 32 << 20) }
        }
        #expect(scratch.capacity == 16, "nothing was allocated for the declared length")
    }

    @Test func snappyRejectsGarbage() {
        #expect(throws: CodecError(.snappyCorrupt, "empty snappy block")) { try Snappy.decompress([], limit: 10) }
        #expect(throws: CodecError.self) { try Snappy.decompress([0x05, 0xff, 0xff], limit: 10) }
    }

    @Test func snappyReusesItsBuffers() throws {
        let input = [UInt8](repeating: 7, count: 100_000)
        let block = Snappy.compress(input)
        let scratch = ByteScratch(capacity: 200_000)
        for _ in 0..<3 {
            try block.withBytes { (raw) throws(CodecError) in try Snappy.decompress(raw, into: scratch, limit: 1 << 20) }
            #expect(Array(scratch.bytes) == input)
        }
        #expect(scratch.capacity == 200_000)
    }

}
