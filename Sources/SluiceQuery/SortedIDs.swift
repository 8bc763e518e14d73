// Set operations on ascending, duplicate-free arrays of series ids.
//
// Postings lists can hold millions of ids. Merging sorted arrays is linear, allocation-light and
// keeps the output sorted for the next step, where a `Set<Int>` would hash every id and lose the
// order. When one side is much shorter, each of its ids is found in the other by galloping search,
// so `job="rare"` intersected with `__name__=~".+"` costs the rare list, not the long one.

enum SortedIDs {
    /// Past this ratio of lengths, binary search in the long list beats walking it.
    static let gallopRatio = 32

    /// Ids in every list. Shortest first, so the running result only shrinks.
    static func intersection(_ lists: [[Int]]) -> [Int] {
        guard var result = lists.min(by: { $0.count < $1.count }) else { return [] }
        for list in lists.sorted(by: { $0.count < $1.count }).dropFirst() {
            if result.isEmpty { break }
            result = intersection(result, list)
        }
        return result
    }

    static func intersection(_ a: [Int], _ b: [Int]) -> [Int] {
        let (short, long) = a.count <= b.count ? (a, b) : (b, a)
        var result: [Int] = []
        result.reserveCapacity(short.count)
        if short.count * gallopRatio < long.count {
            var from = 0
            for id in short {
                from = lowerBound(of: id, in: long, from: from)
                if from == long.count { break }
                if long[from] == id { result.append(id) }
            }
            return result
        }
        var i = 0
        var j = 0
        while i < short.count, j < long.count {
            if short[i] < long[j] {
                i += 1
            } else if short[i] > long[j] {
                j += 1
            } else {
                result.append(short[i])
                i += 1
                j += 1
            }
        }
        return result
    }

    /// Ids in any list. Pairs are merged in rounds, so `k` lists of `n` ids in total cost
    /// `n log k`, not the `n k` of folding them into one running result.
    static func union(_ lists: [[Int]]) -> [Int] {
        var round = lists.filter { !$0.isEmpty }
        while round.count > 1 {
            var next: [[Int]] = []
            next.reserveCapacity((round.count + 1) / 2)
            var index = 0
            while index + 1 < round.count {
                next.append(union(round[index], round[index + 1]))
                index += 2
            }
            if index < round.count { next.append(round[index]) }
            round = next
        }
        return round.first ?? []
    }

    static func union(_ a: [Int], _ b: [Int]) -> [Int] {
        if a.isEmpty { return b }
        if b.isEmpty { return a }
        var result: [Int] = []
        result.reserveCapacity(a.count + b.count)
        var i = 0
        var j = 0
        while i < a.count, j < b.count {
            if a[i] < b[j] {
                result.append(a[i])
                i += 1
            } else if a[i] > b[j] {
                result.append(b[j])
                j += 1
            } else {
                result.append(a[i])
                i += 1
                j += 1
            }
        }
        result.append(contentsOf: a[i...])
        result.append(contentsOf: b[j...])
        return result
    }

    /// Ids in `a` but not in `b`.
    static func subtracting(_ a: [Int], _ b: [Int]) -> [Int] {
        if a.isEmpty || b.isEmpty { return a }
        var result: [Int] = []
        result.reserveCapacity(a.count)
        if a.count * gallopRatio < b.count {
            var from = 0
            for id in a {
                from = lowerBound(of: id, in: b, from: from)
                if from == b.count || b[from] != id { result.append(id) }
            }
            return result
        }
        var j = 0
        for id in a {
            while j < b.count, b[j] < id { j += 1 }
            if j == b.count || b[j] != id { result.append(id) }
        }
        return result
    }

    /// The first index at or after `from` whose id is not below `id`: doubling steps, then binary
    /// search within the last step.
    static func lowerBound(of id: Int, in list: [Int], from: Int) -> Int {
        var low = from
        var step = 1
        var high = from
        while high < list.count, list[high] < id {
            low = high + 1
            high += step
            step *= 2
        }
        high = min(high, list.count)
        while low < high {
            let middle = low + (high - low) / 2
            if list[middle] < id { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
