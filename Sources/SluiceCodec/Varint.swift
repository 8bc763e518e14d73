/// Protobuf-style base-128 varints, used by frame headers and the zero-copy scanner.
public enum Varint {
    /// Bytes `value` takes as a uvarint.
    @inlinable
    public static func size(_ value: UInt64) -> Int {
        // 1 + floor(log128(value)), with 0 taking one byte.
        (64 - (value | 1).leadingZeroBitCount + 6) / 7
    }

    /// Appends `value` as a uvarint.
    @inlinable
    public static func append(_ value: UInt64, to output: ByteScratch) {
        output.reserve(extra: 10)
        output.appendUnsafe { tail in
            var v = value
            var i = 0
            while v >= 0x80 {
                tail[i] = UInt8(truncatingIfNeeded: v) | 0x80
                v >>= 7
                i += 1
            }
            tail[i] = UInt8(v)
            return i + 1
        }
    }

    /// Stores `value` as a uvarint at `cursor`, which has room for `size(value)` bytes, and advances it.
    @inlinable @inline(__always)
    public static func store(_ value: UInt64, at cursor: inout UnsafeMutableRawPointer) {
        var v = value
        while v >= 0x80 {
            cursor.storeBytes(of: UInt8(truncatingIfNeeded: v) | 0x80, as: UInt8.self)
            cursor += 1
            v >>= 7
        }
        cursor.storeBytes(of: UInt8(v), as: UInt8.self)
        cursor += 1
    }

    /// Appends `value` as a uvarint to an array.
    @inlinable
    public static func append(_ value: UInt64, to output: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            output.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        output.append(UInt8(v))
    }

    /// Reads a uvarint at `offset`, advancing it. Returns nil when the input ends first.
    ///
    /// Inline on every hot path (label symbol ids, sample fields, frame lengths): a varint of up to
    /// nine bytes that the input holds whole needs no overflow check, and costs a short loop with no
    /// call. Anything else (a tenth byte, the end of the input, an error) goes to `readRest`.
    ///
    /// - Throws: `.protobufInvalid` for a varint longer than 10 bytes or overflowing 64 bits.
    @inlinable @inline(__always)
    public static func read(
        _ bytes: UnsafeRawBufferPointer,
        at offset: inout Int
    ) throws(CodecError) -> UInt64? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        var i = offset
        let end = min(bytes.count, offset + 9)
        while i < end {
            let byte = bytes[i]
            i += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 {
                offset = i
                return result
            }
            shift += 7
        }
        return try readRest(bytes, at: &offset)
    }

    /// `read` for what its inline loop leaves: a tenth byte, an input that ends inside the varint,
    /// and the errors.
    @usableFromInline
    static func readRest(
        _ bytes: UnsafeRawBufferPointer,
        at offset: inout Int
    ) throws(CodecError) -> UInt64? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        var i = offset
        while i < bytes.count {
            let byte = bytes[i]
            i += 1
            if shift == 63 && byte > 1 {
                throw CodecError(.protobufInvalid, "varint overflows 64 bits")
            }
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 {
                offset = i
                return result
            }
            shift += 7
            if shift > 63 {
                throw CodecError(.protobufInvalid, "varint longer than 10 bytes")
            }
        }
        return nil
    }
}
