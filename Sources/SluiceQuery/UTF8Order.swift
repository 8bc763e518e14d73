// Byte-wise string comparison.
//
// Swift's `==`, `<`, `hasPrefix` and `Hashable` on `String` follow Unicode canonical equivalence:
// "é" written as one scalar equals "e" followed by a combining acute accent. Prometheus compares label
// values as Go strings, byte by byte, so two such values are different series there and must be here
// too. Everything in this module that compares label names or values goes through these helpers.

extension String {
    /// True when both strings have exactly the same UTF-8 bytes.
    func utf8Equals(_ other: String) -> Bool {
        utf8.count == other.utf8.count && utf8.elementsEqual(other.utf8)
    }

    /// True when this string's UTF-8 bytes begin with `prefix`'s.
    func utf8HasPrefix(_ prefix: String) -> Bool {
        utf8.count >= prefix.utf8.count && utf8.starts(with: prefix.utf8)
    }
}

/// Negative, zero or positive as `a` sorts before, with or after `b` by UTF-8 bytes, Go's string order.
func compareUTF8(_ a: String, _ b: String) -> Int {
    // Native strings (every label the codec decodes) hold their UTF-8 in one piece: compare the
    // bytes in place. The select tier's merge compares label sets many times per series.
    let direct = a.utf8.withContiguousStorageIfAvailable { left in
        b.utf8.withContiguousStorageIfAvailable { right -> Int in
            let common = min(left.count, right.count)
            var index = 0
            while index < common {
                let x = left[index]
                let y = right[index]
                if x != y { return x < y ? -1 : 1 }
                index &+= 1
            }
            return left.count < right.count ? -1 : (left.count > right.count ? 1 : 0)
        }
    }
    if let direct, let result = direct { return result }
    var left = a.utf8.makeIterator()
    var right = b.utf8.makeIterator()
    while true {
        switch (left.next(), right.next()) {
        case (nil, nil): return 0
        case (nil, _): return -1
        case (_, nil): return 1
        case let (x?, y?) where x != y: return x < y ? -1 : 1
        default: continue
        }
    }
}

/// A string hashed and compared by its UTF-8 bytes, for sets of label values.
struct UTF8Key: Hashable, Sendable {
    let string: String

    init(_ string: String) {
        var string = string
        // Native Swift strings already are; this makes `hash(into:)` never need a copy.
        string.makeContiguousUTF8()
        self.string = string
    }

    static func == (lhs: UTF8Key, rhs: UTF8Key) -> Bool { lhs.string.utf8Equals(rhs.string) }

    func hash(into hasher: inout Hasher) {
        let hashed: Void? = string.utf8.withContiguousStorageIfAvailable { bytes in
            hasher.combine(bytes: UnsafeRawBufferPointer(bytes))
        }
        if hashed == nil {
            // Unreachable after makeContiguousUTF8(), kept so the hash never silently differs.
            let bytes = Array(string.utf8)
            bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
        }
    }
}
