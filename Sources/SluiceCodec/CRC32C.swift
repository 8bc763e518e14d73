/// CRC-32C (Castagnoli): reflected polynomial 0x82F63B78, initial value and final XOR 0xFFFFFFFF.
///
/// This is the checksum Prometheus puts after every TSDB chunk and WAL record (Go's
/// `crc32.MakeTable(crc32.Castagnoli)`), so our frames can be checked by, and check, theirs. It is
/// table-driven slicing-by-8: eight bytes per step through eight 256-entry tables, several times faster
/// than a byte at a time and with no C dependency. The tables are built once, on first use.
public enum CRC32C {
    /// The checksum of `bytes`.
    @inlinable
    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        update(0, bytes)
    }

    /// The checksum of `bytes`.
    @inlinable
    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { update(0, $0) }
    }

    /// The checksum of `bytes`.
    @inlinable
    public static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        bytes.withUnsafeBytes { update(0, $0) }
    }

    /// Extends `crc`, the checksum of some earlier bytes, over `bytes`; like Go's `crc32.Update`.
    ///
    /// `update(checksum(a), b) == checksum(a + b)`, so a frame can be checksummed as it streams in.
    public static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return crc }
        return tables.withUnsafeBufferPointer { table in
            var state = ~crc
            var pointer = base
            var remaining = bytes.count
            while remaining >= 8 {
                let word = UInt64(littleEndian: pointer.loadUnaligned(as: UInt64.self))
                let low = UInt32(truncatingIfNeeded: word) ^ state
                let high = UInt32(truncatingIfNeeded: word &>> 32)
                state = table[7 &* 256 &+ Int(low & 0xFF)]
                    ^ table[6 &* 256 &+ Int((low &>> 8) & 0xFF)]
                    ^ table[5 &* 256 &+ Int((low &>> 16) & 0xFF)]
                    ^ table[4 &* 256 &+ Int(low &>> 24)]
                    ^ table[3 &* 256 &+ Int(high & 0xFF)]
                    ^ table[2 &* 256 &+ Int((high &>> 8) & 0xFF)]
                    ^ table[1 &* 256 &+ Int((high &>> 16) & 0xFF)]
                    ^ table[Int(high &>> 24)]
                pointer += 8
                remaining &-= 8
            }
            while remaining > 0 {
                let byte = pointer.load(as: UInt8.self)
                state = table[Int((state ^ UInt32(byte)) & 0xFF)] ^ (state &>> 8)
                pointer += 1
                remaining &-= 1
            }
            return ~state
        }
    }

    /// Extends `crc` over `bytes`.
    @inlinable
    public static func update(_ crc: UInt32, _ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { update(crc, $0) }
    }

    /// Checks `bytes` against the checksum stored beside them.
    ///
    /// - Throws: `.checksumMismatch` when they differ.
    public static func verify(_ bytes: UnsafeRawBufferPointer, expected: UInt32) throws(CodecError) {
        guard checksum(bytes) == expected else {
            throw CodecError(.checksumMismatch, "CRC32C mismatch")
        }
    }

    /// Checks `bytes` against the checksum stored beside them.
    ///
    /// - Throws: `.checksumMismatch` when they differ.
    public static func verify(_ bytes: [UInt8], expected: UInt32) throws(CodecError) {
        guard checksum(bytes) == expected else {
            throw CodecError(.checksumMismatch, "CRC32C mismatch")
        }
    }

    /// Table `k` (entries `k*256 ..< (k+1)*256`) gives the CRC of a byte followed by `k` zero bytes, so
    /// eight bytes can be folded in with eight independent lookups.
    static let tables: [UInt32] = {
        var tables = [UInt32](repeating: 0, count: 8 * 256)
        for index in 0..<256 {
            var crc = UInt32(index)
            for _ in 0..<8 {
                crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1
            }
            tables[index] = crc
        }
        for k in 1..<8 {
            for index in 0..<256 {
                let previous = tables[(k - 1) * 256 + index]
                tables[k * 256 + index] = (previous >> 8) ^ tables[Int(previous & 0xFF)]
            }
        }
        return tables
    }()
}
