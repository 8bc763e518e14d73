import SluiceCodec

/// The WAL's decoders, for the libFuzzer targets in `Fuzz/`. Those link `SluiceStorage` as a product,
/// where `@testable import` is not available, and the record types stay internal.
public enum WALFuzzing {
    /// Decodes `payload` as one record, as replay does once a frame's checksum matched, and returns
    /// the record encoded again: decoding that must give the same record, so a fuzzer can check that
    /// what replay reads is what the head would log.
    public static func decodeRecord(_ payload: UnsafeRawBufferPointer) throws(CodecError) -> [UInt8] {
        WALRecordCodec.encode(try WALRecordCodec.decode(payload))
    }

    /// Replays the file at `path` as a segment, as startup does: it is cut at its first damaged frame.
    ///
    /// - Returns: the records read and the length the file was cut to.
    public static func replaySegment(atPath path: String) throws -> (records: Int, validEnd: Int) {
        var report = WAL.ReplayReport()
        let scan = try WAL.replayFile(path, report: &report) { _ in }
        return (report.records, scan.validEnd)
    }
}
