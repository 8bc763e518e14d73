#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import SluiceCodec
import SluiceQuery

/// The head's label sets with every name and value stored once, as Prometheus' and VictoriaMetrics'
/// indexes intern them: most label sets repeat a handful of names and low-cardinality values, so a
/// series keeps an 8-byte `Ref` to a few varint symbol ids instead of its own copy of the bytes.
///
/// A series is still found by the hash of its `LabelSetBytes` (`SeriesTable`); `matches` confirms
/// the find by comparing those bytes with the symbols, name by name and value by value, so a
/// request's labels are never interned or copied to be looked up.
///
/// Symbols and ids are only added. A removed series' ids stay behind as garbage until `compacted`
/// rebuilds the store from the series left, once they are at most half of it.
struct LabelSymbols {
    /// Where a label set's symbol ids are in `ids`: a name id and a value id per label, as varints.
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
        var offset = 0
        while offset < key.count {
            // 0x0A inner-length, 0x0A name-length name, 0x12 value-length value.
            offset += 1
            _ = Self.varint(key, &offset)
            for _ in 0..<2 {
                offset += 1
                let length = Int(Self.varint(key, &offset) ?? 0)
                appendID(intern(UnsafeRawBufferPointer(rebasing: key[offset..<offset + length])))
                offset += length
            }
        }
        precondition(ids.count <= Int(UInt32.max), "label symbol ids exceed 4 GiB")
        liveIDBytes += ids.count - start
        return Ref(start: UInt32(start), count: UInt32(ids.count - start))
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

    /// Whether `ref`'s label set is `key` (`LabelSetBytes`), compared without building either.
    ///
    /// Every series lookup confirms its find here, so the usual shapes take short paths: lengths
    /// and ids below 128 are one-byte varints, and a symbol is compared in at most two loads a side
    /// when shorter than 16 bytes (`equal`).
    @inline(__always)
    func matches(_ ref: Ref, _ key: UnsafeRawBufferPointer) -> Bool {
        ids.withUnsafeBytes { ids in
            symbolBytes.withUnsafeBytes { symbols in
                symbolStarts.withUnsafeBufferPointer { starts in
                    var position = Int(ref.start)
                    let end = position + Int(ref.count)
                    var offset = 0
                    while position < end {
                        // Each label: 0x0A and the pair's length, then the name's field (1, 0x0A)
                        // and the value's (2, 0x12).
                        guard offset < key.count, key[offset] == 0x0A else { return false }
                        offset += 1
                        guard Self.smallVarint(key, &offset) != nil,
                              Self.symbolMatches(tag: 0x0A, key, &offset, ids, &position, starts, symbols),
                              Self.symbolMatches(tag: 0x12, key, &offset, ids, &position, starts, symbols)
                        else { return false }
                    }
                    return offset == key.count
                }
            }
        }
    }

    /// Whether the key's field with `tag` at `offset` holds the symbol whose id is at `position`
    /// in `ids`; both move past what they compared. Everything it changes is a parameter, not a
    /// captured variable: a captured one is checked for exclusive access at run time on every call.
    @inline(__always)
    private static func symbolMatches(
        tag: UInt8, _ key: UnsafeRawBufferPointer, _ offset: inout Int, _ ids: UnsafeRawBufferPointer, _ position: inout Int,
        _ starts: UnsafeBufferPointer<Int>, _ symbols: UnsafeRawBufferPointer
    ) -> Bool {
        // The tag and at least one byte of length.
        guard offset + 1 < key.count, key[offset] == tag else { return false }
        offset += 1
        guard let length = smallVarint(key, &offset), let id = smallVarint(ids, &position), id + 1 < starts.count else { return false }
        let symbolStart = starts[id]
        guard starts[id + 1] - symbolStart == length, offset + length <= key.count else { return false }
        guard equal(key.baseAddress! + offset, symbols.baseAddress! + symbolStart, length) else { return false }
        offset += length
        return true
    }

    /// A varint at `offset` as an `Int`, which moves past it: one byte inline, longer ones by
    /// `Varint.read`. Nil when the bytes end first, it is malformed, or it passes `Int.max`.
    @inline(__always)
    private static func smallVarint(_ bytes: UnsafeRawBufferPointer, _ offset: inout Int) -> Int? {
        if offset < bytes.count {
            let byte = bytes[offset]
            if byte < 0x80 {
                offset += 1
                return Int(byte)
            }
        }
        return varint(bytes, &offset).flatMap { Int(exactly: $0) }
    }

    /// Whether `count` bytes at `a` and `b` are equal, inline: most symbols are a few bytes long,
    /// and a call to `memcmp` per symbol costs more than the comparison. Words of eight, four, two
    /// or one byte, the last overlapping the one before, so nothing is read outside the `count` bytes.
    @inline(__always)
    private static func equal(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ count: Int) -> Bool {
        @inline(__always) func same<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> Bool {
            a.loadUnaligned(fromByteOffset: offset, as: T.self) == b.loadUnaligned(fromByteOffset: offset, as: T.self)
        }
        if count >= 8 {
            var offset = 0
            while offset + 8 < count {
                if !same(UInt64.self, at: offset) { return false }
                offset += 8
            }
            return same(UInt64.self, at: count - 8)
        }
        if count >= 4 { return same(UInt32.self, at: 0) && same(UInt32.self, at: count - 4) }
        if count >= 2 { return same(UInt16.self, at: 0) && same(UInt16.self, at: count - 2) }
        return count == 0 || same(UInt8.self, at: 0)
    }

    /// `ref`'s labels.
    func labels(_ ref: Ref) -> [Label] {
        var labels: [Label] = []
        var name = ""
        var isName = true
        forEachSymbol(ref) { symbol in
            let text = String(decoding: symbol, as: UTF8.self)
            if isName {
                name = text
            } else {
                labels.append(Label(name: name, value: text))
            }
            isName.toggle()
        }
        return labels
    }

    /// `ref`'s label set as `LabelSetBytes`.
    func key(_ ref: Ref) -> [UInt8] {
        let out = ByteScratch(capacity: Int(ref.count) * 16)
        var name: UnsafeRawBufferPointer?
        forEachSymbol(ref) { symbol in
            if let pending = name {
                LabelSetBytes.append(name: pending, value: symbol, to: out)
                name = nil
            } else {
                name = symbol
            }
        }
        return out.toArray()
    }

    /// Calls `body` with each of `ref`'s symbols in order: name, value, name, value, …
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
