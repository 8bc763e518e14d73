// The remote-write body: the insert path's `WriteRequestScanner` and the full
// `MessageCodec().decodeWriteRequest`, with the limits production uses.
//
// The input is tried both as a snappy block (what arrives over HTTP; its decompressed body is checked)
// and as a protobuf body itself, so mutations reach the protobuf decoders without having to keep a
// snappy block valid.
//
// Invariant (WriteRequestScanner's documentation: "it agrees with MessageCodec on every body that
// decodes"): when both accept a body, they see the same series, samples, exemplars, histograms and
// label sets.
//
// With SLUICE_FUZZ_SCANNER_IMPLIES_DECODER=1 it also traps when the scanner accepts a series whose
// bytes, sent on alone as the insert tier forwards them, the full decoder rejects as malformed. The
// scanner's tests check that only for real and truncated bodies, so it is not on by default.
import FuzzSupport
import SluiceCodec

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The insert tier's default `maxDecodedBytes` is 32 MiB; half keeps libFuzzer's RSS limit comfortable.
let decodedLimit = 16 << 20
let strict = getenv("SLUICE_FUZZ_SCANNER_IMPLIES_DECODER").map { String(cString: $0) == "1" } ?? false

nonisolated(unsafe) let decompressed = ByteScratch(capacity: 1 << 16)
nonisolated(unsafe) let scanner = WriteRequestScanner()
nonisolated(unsafe) let single = ByteScratch(capacity: 1 << 16)
nonisolated(unsafe) let scannerV2 = WriteRequestV2Scanner()
nonisolated(unsafe) let translated = ByteScratch(capacity: 1 << 16)
nonisolated(unsafe) let translationScratch = ByteScratch(capacity: 1 << 12)

@main
enum Main {
    static func main() { runLibFuzzer(fuzz) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzInput(data, size)
    if (try? Snappy.decompress(input, into: decompressed, limit: decodedLimit)) != nil {
        check(decompressed.bytes)
        checkV2(decompressed.bytes)
    }
    check(input)
    checkV2(input)
    return 0
}

/// Remote write 2.0: whatever `WriteRequestV2Scanner` accepts, libprotobuf-c decodes to the same
/// counts, and its translation to 1.0 (what insert sends 1.0-only nodes) passes the 1.0 scanner and
/// decoder with the same series, samples, histograms and exemplars.
func checkV2(_ body: UnsafeRawBufferPointer) {
    translated.removeAll()
    let summary: WriteRequestV2Scanner.Summary
    do {
        summary = try scannerV2.scan(body) { (series) throws(CodecError) in
            try scannerV2.appendV1Series(series, labels: series.labels, extra: [], body: body, scratch: translationScratch, to: translated)
        }
    } catch {
        return
    }
    let codec = MessageCodec(memoryLimit: max(1 << 20, body.count * MessageCodec.expansionFactor))
    let decoded: WriteRequest
    do {
        decoded = try codec.decodeWriteRequestV2(body)
    } catch where error.code == .sizeLimitExceeded {
        return
    } catch {
        fatalError("the 2.0 scanner accepted a body the full decoder rejects: \(error)")
    }
    precondition(summary.series == decoded.timeseries.count, "2.0 scanner and decoder disagree on the series count")
    precondition(summary.samples == decoded.sampleCount, "2.0 scanner and decoder disagree on the sample count")
    precondition(summary.histograms == decoded.histogramCount, "2.0 scanner and decoder disagree on the histogram count")
    precondition(summary.exemplars == decoded.exemplarCount, "2.0 scanner and decoder disagree on the exemplar count")

    let v1 = translated.bytes
    do {
        let again = try MessageCodec(memoryLimit: max(1 << 20, v1.count * MessageCodec.expansionFactor)).decodeWriteRequest(v1)
        precondition(again.timeseries == decoded.timeseries, "translation to 1.0 changed a series")
    } catch where error.code == .sizeLimitExceeded {
        return
    } catch {
        fatalError("the 1.0 translation of an accepted 2.0 body does not decode: \(error)")
    }
    do {
        let scanned = try WriteRequestScanner().scan(v1) { _ throws(CodecError) in }
        precondition(scanned.series == summary.series && scanned.samples == summary.samples, "translation changed the samples")
    } catch where error.code == .invalidSeries {
        // 2.0 allows any UTF-8 in names; 1.0 does not, so a 1.0 node rejects those series.
    } catch {
        fatalError("the 1.0 translation of an accepted 2.0 body is malformed: \(error)")
    }
}

struct ScannedSeries {
    var labels: [Label]
    var message: Range<Int>
}

func check(_ body: UnsafeRawBufferPointer) {
    var series: [ScannedSeries] = []
    let summary: WriteRequestScanner.Summary?
    do {
        summary = try scanner.scan(body) { (s) throws(CodecError) in
            series.append(ScannedSeries(
                labels: s.labels.map { label in
                    Label(
                        name: String(decoding: UnsafeRawBufferPointer(rebasing: body[label.name]), as: UTF8.self),
                        value: String(decoding: UnsafeRawBufferPointer(rebasing: body[label.value]), as: UTF8.self)
                    )
                },
                message: s.message
            ))
        }
    } catch {
        summary = nil
    }

    // As StorageWriteHandler builds it for each request.
    let codec = MessageCodec(memoryLimit: max(1 << 20, body.count * MessageCodec.expansionFactor))
    let decoded = try? codec.decodeWriteRequest(body)

    if let summary, let decoded {
        precondition(summary.series == decoded.timeseries.count, "scanner and decoder disagree on the series count")
        precondition(summary.samples == decoded.sampleCount, "scanner and decoder disagree on the sample count")
        precondition(summary.exemplars == decoded.exemplarCount, "scanner and decoder disagree on the exemplar count")
        precondition(summary.histograms == decoded.histogramCount, "scanner and decoder disagree on the histogram count")
        precondition(summary.metadata.count == decoded.metadata.count, "scanner and decoder disagree on the metadata count")
        precondition(
            series.map(\.labels) == decoded.timeseries.map(\.labels), "scanner and decoder disagree on label sets"
        )
    }

    guard strict, summary != nil else { return }
    for s in series {
        // The series alone, as the insert tier forwards it: field 1, its length, its bytes.
        single.removeAll()
        single.append(0x0A)
        Varint.append(UInt64(s.message.count), to: single)
        single.append(UnsafeRawBufferPointer(rebasing: body[s.message]))
        do {
            let one = try codec.decodeWriteRequest(single.bytes)
            precondition(one.timeseries.count == 1 && one.timeseries[0].labels == s.labels, "a forwarded series decodes differently")
        } catch where error.code == .sizeLimitExceeded {
            continue
        } catch {
            fatalError("the scanner accepted a series the full decoder rejects: \(error)")
        }
    }
}
