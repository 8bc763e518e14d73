import SluiceCodec
import Synchronization
import Testing

@testable import SluiceQuery

/// A postings index over a list of label sets, the way a test wants it: obvious, not fast. The id
/// of a series is its position in the list. Values compare by bytes, as a real index must.
struct ListIndex: PostingsIndex {
    var series: [[Label]]
    /// How often each method ran, to check that cheap matchers stay cheap.
    final class Calls: Sendable {
        let postings = Atomic<Int>(0)
        let values = Atomic<Int>(0)
        let allSeries = Atomic<Int>(0)
    }
    let calls = Calls()

    init(_ series: [[String: String]]) {
        self.series = series.map { set in set.map { Label(name: $0.key, value: $0.value) }.sorted() }
    }

    /// A fresh index, with its own call counts, over the same series.
    init(copying other: ListIndex) {
        self.series = other.series
    }

    func value(of name: String, in id: Int) -> String? {
        series[id].first { $0.name == name }?.value
    }

    func postings(name: String, value: String) -> [Int] {
        calls.postings.add(1, ordering: .relaxed)
        return series.indices.filter { id in
            self.value(of: name, in: id).map { Array($0.utf8) == Array(value.utf8) } ?? false
        }
    }

    func values(of name: String) -> [String] {
        calls.values.add(1, ordering: .relaxed)
        var seen: [[UInt8]] = []
        var result: [String] = []
        for id in series.indices {
            if let value = value(of: name, in: id), !seen.contains(Array(value.utf8)) {
                seen.append(Array(value.utf8))
                result.append(value)
            }
        }
        return result
    }

    func allSeries() -> [Int] {
        calls.allSeries.add(1, ordering: .relaxed)
        return Array(series.indices)
    }

    /// The definition, series by series: a missing label is the value "".
    func bruteForce(_ matchers: [CompiledMatcher]) -> [Int] {
        guard !matchers.isEmpty else { return [] }
        return series.indices.filter { id in
            matchers.allSatisfy { $0.matches(value(of: $0.name, in: id) ?? "") }
        }
    }
}

@Suite struct SelectionTests {
    static let index = ListIndex([
        ["__name__": "up", "job": "api", "instance": "a"],  // 0
        ["__name__": "up", "job": "db", "instance": "b"],  // 1
        ["__name__": "up", "instance": "c"],  // 2: no job
        ["__name__": "down", "job": "api", "env": "prod"],  // 3
        ["__name__": "up", "job": "x", "instance": "a"],  // 4
        ["__name__": "up", "job": "y"],  // 5
        ["__name__": "up", "job": "e\u{301}"],  // 6: decomposed é
        ["__name__": "up", "job": "\u{E9}"],  // 7: composed é
    ])

    struct Case: Sendable, CustomTestStringConvertible {
        var matchers: [LabelMatcher]
        var expected: [Int]
        var testDescription: String { "{" + matchers.map(\.description).joined(separator: ", ") + "}" }
        init(_ matchers: LabelMatcher..., expected: [Int]) { (self.matchers, self.expected) = (matchers, expected) }
    }

    // Built directly rather than parsed: the selector parser refuses several of these (a selector
    // that only matches empty values), and remote read can still send them.
    static func eq(_ name: String, _ value: String) -> LabelMatcher { LabelMatcher(.equal, name: name, value: value) }
    static func ne(_ name: String, _ value: String) -> LabelMatcher { LabelMatcher(.notEqual, name: name, value: value) }
    static func re(_ name: String, _ value: String) -> LabelMatcher { LabelMatcher(.regex, name: name, value: value) }
    static func nre(_ name: String, _ value: String) -> LabelMatcher { LabelMatcher(.notRegex, name: name, value: value) }

    static let cases: [Case] = [
        Case(eq("job", ""), expected: [2]),
        Case(re("job", ""), expected: [2]),
        Case(ne("job", ""), expected: [0, 1, 3, 4, 5, 6, 7]),
        Case(nre("job", ""), expected: [0, 1, 3, 4, 5, 6, 7]),
        Case(re("job", ".+"), expected: [0, 1, 3, 4, 5, 6, 7]),
        Case(nre("job", "x|y"), expected: [0, 1, 2, 3, 6, 7]),
        Case(eq("__name__", "up"), nre("job", "x|y"), expected: [0, 1, 2, 6, 7]),
        Case(eq("__name__", "up"), re("job", "api|db"), expected: [0, 1]),
        Case(eq("__name__", "up"), re("job", ".*"), expected: [0, 1, 2, 4, 5, 6, 7]),
        Case(eq("__name__", "up"), re("job", "api|"), expected: [0, 2]),
        Case(re("job", "api|"), expected: [0, 2, 3]),
        Case(eq("__name__", "up"), ne("job", "api"), expected: [1, 2, 4, 5, 6, 7]),
        Case(eq("__name__", "up"), eq("job", ""), expected: [2]),
        Case(eq("__name__", "up"), re("instance", "a|c"), expected: [0, 2, 4]),
        Case(eq("__name__", "up"), eq("instance", "a"), eq("job", "x"), expected: [4]),
        Case(eq("__name__", "up"), eq("instance", "a"), re("job", "a.*"), expected: [0]),
        Case(re("job", "a.*"), expected: [0, 3]),
        Case(re("__name__", "up|down"), eq("env", "prod"), expected: [3]),
        Case(eq("__name__", "up"), eq("nolabel", ""), expected: [0, 1, 2, 4, 5, 6, 7]),
        Case(eq("__name__", "up"), ne("nolabel", ""), expected: []),
        Case(eq("__name__", "up"), nre("__name__", ".*"), expected: []),
        Case(nre("__name__", ".*"), expected: []),
        Case(re("nolabel", ".*"), expected: [0, 1, 2, 3, 4, 5, 6, 7]),
        Case(eq("__name__", "nothing"), expected: []),
        Case(eq("job", "\u{E9}"), expected: [7]),
        Case(eq("job", "e\u{301}"), expected: [6]),
        Case(re("job", "\u{E9}|x"), expected: [4, 7]),
        Case(re("job", "(?:\u{E9})"), expected: [7]),
        Case(re("job", "(?:e\u{301})"), expected: [6]),
    ]

    @Test(arguments: cases)
    func selects(_ c: Case) throws {
        let matchers = try c.matchers.map { try CompiledMatcher($0) }
        #expect(SelectionTests.index.select(matchers) == c.expected)
        #expect(SelectionTests.index.bruteForce(matchers) == c.expected)
    }

    @Test func parsedSelectorsSelect() throws {
        let matchers = try SeriesSelector.parse(#"up{job=~"api|db", instance!="b"}"#).map { try CompiledMatcher($0) }
        #expect(SelectionTests.index.select(matchers) == [0])
    }

    @Test func matchersThatAllAcceptEmptyStartFromAllSeries() throws {
        // The selector parser refuses these; the remote-read path can still send them.
        let matchers = [try matcher(.notEqual, "api", name: "job"), try matcher(.regex, ".*", name: "env")]
        #expect(SelectionTests.index.select(matchers) == [1, 2, 4, 5, 6, 7])
    }

    @Test func noMatchersSelectNothing() {
        #expect(SelectionTests.index.select([]) == [])
    }

    @Test func equalityReadsOnlyItsPostings() throws {
        let index = ListIndex(copying: SelectionTests.index)
        let selected = index.select([try matcher(.equal, "up", name: "__name__"), try matcher(.regex, "api|db", name: "job")])
        #expect(selected == [0, 1])
        #expect(index.calls.postings.load(ordering: .relaxed) == 3)
        #expect(index.calls.values.load(ordering: .relaxed) == 0)
        #expect(index.calls.allSeries.load(ordering: .relaxed) == 0)
    }

    @Test func anEmptyIntersectionStopsEarly() throws {
        let index = ListIndex(copying: SelectionTests.index)
        let selected = index.select([
            try matcher(.regex, ".+", name: "instance"), try matcher(.equal, "nothing", name: "__name__"),
            try matcher(.notRegex, "x.*", name: "job"),
        ])
        #expect(selected == [])
        // The literal ran first and found nothing; the scans never ran.
        #expect(index.calls.values.load(ordering: .relaxed) == 0)
    }

    @Test func randomSelectionsAgreeWithTheDefinition() throws {
        var random = SplitMix64(seed: 42)
        let names = ["a", "b", "c"]
        let values = ["", "x", "y", "xy", "z"]
        let series: [[String: String]] = (0..<200).map { _ in
            var set: [String: String] = ["__name__": "m"]
            for name in names {
                let value = values.randomElement(using: &random)!
                if !value.isEmpty { set[name] = value }
            }
            return set
        }
        let index = ListIndex(series)
        let patterns = ["", "x", "x|y", "x.*", ".*", ".+", "(?:x|z)", "[xy]+", "xy|"]
        let kinds: [LabelMatcher.Kind] = [.equal, .notEqual, .regex, .notRegex]
        for _ in 0..<500 {
            let count = Int.random(in: 0...3, using: &random)
            let matchers = try (0..<count).map { _ in
                let kind = kinds.randomElement(using: &random)!
                let value =
                    kind == .equal || kind == .notEqual
                    ? values.randomElement(using: &random)! : patterns.randomElement(using: &random)!
                return try matcher(kind, value, name: names.randomElement(using: &random)!)
            }
            #expect(index.select(matchers) == index.bruteForce(matchers), "\(matchers)")
        }
    }
}

@Suite struct SortedIDsTests {
    static func oracle(_ a: [Int], _ b: [Int], _ operation: (Set<Int>, Set<Int>) -> Set<Int>) -> [Int] {
        operation(Set(a), Set(b)).sorted()
    }

    static func randomList(_ count: Int, upTo bound: Int, _ random: inout SplitMix64) -> [Int] {
        Array(Set((0..<count).map { _ in Int.random(in: 0..<bound, using: &random) })).sorted()
    }

    @Test func operationsMatchSets() {
        var random = SplitMix64(seed: 7)
        // Sizes on both sides of the galloping ratio, including empty lists.
        let sizes = [(0, 10), (10, 0), (5, 5), (50, 60), (3, 5000), (5000, 3), (1, 1), (200, 200)]
        for (left, right) in sizes {
            for _ in 0..<20 {
                let a = SortedIDsTests.randomList(left, upTo: 10_000, &random)
                let b = SortedIDsTests.randomList(right, upTo: 10_000, &random)
                #expect(SortedIDs.intersection(a, b) == SortedIDsTests.oracle(a, b) { $0.intersection($1) })
                #expect(SortedIDs.union(a, b) == SortedIDsTests.oracle(a, b) { $0.union($1) })
                #expect(SortedIDs.subtracting(a, b) == SortedIDsTests.oracle(a, b) { $0.subtracting($1) })
            }
        }
    }

    @Test func manyWayOperations() {
        var random = SplitMix64(seed: 9)
        let lists = (0..<13).map { _ in SortedIDsTests.randomList(Int.random(in: 0..<300, using: &random), upTo: 2000, &random) }
        let union = lists.reduce(into: Set<Int>()) { $0.formUnion($1) }.sorted()
        #expect(SortedIDs.union(lists) == union)
        #expect(SortedIDs.union([]) == [])
        let overlapping = [[1, 2, 3, 4, 9], [2, 4, 9, 10], [0, 2, 9]]
        #expect(SortedIDs.intersection(overlapping) == [2, 9])
        #expect(SortedIDs.intersection([]) == [])
    }

    @Test func lowerBoundFindsEveryPosition() {
        let list = [1, 3, 5, 7, 9, 11, 13]
        for from in 0...list.count {
            for id in 0...14 {
                let expected = list.indices.first { $0 >= from && list[$0] >= id } ?? list.count
                #expect(SortedIDs.lowerBound(of: id, in: list, from: from) == expected)
            }
        }
    }
}

/// SplitMix64: random cases that are the same on every run, so a failure replays.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
