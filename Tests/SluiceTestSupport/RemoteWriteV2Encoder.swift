import SluiceCodec

/// Encodes the model as a remote-write 2.0 request (`io.prometheus.write.v2.Request`): every string
/// interned once in the symbols table, `symbols[0] == ""`, labels in the order given.
///
/// For tests: an encoder written apart from the code under test, to check it against. Loadgen builds
/// its 2.0 bodies as templates (`RequestTemplate`), and insert forwards the sender's bytes
/// (`WriteRequestV2Scanner`). Metadata given per metric family in `WriteRequest.metadata` is
/// attached to every series of that `__name__`.
public struct RemoteWriteV2Encoder {
    private var symbols: [String] = [""]
    private var index: [String: UInt32] = ["": 0]

    public init() {}

    /// The encoded request. `startTimestamp`, when given, is written as each sample's and histogram's
    /// `start_timestamp` (2.0-rc.4).
    public static func encode(_ request: WriteRequest, startTimestamp: ((TimeSeries) -> Int64)? = nil) -> [UInt8] {
        var encoder = RemoteWriteV2Encoder()
        let metadata = Dictionary(request.metadata.map { ($0.metricFamilyName, $0) }, uniquingKeysWith: { first, _ in first })
        let series = ByteScratch(capacity: 4096)
        let message = ByteScratch(capacity: 1024)
        let nested = ByteScratch(capacity: 256)
        for ts in request.timeseries {
            message.removeAll()
            let refs = ts.labels.flatMap { [encoder.intern($0.name), encoder.intern($0.value)] }
            Self.appendPacked(1, refs.map(UInt64.init), to: message)
            let start = startTimestamp?(ts) ?? 0
            for sample in ts.samples {
                nested.removeAll()
                Self.appendFixed64(1, sample.value.bitPattern, to: nested)
                Self.appendVarint(2, UInt64(bitPattern: sample.timestamp), to: nested)
                if start != 0 { Self.appendVarint(3, UInt64(bitPattern: start), to: nested) }
                Self.appendMessage(2, nested, to: message)
            }
            for histogram in ts.histograms {
                nested.removeAll()
                Self.appendHistogram(histogram, startTimestamp: start, to: nested)
                Self.appendMessage(3, nested, to: message)
            }
            for exemplar in ts.exemplars {
                nested.removeAll()
                let refs = exemplar.labels.flatMap { [encoder.intern($0.name), encoder.intern($0.value)] }
                Self.appendPacked(1, refs.map(UInt64.init), to: nested)
                Self.appendFixed64(2, exemplar.value.bitPattern, to: nested)
                Self.appendVarint(3, UInt64(bitPattern: exemplar.timestamp), to: nested)
                Self.appendMessage(4, nested, to: message)
            }
            if let name = ts.labels.first(where: { $0.name == "__name__" })?.value, let meta = metadata[name] {
                nested.removeAll()
                Self.appendVarint(1, UInt64(UInt32(bitPattern: meta.type.rawValue)), to: nested)
                Self.appendVarint(3, UInt64(encoder.intern(meta.help)), to: nested)
                Self.appendVarint(4, UInt64(encoder.intern(meta.unit)), to: nested)
                Self.appendMessage(5, nested, to: message)
            }
            Self.appendMessage(5, message, to: series)
        }
        let out = ByteScratch(capacity: series.count + 64 * encoder.symbols.count)
        for symbol in encoder.symbols {
            let bytes = Array(symbol.utf8)
            out.append(0x22)
            Varint.append(UInt64(bytes.count), to: out)
            bytes.withUnsafeBytes { out.append($0) }
        }
        out.append(series.bytes)
        return out.toArray()
    }

    private mutating func intern(_ text: String) -> UInt32 {
        if let ref = index[text] { return ref }
        let ref = UInt32(symbols.count)
        symbols.append(text)
        index[text] = ref
        return ref
    }

    static func appendHistogram(_ h: Histogram, startTimestamp: Int64, to out: ByteScratch) {
        switch h.count {
        case .int(let v): appendVarint(1, v, to: out, always: true)
        case .float(let v): appendFixed64(2, v.bitPattern, to: out, always: true)
        case nil: break
        }
        appendFixed64(3, h.sum.bitPattern, to: out)
        appendVarint(4, zigzag(Int64(h.schema)), to: out)
        appendFixed64(5, h.zeroThreshold.bitPattern, to: out)
        switch h.zeroCount {
        case .int(let v): appendVarint(6, v, to: out, always: true)
        case .float(let v): appendFixed64(7, v.bitPattern, to: out, always: true)
        case nil: break
        }
        let span = ByteScratch(capacity: 16)
        for (field, spans) in [(UInt8(8), h.negativeSpans), (11, h.positiveSpans)] {
            for s in spans {
                span.removeAll()
                appendVarint(1, zigzag(Int64(s.offset)), to: span)
                appendVarint(2, UInt64(s.length), to: span)
                appendMessage(field, span, to: out)
            }
        }
        appendPacked(9, h.negativeDeltas.map(zigzag), to: out)
        appendPackedDoubles(10, h.negativeCounts, to: out)
        appendPacked(12, h.positiveDeltas.map(zigzag), to: out)
        appendPackedDoubles(13, h.positiveCounts, to: out)
        appendVarint(14, UInt64(UInt32(bitPattern: h.resetHint)), to: out)
        appendVarint(15, UInt64(bitPattern: h.timestamp), to: out)
        appendPackedDoubles(16, h.customValues, to: out)
        appendVarint(17, UInt64(bitPattern: startTimestamp), to: out)
    }

    // MARK: Wire helpers (proto3: zero scalars are omitted unless `always`, as the oneofs need)

    static func zigzag(_ v: Int64) -> UInt64 { UInt64(bitPattern: (v << 1) ^ (v >> 63)) }

    static func appendVarint(_ field: UInt8, _ value: UInt64, to out: ByteScratch, always: Bool = false) {
        guard value != 0 || always else { return }
        Varint.append(UInt64(field) << 3, to: out)
        Varint.append(value, to: out)
    }

    static func appendFixed64(_ field: UInt8, _ bits: UInt64, to out: ByteScratch, always: Bool = false) {
        guard bits != 0 || always else { return }
        Varint.append(UInt64(field) << 3 | 1, to: out)
        withUnsafeBytes(of: bits.littleEndian) { out.append($0) }
    }

    static func appendMessage(_ field: UInt8, _ message: ByteScratch, to out: ByteScratch) {
        Varint.append(UInt64(field) << 3 | 2, to: out)
        Varint.append(UInt64(message.count), to: out)
        out.append(message.bytes)
    }

    static func appendPacked(_ field: UInt8, _ values: [UInt64], to out: ByteScratch) {
        guard !values.isEmpty else { return }
        Varint.append(UInt64(field) << 3 | 2, to: out)
        Varint.append(UInt64(values.reduce(0) { $0 + Varint.size($1) }), to: out)
        for v in values { Varint.append(v, to: out) }
    }

    static func appendPackedDoubles(_ field: UInt8, _ values: [Double], to out: ByteScratch) {
        guard !values.isEmpty else { return }
        Varint.append(UInt64(field) << 3 | 2, to: out)
        Varint.append(UInt64(values.count * 8), to: out)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { out.append($0) } }
    }
}
