import Hummingbird
import Logging
import SluiceCodec
import SluiceHTTP

/// `POST /api/v1/write` on a storage node: validate, append to the head, wait for the WAL, answer.
///
/// A 2xx means every sample is in the WAL on disk (or, with `--wal-fsync=interval`, in the page
/// cache). Samples that break ordering get a 400 naming the first; the rest of the request is kept, as
/// Prometheus does, and an exact repeat of a stored sample is accepted silently so that retries are
/// idempotent.
struct StorageWriteHandler: Sendable {
    let configuration: StorageConfiguration
    let storage: Storage
    let logger: Logger

    func handle(_ request: Request) async -> Response {
        let response: Response
        do {
            try await write(request)
            response = Response(status: .noContent)
        } catch {
            if error.status.code >= 500 {
                logger.warning("write failed", metadata: ["error": "\(error.message)"])
            } else {
                logger.debug("write rejected", metadata: ["error": "\(error.message)"])
            }
            response = error.response
        }
        storage.metrics.request(handler: "write", code: Int(response.status.code))
        return response
    }

    private func write(_ request: Request) async throws(HTTPFailure) {
        guard storage.isReady else { throw HTTPFailure(.serviceUnavailable, "storage is replaying its WAL; retry later") }
        try RemoteWriteHeaders.check(request)
        let body = try await BoundedBody.collect(request, limit: configuration.maxBodyBytes)
        let decoded = try decode(body)
        let histograms = decoded.histogramCount

        let outcome: AppendOutcome
        do {
            outcome = try await storage.append(decoded)
        } catch {
            switch error.code {
            case .notReady: throw HTTPFailure(.serviceUnavailable, error.message)
            default: throw HTTPFailure(.internalServerError, error.message)
            }
        }
        if let first = outcome.firstRejection {
            let counts = outcome.rejected.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.value) \($0.key.rawValue)" }
            throw HTTPFailure(.badRequest, "\(first) (\(counts.joined(separator: ", ")); \(outcome.appended) samples appended)")
        }
        if histograms > 0 {
            storage.metrics.rejected("histograms_unsupported", count: histograms)
            throw HTTPFailure(.badRequest, "native histograms are not supported by this storage node yet: \(histograms) dropped, \(outcome.appended) float samples appended")
        }
    }

    private func decode(_ body: ByteBuffer) throws(HTTPFailure) -> WriteRequest {
        do {
            return try body.withUnsafeReadableBytes { (raw) throws(CodecError) -> WriteRequest in
                let length = try Snappy.declaredLength(raw)
                guard length <= configuration.maxDecodedBytes else {
                    throw CodecError(.sizeLimitExceeded, "decoded body of \(length) bytes exceeds the limit of \(configuration.maxDecodedBytes) bytes")
                }
                let scratch = ByteScratch()
                try Snappy.decompress(raw, into: scratch, limit: configuration.maxDecodedBytes)
                let bytes = scratch.bytes
                // The scanner checks the label rules the insert tier checks, so a node written to
                // directly holds only what a gateway would have let through.
                _ = try WriteRequestScanner(limits: configuration.limits).scan(bytes) { _ throws(CodecError) in }
                return try MessageCodec(memoryLimit: max(1 << 20, bytes.count * MessageCodec.expansionFactor)).decodeWriteRequest(bytes)
            }
        } catch {
            throw HTTPFailure(error)
        }
    }
}
