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


    /// Group commit joins compressed parts under one length header: the joined block must decompress
    /// to the parts one after another, whatever their sizes (copies reaching back across libsnappy's
    /// 64 KiB fragments included) and including empty parts.
    @Test func blocksJoinUnderOneHeader() throws {
        var generator = SystemRandomNumberGenerator()
        for round in 0..<40 {
            let count = 1 + round % 5
            var parts: [[UInt8]] = []
            for index in 0..<count {
                let size = [0, 1, 100, 70_000, 200_000][(round + index) % 5]
                // Repetitive with some noise, so the blocks hold both literals and copies.
                parts.append((0..<size).map { i in i % 97 == 0 ? UInt8.random(in: 0...255, using: &generator) : UInt8(truncatingIfNeeded: i % 251) })
            }
            var total = 0
            var elements: [UInt8] = []
            for part in parts {
                let block = Snappy.compress(part)
                let split = try Self.elements(of: block)
                #expect(split.declaredLength == part.count)
                total += split.declaredLength
                elements += split.elements
            }
            let header = ByteScratch(capacity: 10)
            Varint.append(UInt64(total), to: header)
            let joined = header.toArray() + elements
            #expect(try Snappy.decompress(joined, limit: 1 << 24) == parts.flatMap { $0 })
        }
        #expect(throws: CodecError.self, "a header that never ends is refused") { try Self.elements(of: [0x80]) }
    }

    /// Compressed piece by piece on fragment boundaries, an input is the very block `compress` makes
    /// of it whole; on other boundaries it is still a valid block of the same bytes.
    @Test func piecesMakeTheWholeBlock() throws {
        var generator = SystemRandomNumberGenerator()
        for size in [0, 1, 65_535, 65_536, 65_537, 300_000, 1 << 20, (1 << 21) + 12_345] {
            let input: [UInt8] = (0..<size).map { i in i % 89 == 0 ? UInt8.random(in: 0...255, using: &generator) : UInt8(truncatingIfNeeded: i % 241) }
            let whole = Snappy.compress(input)
            for pieceBytes in [Snappy.fragmentBytes, 3 * Snappy.fragmentBytes, 16 * Snappy.fragmentBytes, 50_000] {
                var joined: [UInt8] = []
                input.withUnsafeBytes { raw in
                    var offset = 0
                    repeat {
                        let piece = UnsafeRawBufferPointer(rebasing: raw[offset..<min(raw.count, offset + pieceBytes)])
                        let output = UnsafeMutableRawBufferPointer.allocate(byteCount: Snappy.maxPieceLength(piece.count), alignment: 1)
                        defer { output.deallocate() }
                        let share = Snappy.compressPiece(piece, totalLength: offset == 0 ? raw.count : nil, into: output)
                        joined += output[share]
                        offset += piece.count
                    } while offset < raw.count
                }
                if pieceBytes % Snappy.fragmentBytes == 0 || size <= pieceBytes {
                    let sameBytes = joined == whole
                    #expect(sameBytes, "size \(size), pieces of \(pieceBytes)")
                }
                let decoded = try Snappy.decompress(joined, limit: 1 << 24)
                #expect(decoded == input, "size \(size), pieces of \(pieceBytes)")
            }
        }
    }

    static func elements(of block: [UInt8]) throws(CodecError) -> (declaredLength: Int, elements: [UInt8]) {
        let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: block.count, alignment: 1)
        defer { raw.deallocate() }
        raw.copyBytes(from: block)
        let split = try Snappy.elements(of: UnsafeRawBufferPointer(raw))
        return (split.declaredLength, Array(split.elements))
    }
}
