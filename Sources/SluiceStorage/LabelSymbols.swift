#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import SluiceCodec
import SluiceQuery

/// The head's label sets with every label stored once, as Prometheus' and VictoriaMetrics' indexes
/// intern them: most label sets repeat a handful of names and low-cardinality values, so a series
/// keeps an 8-byte `Ref` to a few varint symbol ids instead of its own copy of the bytes.
///
/// A symbol is one whole label as `LabelSetBytes` encodes it: the `labels` field with its tag,
/// length, name and value. A label set's bytes are then its symbols' bytes back to back, so
/// `matches` confirms a series found by the hash of its `LabelSetBytes` (`SeriesTable`) with one
/// comparison per label and no parsing of the key, and a request's labels are never interned or
/// copied to be looked up. Interning names and values apart took two lookups and a walk of the
/// key's tags and lengths per label, about a sixth of `sluice up`'s time under load.
///
/// Symbols and ids are only added. A removed series' ids stay behind as garbage until `compacted`
/// rebuilds the store from the series left, once they are at most half of it.
struct LabelSymbols {
    /// Where a label set's symbol ids are in `ids`: one id per label, as varints.
    struct Ref: Sendable {
        var start: UInt32
        var count: UInt32
    }

    /// Every symbol's bytes, back to back.
    private var symbolBytes: [UInt8] = []
    /// Symbol `i` is `symbolBytes[symbolStarts[i]..<symbolStarts[i + 1]]`.
    private var symbolStarts: [Int] = [0]
    /// Symbols by the xxHash64 of their bytes: open addressing over `(low 32 hash bits) << 32 | (id + 1)`,
    /// 0 marking an empty entry, at most half full.
    private var symbolTable: [UInt64] = Array(repeating: 0, count: 64)
    /// Every label set's symbol ids, back to back.
    private var ids: [UInt8] = []
    /// Bytes of `ids` that a live series refers to.
    private var liveIDBytes = 0

    var symbolCount: Int { symbolStarts.count - 1 }

    // MARK: Adding

    /// Interns the label set `key` (`LabelSetBytes`) and returns where its ids are.
    mutating func add(_ key: UnsafeRawBufferPointer) -> Ref {
        let start = ids.count
        forEachLabel(key) { label in appendID(intern(label)) }
        precondition(ids.count <= Int(UInt32.max), "label symbol ids exceed 4 GiB")
        liveIDBytes += ids.count - start
        return Ref(start: UInt32(start), count: UInt32(ids.count - start))
    }

    /// Calls `body` with each label field of `key` (`LabelSetBytes`): 0x0A, its length, then the
    /// name's and value's fields. Bytes that do not end where a length says are one last piece, so
    /// `key(_:)` still gives back exactly what was added.
    private func forEachLabel(_ key: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Void) {
        var offset = 0
        while offset < key.count {
            let fieldStart = offset
            offset += 1
            if let length = Self.varint(key, &offset).flatMap({ Int(exactly: $0) }), length <= key.count - offset {
                offset += length
            } else {
                offset = key.count
            }
            body(UnsafeRawBufferPointer(rebasing: key[fieldStart..<offset]))
        }
    }

    /// Marks `ref`'s ids as garbage: its series is gone.
    mutating func release(_ ref: Ref) {
        liveIDBytes -= Int(ref.count)
    }

    /// Whether more than half of `ids` is garbage, and more than `floor` bytes of it.
    func wantsCompaction(floor: Int) -> Bool { ids.count - liveIDBytes > max(liveIDBytes, floor) }

    /// A store holding only `refs`' label sets, and their refs in it, in the same order.
    func compacted(keeping refs: [Ref]) -> (LabelSymbols, [Ref]) {
        var fresh = LabelSymbols()
        var moved: [Ref] = []
        moved.reserveCapacity(refs.count)
        for ref in refs {
            let start = fresh.ids.count
            forEachSymbol(ref) { symbol in fresh.appendID(fresh.intern(symbol)) }
            fresh.liveIDBytes += fresh.ids.count - start
            moved.append(Ref(start: UInt32(start), count: UInt32(fresh.ids.count - start)))
        }
        return (fresh, moved)
    }

    // MARK: Reading

    /// Whether `ref`'s label set is `key` (`LabelSetBytes`), compared without building either: each
    /// symbol's bytes against the key's next ones. Every series lookup confirms its find here.
    @inline(__always)
    func matches(_ ref: Ref, _ key: UnsafeRawBufferPointer) -> Bool {
        ids.withUnsafeBytes { ids in
            symbolBytes.withUnsafeBytes { symbols in
                symbolStarts.withUnsafeBufferPointer { starts in
                    var position = Int(ref.start)
                    let end = position &+ Int(ref.count)
                    var offset = 0
                    while position < end {
                        guard let id = Self.smallVarint(ids, &position), id &+ 1 < starts.count else { return false }
                        let start = starts[id]
                        let length = starts[id &+ 1] &- start
                        // `offset` never passes `key.count`, so the difference cannot overflow; a
                        // symbol is never empty, so a nil base (an empty key) is never reached.
                        guard length <= key.count &- offset,
                              Self.equal(key.baseAddress! + offset, symbols.baseAddress! + start, length)
                        else { return false }
                        offset &+= length
                    }
                    return offset == key.count
                }
            }
        }
    }

    /// A varint at `offset` as an `Int`, which moves past it: one byte inline, longer ones by
    /// `Varint.read`. Nil when the bytes end first, it is malformed, or it passes `Int.max`.
    @inline(__always)
    private static func smallVarint(_ bytes: UnsafeRawBufferPointer, _ offset: inout Int) -> Int? {
        if offset < bytes.count {
            let byte = bytes[offset]
            if byte < 0x80 {
                offset &+= 1
                return Int(byte)
            }
        }
        return varint(bytes, &offset).flatMap { Int(exactly: $0) }
    }

    /// Whether `count` bytes at `a` and `b` are equal, inline: a label field is a few dozen bytes,
    /// and a call to `memcmp` per label costs more than the comparison. Words of eight bytes, the
    /// last overlapping the one before; fields shorter than eight (a one-letter name and value at
    /// most) in words of four, two or one, so nothing is read outside the `count` bytes.
    @inline(__always)
    private static func equal(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ count: Int) -> Bool {
        @inline(__always) func same<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> Bool {
            a.loadUnaligned(fromByteOffset: offset, as: T.self) == b.loadUnaligned(fromByteOffset: offset, as: T.self)
        }
        if count >= 8 {
            var offset = 0
            while offset &+ 8 < count {
                if !same(UInt64.self, at: offset) { return false }
                offset &+= 8
            }
            return same(UInt64.self, at: count &- 8)
        }
        if count >= 4 { return same(UInt32.self, at: 0) && same(UInt32.self, at: count - 4) }
        if count >= 2 { return same(UInt16.self, at: 0) && same(UInt16.self, at: count - 2) }
        return count == 0 || same(UInt8.self, at: 0)
    }

    /// `ref`'s labels, each read from its symbol in place: queries ask for every series' labels.
    func labels(_ ref: Ref) -> [Label] {
        var labels: [Label] = []
        labels.reserveCapacity(Int(ref.count))
        forEachSymbol(ref) { field in
            guard let label = LabelSetBytes.label(field, at: 0) else { return }
            @inline(__always) func text(_ range: Range<Int>) -> String {
                String(decoding: UnsafeRawBufferPointer(rebasing: field[range]), as: UTF8.self)
            }
            labels.append(Label(name: text(label.name), value: text(label.value)))
        }
        return labels
    }

    /// `ref`'s label set as `LabelSetBytes`.
    func key(_ ref: Ref) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Int(ref.count) * 24)
        forEachSymbol(ref) { out.append(contentsOf: $0) }
        return out
    }

    /// Calls `body` with each of `ref`'s symbols (whole label fields) in order.
    private func forEachSymbol(_ ref: Ref, _ body: (UnsafeRawBufferPointer) -> Void) {
        ids.withUnsafeBytes { ids in
            symbolBytes.withUnsafeBytes { symbols in
                var position = Int(ref.start)
                let end = position + Int(ref.count)
                while position < end {
                    guard let id = Self.varint(ids, &position).map(Int.init) else { return }
                    body(UnsafeRawBufferPointer(rebasing: symbols[symbolStarts[id]..<symbolStarts[id + 1]]))
                }
            }
        }
    }

    // MARK: Symbols

    /// The id of `symbol`, added if new.
    private mutating func intern(_ symbol: UnsafeRawBufferPointer) -> Int {
        let hash = XXHash64.hash(symbol)
        let tag = UInt64(UInt32(truncatingIfNeeded: hash)) << 32
        var mask = symbolTable.count - 1
        var position = Int(truncatingIfNeeded: hash) & mask
        while symbolTable[position] != 0 {
            let entry = symbolTable[position]
            if entry & 0xFFFF_FFFF_0000_0000 == tag {
                let id = Int(entry & 0xFFFF_FFFF) - 1
                if isSymbol(id, symbol) { return id }
            }
            position = (position + 1) & mask
        }
        let id = symbolCount
        symbolBytes.append(contentsOf: symbol)
        symbolStarts.append(symbolBytes.count)
        if (id + 1) * 2 > symbolTable.count {
            growTable()
            mask = symbolTable.count - 1
            position = Int(truncatingIfNeeded: hash) & mask
            while symbolTable[position] != 0 { position = (position + 1) & mask }
        }
        symbolTable[position] = tag | UInt64(id + 1)
        return id
    }

    private func isSymbol(_ id: Int, _ bytes: UnsafeRawBufferPointer) -> Bool {
        let start = symbolStarts[id]
        guard symbolStarts[id + 1] - start == bytes.count else { return false }
        return bytes.isEmpty || symbolBytes.withUnsafeBytes { memcmp($0.baseAddress! + start, bytes.baseAddress!, bytes.count) == 0 }
    }

    private mutating func growTable() {
        var table = [UInt64](repeating: 0, count: symbolTable.count * 2)
        let mask = table.count - 1
        symbolBytes.withUnsafeBytes { symbols in
            for id in 0..<symbolCount {
                let symbol = UnsafeRawBufferPointer(rebasing: symbols[symbolStarts[id]..<symbolStarts[id + 1]])
                let hash = XXHash64.hash(symbol)
                var position = Int(truncatingIfNeeded: hash) & mask
                while table[position] != 0 { position = (position + 1) & mask }
                table[position] = UInt64(UInt32(truncatingIfNeeded: hash)) << 32 | UInt64(id + 1)
            }
        }
        symbolTable = table
    }

    private mutating func appendID(_ id: Int) { Varint.append(UInt64(id), to: &ids) }

    /// A varint at `offset`, which moves past it; nil when the bytes end first or it is malformed.
    @inline(__always)
    private static func varint(_ bytes: UnsafeRawBufferPointer, _ offset: inout Int) -> UInt64? {
        (try? Varint.read(bytes, at: &offset)) ?? nil
    }
}
