/// Encodes a SAMPLES remote-read answer straight into a buffer.
///
/// A 10k-series answer holds millions of samples; building it as a libprotobuf-c message first cost
/// an allocation per series and a copy of every sample. The bytes are what protoc's encoders produce
/// (fields in number order, proto3 defaults omitted), so any remote-read client decodes them.
public enum ReadResponseEncoder {
    /// Appends a `ReadResponse` with one `QueryResult` per element of `results`.
    public static func append(_ results: [[TimeSeries]], to output: ByteScratch) {
        func fieldSize(_ length: Int) -> Int { 1 + Varint.size(UInt64(length)) + length }
        func labelSize(_ label: Label) -> Int {
            (label.name.utf8.isEmpty ? 0 : fieldSize(label.name.utf8.count)) + (label.value.utf8.isEmpty ? 0 : fieldSize(label.value.utf8.count))
        }
        func sampleSize(_ sample: Sample) -> Int {
            (sample.value.bitPattern == 0 ? 0 : 9) + (sample.timestamp == 0 ? 0 : 1 + Varint.size(UInt64(bitPattern: sample.timestamp)))
        }
        var seriesSizes: [[Int]] = []
        var resultSizes: [Int] = []
        var total = 0
        for result in results {
            var sizes: [Int] = []
            sizes.reserveCapacity(result.count)
            var resultSize = 0
            for series in result {
                var size = 0
                for label in series.labels { size += fieldSize(labelSize(label)) }
                for sample in series.samples { size += fieldSize(sampleSize(sample)) }
                sizes.append(size)
                resultSize += fieldSize(size)
            }
            seriesSizes.append(sizes)
            resultSizes.append(resultSize)
            total += fieldSize(resultSize)
        }
        output.reserve(extra: total)

        func key(_ field: UInt8, _ wireType: UInt8) { output.append(field << 3 | wireType) }
        func length(_ value: Int) { Varint.append(UInt64(value), to: output) }
        func string(_ field: UInt8, _ text: String) {
            guard !text.utf8.isEmpty else { return }
            key(field, 2)
            length(text.utf8.count)
            var text = text
            text.withUTF8 { output.append(UnsafeRawBufferPointer($0)) }
        }
        for (resultIndex, result) in results.enumerated() {
            key(1, 2)
            length(resultSizes[resultIndex])
            for (seriesIndex, series) in result.enumerated() {
                key(1, 2)
                length(seriesSizes[resultIndex][seriesIndex])
                for label in series.labels {
                    key(1, 2)
                    length(labelSize(label))
                    string(1, label.name)
                    string(2, label.value)
                }
                appendSamples(series.samples, to: output)
            }
        }
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
                    var v = time
                    while v >= 0x80 {
                        byte(UInt8(truncatingIfNeeded: v) | 0x80)
                        v >>= 7
                    }
                    byte(UInt8(v))
                }
            }
            return cursor - tail.baseAddress!
        }
    }
}
