/// The remote-write protocol a request speaks, from its `Content-Type`.
public enum RemoteWriteVersion: String, Sendable, Hashable {
    /// `prometheus.WriteRequest`.
    case v1 = "1.0"
    /// `io.prometheus.write.v2.Request`.
    case v2 = "2.0"

    /// The `Content-Type` a sender sets for this version.
    public var contentType: String {
        switch self {
        case .v1: "application/x-protobuf"
        case .v2: "application/x-protobuf;proto=io.prometheus.write.v2.Request"
        }
    }

    /// The `X-Prometheus-Remote-Write-Version` a sender sets for this version.
    public var versionHeader: String {
        switch self {
        case .v1: "0.1.0"
        case .v2: "2.0.0"
        }
    }

    /// The header a sender names its protocol version in (`versionHeader`).
    public static let versionHeaderName = "X-Prometheus-Remote-Write-Version"

    /// The headers a 2.0 receiver answers with: how many samples, native histograms and exemplars
    /// it stored.
    public static let samplesWrittenHeader = "X-Prometheus-Remote-Write-Samples-Written"
    public static let histogramsWrittenHeader = "X-Prometheus-Remote-Write-Histograms-Written"
    public static let exemplarsWrittenHeader = "X-Prometheus-Remote-Write-Exemplars-Written"
}
