/// Encodes a SAMPLES remote-read answer straight into a buffer.
///
/// A 10k-series answer holds millions of samples; building it as a libprotobuf-c message first cost
/// an allocation per series and a copy of every sample. The bytes are what protoc's encoders produce
/// (fields in number order, proto3 defaults omitted), so any remote-read client decodes them.
public enum ReadResponseEncoder {
    /// Opens one `QueryResult` (field 1 of `ReadResponse`): its series follow with `appendSeries`,
    /// then `endResult` with what this returned. An answer can so be written one series at a time,
    /// without holding every series' samples first.
    public static func beginResult(in output: ByteScratch) -> Int {
        output.append(0x0A)
        let start = output.count
        output.reserve(extra: 5)
        // Room for the length, which is written once known (`endResult`).
        output.appendUnsafe { _ in 5 }
        return start
    }

    /// Closes the `QueryResult` opened at `start`: its length, as short as it can be, then its bytes.
    public static func endResult(_ start: Int, in output: ByteScratch) {
        let length = output.count - start - 5
        let header = ByteScratch(capacity: 16)
        Varint.append(UInt64(length), to: header)
        output.replace(at: start, with: header.bytes)
        if header.count < 5 { output.remove(start + header.count..<start + 5) }
    }

    /// Appends one `TimeSeries` (field 1 of `QueryResult`).
    ///
    /// Float samples are written here. A series with native histograms (a dozen fields each, and a
    /// small share of most answers) goes through libprotobuf-c, whose encoding of the model
    /// `Histogram` the codec tests check, rather than a second hand-written encoder.
    public static func appendSeries(labelBytes: UnsafeRawBufferPointer, samples: [Sample], histograms: [Histogram] = [], to output: ByteScratch) {
        guard histograms.isEmpty else {
            appendThroughLibprotobufC(TimeSeries(labels: LabelSetBytes.labels(labelBytes), samples: samples, histograms: histograms), to: output)
            return
        }
        func fieldSize(_ length: Int) -> Int { 1 + Varint.size(UInt64(length)) + length }
        var size = labelBytes.count
        for sample in samples {
            let time = UInt64(bitPattern: sample.timestamp)
            size += 2 + (sample.value.bitPattern == 0 ? 0 : 9) + (time == 0 ? 0 : 1 + Varint.size(time))
        }
        output.reserve(extra: fieldSize(size))
        output.append(0x0A)
        Varint.append(UInt64(size), to: output)
        // The labels as `LabelSetBytes`: already the `TimeSeries`' `labels` fields.
        output.append(labelBytes)
        appendSamples(samples, to: output)
    }

    /// Each sample as a `samples` field (2) of a `TimeSeries`: one capacity check for them all, then
    /// plain stores. A sample takes at most 2 + 9 + 11 bytes.
    static func appendSamples(_ samples: [Sample], to output: ByteScratch) {
        guard !samples.isEmpty else { return }
        output.reserve(extra: samples.count * 22)
        output.appendUnsafe { tail in
            var cursor = tail.baseAddress!
            @inline(__always) func byte(_ value: UInt8) {
                cursor.storeBytes(of: value, as: UInt8.self)
                cursor += 1
            }
            for sample in samples {
                let bits = sample.value.bitPattern
                let time = UInt64(bitPattern: sample.timestamp)
                let timeSize = time == 0 ? 0 : 1 + Varint.size(time)
                byte(0x12)
                byte(UInt8(truncatingIfNeeded: (bits == 0 ? 0 : 9) + timeSize))
                if bits != 0 {
                    byte(0x09)
                    cursor.storeBytes(of: bits.littleEndian, toByteOffset: 0, as: UInt64.self)
                    cursor += 8
                }
                if time != 0 {
                    byte(0x10)
                    Varint.store(time, at: &cursor)
                }
            }
            return cursor - tail.baseAddress!
        }
    }

    /// `series` as libprotobuf-c encodes it inside a one-series `ReadResponse`: after that message's
    /// `QueryResult` key and length come exactly the series' field bytes.
    private static func appendThroughLibprotobufC(_ series: TimeSeries, to output: ByteScratch) {
        let one = ByteScratch(capacity: 1024)
        MessageCodec().encode(ReadResponse(results: [QueryResult(timeseries: [series])]), appendingTo: one)
        var offset = 1
        let length = (try? Varint.read(one.bytes, at: &offset)) ?? nil
        precondition(one.bytes.first == 0x0A && length.map { Int($0) == one.count - offset } == true, "unexpected ReadResponse encoding")
        output.append(UnsafeRawBufferPointer(rebasing: one.bytes[offset...]))
    }
}
