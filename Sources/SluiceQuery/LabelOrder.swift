import SluiceCodec

/// Orders two label sets as Prometheus' `labels.Compare` does: label by label, by name and then by
/// value, and a set that is a prefix of the other first. Negative, zero or positive as `a` sorts
/// before, equal to or after `b`.
///
/// The select tier merges series from many storage nodes and returns them in this order, so a
/// client sees the same order as from a single Prometheus. Names and values compare by UTF-8 bytes,
/// as Go compares strings, not by Swift's Unicode-aware `<`. Both sets must be sorted by name.
/// `compareLabelSets` as if neither set held a label named `ignoring` (select's tenant label, which
/// it removes from answers): no set is copied to leave it out.
public func compareLabelSets(_ a: [Label], _ b: [Label], ignoring name: String?) -> Int {
    guard let name else { return compareLabelSets(a, b) }
    var i = 0
    var j = 0
    while true {
        while i < a.count && a[i].name == name { i += 1 }
        while j < b.count && b[j].name == name { j += 1 }
        if i == a.count || j == b.count { return i == a.count ? (j == b.count ? 0 : -1) : 1 }
        let byName = compareUTF8(a[i].name, b[j].name)
        if byName != 0 { return byName }
        let byValue = compareUTF8(a[i].value, b[j].value)
        if byValue != 0 { return byValue }
        i += 1
        j += 1
    }
}

public func compareLabelSets(_ a: [Label], _ b: [Label]) -> Int {
    // By index rather than `zip`, which copies each label (retaining both strings) per step.
    let common = min(a.count, b.count)
    var index = 0
    while index < common {
        let byName = compareUTF8(a[index].name, b[index].name)
        if byName != 0 { return byName }
        let byValue = compareUTF8(a[index].value, b[index].value)
        if byValue != 0 { return byValue }
        index += 1
    }
    return a.count < b.count ? -1 : (a.count > b.count ? 1 : 0)
}
