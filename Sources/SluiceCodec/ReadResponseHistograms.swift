// Native histograms in SAMPLES remote-read answers.

extension ReadResponseEncoder {
    /// Whether any series of `results` carries native histograms, which `append(_:to:)` does not write.
    public static func containsHistograms(_ results: [[TimeSeries]]) -> Bool {
        results.contains { $0.contains { !$0.histograms.isEmpty } }
    }

    /// Appends a `ReadResponse` with one `QueryResult` per element of `results`, native histograms
    /// included.
    ///
    /// Answers without histograms take `append(_:to:)`'s direct path. Histograms have a dozen fields
    /// and are a small share of most answers, so rather than a second hand-written encoder they go
    /// through libprotobuf-c, whose encoding of the model `Histogram` the codec tests already check.
    public static func appendIncludingHistograms(_ results: [[TimeSeries]], to output: ByteScratch) {
        guard containsHistograms(results) else { return append(results, to: output) }
        let response = ReadResponse(results: results.map { QueryResult(timeseries: $0) })
        MessageCodec().encode(response, appendingTo: output)
    }
}
