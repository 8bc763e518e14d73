/// What a series index offers for selection: the postings of each label pair.
///
/// The storage head and each on-disk block conform; `PostingsIndex.select(_:)` (in
/// `Selection.swift`) turns matchers into the ids of the series they select, with Prometheus'
/// semantics, over any conforming index.
public protocol PostingsIndex {
    /// Ids of the series with exactly `name="value"`, ascending, no duplicates.
    func postings(name: String, value: String) -> [Int]
    /// Every value `name` takes in this index, in any order, each once.
    func values(of name: String) -> [String]
    /// Ids of every series in this index, ascending.
    func allSeries() -> [Int]
}
