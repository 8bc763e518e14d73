import SluiceCodec
import Testing

/// `Varint`: every length round-trips, and `read` tells a varint the input cuts short (nil) from a
/// malformed one (an error), whether it ends in the inline loop or past it.
@Suite struct VarintTests {
    func read(_ bytes: [UInt8], from start: Int = 0) throws -> (value: UInt64?, offset: Int) {
        var offset = start
        let value = try bytes.withUnsafeBytes { raw in try Varint.read(raw, at: &offset) }
        return (value, offset)
    }

    static let values: [UInt64] = (0..<64).flatMap { bit -> [UInt64] in
        let power = UInt64(1) << UInt64(bit)
        return [power - 1, power, power | 1]
    } + [UInt64.max]

    @Test(arguments: values)
    func roundTripsAtEveryLength(_ value: UInt64) throws {
        var bytes: [UInt8] = [0xAA]
        Varint.append(value, to: &bytes)
        #expect(bytes.count - 1 == Varint.size(value))
        // At the very end of the input, and with bytes after it.
        for tail in [[], [0x80, 0x80]] as [[UInt8]] {
            let (read, offset) = try read(bytes + tail, from: 1)
            #expect(read == value)
            #expect(offset == bytes.count)
        }
    }

    @Test func anInputThatEndsInsideAVarintReadsNilAndDoesNotMove() throws {
        var bytes: [UInt8] = []
        Varint.append(UInt64.max, to: &bytes)
        for cut in 1..<bytes.count {
            let (value, offset) = try read(Array(bytes.prefix(cut)))
            #expect(value == nil)
            #expect(offset == 0)
        }
        #expect(try read([]).value == nil)
    }

    @Test func aTenthByteAboveOneOverflows() {
        let bytes = [UInt8](repeating: 0xFF, count: 9) + [0x02]
        #expect(throws: CodecError.self) { try read(bytes) }
    }

    @Test func anEleventhByteIsTooLong() {
        let bytes = [UInt8](repeating: 0x80, count: 10) + [0x00]
        #expect(throws: CodecError.self) { try read(bytes) }
    }
}
