// The files Benchmarks/read-peers.sh sends with curl, and the count of what came back.
//
//   ReadBench bodies <dir> <series> <samples> <step-ms> <start-ms>   remote-write bodies, time-ordered
//   ReadBench request <file> <start-ms> <end-ms> samples|streamed   one remote-read request
//   ReadBench count <file> samples|streamed                         "<series> <samples>" of an answer
import Foundation
import SluiceCodec

let arguments = CommandLine.arguments
func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data((message + "\n").utf8))
    exit(2)
}
guard arguments.count >= 2 else { fail("usage: ReadBench bodies|request|count ...") }

/// node_exporter-like series: 20 metric names × 500 instances, 6 labels each.
func labels(_ index: Int) -> [Label] {
    let names = ["node_cpu_seconds_total", "node_memory_MemFree_bytes", "node_network_receive_bytes_total", "node_disk_read_bytes_total",
                 "node_filesystem_avail_bytes", "node_load1", "node_context_switches_total", "node_intr_total", "node_forks_total",
                 "node_network_transmit_bytes_total", "node_disk_written_bytes_total", "node_memory_Cached_bytes", "node_load5",
                 "node_procs_running", "node_sockstat_TCP_inuse", "node_netstat_Tcp_InSegs", "node_vmstat_pgfault",
                 "node_entropy_available_bits", "node_time_seconds", "node_boot_time_seconds"]
    return [
        Label(name: "__name__", value: names[index % names.count]),
        Label(name: "bench", value: "read"),
        Label(name: "instance", value: "host-\(index / names.count).example:9100"),
        Label(name: "job", value: "node"),
        Label(name: "region", value: ["eu", "us", "ap"][index % 3]),
        Label(name: "team", value: "team-\(index % 17)"),
    ]
}

switch arguments[1] {
case "bodies":
    guard arguments.count == 7, let series = Int(arguments[3]), let samples = Int(arguments[4]),
          let step = Int64(arguments[5]), let start = Int64(arguments[6]) else { fail("usage: ReadBench bodies <dir> <series> <samples> <step-ms> <start-ms>") }
    let directory = arguments[2]
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    // Each body: 1000 series × 20 consecutive samples; bodies go out in time order.
    var file = 0
    for offset in stride(from: 0, to: samples, by: 20) {
        for first in stride(from: 0, to: series, by: 1000) {
            let timeseries = (first..<min(first + 1000, series)).map { index in
                TimeSeries(labels: labels(index), samples: (offset..<min(offset + 20, samples)).map { step_ in
                    Sample(timestamp: start + Int64(step_) * step, value: index % 3 == 0 ? Double(step_ * 7 + index) : sin(Double(step_ + index) / 9) * 1000)
                })
            }
            let encoded = MessageCodec().encoded { codec, out in codec.encode(WriteRequest(timeseries: timeseries), appendingTo: out) }
            FileManager.default.createFile(atPath: String(format: "%@/body-%06d.bin", directory, file), contents: Data(Snappy.compress(encoded)))
            file += 1
        }
    }
    print(file)
case "request":
    guard arguments.count == 6, let start = Int64(arguments[3]), let end = Int64(arguments[4]) else { fail("usage: ReadBench request <file> <start-ms> <end-ms> samples|streamed") }
    let request = ReadRequest(
        queries: [Query(startMs: start, endMs: end, matchers: [LabelMatcher(.equal, name: "bench", value: "read"), LabelMatcher(.regex, name: "__name__", value: "node_.+")])],
        acceptedResponseTypes: arguments[5] == "streamed" ? [.streamedXORChunks] : [.samples]
    )
    let encoded = MessageCodec().encoded { codec, out in codec.encode(request, appendingTo: out) }
    FileManager.default.createFile(atPath: arguments[2], contents: Data(Snappy.compress(encoded)))
case "count":
    guard arguments.count == 4, let data = FileManager.default.contents(atPath: arguments[2]) else { fail("usage: ReadBench count <file> samples|streamed") }
    let bytes = [UInt8](data)
    var series = Set<[Label]>()
    var samples = 0
    if arguments[3] == "streamed" {
        try bytes.withUnsafeBytes { raw in
            for range in try ChunkedFrame.messages(in: raw) {
                let message = try MessageCodec().decodeChunkedReadResponse(UnsafeRawBufferPointer(rebasing: raw[range]))
                for one in message.chunkedSeries {
                    series.insert(one.labels)
                    for chunk in one.chunks { samples += try XORChunkDecoder.decodeAll(chunk.data).count }
                }
            }
        }
    } else {
        let decoded = try Snappy.decompress(bytes, limit: 4 << 30)
        let response = try decoded.withUnsafeBytes { try MessageCodec().decodeReadResponse($0) }
        for result in response.results {
            for one in result.timeseries {
                series.insert(one.labels)
                samples += one.samples.count
            }
        }
    }
    print(series.count, samples)
default:
    fail("unknown command \(arguments[1])")
}
