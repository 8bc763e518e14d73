import Testing
@testable import SluiceCodec

@Suite struct SnappyTests {
    @Test func roundTrip() throws {
        let input = Array("hello hello hello hello".utf8)
        let block = Snappy.compress(input)
        #expect(try Snappy.decompress(block, limit: 1 << 20) == input)
    }
}
