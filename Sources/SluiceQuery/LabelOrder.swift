import SluiceCodec

/// Orders two label sets as Prometheus' `labels.Compare` does: label by label, by name and then by
/// value, and a set that is a prefix of the other first. Negative, zero or positive as `a` sorts
/// before, equal to or after `b`.
///
/// The select tier merges series from many storage nodes and returns them in this order, so a
/// client sees the same order as from a single Prometheus. Names and values compare by UTF-8 bytes,
/// as Go compares strings, not by Swift's Unicode-aware `<`. Both sets must be sorted by name.
public func compareLabelSets(_ a: [Label], _ b: [Label]) -> Int {
    for (left, right) in zip(a, b) {
        let byName = compareUTF8(left.name, right.name)
        if byName != 0 { return byName }
        let byValue = compareUTF8(left.value, right.value)
        if byValue != 0 { return byValue }
    }
    return a.count < b.count ? -1 : (a.count > b.count ? 1 : 0)
}
