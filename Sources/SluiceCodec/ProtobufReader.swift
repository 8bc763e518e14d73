/// A cursor over protobuf wire format that trusts no length prefix.
struct ProtobufReader {
    enum WireType: UInt8 {
        case varint = 0, fixed64 = 1, lengthDelimited = 2, startGroup = 3, endGroup = 4, fixed32 = 5
    }

    let bytes: UnsafeRawBufferPointer
    var offset: Int
    let end: Int

    init(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>? = nil) {
        self.bytes = bytes
        self.offset = range?.lowerBound ?? 0
        self.end = range?.upperBound ?? bytes.count
    }

    /// The next field number and wire type, or nil at the end of the message.
    @inline(__always)
    mutating func nextKey() throws(CodecError) -> (UInt64, WireType)? {
        guard offset < end else { return nil }
        let start = offset
        let key = try readVarint()
        // Field numbers run from 1 to 2^29 - 1, and libprotobuf-c reads a key in at most 5 bytes
        // (a padded, longer encoding of a small key included): it rejects anything else.
        guard let wireType = WireType(rawValue: UInt8(key & 7)), key >> 3 != 0, key >> 3 <= 0x1FFF_FFFF, offset - start <= 5 else {
            throw CodecError(.protobufInvalid, "invalid field key \(key)")
        }
        return (key >> 3, wireType)
    }

    @inline(__always)
    mutating func readVarint() throws(CodecError) -> UInt64 {
        // Fast path: one byte.
        if offset < end, bytes[offset] < 0x80 {
            defer { offset += 1 }
            return UInt64(bytes[offset])
        }
        let window = UnsafeRawBufferPointer(rebasing: bytes[..<end])
        guard let value = try Varint.read(window, at: &offset) else {
            throw CodecError(.protobufInvalid, "message ends inside a varint")
        }
        return value
    }

    @inline(__always)
    mutating func readLengthDelimited() throws(CodecError) -> Range<Int> {
        let prefixStart = offset
        let length = try readVarint()
        // libprotobuf-c reads a length prefix in at most 5 bytes, as it does a key.
        guard offset - prefixStart <= 5 else { throw CodecError(.protobufInvalid, "length prefix longer than 5 bytes") }
        guard length <= UInt64(end - offset) else {
            throw CodecError(.protobufInvalid, "length \(length) runs past the end of the message")
        }
        let start = offset
        offset += Int(length)
        return start..<offset
    }

    mutating func skip(_ wireType: WireType) throws(CodecError) {
        switch wireType {
        case .varint: _ = try readVarint()
        case .fixed64: try advance(8)
        case .fixed32: try advance(4)
        case .lengthDelimited: _ = try readLengthDelimited()
        case .startGroup, .endGroup: throw CodecError(.protobufInvalid, "groups are not allowed in proto3")
        }
    }

    @inline(__always)
    mutating func advance(_ n: Int) throws(CodecError) {
        guard end - offset >= n else { throw CodecError(.protobufInvalid, "message ends inside a fixed-width field") }
        offset += n
    }

    /// A `Sample`: value (double, field 1) and timestamp (int64, field 2), checked as libprotobuf-c would.
    @inline(__always)
    static func validateSample(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) throws(CodecError) {
        // The usual shape: the value (key 0x09 and 8 bytes, left out when it is 0), then the
        // timestamp (key 0x10 and a varint) ending the message. Anything else takes the general walk.
        // `range` lies inside `bytes`, so offsets plus a few bytes cannot overflow.
        var offset = range.lowerBound
        if range.upperBound &- offset >= 11, bytes[offset] == 0x09 { offset &+= 9 }
        if offset < range.upperBound, bytes[offset] == 0x10 {
            // A varint of 1 to 9 bytes that ends the message: every byte but the last has its top bit
            // set. Nine bytes hold 63 bits, so none can overflow; anything else takes the walk below.
            let last = range.upperBound &- 1
            if last > offset, last &- offset <= 9, bytes[last] < 0x80 {
                var i = offset &+ 1
                while i < last, bytes[i] >= 0x80 { i &+= 1 }
                if i == last { return }
            }
        }
        try validateUnusualSample(bytes, range)
    }

    /// A sample in any other shape: the general walk, kept out of line so the usual shape inlines.
    @inline(never)
    static func validateUnusualSample(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) throws(CodecError) {
        var reader = ProtobufReader(bytes, range)
        while let (field, wireType) = try reader.nextKey() {
            switch (field, wireType) {
            case (1, .fixed64), (2, .varint): try reader.skip(wireType)
            case (1...2, _): throw CodecError(.protobufInvalid, "Sample field \(field) has the wrong wire type")
            default: try reader.skip(wireType)
            }
        }
    }

    /// Checks that `range` parses as a message one level deep: every key valid, every length inside.
    static func validateMessage(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) throws(CodecError) {
        var reader = ProtobufReader(bytes, range)
        while let (_, wireType) = try reader.nextKey() {
            try reader.skip(wireType)
        }
    }
}

extension WriteRequestScanner {
    /// Appends the float samples of a series `scan` validated to `out`, in order, read straight from
    /// its bytes: the write path of a storage node builds no message.
    ///
    /// A field repeated inside one `Sample` takes its last value, and a missing one is 0, as
    /// libprotobuf-c decodes them.
    ///
    /// - Precondition: `message` is a `Series.message` that `scan` handed out for `body`; anything
    ///   else may throw `.protobufInvalid`.
    public static func appendSamples(
        of message: Range<Int>, in body: UnsafeRawBufferPointer, to out: inout [Sample]
    ) throws(CodecError) {
        var reader = ProtobufReader(body, message)
        while let (field, wireType) = try reader.nextKey() {
            guard field == 2, wireType == .lengthDelimited else {
                try reader.skip(wireType)
                continue
            }
            let sample = try reader.readLengthDelimited()
            var offset = sample.lowerBound
            // The usual shape, as in `validateSample`: the value's 8 bytes (absent when 0), then the
            // timestamp's varint ending the message.
            var bits: UInt64 = 0
            if sample.count >= 11, body[offset] == 0x09 {
                bits = UInt64(littleEndian: body.loadUnaligned(fromByteOffset: offset + 1, as: UInt64.self))
                offset += 9
            }
            if offset < sample.upperBound, body[offset] == 0x10 {
                offset += 1
                let window = UnsafeRawBufferPointer(rebasing: body[..<sample.upperBound])
                if let timestamp = try Varint.read(window, at: &offset), offset == sample.upperBound {
                    out.append(Sample(timestamp: Int64(bitPattern: timestamp), value: Double(bitPattern: bits)))
                    continue
                }
            }
            out.append(try Self.decodeSample(body, sample))
        }
    }

    /// Any other shape of `Sample`: field by field, the last of each kept.
    private static func decodeSample(_ body: UnsafeRawBufferPointer, _ range: Range<Int>) throws(CodecError) -> Sample {
        var reader = ProtobufReader(body, range)
        var bits: UInt64 = 0
        var timestamp: UInt64 = 0
        while let (field, wireType) = try reader.nextKey() {
            switch (field, wireType) {
            case (1, .fixed64):
                try reader.advance(8)
                bits = UInt64(littleEndian: body.loadUnaligned(fromByteOffset: reader.offset - 8, as: UInt64.self))
            case (2, .varint):
                timestamp = try reader.readVarint()
            default:
                try reader.skip(wireType)
            }
        }
        return Sample(timestamp: Int64(bitPattern: timestamp), value: Double(bitPattern: bits))
    }
}

extension UnsafeRawBufferPointer {
    /// The bytes at `range`, which must lie inside this buffer, as a scanner's ranges do: no bounds or
    /// overflow checks, which a per-label loop would pay for every name and value.
    @inlinable @inline(__always)
    public func uncheckedSlice(_ range: Range<Int>) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: baseAddress.map { $0 + range.lowerBound }, count: range.upperBound &- range.lowerBound)
    }

    /// Copies these bytes to `target`, where 32 bytes may be written whatever their count, and returns
    /// the end of the copy. Up to 32 bytes with 32 readable bytes from their start (before
    /// `readableEnd`, the end of the memory they lie in) go as two 16-byte loads and stores, with no
    /// call and no branch on the count; the rest through memmove. Label names and values, and most
    /// pieces of a spliced series, are that short, and a call to memmove cost more than their copy.
    @inlinable @inline(__always)
    public func copyShort(to target: UnsafeMutableRawPointer, readableEnd: UnsafeRawPointer?) -> UnsafeMutableRawPointer {
        guard let source = baseAddress else { return target }
        if count <= 32, let readableEnd, source + 32 <= readableEnd {
            target.storeBytes(of: source.loadUnaligned(as: SIMD16<UInt8>.self), as: SIMD16<UInt8>.self)
            target.storeBytes(of: source.loadUnaligned(fromByteOffset: 16, as: SIMD16<UInt8>.self), toByteOffset: 16, as: SIMD16<UInt8>.self)
        } else {
            target.copyMemory(from: source, byteCount: count)
        }
        return target + count
    }
}
