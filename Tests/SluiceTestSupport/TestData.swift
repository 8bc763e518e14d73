import Foundation
import SluiceCodec

/// Series with samples every `step` ms from `start`, `count` of them, counters and gauges mixed,
/// with a stale marker and special values in some: data for multi-hour tests of every tier.
public func syntheticSeries(_ seriesCount: Int, samples count: Int, start: Int64, step: Int64, name: String = "node") -> [TimeSeries] {
    (0..<seriesCount).map { index in
        let labels = [
            Label(name: "__name__", value: index % 3 == 0 ? "\(name)_cpu_seconds_total" : "\(name)_memory_bytes"),
            Label(name: "cpu", value: String(index % 4)),
            Label(name: "instance", value: "host-\(index / 4).example:9100"),
            Label(name: "job", value: index % 2 == 0 ? "node" : "node-b"),
            Label(name: "series", value: String(index)),
        ]
        var value = Double(index)
        let samples = (0..<count).map { position -> Sample in
            value += index % 3 == 0 ? Double(position % 7) * 0.25 : sin(Double(position) / 10) * 100
            let special: Double? = position == count / 2 && index % 5 == 0 ? StaleMarker.value : (position == 3 && index == 1 ? .infinity : nil)
            return Sample(timestamp: start + Int64(position) * step, value: special ?? value)
        }
        return TimeSeries(labels: labels, samples: samples)
    }
}

/// Splits series into requests of `perRequest` consecutive samples of every series, in time order.
public func batches(_ series: [TimeSeries], perRequest: Int) -> [WriteRequest] {
    let length = series.map(\.samples.count).max() ?? 0
    return stride(from: 0, to: length, by: perRequest).map { offset in
        WriteRequest(timeseries: series.map { one in
            TimeSeries(labels: one.labels, samples: Array(one.samples[min(offset, one.samples.count)..<min(offset + perRequest, one.samples.count)]))
        })
    }
}

/// PromQL through a Prometheus peer's HTTP API.
public enum PromQL {
    /// A `query_range` answer: every series' values by timestamp (milliseconds).
    /// `start` and `end` in seconds.
    public static func queryRange(_ peer: PeerProcess, _ promql: String, start: Double, end: Double, step: Int) async throws -> [LabelSet: [Int64: Double]] {
        struct Answer: Decodable {
            struct Body: Decodable { var result: [Series] }
            struct Series: Decodable { var metric: LabelSet; var values: [[Value]] }
            enum Value: Decodable {
                case number(Double), text(String)
                init(from decoder: any Decoder) throws {
                    let container = try decoder.singleValueContainer()
                    if let number = try? container.decode(Double.self) { self = .number(number) } else { self = .text(try container.decode(String.self)) }
                }
            }
            var status: String
            var data: Body
            var warnings: [String]?
        }
        let result = try await TestHTTP.get(
            peer.baseURL + "/api/v1/query_range", [("query", promql), ("start", String(start)), ("end", String(end)), ("step", String(step))]
        )
        guard result.status == 200 else { throw EndToEndError("\(peer.name) \(promql): \(result.status) \(result.body.prefix(300))") }
        let answer = try JSONDecoder().decode(Answer.self, from: Data(result.body.utf8))
        if let warnings = answer.warnings, !warnings.isEmpty { throw EndToEndError("\(peer.name) \(promql) warned: \(warnings)") }
        var out: [LabelSet: [Int64: Double]] = [:]
        for series in answer.data.result {
            for pair in series.values {
                guard pair.count == 2, case .number(let t) = pair[0], case .text(let v) = pair[1], let value = Double(v) else {
                    throw EndToEndError("\(peer.name) \(promql): a point that does not decode: \(pair)")
                }
                out[series.metric, default: [:]][Int64((t * 1000).rounded())] = value
            }
        }
        return out
    }
}
