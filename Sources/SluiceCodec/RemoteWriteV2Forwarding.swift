// Building forwarded bodies from a scanned remote-write 2.0 request, without building messages:
// a 2.0 body per node that keeps the sender's bytes, or a 1.0 body for nodes that only speak 1.0.
//
// Labels are given as `LabelRef`s. A reference inside the scanned symbols table resolves into the
// body; one past its end resolves into `extra` (index - symbols.count), which is how insert adds its
// tenant label. A 2.0 body must then carry `extra` after the original symbols (`appendSymbols`), so
// the same references hold there.

extension WriteRequestV2Scanner {
    /// Appends the symbols table of the last scanned body, then `extra`, as `symbols` fields (4).
    public func appendSymbols(_ body: UnsafeRawBufferPointer, extra: [[UInt8]], to out: ByteScratch) {
        for field in symbolFields { out.append(UnsafeRawBufferPointer(rebasing: body[field])) }
        for symbol in extra {
            out.append(0x22)
            Varint.append(UInt64(symbol.count), to: out)
            symbol.withUnsafeBytes { out.append($0) }
        }
    }

    /// Appends `series` as a 2.0 `timeseries` field (5) whose labels are `labels`, in the order given
    /// (sorted by name). Every other field of the series is copied as sent.
    public func appendV2Series(
        _ series: borrowing Series, labels: ArraySlice<LabelRef>, body: UnsafeRawBufferPointer, to out: ByteScratch
    ) {
        let message = series.message
        if series.labelsInOrder, labels.elementsEqual(series.labels) {
            out.append(0x2A)
            Varint.append(UInt64(message.count), to: out)
            out.append(UnsafeRawBufferPointer(rebasing: body[message]))
            return
        }
        var packed = 0
        for label in labels { packed += Varint.size(UInt64(label.name)) + Varint.size(UInt64(label.value)) }
        let labelField = labels.isEmpty ? 0 : 1 + Varint.size(UInt64(packed)) + packed
        let removed = series.labelFields.reduce(0) { $0 + $1.count }
        out.append(0x2A)
        Varint.append(UInt64(labelField + message.count - removed), to: out)
        if !labels.isEmpty {
            out.append(0x0A)
            Varint.append(UInt64(packed), to: out)
            for label in labels {
                Varint.append(UInt64(label.name), to: out)
                Varint.append(UInt64(label.value), to: out)
            }
        }
        var at = message.lowerBound
        for field in series.labelFields {
            if at < field.lowerBound { out.append(UnsafeRawBufferPointer(rebasing: body[at..<field.lowerBound])) }
            at = field.upperBound
        }
        if at < message.upperBound { out.append(UnsafeRawBufferPointer(rebasing: body[at..<message.upperBound])) }
    }

    /// Appends `series` translated to a 1.0 `timeseries` field (1): labels as strings, samples without
    /// start timestamps, exemplars with their labels as strings, histograms without field 17. Metadata
    /// is per metric family in 1.0 (`appendV1Metadata`); created timestamps have no 1.0 form and are
    /// dropped. `scratch` is working space.
    public func appendV1Series(
        _ series: borrowing Series, labels: ArraySlice<LabelRef>, extra: [[UInt8]],
        body: UnsafeRawBufferPointer, scratch: ByteScratch, to out: ByteScratch
    ) throws(CodecError) {
        scratch.removeAll()
        for label in labels {
            appendV1Label(name: resolve(label.name, body, extra), value: resolve(label.value, body, extra), field: 1, to: scratch)
        }
        var reader = ProtobufReader(body, series.message)
        while let (field, wireType) = try reader.nextKey() {
            switch (field, wireType) {
            case (2, .lengthDelimited):
                let sample = try reader.readLengthDelimited()
                var value: UInt64 = 0
                var timestamp: UInt64 = 0
                var inner = ProtobufReader(body, sample)
                while let (f, w) = try inner.nextKey() {
                    switch (f, w) {
                    case (1, .fixed64):
                        try inner.advance(8)
                        value = UInt64(littleEndian: body.loadUnaligned(fromByteOffset: inner.offset - 8, as: UInt64.self))
                    case (2, .varint): timestamp = try inner.readVarint()
                    default: try inner.skip(w)
                    }
                }
                scratch.append(0x12)
                Varint.append(UInt64(1 + 8 + 1 + Varint.size(timestamp)), to: scratch)
                Self.appendFixed64(0x09, value, to: scratch)
                scratch.append(0x10)
                Varint.append(timestamp, to: scratch)
            case (3, .lengthDelimited):
                let histogram = try reader.readLengthDelimited()
                scratch.append(0x22)
                try appendWithout(field: 17, body, histogram, lengthPrefixedTo: scratch)
            case (4, .lengthDelimited):
                try appendV1Exemplar(body, try reader.readLengthDelimited(), extra: extra, to: scratch)
            default:
                try reader.skip(wireType)
            }
        }
        out.append(0x0A)
        Varint.append(UInt64(scratch.count), to: out)
        out.append(scratch.bytes)
    }

    /// Appends the 1.0 `metadata` field (3) for a 2.0 series that carries metadata, named after the
    /// series' `__name__`. Returns false when the series has none.
    @discardableResult
    public func appendV1Metadata(
        _ series: borrowing Series, body: UnsafeRawBufferPointer, scratch: ByteScratch, to out: ByteScratch
    ) throws(CodecError) -> Bool {
        var reader = ProtobufReader(body, series.message)
        var metadata: Range<Int>? = nil
        while let (field, wireType) = try reader.nextKey() {
            if field == 5, wireType == .lengthDelimited { metadata = try reader.readLengthDelimited() } else { try reader.skip(wireType) }
        }
        guard let metadata else { return false }
        var type: UInt64 = 0
        var help: UInt64 = 0
        var unit: UInt64 = 0
        var inner = ProtobufReader(body, metadata)
        while let (field, wireType) = try inner.nextKey() {
            switch (field, wireType) {
            case (1, .varint): type = try inner.readVarint()
            case (3, .varint): help = try inner.readVarint()
            case (4, .varint): unit = try inner.readVarint()
            default: try inner.skip(wireType)
            }
        }
        guard let name = series.labels.first(where: { WriteRequestScanner.isMetricNameLabel(symbol($0.name, in: body)) }) else {
            return false
        }
        scratch.removeAll()
        scratch.append(0x08)
        Varint.append(type, to: scratch)
        Self.appendBytes(0x12, symbol(name.value, in: body), to: scratch)
        if help != 0 { Self.appendBytes(0x22, symbol(UInt32(help), in: body), to: scratch) }
        if unit != 0 { Self.appendBytes(0x2A, symbol(UInt32(unit), in: body), to: scratch) }
        out.append(0x1A)
        Varint.append(UInt64(scratch.count), to: out)
        out.append(scratch.bytes)
        return true
    }

    // MARK: Helpers

    @inline(__always)
    private func resolve(_ ref: UInt32, _ body: UnsafeRawBufferPointer, _ extra: [[UInt8]]) -> [UInt8] {
        if Int(ref) < symbols.count { return Array(symbol(ref, in: body)) }
        return extra[Int(ref) - symbols.count]
    }

    private func appendV1Label(name: [UInt8], value: [UInt8], field: UInt8, to out: ByteScratch) {
        let inner = 1 + Varint.size(UInt64(name.count)) + name.count + 1 + Varint.size(UInt64(value.count)) + value.count
        out.append(field << 3 | 2)
        Varint.append(UInt64(inner), to: out)
        name.withUnsafeBytes { Self.appendBytes(0x0A, $0, to: out) }
        value.withUnsafeBytes { Self.appendBytes(0x12, $0, to: out) }
    }

    private func appendV1Exemplar(
        _ body: UnsafeRawBufferPointer, _ range: Range<Int>, extra: [[UInt8]], to out: ByteScratch
    ) throws(CodecError) {
        var refs: [UInt32] = []
        var value: UInt64 = 0
        var timestamp: UInt64 = 0
        var reader = ProtobufReader(body, range)
        while let (field, wireType) = try reader.nextKey() {
            switch (field, wireType) {
            case (1, .lengthDelimited), (1, .varint): try Self.readRefs(&reader, wireType, into: &refs)
            case (2, .fixed64):
                try reader.advance(8)
                value = UInt64(littleEndian: body.loadUnaligned(fromByteOffset: reader.offset - 8, as: UInt64.self))
            case (3, .varint): timestamp = try reader.readVarint()
            default: try reader.skip(wireType)
            }
        }
        let exemplar = ByteScratch(capacity: 256)
        var i = 0
        while i + 1 < refs.count {
            appendV1Label(name: resolve(refs[i], body, extra), value: resolve(refs[i + 1], body, extra), field: 1, to: exemplar)
            i += 2
        }
        Self.appendFixed64(0x11, value, to: exemplar)
        exemplar.append(0x18)
        Varint.append(timestamp, to: exemplar)
        out.append(0x1A)
        Varint.append(UInt64(exemplar.count), to: out)
        out.append(exemplar.bytes)
    }

    /// Appends the fields of `range` except `field`, length-prefixed (the caller wrote the tag).
    private func appendWithout(
        field skipped: UInt64, _ body: UnsafeRawBufferPointer, _ range: Range<Int>, lengthPrefixedTo out: ByteScratch
    ) throws(CodecError) {
        var kept: [Range<Int>] = []
        var length = 0
        var reader = ProtobufReader(body, range)
        var fieldStart = reader.offset
        while let (field, wireType) = try reader.nextKey() {
            try reader.skip(wireType)
            if field != skipped {
                kept.append(fieldStart..<reader.offset)
                length += reader.offset - fieldStart
            }
            fieldStart = reader.offset
        }
        Varint.append(UInt64(length), to: out)
        for part in kept { out.append(UnsafeRawBufferPointer(rebasing: body[part])) }
    }

    private static func appendBytes(_ tag: UInt8, _ bytes: UnsafeRawBufferPointer, to out: ByteScratch) {
        out.append(tag)
        Varint.append(UInt64(bytes.count), to: out)
        out.append(bytes)
    }

    private static func appendFixed64(_ tag: UInt8, _ value: UInt64, to out: ByteScratch) {
        out.append(tag)
        withUnsafeBytes(of: value.littleEndian) { out.append($0) }
    }
}
