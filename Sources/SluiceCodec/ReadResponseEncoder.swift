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
                for sample in series.samples {
                    key(2, 2)
                    length(sampleSize(sample))
                    if sample.value.bitPattern != 0 {
                        key(1, 1)
                        output.reserve(extra: 8)
                        output.appendUnsafe { tail in
                            tail.storeBytes(of: sample.value.bitPattern.littleEndian, as: UInt64.self)
                            return 8
                        }
                    }
                    if sample.timestamp != 0 {
                        key(2, 0)
                        Varint.append(UInt64(bitPattern: sample.timestamp), to: output)
                    }
                }
            }
        }
    }
}
