// Writes the small generated seeds that are committed under Fuzz/corpus/<target>/: XOR chunks from
// `XORChunkEncoder`, WAL record payloads and segments, and bare protobuf bodies (the real Prometheus
// bodies in ../shared/fixtures are snappy blocks, which run.sh passes as a second corpus).
//
//     Fuzz/.build-fuzz/release/FuzzSeeds Fuzz/corpus      (built by Fuzz/run.sh)
import SluiceCodec
import SluiceStorage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

@main
struct FuzzSeeds {
    static func main() throws {
        let arguments = CommandLine.arguments
        guard arguments.count == 2 else {
            print("usage: FuzzSeeds <corpus directory>")
            exit(2)
        }
        let root = arguments[1]
        mkdir(root, 0o755)
        xorChunks(root + "/FuzzXORChunk")
        walRecords(root + "/FuzzWALRecord")
        writeBodies(root + "/FuzzRemoteWrite")
        readRequests(root + "/FuzzReadRequest")
        snappyBlocks(root + "/FuzzSnappy")
    }

    static func save(_ bytes: [UInt8], _ directory: String, _ name: String) {
        mkdir(directory, 0o755)
        let path = directory + "/" + name
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        precondition(fd >= 0, "cannot create \(path)")
        precondition(bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == bytes.count)
        close(fd)
    }

    static func xorChunks(_ directory: String) {
        func chunk(_ samples: [(Int64, Double)]) -> [UInt8] {
            var encoder = XORChunkEncoder()
            for (t, v) in samples { encoder.append(timestamp: t, value: v) }
            return encoder.bytes
        }
        let base: Int64 = 1_700_000_000_000
        save(chunk([]), directory, "empty")
        save(chunk([(base, 1)]), directory, "one")
        let steps: [Int64] = Array(0..<12)
        save(chunk(steps.map { (base + $0 * 15_000, 1.0) }), directory, "constant")
        save(chunk(steps.map { (base + $0 * 15_000 + ($0 % 3) * 7, Double($0) * 1.5) }), directory, "jitter-counter")
        let wide: [(Int64, Double)] = [
            (base, 0.1), (base + 1, -3e300), (base + 100_000, .nan), (base - 5, StaleMarker.value),
            (base + (1 << 40), .infinity), (Int64.min, 0), (Int64.max, 42),
        ]
        save(chunk(wide), directory, "wide-deltas")
    }

    static func uvarint(_ value: UInt64, _ output: inout [UInt8]) {
        var v = value
        while v >= 0x80 { output.append(UInt8(truncatingIfNeeded: v) | 0x80); v >>= 7 }
        output.append(UInt8(v))
    }

    static func zigzag(_ value: Int64) -> UInt64 { UInt64(bitPattern: value &<< 1) ^ UInt64(bitPattern: value &>> 63) }

    /// Payloads in WALRecord.swift's format, then a segment framing them.
    static func walRecords(_ directory: String) {
        var series: [UInt8] = [1]
        uvarint(2, &series)
        for (ref, labels) in [(1, [("__name__", "up"), ("job", "node")]), (7, [("__name__", "mem_bytes"), ("é", "ü")])] {
            uvarint(UInt64(ref), &series)
            uvarint(UInt64(labels.count), &series)
            for (name, value) in labels {
                uvarint(UInt64(name.utf8.count), &series); series += name.utf8
                uvarint(UInt64(value.utf8.count), &series); series += value.utf8
            }
        }
        var samples: [UInt8] = [2]
        let list: [(UInt64, Int64, Double)] = [(1, 1_700_000_000_000, 1), (7, 1_700_000_000_000, 2.5e9), (1, 1_700_000_015_000, StaleMarker.value)]
        uvarint(UInt64(list.count), &samples)
        var (previousRef, previousTimestamp): (UInt64, Int64) = (0, 0)
        for (ref, timestamp, value) in list {
            uvarint(zigzag(Int64(bitPattern: ref &- previousRef)), &samples)
            uvarint(zigzag(timestamp &- previousTimestamp), &samples)
            withUnsafeBytes(of: value.bitPattern.littleEndian) { samples += $0 }
            (previousRef, previousTimestamp) = (ref, timestamp)
        }
        for payload in [series, samples] {
            precondition((try? payload.withUnsafeBytes { (raw) throws(CodecError) in try WALFuzzing.decodeRecord(raw) }) == payload)
        }
        save(series, directory, "series-record")
        save(samples, directory, "samples-record")

        var segment: [UInt8] = []
        for payload in [series, samples] {
            withUnsafeBytes(of: UInt32(payload.count).littleEndian) { segment += $0 }
            withUnsafeBytes(of: CRC32C.checksum(payload).littleEndian) { segment += $0 }
            segment += payload
        }
        save(segment, directory, "segment")
        save(Array(segment.dropLast(3)), directory, "segment-torn")
    }

    static func writeBodies(_ directory: String) {
        let up = Label(name: "__name__", value: "up")
        let request = WriteRequest(
            timeseries: [
                TimeSeries(labels: [up, Label(name: "job", value: "node")], samples: [Sample(timestamp: 1, value: 1), Sample(timestamp: 2, value: .nan)]),
                TimeSeries(
                    labels: [Label(name: "__name__", value: "rpc_seconds"), Label(name: "le", value: "+Inf")],
                    samples: [Sample(timestamp: 3, value: 2)],
                    exemplars: [Exemplar(labels: [Label(name: "trace_id", value: "abc")], value: 0.5, timestamp: 3)],
                    histograms: [Histogram(
                        count: .int(3), sum: 1.5, schema: 3, zeroThreshold: 1e-128, zeroCount: .int(1),
                        negativeSpans: [], negativeDeltas: [], negativeCounts: [],
                        positiveSpans: [BucketSpan(offset: 0, length: 2)], positiveDeltas: [1, 0], positiveCounts: [],
                        resetHint: 0, timestamp: 3
                    )]
                ),
            ],
            metadata: [MetricMetadata(type: .gauge, metricFamilyName: "up", help: "Up.", unit: "")]
        )
        let body = MessageCodec().encoded { $0.encode(request, appendingTo: $1) }
        save(body, directory, "mixed-body")
        save(Snappy.compress(body), directory, "mixed-body.snappy")
    }

    static func readRequests(_ directory: String) {
        let request = ReadRequest(
            queries: [Query(
                startMs: 1, endMs: 1_000,
                matchers: [
                    LabelMatcher(.equal, name: "__name__", value: "up"),
                    LabelMatcher(.regex, name: "job", value: "no(de|ne)|.*x+?[a-c\\d]{2,3}"),
                    LabelMatcher(.notRegex, name: "instance", value: "(?i)Local.*"),
                    LabelMatcher(.notEqual, name: "env", value: ""),
                ],
                hints: ReadHints(stepMs: 15_000, function: "rate", startMs: 1, endMs: 1_000, grouping: ["job"], by: true, rangeMs: 60_000)
            )],
            acceptedResponseTypes: [.streamedXORChunks, .samples]
        )
        let body = MessageCodec().encoded { $0.encode(request, appendingTo: $1) }
        save(body, directory, "matchers-body")
        save(Snappy.compress(body), directory, "matchers-body.snappy")
    }

    static func snappyBlocks(_ directory: String) {
        save(Snappy.compress([]), directory, "empty")
        save(Snappy.compress(Array("abcabcabcabcabcabcabcabc, then a literal run".utf8)), directory, "copies")
        save(Snappy.compress([UInt8](repeating: 0x41, count: 3000)), directory, "long-copy")
    }
}

/// Built in the same `-sanitize=fuzzer` build as the targets, this executable links libFuzzer's
/// `main` too, which needs the symbol; `FuzzSeeds.main` runs instead, so it is never called.
@_cdecl("LLVMFuzzerTestOneInput")
public func unused(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt { 0 }
