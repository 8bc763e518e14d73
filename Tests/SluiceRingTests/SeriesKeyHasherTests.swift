@testable import SluiceCodec
import Testing

@testable import SluiceRing

/// The series key is built one label piece at a time; its hash must equal xxHash64 of the whole key,
/// or placement would move.
@Suite struct SeriesKeyHasherTests {
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

    /// Pieces of 30 to 64 bytes after every tenant length below 64: keys that end on, before and
    /// after xxHash64's 32-byte stripes, with pieces on both sides of the 32-byte copy.
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

    /// Pieces taken from one buffer, copied in fixed-size moves when all of them have 32 readable
    /// bytes (overwriting past their length) and by length otherwise: starting anywhere, up to the
    /// buffer's last byte, with keys that outgrow the hasher's buffer; and each key starts again
    /// after the tenant.
    @Test("a key's pieces copied in fixed-size moves, up to the buffer's end")
    func readableEnd() {
        var generator = SystemRandomNumberGenerator()
        let buffer = (0..<300).map { _ in UInt8.random(in: 0...0xFE, using: &generator) }
        buffer.withUnsafeBytes { raw in
            var hasher = SeriesKeyHasher(capacity: 64)
            let tenant = Array("tenant".utf8)
            tenant.withUnsafeBytes { hasher.start(tenant: $0) }
            for _ in 0..<2000 {
                let labels = Int.random(in: 0...12, using: &generator)
                var key = hasher.startKey(labelBytes: labels * 82)
                var expected = tenant + [0xFF]
                var ranges: [WriteRequestScanner.LabelRange] = []
                for _ in 0..<labels {
                    func piece() -> Range<Int> {
                        let length = Int.random(in: 0...40, using: &generator)
                        // A third of the pieces end at the buffer's last byte.
                        let start = Int.random(in: 0...2, using: &generator) == 0
                            ? raw.count - length : Int.random(in: 0...(raw.count - length), using: &generator)
                        return start..<(start + length)
                    }
                    let (name, value) = (piece(), piece())
                    ranges.append(.init(field: name, name: name, value: value))  // the key reads no field
                    expected += Array(raw[name]) + [0xFF] + Array(raw[value]) + [0xFF]
                }
                // Whole-word copies only when every piece has 32 readable bytes, as the router asks.
                let whole = ranges.allSatisfy { $0.name.lowerBound + 32 <= raw.count && $0.value.lowerBound + 32 <= raw.count }
                ranges.withUnsafeBufferPointer { key.add(labels: $0[...], base: raw.baseAddress!, whole: whole) }
                #expect(key.hash() == XXHash64.hash(expected), "key of \(expected.count) bytes")
            }
        }
    }

    /// A key that copies a run of pieces from the key before it hashes as if it had added them.
    @Test("a key takes pieces from the previous key")
    func previousKey() {
        let bytes = Array("__name__upjobnodezonea".utf8)
        bytes.withUnsafeBytes { raw in
            var hasher = SeriesKeyHasher(capacity: 64)
            Array("t".utf8).withUnsafeBytes { hasher.start(tenant: $0) }
            let labels: [WriteRequestScanner.LabelRange] = [
                .init(field: 0..<10, name: 0..<8, value: 8..<10),     // __name__=up
                .init(field: 10..<17, name: 10..<13, value: 13..<17), // job=node
                .init(field: 17..<22, name: 17..<21, value: 21..<22), // zone=a
            ]
            var first = hasher.startKey(labelBytes: 64)
            labels.withUnsafeBufferPointer { first.add(labels: $0[...], base: raw.baseAddress!, whole: false) }
            let firstHash = first.hash()
            // The second key: its own first pair, then the first key's other two pieces at once.
            var second = hasher.startKey(labelBytes: 64)
            labels.withUnsafeBufferPointer { second.add(labels: $0[..<1], base: raw.baseAddress!, whole: false) }
            let pairsStart = 2 + 8 + 1 + 2 + 1  // "t", 0xFF, "__name__", 0xFF, "up", 0xFF
            second.add(previous: pairsStart..<(pairsStart + 4 + 5 + 5 + 2))  // job, node, zone, a and their 0xFFs
            #expect(second.hash() == firstHash)
            #expect(second.hash() == SeriesKeyHasher.hash(tenant: "t", labels: [("__name__", "up"), ("job", "node"), ("zone", "a")]))
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
