extension PostingsIndex {
    /// The ids of the series every matcher accepts, ascending, with Prometheus TSDB's
    /// `PostingsForMatchers` semantics.
    ///
    /// A series that lacks a label is treated as having it with the value "". So a matcher that
    /// rejects "" selects the series whose value it accepts (the union of those values' postings),
    /// while a matcher that accepts "" selects every series except those whose value it rejects. The
    /// first kind is intersected, shortest first; the second is subtracted from the result. With no
    /// matcher of the first kind the result starts from `allSeries()`. No matchers select nothing,
    /// so an empty request can never dump the whole index.
    ///
    /// Cost: `=`, `!=`, and regexes that are alternations of literals read only their values'
    /// postings; every other matcher tests each value of its label once, never each series.
    public func select(_ matchers: [CompiledMatcher]) -> [Int] {
        guard !matchers.isEmpty else { return [] }

        let including = matchers.filter { !$0.matchesEmpty }.sorted { $0.lookupCost < $1.lookupCost }
        let excluding = matchers.filter { $0.matchesEmpty }

        var result: [Int]
        if let first = including.first {
            result = seriesAccepted(by: first)
            for matcher in including.dropFirst() {
                if result.isEmpty { return [] }
                result = SortedIDs.intersection(result, seriesAccepted(by: matcher))
            }
        } else {
            result = allSeries()
        }

        for matcher in excluding {
            if result.isEmpty { return [] }
            result = SortedIDs.subtracting(result, seriesRejected(by: matcher))
        }
        return result
    }

    /// For a matcher that rejects "": the series holding a value it accepts.
    private func seriesAccepted(by matcher: CompiledMatcher) -> [Int] {
        let values: [String]
        if !matcher.negated, let literals = matcher.pattern.literals {
            values = literals
        } else {
            values = self.values(of: matcher.name).filter { matcher.matches($0) }
        }
        return postings(of: matcher.name, values)
    }

    /// For a matcher that accepts "": the series holding a value it rejects.
    private func seriesRejected(by matcher: CompiledMatcher) -> [Int] {
        if case .anything = matcher.pattern, !matcher.negated { return [] }
        let values: [String]
        if matcher.negated, let literals = matcher.pattern.literals {
            values = literals
        } else {
            values = self.values(of: matcher.name).filter { !matcher.matches($0) }
        }
        return postings(of: matcher.name, values)
    }

    /// The union of the postings of `name` with each of `values`. "" has none: a series with an
    /// empty value is a series without the label.
    private func postings(of name: String, _ values: [String]) -> [Int] {
        SortedIDs.union(values.filter { !$0.isEmpty }.map { postings(name: name, value: $0) })
    }
}

extension CompiledMatcher {
    /// Rough order for intersecting: direct postings lookups before scans of a label's values.
    var lookupCost: Int {
        if !negated, let literals = pattern.literals { return literals.count }
        return Int.max
    }
}
