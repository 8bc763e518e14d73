import SluiceCodec
import SluiceQuery
import Testing
@testable import SluiceStorage

@Suite("LabelSymbols: interned label sets")
struct LabelSymbolsTests {
    /// Label sets sharing names and low-cardinality values, with unique values, long values (two-byte
    /// lengths), empty values and UTF-8.
    static let sets: [[Label]] = (0..<400).map { index in
        var labels = [
            Label(name: "__name__", value: ["up", "node_load1", "http_requests_total"][index % 3]),
            Label(name: "instance", value: "host-\(index / 4):9100"),
            Label(name: "job", value: index % 5 == 0 ? "" : "node"),
        ]
        if index % 7 == 0 { labels.append(Label(name: "path", value: String(repeating: "p", count: 130 + index))) }
        if index % 11 == 0 { labels.append(Label(name: "städte", value: "zürich-\(index)")) }
        return labels
    }

    @Test func eachSetMatchesItsOwnBytesOnlyAndComesBackWhole() {
        var symbols = LabelSymbols()
        let keys = Self.sets.map(LabelSetBytes.bytes)
        let refs = keys.map { key in key.withUnsafeBytes { symbols.add($0) } }
        for (index, ref) in refs.enumerated() {
            #expect(symbols.labels(ref) == Self.sets[index])
            #expect(symbols.key(ref) == keys[index])
            keys[index].withUnsafeBytes { #expect(symbols.matches(ref, $0)) }
            // Its neighbours, and its own bytes one byte short, one byte longer and with one value byte changed.
            for other in [index + 1, index + 4] where other < keys.count {
                keys[other].withUnsafeBytes { #expect(!symbols.matches(ref, $0)) }
            }
            keys[index].dropLast().withUnsafeBytes { #expect(!symbols.matches(ref, UnsafeRawBufferPointer($0))) }
            (keys[index] + [0x0A]).withUnsafeBytes { #expect(!symbols.matches(ref, $0)) }
            var changed = keys[index]
            changed[changed.count - 1] ^= 0x01
            changed.withUnsafeBytes { #expect(!symbols.matches(ref, $0)) }
        }
        // Each distinct label once: far fewer symbols than labels.
        #expect(symbols.symbolCount < Self.sets.reduce(0) { $0 + $1.count } / 3)
        // The empty label set.
        let empty = [UInt8]().withUnsafeBytes { symbols.add($0) }
        #expect(symbols.labels(empty).isEmpty)
        #expect([UInt8]().withUnsafeBytes { symbols.matches(empty, $0) })
        keys[0].withUnsafeBytes { #expect(!symbols.matches(empty, $0)) }
    }

    /// `matches` compares a label in words of eight bytes, overlapping at the end: a change at any
    /// byte of a name or value of any length must still be seen.
    @Test func aChangeAtAnyByteOfAnySymbolIsSeen() {
        var symbols = LabelSymbols()
        for length in 1...40 {
            let value = String((0..<length).map { Character(UnicodeScalar(UInt8(0x61 + $0 % 26))) })
            let key = LabelSetBytes.bytes([Label(name: "__name__", value: "m"), Label(name: "v\(length)", value: value)])
            let ref = key.withUnsafeBytes { symbols.add($0) }
            key.withUnsafeBytes { #expect(symbols.matches(ref, $0)) }
            // The value is the last `length` bytes of the key; the name `v<length>` comes before it.
            let valueStart = key.count - length
            for position in (valueStart - 2 - String(length).count)..<key.count where position != valueStart - 1 {
                var changed = key
                changed[position] ^= 0x01
                changed.withUnsafeBytes { #expect(!symbols.matches(ref, $0), "length \(length), byte \(position)") }
            }
        }
    }

    /// Bytes that are not `LabelSetBytes` (a length past the end) come back as they went in, and
    /// match only themselves.
    @Test func bytesThatAreNotALabelSetComeBackWhole() {
        var symbols = LabelSymbols()
        let good = LabelSetBytes.bytes([Label(name: "__name__", value: "up")])
        for key in [good + [0x0A, 0x05, 0x01], [0x0A, 0xFF], good + [0x12]] {
            let ref = key.withUnsafeBytes { symbols.add($0) }
            #expect(symbols.key(ref) == key)
            key.withUnsafeBytes { #expect(symbols.matches(ref, $0)) }
            good.withUnsafeBytes { #expect(!symbols.matches(ref, $0)) }
        }
    }

    @Test func compactionKeepsTheLiveSetsAndDropsTheRest() {
        var symbols = LabelSymbols()
        let keys = Self.sets.map(LabelSetBytes.bytes)
        let refs = keys.map { key in key.withUnsafeBytes { symbols.add($0) } }
        #expect(!symbols.wantsCompaction(floor: 0))
        // Keep every third set.
        let kept = Array(stride(from: 0, to: refs.count, by: 3))
        for index in refs.indices where index % 3 != 0 { symbols.release(refs[index]) }
        #expect(symbols.wantsCompaction(floor: 0))
        #expect(!symbols.wantsCompaction(floor: 1 << 20))
        let (compacted, moved) = symbols.compacted(keeping: kept.map { refs[$0] })
        #expect(!compacted.wantsCompaction(floor: 0))
        #expect(compacted.symbolCount < symbols.symbolCount)
        for (position, index) in kept.enumerated() {
            #expect(compacted.labels(moved[position]) == Self.sets[index])
            keys[index].withUnsafeBytes { #expect(compacted.matches(moved[position], $0)) }
        }
    }
}
