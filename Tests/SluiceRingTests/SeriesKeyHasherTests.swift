import SluiceCodec
import Testing

@testable import SluiceRing

/// The series key is hashed as it streams in, one label piece at a time; it must equal xxHash64 of
/// the whole key, or placement would move.
@Suite struct SeriesKeyStreamingTests {
    /// Keys from 0 to 200 bytes split into pieces of random lengths, including empty ones and pieces
    /// longer than a stripe, hash as the one-shot hash of the concatenation.
    @Test("streamed pieces hash as the whole key")
    func streamedEqualsOneShot() {
        var generator = SystemRandomNumberGenerator()
        for length in 0...200 {
            for _ in 0..<6 {
                let name = (0..<Int.random(in: 0...length, using: &generator)).map { _ in UInt8.random(in: 0...0xFE, using: &generator) }
                let tenant = Array(name.prefix(Int.random(in: 0...name.count, using: &generator)))
                var expected = tenant + [0xFF]
                var hasher = SeriesKeyHasher()
                tenant.withUnsafeBytes { hasher.start(tenant: $0) }
                var rest = name[...]
                while !rest.isEmpty {
                    let a = Array(rest.prefix(Int.random(in: 0...40, using: &generator)))
                    rest = rest.dropFirst(a.count)
                    let b = Array(rest.prefix(Int.random(in: 0...40, using: &generator)))
                    rest = rest.dropFirst(b.count)
                    a.withUnsafeBytes { a in b.withUnsafeBytes { b in hasher.add(name: a, value: b) } }
                    expected += a + [0xFF] + b + [0xFF]
                }
                #expect(hasher.finish() == XXHash64.hash(expected), "key of \(expected.count) bytes")
            }
        }
    }

    /// Every way the window can stand when a piece of 31 or 32 bytes arrives: the piece and its 0xFF
    /// then end exactly on a stripe boundary.
    @Test("pieces ending on a stripe boundary")
    func stripeBoundaries() {
        for before in 0..<64 {
            for piece in [30, 31, 32, 33, 63, 64] {
                let first = [UInt8](repeating: 1, count: before)
                let second = [UInt8](repeating: 2, count: piece)
                var hasher = SeriesKeyHasher()
                first.withUnsafeBytes { hasher.start(tenant: $0) }
                second.withUnsafeBytes { a in Array("v".utf8).withUnsafeBytes { hasher.add(name: a, value: $0) } }
                let expected = first + [0xFF] + second + [0xFF] + Array("v".utf8) + [0xFF]
                #expect(hasher.finish() == XXHash64.hash(expected), "\(before) then \(piece)")
            }
        }
    }

    /// A hasher reused for a second key forgets the first.
    @Test("start resets the key")
    func reuse() {
        var hasher = SeriesKeyHasher()
        let long = [UInt8](repeating: 7, count: 100)
        long.withUnsafeBytes { hasher.start(tenant: $0); hasher.add(name: $0, value: $0) }
        Array("t".utf8).withUnsafeBytes { hasher.start(tenant: $0) }
        Array("a".utf8).withUnsafeBytes { a in Array("b".utf8).withUnsafeBytes { hasher.add(name: a, value: $0) } }
        #expect(hasher.finish() == XXHash64.hash([0x74, 0xFF, 0x61, 0xFF, 0x62, 0xFF] as [UInt8]))
    }
}
