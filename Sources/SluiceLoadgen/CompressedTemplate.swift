/// A snappy block built once for a request template, in which every byte that changes per tick (a
/// sample's value and timestamp) sits in a literal and is never the source of a copy. Rendering a
/// request is then a `memcpy` and 14 stores per series, with no compression at all: libsnappy took
/// two thirds of the generator's time before.
///
/// The encoder is a plain greedy LZ77 with a hash of 4-byte sequences, as snappy's own is; label sets
/// of neighbouring series share most of their bytes, so copies find them. It emits the block format
/// every snappy decoder reads (RFC-less but stable: github.com/google/snappy/format_description.txt):
/// a varint length, then literals and copies with 2- or 4-byte offsets.
struct CompressedTemplate: Sendable {
    private(set) var bytes: [UInt8] = []
    /// Per patch region, where its first byte landed in `bytes`.
    private(set) var regionOffsets: [Int] = []

    /// - Parameters:
    ///   - input: the uncompressed message.
    ///   - regions: start offsets of the patchable regions, ascending.
    ///   - regionLength: the length of each region.
    init(_ input: [UInt8], regions: [Int], regionLength: Int) {
        var patched = [Bool](repeating: false, count: input.count)
        for start in regions {
            for offset in start..<(start + regionLength) { patched[offset] = true }
        }
        var out: [UInt8] = []
        out.reserveCapacity(input.count / 3 + 64)
        appendVarint(input.count, to: &out)
        var offsets: [Int] = []
        offsets.reserveCapacity(regions.count)
        var nextRegion = 0

        input.withUnsafeBytes { raw in
            func load32(_ at: Int) -> UInt32 { raw.loadUnaligned(fromByteOffset: at, as: UInt32.self) }
            func emitLiteral(_ range: Range<Int>) {
                guard !range.isEmpty else { return }
                let length = range.count - 1
                if length < 60 {
                    out.append(UInt8(length << 2))
                } else {
                    var bytesNeeded = 1
                    while length >> (8 * bytesNeeded) != 0 { bytesNeeded += 1 }
                    out.append(UInt8((59 + bytesNeeded) << 2))
                    for index in 0..<bytesNeeded { out.append(UInt8(truncatingIfNeeded: length >> (8 * index))) }
                }
                let dataStart = out.count
                out.append(contentsOf: raw[range])
                while nextRegion < regions.count, regions[nextRegion] < range.upperBound {
                    offsets.append(dataStart + regions[nextRegion] - range.lowerBound)
                    nextRegion += 1
                }
            }
            func emitCopy(offset: Int, length: Int) {
                var remaining = length
                while remaining > 0 {
                    let chunk = min(remaining, 64)
                    if offset < 65_536 {
                        out.append(UInt8((chunk - 1) << 2 | 2))
                        out.append(UInt8(truncatingIfNeeded: offset))
                        out.append(UInt8(truncatingIfNeeded: offset >> 8))
                    } else {
                        out.append(UInt8((chunk - 1) << 2 | 3))
                        for index in 0..<4 { out.append(UInt8(truncatingIfNeeded: offset >> (8 * index))) }
                    }
                    remaining -= chunk
                }
            }

            let tableBits = 14
            var table = [Int](repeating: -1, count: 1 << tableBits)
            var position = 0
            var literalStart = 0
            while position + 4 <= input.count {
                guard !patched[position], !patched[position + 1], !patched[position + 2], !patched[position + 3] else {
                    position += 1
                    continue
                }
                let word = load32(position)
                let slot = Int((word &* 0x1E35_A7BD) >> (32 - UInt32(tableBits)))
                let candidate = table[slot]
                table[slot] = position
                guard candidate >= 0, load32(candidate) == word else {
                    position += 1
                    continue
                }
                // Only unpatched positions enter the table, so the candidate's first 4 bytes are fixed.
                var length = 4
                while position + length < input.count, !patched[position + length], !patched[candidate + length],
                    raw[candidate + length] == raw[position + length]
                {
                    length += 1
                }
                emitLiteral(literalStart..<position)
                emitCopy(offset: position - candidate, length: length)
                position += length
                literalStart = position
            }
            emitLiteral(literalStart..<input.count)
        }
        precondition(offsets.count == regions.count, "a patch region fell outside every literal")
        self.bytes = out
        self.regionOffsets = offsets
    }
}
