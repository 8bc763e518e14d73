import SluiceCodec
import Testing

import SluiceQuery

@Suite struct LabelOrderTests {
    static func set(_ pairs: (String, String)...) -> [Label] {
        pairs.map { Label(name: $0.0, value: $0.1) }
    }

    @Test func ordersLikePrometheus() {
        let up = LabelOrderTests.set(("__name__", "up"), ("job", "a"))
        #expect(compareLabelSets(up, up) == 0)
        #expect(compareLabelSets([], []) == 0)
        // Name before value: "instance" < "job" decides, whatever the values.
        #expect(compareLabelSets(LabelOrderTests.set(("__name__", "up"), ("instance", "z")), up) < 0)
        #expect(compareLabelSets(up, LabelOrderTests.set(("__name__", "up"), ("instance", "z"))) > 0)
        // Same names: the value decides.
        #expect(compareLabelSets(up, LabelOrderTests.set(("__name__", "up"), ("job", "b"))) < 0)
        #expect(compareLabelSets(LabelOrderTests.set(("__name__", "up")), LabelOrderTests.set(("__name__", "down"))) > 0)
        // A prefix sorts first.
        #expect(compareLabelSets(LabelOrderTests.set(("__name__", "up")), up) < 0)
        #expect(compareLabelSets(up, LabelOrderTests.set(("__name__", "up"))) > 0)
        #expect(compareLabelSets([], up) < 0)
    }

    @Test func comparesUTF8Bytes() {
        // Upper case before lower case, as bytes.
        #expect(compareLabelSets(LabelOrderTests.set(("a", "Z")), LabelOrderTests.set(("a", "a"))) < 0)
        // Canonically equivalent to Swift's `==`, different bytes: "e" (0x65) sorts before "é" (0xC3).
        let composed = LabelOrderTests.set(("a", "\u{E9}"))
        let decomposed = LabelOrderTests.set(("a", "e\u{301}"))
        #expect("\u{E9}" == "e\u{301}")
        #expect(compareLabelSets(decomposed, composed) < 0)
        #expect(compareLabelSets(composed, decomposed) > 0)
        // UTF-8 order, not UTF-16: U+FFFF (EF BF BF) sorts before U+1F600 (F0 ...), whose UTF-16
        // surrogate (D83D) would sort first.
        #expect(compareLabelSets(LabelOrderTests.set(("a", "\u{FFFF}")), LabelOrderTests.set(("a", "\u{1F600}"))) < 0)
        // A byte-prefix sorts first.
        #expect(compareLabelSets(LabelOrderTests.set(("a", "ab")), LabelOrderTests.set(("a", "abc"))) < 0)
        #expect(compareLabelSets(LabelOrderTests.set(("ab", "")), LabelOrderTests.set(("a", "z"))) > 0)
    }

    @Test func sortsSeriesLikePrometheus() {
        let sets = [
            LabelOrderTests.set(("__name__", "up"), ("job", "b")), LabelOrderTests.set(("__name__", "up")),
            LabelOrderTests.set(("__name__", "down"), ("job", "a")), LabelOrderTests.set(("__name__", "up"), ("job", "a")),
        ]
        let sorted = sets.sorted { compareLabelSets($0, $1) < 0 }
        #expect(sorted.map(\.description) == [
            #"[__name__="down", job="a"]"#, #"[__name__="up"]"#, #"[__name__="up", job="a"]"#, #"[__name__="up", job="b"]"#,
        ])
    }

    /// Label values compare by their bytes in place, and agree with a plain byte-array order, for ASCII, multi-byte UTF-8,
    /// prefixes, empty strings and strings long enough to live on the heap.
    @Test func utf8OrderMatchesByteOrder() {
        let pieces = ["", "a", "b", "ab", "abc", "é", "e\u{301}", "z", "Z", "日本", "😀", String(repeating: "x", count: 40)]
        var strings = pieces
        for a in pieces { for b in pieces.prefix(6) { strings.append(a + b) } }
        for a in strings {
            for b in strings {
                let want = Array(a.utf8).lexicographicallyPrecedes(Array(b.utf8)) ? -1 : (Array(a.utf8) == Array(b.utf8) ? 0 : 1)
                #expect(compareLabelSets([Label(name: "n", value: a)], [Label(name: "n", value: b)]) == want, "\(a) vs \(b)")
                #expect(compareLabelSets([Label(name: "n", value: a)], [Label(name: "n", value: b)], ignoring: "t") == want)
            }
        }
    }
}

/// `LabelSetBytes.compare`, which select's merge orders series by, must agree with
/// `compareLabelSets` on every pair of label sets, with and without a label left out.
@Suite struct LabelSetBytesOrderTests {
    @Test func bytesOrderAsTheLabelsDo() {
        let names = ["__name__", "a", "ab", "job", "tenant_id", "z", "é", String(repeating: "n", count: 130)]
        let values = ["", "a", "ab", "abc", "Z", "é", "e\u{301}", "\u{FFFF}", "😀", String(repeating: "v", count: 200)]
        var generator = SplitMix64(seed: 42)
        var sets: [[Label]] = [[]]
        for _ in 0..<300 {
            let chosen = names.filter { _ in Bool.random(using: &generator) }.sorted { compareLabelSets([Label(name: $0, value: "")], [Label(name: $1, value: "")]) < 0 }
            sets.append(chosen.map { Label(name: $0, value: values.randomElement(using: &generator)!) })
        }
        // Near neighbours too: one value changed, one label dropped.
        for set in sets.prefix(100) where !set.isEmpty {
            var changed = set
            changed[changed.count - 1].value += "x"
            sets.append(changed)
            sets.append(Array(set.dropLast()))
        }
        let bytes = sets.map(LabelSetBytes.bytes)
        func sign(_ value: Int) -> Int { value < 0 ? -1 : (value > 0 ? 1 : 0) }
        for (i, a) in sets.enumerated() {
            for (j, b) in sets.enumerated() {
                #expect(sign(LabelSetBytes.compare(bytes[i], bytes[j])) == sign(compareLabelSets(a, b)), "\(a) vs \(b)")
                #expect(
                    sign(LabelSetBytes.compare(bytes[i], bytes[j], ignoring: Array("tenant_id".utf8)))
                        == sign(compareLabelSets(a, b, ignoring: "tenant_id")), "\(a) vs \(b) without tenant_id")
            }
        }
    }

    @Test func removingALabelLeavesTheRest() {
        let set = [Label(name: "__name__", value: "up"), Label(name: "job", value: "a"), Label(name: "tenant_id", value: "t")]
        let bytes = LabelSetBytes.bytes(set)
        #expect(LabelSetBytes.labels(LabelSetBytes.removing(Array("tenant_id".utf8), from: bytes)) == Array(set.prefix(2)))
        #expect(LabelSetBytes.labels(LabelSetBytes.removing(Array("job".utf8), from: bytes)) == [set[0], set[2]])
        #expect(LabelSetBytes.removing(Array("jo".utf8), from: bytes) == bytes)
        #expect(LabelSetBytes.removing(Array("x".utf8), from: []) == [])
    }
}
