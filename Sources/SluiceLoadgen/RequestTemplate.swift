import SluiceCodec

/// One request's protobuf `WriteRequest`, encoded and snappy-compressed once with its label bytes in
/// place, so that each tick only copies the block and patches 8 value bytes and 6 timestamp bytes
/// per series (`CompressedTemplate` keeps those bytes in literals).
///
/// Every series is encoded as
///
///     0x0a len TimeSeries{ labels… 0x12 0x10 Sample{ 0x09 value(8 bytes LE) 0x10 timestamp(6-byte varint) } }
///
/// The timestamp varint is always 6 bytes because every millisecond timestamp from 1971 to 2109
/// (2^35 ≤ t < 2^42) takes exactly 6; `LoadgenConfiguration` refuses runs outside that. Fixed widths
/// keep every length prefix valid whatever the values are.
public struct RequestTemplate: Sendable {
    public static let timestampRange: Range<Int64> = (1 << 35)..<(1 << 42)

    /// The slots this request carries, in order.
    public let slots: Range<Int>
    /// The generation each slot had when the labels were encoded.
    public private(set) var generations: [Int]
    private var bytes: [UInt8]
    /// Per slot: where its 8 value bytes start; the timestamp follows 1 byte later.
    private var valueOffsets: [Int]
    /// The same request as a snappy block whose value and timestamp bytes are literals.
    private var compressed: CompressedTemplate

    public init(shape: SeriesShape, slots: Range<Int>, tick: Int) {
        self.slots = slots
        self.generations = slots.map { shape.generation(slot: $0, tick: tick) }
        self.bytes = []
        self.valueOffsets = []
        self.compressed = CompressedTemplate([], regions: [], regionLength: 0)
        encode(shape: shape)
    }

    /// Re-encodes the labels if a slot was replaced since the template was built.
    public mutating func refresh(shape: SeriesShape, tick: Int) {
        guard shape.churnPerTick > 0 else { return }
        var changed = false
        for (index, slot) in slots.enumerated() {
            let generation = shape.generation(slot: slot, tick: tick)
            if generation != generations[index] {
                generations[index] = generation
                changed = true
            }
        }
        if changed { encode(shape: shape) }
    }

    private mutating func encode(shape: SeriesShape) {
        bytes.removeAll(keepingCapacity: true)
        valueOffsets.removeAll(keepingCapacity: true)
        var labelBytes: [UInt8] = []
        for (index, slot) in slots.enumerated() {
            labelBytes.removeAll(keepingCapacity: true)
            for label in shape.labels(slot: slot, generation: generations[index]) {
                let name = Array(label.name.utf8)
                let value = Array(label.value.utf8)
                let inner = 1 + varintSize(name.count) + name.count + 1 + varintSize(value.count) + value.count
                labelBytes.append(0x0A)
                appendVarint(inner, to: &labelBytes)
                labelBytes.append(0x0A)
                appendVarint(name.count, to: &labelBytes)
                labelBytes += name
                labelBytes.append(0x12)
                appendVarint(value.count, to: &labelBytes)
                labelBytes += value
            }
            let sample: [UInt8] = [0x12, 16, 0x09, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]
            bytes.append(0x0A)
            appendVarint(labelBytes.count + sample.count, to: &bytes)
            bytes += labelBytes
            valueOffsets.append(bytes.count + 3)
            bytes += sample
        }
        compressed = CompressedTemplate(bytes, regions: valueOffsets, regionLength: 15)
    }

    public var sampleCount: Int { slots.count }
    public var encodedSize: Int { bytes.count }

    /// Bytes `render` writes: the pre-compressed block.
    public var compressedSize: Int { compressed.bytes.count }

    /// Writes tick's request, snappy-compressed, into `output`, which must hold `compressedSize`
    /// bytes, and returns the size. The block is copied as built and each series' value and
    /// timestamp are patched into its literals; the uncompressed template is patched alike, for tests.
    public mutating func render(shape: SeriesShape, tick: Int, into output: UnsafeMutableRawBufferPointer) -> Int {
        precondition(output.count >= compressed.bytes.count, "render output too small")
        let first = slots.lowerBound
        compressed.bytes.withUnsafeBytes { output.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        let regionOffsets = compressed.regionOffsets
        bytes.withUnsafeMutableBytes { raw in
            for (index, offset) in valueOffsets.enumerated() {
                let slot = first + index
                let value = shape.value(slot: slot, tick: tick).bitPattern.littleEndian
                let timestamp = UInt64(shape.sampleTimestamp(slot: slot, tick: tick))
                raw.storeBytes(of: value, toByteOffset: offset, as: UInt64.self)
                Self.storeTimestamp(timestamp, at: offset + 9, in: raw)
                let target = regionOffsets[index]
                output.storeBytes(of: value, toByteOffset: target, as: UInt64.self)
                Self.storeTimestamp(timestamp, at: target + 9, in: output)
            }
        }
        return compressed.bytes.count
    }

    /// The uncompressed request as `render` last left it: for tests.
    public var encoded: [UInt8] { bytes }

    @inline(__always)
    private static func storeTimestamp(_ value: UInt64, at offset: Int, in raw: UnsafeMutableRawBufferPointer) {
        precondition(value >> 42 == 0 && value >> 35 != 0, "timestamp outside the 6-byte varint range")
        raw[offset] = UInt8(truncatingIfNeeded: value) | 0x80
        raw[offset + 1] = UInt8(truncatingIfNeeded: value >> 7) | 0x80
        raw[offset + 2] = UInt8(truncatingIfNeeded: value >> 14) | 0x80
        raw[offset + 3] = UInt8(truncatingIfNeeded: value >> 21) | 0x80
        raw[offset + 4] = UInt8(truncatingIfNeeded: value >> 28) | 0x80
        raw[offset + 5] = UInt8(truncatingIfNeeded: value >> 35)
    }
}

private func varintSize(_ value: Int) -> Int { Varint.size(UInt64(value)) }

func appendVarint(_ value: Int, to bytes: inout [UInt8]) {
    var value = UInt64(value)
    while value >= 0x80 {
        bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
        value >>= 7
    }
    bytes.append(UInt8(value))
}
